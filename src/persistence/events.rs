//! The event log: one transaction per command (its events, its idempotency key, its
//! projections), stream reads, the audit trail, and the request keys.

use chrono::{DateTime, Utc};

use super::{
    AuditQuery, NewEvent, Projection, RequestRecord, Store, StoreError, StoredEvent, access, chat,
    outbox, reservations, rooms,
    sql::{Cols, Conn, Query, args, seq},
    tasks, venues,
};
use crate::domain::PropertyId;

const EVENT_COLUMNS: &str = "stream, seq, kind, payload, actor_user, at";

fn event(mut c: Cols) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        stream: c.take()?,
        seq: c.take()?,
        kind: c.take()?,
        payload: c.take()?,
        actor: c.take()?,
        at: c.take()?,
    })
}

impl Store {
    /// Appends `events` and writes `projections` in one transaction: all or nothing.
    pub async fn commit(
        &self,
        events: Vec<NewEvent>,
        projections: Vec<Projection>,
    ) -> Result<(), StoreError> {
        self.run("commit", true, move |c| {
            Box::pin(async move {
                for e in &events {
                    c.execute(
                        "INSERT INTO events (stream, seq, property_id, kind, payload, actor_user, at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &args![
                            &e.stream,
                            seq(e.seq)?,
                            e.property_id.map(|p| p.0),
                            &e.kind,
                            e.payload.clone(),
                            e.actor.as_str(),
                            e.at
                        ],
                    )
                    .await?;
                }
                // The request's idempotency key, in the same transaction as its events.
                if let Some(first) = events.first()
                    && let Some(key) = first.actor.request_key()
                {
                    c.execute(
                        "INSERT INTO request_keys (agent, key, stream, seq, created_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent, key) DO NOTHING",
                        &args![
                            first.actor.as_str(),
                            key,
                            &first.stream,
                            seq(first.seq)?,
                            first.at
                        ],
                    )
                    .await?;
                }
                for p in &projections {
                    project(c, p).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Events of `stream` with `seq > after`, in seq order, at most `limit`.
    pub async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.all(
            format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE stream = $1 AND seq > $2
                 ORDER BY seq LIMIT $3"
            ),
            args![
                stream,
                seq(after)?,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            event,
        )
        .await
    }

    /// The seq of the last event of `stream` (0 if it has none).
    pub async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let last = self
            .opt(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream = $1",
                args![stream],
                |mut c| c.take::<u64>(),
            )
            .await?;
        Ok(last.unwrap_or(0))
    }

    /// The audit trail of a property: its events in time order, narrowed by `query`.
    pub async fn audit(
        &self,
        property: PropertyId,
        query: &AuditQuery,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let mut q = Query::new(
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE property_id = $1"),
            property.0,
        );
        if let Some(s) = &query.stream {
            q.and(" AND stream = #", s);
        }
        if let Some(a) = &query.actor {
            q.and(" AND actor_user = #", a);
        }
        if let Some(t) = query.from {
            q.and(" AND at >= #", t);
        }
        if let Some(t) = query.to {
            q.and(" AND at < #", t);
        }
        q.and(
            " ORDER BY at, id LIMIT #",
            i64::try_from(query.limit).unwrap_or(i64::MAX),
        );
        self.all(q.sql, q.values, event).await
    }

    /// A cheap round trip, for `/ready`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.opt("SELECT 1", Vec::new(), |_| Ok(())).await.map(drop)
    }

    /// The request `key` of `agent`, if one was recorded (within the last 48 hours).
    pub async fn request_record(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let since = Utc::now() - chrono::Duration::hours(48);
        self.opt(
            "SELECT stream, seq, status, body FROM request_keys
             WHERE agent = $1 AND key = $2 AND created_at > $3",
            args![agent, key, since],
            |mut c| {
                Ok(RequestRecord {
                    stream: c.take()?,
                    seq: c.take()?,
                    status: c.take()?,
                    body: c.take()?,
                })
            },
        )
        .await
    }

    /// Records the answer a request was given (and its key, when its command committed
    /// nothing, so a retry gets the same answer).
    pub async fn save_request_answer(
        &self,
        agent: &str,
        key: &str,
        status: u16,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO request_keys (agent, key, status, body, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agent, key) DO UPDATE SET status = $3, body = $4
             WHERE request_keys.status IS NULL",
            args![agent, key, status, body, at],
        )
        .await
        .map(drop)
    }

    /// Forgets request keys recorded before `before`; how many.
    pub async fn prune_request_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.exec(
            "DELETE FROM request_keys WHERE created_at < $1",
            args![before],
        )
        .await
    }
}

/// One projection, written by the part of the store that owns its table.
async fn project(c: &mut dyn Conn, p: &Projection) -> Result<(), StoreError> {
    match p {
        Projection::InsertProperty(prop) => rooms::insert_property(c, prop).await,
        Projection::UpsertRoom(room) => rooms::upsert_room(c, room).await,
        Projection::UpsertRoomType(t) => rooms::upsert_room_type(c, t).await,
        Projection::SetBusinessDate {
            property_id,
            from,
            to,
        } => rooms::set_business_date(c, *property_id, *from, *to).await,
        Projection::SetRequireInspected {
            property_id,
            require_inspected,
            stayover_every_days,
        } => {
            rooms::set_housekeeping(c, *property_id, *require_inspected, *stayover_every_days).await
        }
        Projection::InsertUser(u) => access::insert_user(c, u).await,
        Projection::SetTotp {
            user_id,
            secret,
            enabled,
        } => access::set_totp(c, *user_id, secret.as_deref(), *enabled).await,
        Projection::InsertApiKey(k) => access::insert_api_key(c, k).await,
        Projection::RevokeApiKey { id, at } => access::revoke_api_key(c, *id, *at).await,
        Projection::InsertGuest(g) => reservations::insert_guest(c, g).await,
        Projection::UpsertReservation { reservation, at } => {
            reservations::upsert_reservation(c, reservation, *at).await
        }
        Projection::CheckInventory {
            property_id,
            room_type,
            stay,
            exclude,
        } => reservations::check_inventory(c, *property_id, room_type, stay, *exclude).await,
        Projection::UpsertTask(t) => tasks::upsert_task(c, t).await,
        Projection::UpsertStock(it) => tasks::upsert_stock(c, it).await,
        Projection::SetShift { shift, on_duty } => tasks::set_shift(c, shift, *on_duty).await,
        Projection::EnqueueEmail(m) => outbox::enqueue(c, m).await,
        Projection::UpsertConversation(conv) => chat::upsert_conversation(c, conv).await,
        Projection::UpsertCannedReply(r) => chat::upsert_canned_reply(c, r).await,
        Projection::DeleteCannedReply { property_id, id } => {
            chat::delete_canned_reply(c, *property_id, *id).await
        }
        Projection::UpsertVenue(v) => venues::upsert_venue(c, v).await,
        Projection::UpsertTable(t) => venues::upsert_table(c, t).await,
        Projection::UpsertParty(party) => venues::upsert_party(c, party).await,
        Projection::CheckPacing {
            venue_id,
            party,
            from,
            to,
            size,
            limit,
        } => venues::check_pacing(c, *venue_id, *party, (*from, *to), *size, *limit).await,
    }
}
