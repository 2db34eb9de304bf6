//! Durable state: the append-only event log and the projections written beside it.
//!
//! [`Store`] is the one interface the rest of the crate sees. A command's events and the
//! projections they produce go through [`Store::commit`] in **one transaction**, so a query
//! never reads a state the log does not explain. `UNIQUE(stream, seq)` on the log is the
//! optimistic-concurrency fence between nodes: losing that race is [`StoreError::Conflict`],
//! which the actor answers by reloading and re-validating.
//!
//! Two backends pass the same contract tests (`tests/api/store_contract.rs`):
//! [`postgres::PgStore`] for real deployments and [`sqlite::SqliteStore`], the embedded
//! single-node default. SQL lives in this module only.

pub mod deadline;
pub mod migrations;

pub(crate) use rows::BUSINESS_DATE_MOVED;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use uuid::Uuid;

use crate::{
    config::DatabaseConfig,
    domain::{
        Action, Agent, Guest, GuestId, Property, PropertyId, Reservation, ReservationId,
        ReservationStatus, Role, Room, RoomId, RoomNumber, RoomType, TaskId,
        chat::{CannedReply, Conversation, InboxStatus},
        ids::{ConversationId, PartyId, TableId, VenueId},
        reservation::Stay,
        stock::StockItem,
        task::Task,
        venue::{Party, Slot, Table, Venue},
    },
};

/// An event to append. `seq` is the position in `stream`, starting at 1, without gaps.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub stream: String,
    pub seq: u64,
    /// The property the stream belongs to, for the audit trail.
    pub property_id: Option<PropertyId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub actor: Agent,
    pub at: DateTime<Utc>,
}

/// A request's idempotency key as recorded: the first event its command committed (written
/// in the command's transaction) and the answer it was given (written once known).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestRecord {
    pub stream: Option<String>,
    pub seq: Option<u64>,
    pub status: Option<u16>,
    pub body: Option<String>,
}

/// An event read back from the log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredEvent {
    pub stream: String,
    pub seq: u64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// A staff user as stored (with secrets: never serialize this to a client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: Uuid,
    /// `None` only for admins.
    pub property_id: Option<PropertyId>,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// An API key as stored: its SHA-256, never the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub property_id: PropertyId,
    pub name: String,
    pub key_hash: String,
    pub permissions: Vec<Action>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A refresh token as stored: its SHA-256, its login family and lifetime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid: it is now used, and its successor (same family) stored.
    Rotated { user_id: Uuid },
    /// It had been used before: a replay. The whole family is now revoked.
    Reused,
    /// Unknown, expired, or revoked (logged out).
    Invalid,
}

/// Filters of the audit trail.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub stream: Option<String>,
    /// An `actor_user` value, e.g. `user:<id>`.
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
}

/// A projection write that belongs to the same transaction as the events.
#[derive(Clone, Debug)]
pub enum Projection {
    /// A new property (fails on a duplicate id).
    InsertProperty(Property),
    /// A room's full state after the events (insert or replace by id). A new room whose
    /// number is taken in its property fails with the `rooms_property_number_key` constraint.
    UpsertRoom(Room),
    /// A new staff user (fails on a taken email: `users_email_key`).
    InsertUser(UserRecord),
    /// Enrol (secret, not enabled), enable, or remove a user's TOTP second factor.
    SetTotp {
        user_id: Uuid,
        secret: Option<String>,
        enabled: bool,
    },
    InsertApiKey(ApiKeyRecord),
    RevokeApiKey {
        id: Uuid,
        at: DateTime<Utc>,
    },
    /// A new guest profile.
    InsertGuest(Guest),
    /// A room type (insert or replace by property and code).
    UpsertRoomType(RoomType),
    /// A reservation's state after the events (insert or replace by id). Assigning a room
    /// whose live stays share a night with this one fails with `reservations_room_no_overlap`.
    UpsertReservation {
        reservation: Reservation,
        at: DateTime<Utc>,
    },
    /// Fails with `inventory_exhausted` unless one more stay of `room_type` fits every night of
    /// `stay` (rooms less out-of-order blocks less live reservations, not counting `exclude`).
    /// Checked under a lock per property and type, so concurrent bookings on any node are
    /// judged one after the other. Put it before the reservation's upsert.
    CheckInventory {
        property_id: PropertyId,
        room_type: String,
        stay: Stay,
        exclude: ReservationId,
    },
    /// The night audit: moves the business date from `from` (`None`: never audited) to `to`.
    /// Fails with `business_date_moved` if the date is no longer `from` (another node ran it).
    SetBusinessDate {
        property_id: PropertyId,
        from: Option<NaiveDate>,
        to: NaiveDate,
    },
    /// A task's state after the events (insert or replace by id, never backwards).
    UpsertTask(Task),
    /// A stock item after its events (insert or replace, never backwards).
    UpsertStock(StockItem),
    /// Puts a person on duty for a date (replacing their section), or takes them off.
    SetShift {
        shift: Shift,
        on_duty: bool,
    },
    /// An email to send once the transaction has committed (nothing if its idempotency key
    /// is already queued).
    EnqueueEmail(OutboxEmail),
    /// A conversation's state after its events (insert or replace by id, never backwards).
    /// A second conversation for one reservation fails with `conversations_reservation_key`.
    UpsertConversation(Conversation),
    /// A canned reply (insert or replace by id); a title taken in the property fails with
    /// `canned_replies_title_key`.
    UpsertCannedReply(CannedReply),
    /// Removes a canned reply of the property (nothing if it is gone already).
    DeleteCannedReply {
        property_id: PropertyId,
        id: Uuid,
    },
    /// A venue after its events (insert or replace, never backwards).
    UpsertVenue(Venue),
    /// A table after its events (insert or replace, never backwards). A name taken in the
    /// venue fails with `venue_tables_name_key`.
    UpsertTable(Table),
    /// A party after its events (insert or replace, never backwards), with the tables it
    /// holds. Holding a table another party holds at an overlapping time fails with
    /// `party_tables_no_overlap`.
    UpsertParty(Party),
    /// Fails with `pacing_full` unless `size` more covers fit the venue's pacing `limit` in the
    /// slot `[from, to)` (bookings starting in it, not counting `party`). Checked under a lock
    /// per venue, so concurrent bookings on any node are judged one after the other. Put it
    /// before the party's upsert.
    CheckPacing {
        venue_id: VenueId,
        party: PartyId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        size: u16,
        limit: u32,
    },
    /// The property's housekeeping settings: check-in only into inspected rooms, or not; a
    /// stayover clean every so many days.
    SetRequireInspected {
        property_id: PropertyId,
        require_inspected: bool,
        stayover_every_days: u8,
    },
}

/// One person on duty on one date, covering `floors` (empty: any floor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub property_id: PropertyId,
    pub date: NaiveDate,
    pub user_id: Uuid,
    pub floors: Vec<i16>,
}

/// Which tasks to read: a property's, narrowed to open ones, one assignee's or one room's.
#[derive(Clone, Debug)]
pub struct TaskFilter {
    pub property: PropertyId,
    pub open_only: bool,
    pub assignee: Option<Uuid>,
    pub room: Option<RoomId>,
}

/// Which reservations to read. Built with [`ReservationFilter::property`] and narrowed with
/// its fields; results are ordered by arrival, then booking time. `limit` bounds the answer
/// (it is not a page: which rows a cut keeps is unspecified).
#[derive(Clone, Debug)]
pub struct ReservationFilter {
    pub property: PropertyId,
    /// Stays sharing a night with `[from, to)`.
    pub nights: Option<(NaiveDate, NaiveDate)>,
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<ReservationStatus>,
    pub room_type: Option<String>,
    pub room: Option<RoomId>,
    pub guest: Option<GuestId>,
    /// Arriving before this date.
    pub arrival_before: Option<NaiveDate>,
    /// Not this one.
    pub exclude: Option<ReservationId>,
    pub limit: usize,
}

impl ReservationFilter {
    /// Every reservation of `property` (up to 10,000).
    #[must_use]
    pub fn property(property: PropertyId) -> Self {
        Self {
            property,
            nights: None,
            statuses: Vec::new(),
            room_type: None,
            room: None,
            guest: None,
            arrival_before: None,
            exclude: None,
            limit: 10_000,
        }
    }
}

/// An email waiting in (or delivered from) the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEmail {
    pub id: Uuid,
    pub property_id: PropertyId,
    pub kind: String,
    pub idempotency_key: String,
    pub recipient: String,
    pub subject: String,
    /// May contain `{guest_link}`, filled in when sent.
    pub body: String,
    pub reservation_id: Option<ReservationId>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far (including the one a claim starts).
    pub attempts: u32,
}

/// What can go wrong in the store, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `(stream, seq)` already exists: another writer got there first. Reload and retry.
    #[error("another writer appended to the stream first")]
    Conflict,
    /// Another constraint refused the write (named as in the migrations).
    #[error("constraint {0} refused the write")]
    Constraint(String),
    /// The store cannot be reached (pool exhausted, connection refused, disk I/O): 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data. Logged, never shown to clients.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The durable store. See the module docs for the transaction rule.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`, for logs and `/ready`.
    fn backend(&self) -> &'static str;

    /// Appends `events` and writes `projections` in one transaction: all or nothing.
    async fn commit(
        &self,
        events: Vec<NewEvent>,
        projections: Vec<Projection>,
    ) -> Result<(), StoreError>;

    async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError>;

    /// All properties, oldest first.
    async fn properties(&self) -> Result<Vec<Property>, StoreError>;

    /// The room board: every room of a property, by floor and number.
    async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError>;

    async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<Option<Room>, StoreError>;

    async fn room_by_id(&self, id: RoomId) -> Result<Option<Room>, StoreError>;

    /// Events of `stream` with `seq > after`, in seq order, at most `limit`.
    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// A cheap round trip, for `/ready`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The request `key` of `agent`, if one was recorded (within the last 48 hours).
    async fn request_record(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, StoreError>;

    /// Records the answer a request was given (and its key, when its command committed
    /// nothing, so a retry gets the same answer).
    async fn save_request_answer(
        &self,
        agent: &str,
        key: &str,
        status: u16,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets request keys recorded before `before`; how many.
    async fn prune_request_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// A user by (lower-cased) email.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// The staff of a property, by email.
    async fn users(&self, property: PropertyId) -> Result<Vec<UserRecord>, StoreError>;

    /// Accepts TOTP time step `step` for `user` only if it is later than the last accepted one
    /// (a code works once). Returns whether it was accepted.
    async fn use_totp_step(&self, user: Uuid, step: u64) -> Result<bool, StoreError>;

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StoreError>;

    /// Presents the refresh token with hash `old`: when valid, marks it used and stores
    /// `next` (whose `user_id` and `family_id` are taken from the old token) atomically.
    async fn rotate_refresh(
        &self,
        old: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError>;

    /// Revokes the family of the refresh token with this hash (logout). Whether it existed.
    async fn revoke_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    async fn api_keys(&self, property: PropertyId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// A guest profile by id.
    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError>;

    /// The guests among `ids` that belong to `property`, in one read (a day's list names
    /// hundreds of guests; one query each would be as many round trips).
    async fn guests_by_id(
        &self,
        property: PropertyId,
        ids: &[GuestId],
    ) -> Result<Vec<Guest>, StoreError>;

    /// A property's guests, by name; only those with this email (any case) if given.
    async fn guests(
        &self,
        property: PropertyId,
        email: Option<String>,
        limit: usize,
    ) -> Result<Vec<Guest>, StoreError>;

    /// A property's room types, by code.
    async fn room_types(&self, property: PropertyId) -> Result<Vec<RoomType>, StoreError>;

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError>;

    /// A property's reservations whose stay shares a night with `[from, to)`, by arrival.
    async fn reservations_between(
        &self,
        property: PropertyId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<Reservation>, StoreError>;

    /// Reservations matching `filter`, by arrival then booking time.
    async fn reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError>;

    /// Claims up to `limit` due, unsent emails for this worker until `lease_until` (no other
    /// worker takes them meanwhile) and counts the attempt.
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEmail>, StoreError>;

    /// The email was accepted by the mail server (or written): never send it again.
    async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The attempt failed: release the claim and try again at `next_attempt_at`.
    async fn email_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError>;

    /// A property's stock, by item.
    async fn stock(&self, property: PropertyId) -> Result<Vec<StockItem>, StoreError>;

    /// Who is on duty at `property` on `date`.
    async fn shifts(&self, property: PropertyId, date: NaiveDate)
    -> Result<Vec<Shift>, StoreError>;

    /// Tasks matching `filter` (in no particular order; queues sort them).
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError>;

    /// The seq of the last event of `stream` (0 if it has none).
    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError>;

    /// A property's conversations in one status; without one, the inbox: every conversation
    /// where something happened, but the archived. Up to 10,000, in no particular order.
    async fn conversations(
        &self,
        property: PropertyId,
        status: Option<InboxStatus>,
    ) -> Result<Vec<Conversation>, StoreError>;

    /// Conversations whose staff reply has waited unread since `before` or longer, and whose
    /// guest is not connected at `now`: the email fallback's work (up to 500).
    async fn conversations_waiting(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationId>, StoreError>;

    /// A guest device is connected to the conversation until `until` (`None`: it left).
    async fn set_guest_presence(
        &self,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Whether a guest device is connected to the conversation at `now`.
    async fn guest_present(
        &self,
        id: ConversationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// A property's canned replies, by title.
    async fn canned_replies(&self, property: PropertyId) -> Result<Vec<CannedReply>, StoreError>;

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError>;

    /// A property's venues, by name.
    async fn venues(&self, property: PropertyId) -> Result<Vec<Venue>, StoreError>;

    async fn venue_table(&self, id: TableId) -> Result<Option<Table>, StoreError>;

    /// A venue's tables, by name.
    async fn venue_tables(&self, venue: VenueId) -> Result<Vec<Table>, StoreError>;

    async fn party(&self, id: PartyId) -> Result<Option<Party>, StoreError>;

    /// A venue's parties starting in `[from, to)`, and every party still seated or waiting
    /// (whenever it started), by start time.
    async fn parties(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Party>, StoreError>;

    /// The live holds on a venue's tables that overlap `[from, to)`.
    async fn schedule(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError>;

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError>;

    async fn audit(
        &self,
        property: PropertyId,
        query: &AuditQuery,
    ) -> Result<Vec<StoredEvent>, StoreError>;
}

/// Opens (and migrates) the store the configuration names.
pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config {
        DatabaseConfig::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path).await?),
        DatabaseConfig::Postgres { url } => {
            let store = postgres::PgStore::connect(url).await?;
            let purge = store.idle_purger();
            Arc::new(deadline::Deadlined::new(
                store,
                deadline::STORE_DEADLINE,
                purge,
            ))
        }
    })
}

/// The current time at the precision both backends keep (microseconds), so a state read back
/// from the store equals the one held in memory.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
