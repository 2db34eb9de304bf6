//! A deadline on every store call.
//!
//! A database whose traffic is silently dropped answers nothing: no error, no close. Before,
//! requests that held a pooled connection hung for over a minute, and commands whose clients
//! had long given up committed once the path came back. Every call of the wrapped store now
//! ends within [`STORE_DEADLINE`]: past it the call is dropped and answers
//! `StoreError::Unavailable` (503).
//!
//! Dropping a commit before its `COMMIT` was sent means it never commits: the transaction is
//! abandoned with its connection, and the server rolls it back (see the session settings in
//! `postgres`). A deadline that passes after `COMMIT` was sent leaves the outcome unknown —
//! the one case a client's retry has to settle. The connections a timed-out call leaves
//! behind may be stuck, so the wrapped store is told (`on_timeout`) and drops its idle ones;
//! the node recovers by itself once the path heals.

use std::{sync::Arc, time::Duration};

use super::*;

/// How long one store call may take.
pub const STORE_DEADLINE: Duration = Duration::from_secs(5);

/// A store whose every call has a deadline.
pub struct Deadlined<S> {
    inner: S,
    limit: Duration,
    on_timeout: Arc<dyn Fn() + Send + Sync>,
}

impl<S: Store> Deadlined<S> {
    pub fn new(inner: S, limit: Duration, on_timeout: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            inner,
            limit,
            on_timeout,
        }
    }

    async fn within<T>(
        &self,
        call: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        // Bound first: the abandoned call (and the connection it holds, which goes back to the
        // pool) is dropped with this statement, before the store is told to drop idle ones.
        let answer = tokio::time::timeout(self.limit, work).await;
        match answer {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(call, limit = ?self.limit, "store call passed its deadline");
                (self.on_timeout)();
                Err(StoreError::Unavailable(format!(
                    "no answer from the store within {:?}",
                    self.limit
                )))
            }
        }
    }
}

// Generated from the `Store` trait: every method is the inner store's, within the deadline.
#[async_trait]
impl<S: Store> Store for Deadlined<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn commit(
        &self,
        events: Vec<NewEvent>,
        projections: Vec<Projection>,
    ) -> Result<(), StoreError> {
        self.within("commit", self.inner.commit(events, projections))
            .await
    }

    async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError> {
        self.within("property", self.inner.property(id)).await
    }

    async fn properties(&self) -> Result<Vec<Property>, StoreError> {
        self.within("properties", self.inner.properties()).await
    }

    async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError> {
        self.within("rooms", self.inner.rooms(property)).await
    }

    async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<Option<Room>, StoreError> {
        self.within("room", self.inner.room(property, number)).await
    }

    async fn room_by_id(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        self.within("room_by_id", self.inner.room_by_id(id)).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.within("read_stream", self.inner.read_stream(stream, after, limit))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.within("ping", self.inner.ping()).await
    }

    async fn request_record(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        self.within("request_record", self.inner.request_record(agent, key))
            .await
    }

    async fn save_request_answer(
        &self,
        agent: &str,
        key: &str,
        status: u16,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.within(
            "save_request_answer",
            self.inner.save_request_answer(agent, key, status, body, at),
        )
        .await
    }

    async fn prune_request_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.within("prune_request_keys", self.inner.prune_request_keys(before))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.within("user_by_email", self.inner.user_by_email(email))
            .await
    }

    async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.within("user", self.inner.user(id)).await
    }

    async fn users(&self, property: PropertyId) -> Result<Vec<UserRecord>, StoreError> {
        self.within("users", self.inner.users(property)).await
    }

    async fn use_totp_step(&self, user: Uuid, step: u64) -> Result<bool, StoreError> {
        self.within("use_totp_step", self.inner.use_totp_step(user, step))
            .await
    }

    async fn insert_refresh(&self, token: RefreshRecord) -> Result<(), StoreError> {
        self.within("insert_refresh", self.inner.insert_refresh(token))
            .await
    }

    async fn rotate_refresh(
        &self,
        old: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        self.within("rotate_refresh", self.inner.rotate_refresh(old, next, now))
            .await
    }

    async fn revoke_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.within("revoke_refresh", self.inner.revoke_refresh(hash, now))
            .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.within("api_key_by_hash", self.inner.api_key_by_hash(hash))
            .await
    }

    async fn api_keys(&self, property: PropertyId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.within("api_keys", self.inner.api_keys(property)).await
    }

    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        self.within("guest", self.inner.guest(id)).await
    }

    async fn guests_by_id(
        &self,
        property: PropertyId,
        ids: &[GuestId],
    ) -> Result<Vec<Guest>, StoreError> {
        self.within("guests_by_id", self.inner.guests_by_id(property, ids))
            .await
    }

    async fn guests(
        &self,
        property: PropertyId,
        email: Option<String>,
        limit: usize,
    ) -> Result<Vec<Guest>, StoreError> {
        self.within("guests", self.inner.guests(property, email, limit))
            .await
    }

    async fn room_types(&self, property: PropertyId) -> Result<Vec<RoomType>, StoreError> {
        self.within("room_types", self.inner.room_types(property))
            .await
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.within("reservation", self.inner.reservation(id)).await
    }

    async fn reservations_between(
        &self,
        property: PropertyId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<Reservation>, StoreError> {
        self.within(
            "reservations_between",
            self.inner.reservations_between(property, from, to),
        )
        .await
    }

    async fn reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError> {
        self.within("reservations", self.inner.reservations(filter))
            .await
    }

    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        self.within(
            "claim_emails",
            self.inner.claim_emails(now, lease_until, limit),
        )
        .await
    }

    async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.within("email_sent", self.inner.email_sent(id, at))
            .await
    }

    async fn email_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.within(
            "email_failed",
            self.inner.email_failed(id, next_attempt_at, error),
        )
        .await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.within("task", self.inner.task(id)).await
    }

    async fn stock(&self, property: PropertyId) -> Result<Vec<StockItem>, StoreError> {
        self.within("stock", self.inner.stock(property)).await
    }

    async fn shifts(
        &self,
        property: PropertyId,
        date: NaiveDate,
    ) -> Result<Vec<Shift>, StoreError> {
        self.within("shifts", self.inner.shifts(property, date))
            .await
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        self.within("tasks", self.inner.tasks(filter)).await
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        self.within("conversation", self.inner.conversation(id))
            .await
    }

    async fn conversations(
        &self,
        property: PropertyId,
        status: Option<InboxStatus>,
    ) -> Result<Vec<Conversation>, StoreError> {
        self.within("conversations", self.inner.conversations(property, status))
            .await
    }

    async fn conversations_waiting(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationId>, StoreError> {
        self.within(
            "conversations_waiting",
            self.inner.conversations_waiting(before, now),
        )
        .await
    }

    async fn set_guest_presence(
        &self,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.within(
            "set_guest_presence",
            self.inner.set_guest_presence(id, until),
        )
        .await
    }

    async fn guest_present(
        &self,
        id: ConversationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.within("guest_present", self.inner.guest_present(id, now))
            .await
    }

    async fn canned_replies(&self, property: PropertyId) -> Result<Vec<CannedReply>, StoreError> {
        self.within("canned_replies", self.inner.canned_replies(property))
            .await
    }

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        self.within("venue", self.inner.venue(id)).await
    }

    async fn venues(&self, property: PropertyId) -> Result<Vec<Venue>, StoreError> {
        self.within("venues", self.inner.venues(property)).await
    }

    async fn venue_table(&self, id: TableId) -> Result<Option<Table>, StoreError> {
        self.within("venue_table", self.inner.venue_table(id)).await
    }

    async fn venue_tables(&self, venue: VenueId) -> Result<Vec<Table>, StoreError> {
        self.within("venue_tables", self.inner.venue_tables(venue))
            .await
    }

    async fn party(&self, id: PartyId) -> Result<Option<Party>, StoreError> {
        self.within("party", self.inner.party(id)).await
    }

    async fn parties(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Party>, StoreError> {
        self.within("parties", self.inner.parties(venue, from, to))
            .await
    }

    async fn schedule(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        self.within("schedule", self.inner.schedule(venue, from, to))
            .await
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        self.within("stream_version", self.inner.stream_version(stream))
            .await
    }

    async fn audit(
        &self,
        property: PropertyId,
        query: &AuditQuery,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.within("audit", self.inner.audit(property, query))
            .await
    }
}
