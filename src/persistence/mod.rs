//! Durable state: the append-only event log and the projections written beside it.
//!
//! [`Store`] is the one interface the rest of the crate sees. A command's events and the
//! projections they produce go through [`Store::commit`] in **one transaction**, so a query
//! never reads a state the log does not explain. `UNIQUE(stream, seq)` on the log is the
//! optimistic-concurrency fence between nodes: losing that race is [`StoreError::Conflict`],
//! which the actor answers by reloading and re-validating.
//!
//! Two backends pass the same contract tests (`tests/api/store_contract.rs`): PostgreSQL
//! (`postgres.rs`) for real deployments and SQLite (`sqlite.rs`), the embedded single-node
//! default. Their SQL is written once (see `sql.rs` for what differs and where); SQL lives in
//! this module only.

mod access;
mod chat;
mod events;
pub mod migrations;
mod outbox;
pub mod postgres;
mod reservations;
mod rooms;
pub(crate) mod sql;
mod sqlite;
mod tasks;
mod venues;

pub(crate) use rooms::BUSINESS_DATE_MOVED;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use serde::Serialize;

use uuid::Uuid;

use self::sql::{Cols, Conn, Value};
use crate::{
    config::DatabaseConfig,
    domain::{
        Action, Agent, Guest, GuestId, Property, PropertyId, Reservation, ReservationId,
        ReservationStatus, Role, Room, RoomId, RoomType,
        chat::{CannedReply, Conversation},
        ids::{PartyId, VenueId},
        reservation::Stay,
        stock::StockItem,
        task::Task,
        venue::{Party, Table, Venue},
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
///
/// Its methods live beside the aggregate they read or write (`rooms.rs`, `reservations.rs`,
/// `tasks.rs`, `chat.rs`, `venues.rs`, `access.rs`, `outbox.rs`, `events.rs`), each written
/// once over the dialect layer (`sql.rs`) and run by either backend.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Postgres(postgres::Pg),
    Sqlite(sqlite::Lite),
}

impl Store {
    /// Opens (creating if needed) an SQLite database file and applies pending migrations.
    pub async fn open_sqlite(path: &std::path::Path) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Sqlite(sqlite::Lite::open(path).await?),
        })
    }

    /// Connects to PostgreSQL and applies pending migrations.
    pub async fn connect_postgres(url: &secrecy::SecretString) -> anyhow::Result<Self> {
        Ok(Self {
            backend: Backend::Postgres(postgres::Pg::connect(url).await?),
        })
    }

    /// `postgres` or `sqlite`, for logs and `/ready`.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Runs `work` on a connection: each statement on its own, or (`transaction`) all in
    /// one transaction, committed if `work` succeeds and rolled back if not.
    async fn run<T, F>(&self, call: &str, transaction: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        match &self.backend {
            Backend::Postgres(pg) => pg.run(call, transaction, work).await,
            Backend::Sqlite(lite) => lite.run(transaction, work).await,
        }
    }

    /// Every row of one statement, decoded. (The statement's text names the call in the
    /// log should it pass its deadline.)
    async fn all<T: Send + 'static>(
        &self,
        sql: impl Into<String>,
        args: impl Into<Vec<Value>>,
        decode: fn(Cols) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let (sql, args): (Arc<str>, Vec<Value>) = (sql.into().into(), args.into());
        let shared = Arc::clone(&sql);
        self.run(&sql, false, move |c| {
            Box::pin(async move { c.all(&shared, &args, decode).await })
        })
        .await
    }

    /// The first row of one statement, decoded, if any.
    async fn opt<T: Send + 'static>(
        &self,
        sql: impl Into<String>,
        args: impl Into<Vec<Value>>,
        decode: fn(Cols) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let (sql, args): (Arc<str>, Vec<Value>) = (sql.into().into(), args.into());
        let shared = Arc::clone(&sql);
        self.run(&sql, false, move |c| {
            Box::pin(async move { c.opt(&shared, &args, decode).await })
        })
        .await
    }

    /// One statement on its own; the number of rows it wrote.
    async fn exec(
        &self,
        sql: &'static str,
        args: impl Into<Vec<Value>>,
    ) -> Result<u64, StoreError> {
        let args = args.into();
        self.run(sql, false, move |c| {
            Box::pin(async move { c.execute(sql, &args).await })
        })
        .await
    }
}

/// Opens (and migrates) the store the configuration names.
pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Arc<Store>> {
    Ok(Arc::new(match config {
        DatabaseConfig::Sqlite { path } => Store::open_sqlite(path).await?,
        DatabaseConfig::Postgres { url } => Store::connect_postgres(url).await?,
    }))
}

/// The current time at the precision both backends keep (microseconds), so a state read back
/// from the store equals the one held in memory.
#[must_use]
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
