//! The embedded backend: one SQLite file, for a single node (the `cargo run` default).
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool with the one connection
//! behind a mutex: SQLite allows one writer at a time anyway, and one connection keeps
//! transactions strictly serial. WAL mode with `synchronous=FULL` makes every acknowledged
//! commit survive a crash or power loss: a hotel would rather wait a millisecond than lose a
//! room status.

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, Transaction, params};
use uuid::Uuid;

use super::{
    ApiKeyRecord, AuditQuery, NewEvent, OutboxEmail, Projection, RefreshOutcome, RefreshRecord,
    RequestRecord, ReservationFilter, Shift, Store, StoreError, StoredEvent, TaskFilter,
    UserRecord, migrations,
    rows::{
        BUSINESS_DATE_MOVED, Param, actions_text, assigned_room, enum_text, i64_to_seq,
        inventory_fits, reservation_where, seq_to_i64, sort_reservations, text_actions, text_enum,
    },
};
use crate::domain::{
    Guest, GuestId, Property, PropertyId, Reservation, ReservationId, ReservationStatus, Room,
    RoomId, RoomNumber, RoomType, TaskId,
    chat::{CannedReply, Conversation, InboxStatus},
    ids::{ConversationId, PartyId, TableId, VenueId},
    reservation::{Party, Stay},
    stock::StockItem,
    task::Task,
    venue::{self, Slot, Table, Venue},
};

/// The SQLite store.
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> anyhow::Result<Connection> {
            let mut conn = Connection::open(&path)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .context("SQLite open task failed")??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection is still sound (an
            // open transaction was rolled back when it was dropped), so carry on with it.
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Other(anyhow::anyhow!("SQLite task failed: {e}")))?
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    for m in migrations::SQLITE {
        let done: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
                [m.version],
                |r| r.get(0),
            )
            .context("reading schema_migrations")?;
        if done {
            continue;
        }
        tracing::info!(version = m.version, name = m.name, "applying migration");
        tx.execute_batch(m.sql)
            .with_context(|| format!("migration {}", m.version))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, ts(&Utc::now())],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Timestamps as fixed-width RFC 3339 text with microseconds, so they sort as text.
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(column: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad timestamp in {column}: {e}")))
}

fn parse_uuid(column: &str, s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Other(anyhow::anyhow!("bad uuid in {column}: {e}")))
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, msg) = &e {
        match err.code {
            ErrorCode::ConstraintViolation => {
                let msg = msg.as_deref().unwrap_or_default();
                // SQLite names the columns, not the constraint: map them to the names the
                // migrations give, which are also PostgreSQL's.
                if msg.contains("events.stream, events.seq") {
                    return StoreError::Conflict;
                }
                if msg.contains("rooms.property_id, rooms.number") {
                    return StoreError::Constraint("rooms_property_number_key".into());
                }
                if msg.contains("users.email") {
                    return StoreError::Constraint("users_email_key".into());
                }
                if msg.contains("properties.id") {
                    return StoreError::Constraint("properties_pkey".into());
                }
                if msg.contains("FOREIGN KEY") {
                    return StoreError::Constraint("foreign_key".into());
                }
                return StoreError::Constraint(msg.to_owned());
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly => return StoreError::Unavailable(e.to_string()),
            _ => {}
        }
    }
    StoreError::Other(anyhow::Error::new(e))
}

const USER_COLUMNS: &str = "id, property_id, email, name, role, password_hash, totp_secret, \
    totp_enabled, created_at";

type RawUser = (
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    bool,
    String,
);

fn decode_user(raw: RawUser) -> Result<UserRecord, StoreError> {
    let (id, property, email, name, role, password_hash, totp_secret, totp_enabled, created) = raw;
    Ok(UserRecord {
        id: parse_uuid("users.id", &id)?,
        property_id: property
            .map(|p| parse_uuid("users.property_id", &p).map(PropertyId))
            .transpose()?,
        email,
        name,
        role: text_enum("role", role)?,
        password_hash,
        totp_secret,
        totp_enabled,
        created_at: parse_ts("users.created_at", &created)?,
    })
}

const API_KEY_COLUMNS: &str =
    "id, property_id, name, key_hash, permissions, created_by, created_at, revoked_at";

type RawApiKey = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn decode_api_key(raw: RawApiKey) -> Result<ApiKeyRecord, StoreError> {
    let (id, property, name, key_hash, permissions, created_by, created_at, revoked_at) = raw;
    Ok(ApiKeyRecord {
        id: parse_uuid("api_keys.id", &id)?,
        property_id: PropertyId(parse_uuid("api_keys.property_id", &property)?),
        name,
        key_hash,
        permissions: text_actions(&permissions)?,
        created_by,
        created_at: parse_ts("api_keys.created_at", &created_at)?,
        revoked_at: revoked_at
            .map(|t| parse_ts("api_keys.revoked_at", &t))
            .transpose()?,
    })
}

type RawEvent = (String, i64, String, String, String, String);

fn decode_event(raw: RawEvent) -> Result<StoredEvent, StoreError> {
    let (stream, seq, kind, payload, actor, at) = raw;
    Ok(StoredEvent {
        stream,
        seq: i64_to_seq(seq)?,
        kind,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad payload in store: {e}")))?,
        actor,
        at: parse_ts("events.at", &at)?,
    })
}

/// Reads a whole row into the tuple of its columns (rusqlite converts tuples of up to 16).
fn columns<T>(r: &Row<'_>) -> rusqlite::Result<T>
where
    T: for<'a> TryFrom<&'a Row<'a>, Error = rusqlite::Error>,
{
    T::try_from(r)
}

fn to_json(v: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Other(anyhow::anyhow!("encoding state: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad {what} in store: {e}")))
}

impl SqliteStore {
    /// The JSON `state` of the one row `sql` selects by id, decoded.
    async fn state_of<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        id: Uuid,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(sql, [id.to_string()], |r| r.get::<_, String>(0))
                .optional()
                .map_err(sql_error)?
                .map(|s| from_json(&s, what))
                .transpose()
        })
        .await
    }

    /// The JSON `state` of every row `sql` selects, decoded.
    async fn states_of<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        args: Vec<String>,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        self.with_conn(move |conn| {
            let states = query_all(
                conn,
                sql,
                rusqlite::params_from_iter(args.iter()),
                |r| r.get::<_, String>(0),
                Ok,
            )?;
            states.iter().map(|s| from_json(s, what)).collect()
        })
        .await
    }
}

fn conversation_from_json(s: &str) -> Result<Conversation, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad conversation in store: {e}")))
}

fn task_from_json(s: &str) -> Result<Task, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad task in store: {e}")))
}

type RawOutbox = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

fn decode_outbox(raw: RawOutbox) -> Result<OutboxEmail, StoreError> {
    Ok(OutboxEmail {
        id: parse_uuid("outbox.id", &raw.0)?,
        property_id: PropertyId(parse_uuid("outbox.property_id", &raw.1)?),
        kind: raw.2,
        idempotency_key: raw.3,
        recipient: raw.4,
        subject: raw.5,
        body: raw.6,
        reservation_id: raw
            .7
            .map(|r| parse_uuid("outbox.reservation_id", &r).map(ReservationId))
            .transpose()?,
        link_expires_at: raw
            .8
            .map(|t| parse_ts("outbox.link_expires_at", &t))
            .transpose()?,
        created_at: parse_ts("outbox.created_at", &raw.9)?,
        attempts: u32::try_from(raw.10).unwrap_or(0),
    })
}

type RawProperty = (String, String, String, String, Option<String>, bool, u8);

const PROPERTY_COLUMNS: &str =
    "id, name, timezone, created_at, business_date, require_inspected, stayover_every_days";

fn sqlite_params(params: Vec<Param>) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value;
    params
        .into_iter()
        .map(|p| match p {
            Param::Uuid(u) => Value::Text(u.to_string()),
            Param::Date(d) => Value::Text(d.to_string()),
            Param::Text(t) => Value::Text(t),
        })
        .collect()
}

/// Reservations matching `filter` (on the connection or inside a transaction).
fn select_reservations(
    conn: &Connection,
    filter: &ReservationFilter,
) -> Result<Vec<Reservation>, StoreError> {
    let (clause, params) = reservation_where(filter, |n| format!("?{n}"));
    query_all(
        conn,
        &format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations r
             LEFT JOIN rooms ro ON ro.id = r.room_id
             WHERE {clause}
             LIMIT {}",
            filter.limit.min(100_000)
        ),
        rusqlite::params_from_iter(sqlite_params(params)),
        columns::<RawReservation>,
        decode_reservation,
    )
    .map(|mut found| {
        sort_reservations(&mut found);
        found
    })
}

/// See [`Projection::CheckInventory`]. SQLite has one writer at a time and this runs inside
/// the writing (IMMEDIATE) transaction, so nothing can book between the check and the write.
fn check_inventory(
    conn: &Connection,
    property_id: PropertyId,
    room_type: &str,
    stay: &Stay,
    exclude: ReservationId,
) -> Result<(), StoreError> {
    let property = conn
        .query_row(
            &format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = ?1"),
            [property_id.0.to_string()],
            columns::<RawProperty>,
        )
        .optional()
        .map_err(sql_error)?
        .map(decode_property)
        .transpose()?
        .ok_or_else(|| StoreError::Constraint("reservations_property_id_fkey".into()))?;
    let rooms = query_all(
        conn,
        &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = ?1 AND room_type = ?2"),
        params![property_id.0.to_string(), room_type],
        columns::<RawRoom>,
        decode_room,
    )?;
    let sold = select_reservations(
        conn,
        &ReservationFilter {
            nights: Some((stay.arrival, stay.departure)),
            statuses: ReservationStatus::HOLDING.to_vec(),
            room_type: Some(room_type.to_owned()),
            exclude: Some(exclude),
            ..ReservationFilter::property(property_id)
        },
    )?;
    inventory_fits(&property, &rooms, &sold, room_type, stay)
}

/// Runs a query and decodes every row: rusqlite reads the raw columns inside the closure,
/// `decode` turns them into domain values (with our errors) afterwards.
fn query_all<R, T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    raw: fn(&Row<'_>) -> rusqlite::Result<R>,
    decode: fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_error)?;
    let raws = stmt
        .query_map(params, raw)
        .and_then(Iterator::collect::<rusqlite::Result<Vec<R>>>)
        .map_err(sql_error)?;
    raws.into_iter().map(decode).collect()
}

fn upsert_reservation(
    tx: &Transaction<'_>,
    r: &Reservation,
    at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    let written = tx
        .prepare_cached(
            "INSERT INTO reservations (id, property_id, guest_id, status, room_type, arrival,
                 departure, adults, children, room_id, overbooked, version, updated_at,
                 created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET
                 status = excluded.status, room_type = excluded.room_type,
                 arrival = excluded.arrival, departure = excluded.departure,
                 adults = excluded.adults, children = excluded.children,
                 room_id = excluded.room_id, overbooked = excluded.overbooked,
                 version = excluded.version, updated_at = excluded.updated_at
             WHERE reservations.version < excluded.version",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                r.id.0.to_string(),
                r.property_id.0.to_string(),
                r.guest_id.0.to_string(),
                enum_text(&r.status),
                r.room_type,
                r.stay.arrival.to_string(),
                r.stay.departure.to_string(),
                r.party.adults,
                r.party.children,
                r.room.as_ref().map(|a| a.room_id.0.to_string()),
                r.overbooked,
                seq_to_i64(r.version).unwrap_or(i64::MAX),
                ts(at),
                ts(&r.created_at),
            ])
        })
        .map_err(sql_error)?;
    if written == 0 {
        return Err(StoreError::Constraint("reservations_version".into()));
    }
    Ok(())
}

/// The columns of a reservation read (`r`: reservations, `ro`: the assigned room).
const RESERVATION_COLUMNS: &str = "r.id, r.property_id, r.guest_id, r.status, r.room_type, \
    r.arrival, r.departure, r.adults, r.children, r.room_id, ro.number, r.overbooked, r.version, \
    r.created_at";

type RawReservation = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    u8,
    u8,
    Option<String>,
    Option<String>,
    bool,
    i64,
    Option<String>,
);

fn decode_reservation(raw: RawReservation) -> Result<Reservation, StoreError> {
    let (
        id,
        property_id,
        guest_id,
        status,
        room_type,
        arrival,
        departure,
        adults,
        children,
        room_id,
        room_number,
        overbooked,
        version,
        created_at,
    ) = raw;
    let date = |column: &str, s: &str| {
        s.parse::<chrono::NaiveDate>()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad date in {column}: {e}")))
    };
    let room_id = room_id
        .map(|id| parse_uuid("reservations.room_id", &id))
        .transpose()?;
    let room = assigned_room(room_id, room_number)?;
    Ok(Reservation {
        id: ReservationId(parse_uuid("reservations.id", &id)?),
        property_id: PropertyId(parse_uuid("reservations.property_id", &property_id)?),
        guest_id: GuestId(parse_uuid("reservations.guest_id", &guest_id)?),
        status: text_enum("reservations.status", status)?,
        room_type,
        stay: Stay {
            arrival: date("reservations.arrival", &arrival)?,
            departure: date("reservations.departure", &departure)?,
        },
        party: Party { adults, children },
        room,
        overbooked,
        version: i64_to_seq(version)?,
        created_at: parse_ts(
            "reservations.created_at",
            created_at.as_deref().unwrap_or(""),
        )?,
    })
}

type RawGuest = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

fn decode_guest(raw: RawGuest) -> Result<Guest, StoreError> {
    let (id, property_id, name, email, phone, preferences, created_at) = raw;
    Ok(Guest {
        id: GuestId(parse_uuid("guests.id", &id)?),
        property_id: PropertyId(parse_uuid("guests.property_id", &property_id)?),
        name,
        email,
        phone,
        preferences: serde_json::from_str(&preferences)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad preferences in store: {e}")))?,
        created_at: parse_ts("guests.created_at", &created_at)?,
    })
}

const ROOM_COLUMNS: &str = "id, property_id, number, floor, room_type, cleanliness, \
    hk_occupancy, fo_occupancy, service, rush, block, version, updated_at";

/// The raw columns of a room row, read inside the rusqlite closure and decoded after it.
type RawRoom = (
    String,
    String,
    String,
    i16,
    String,
    String,
    String,
    String,
    String,
    bool,
    Option<String>,
    i64,
    String,
);

fn decode_room(raw: RawRoom) -> Result<Room, StoreError> {
    let (
        id,
        property_id,
        number,
        floor,
        room_type,
        cleanliness,
        hk,
        fo,
        service,
        rush,
        block,
        version,
        updated_at,
    ) = raw;
    Ok(Room {
        id: RoomId(parse_uuid("rooms.id", &id)?),
        property_id: PropertyId(parse_uuid("rooms.property_id", &property_id)?),
        number: RoomNumber::parse(&number)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad room number in store: {e}")))?,
        floor,
        room_type,
        cleanliness: text_enum("cleanliness", cleanliness)?,
        hk_occupancy: text_enum("hk_occupancy", hk)?,
        fo_occupancy: text_enum("fo_occupancy", fo)?,
        service: text_enum("service", service)?,
        rush,
        block: block
            .map(|b| serde_json::from_str(&b))
            .transpose()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad block in store: {e}")))?,
        version: i64_to_seq(version)?,
        updated_at: parse_ts("rooms.updated_at", &updated_at)?,
    })
}

fn decode_property(raw: RawProperty) -> Result<Property, StoreError> {
    Ok(Property {
        id: PropertyId(parse_uuid("properties.id", &raw.0)?),
        name: raw.1,
        timezone: raw.2,
        created_at: parse_ts("properties.created_at", &raw.3)?,
        business_date: raw
            .4
            .map(|d| d.parse::<chrono::NaiveDate>())
            .transpose()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad business_date: {e}")))?,
        require_inspected: raw.5,
        stayover_every_days: raw.6,
    })
}

fn upsert_room(tx: &Transaction<'_>, room: &Room) -> Result<(), StoreError> {
    let block = room
        .block
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Other(e.into()))?;
    let written = tx
        .prepare_cached(
            "INSERT INTO rooms (id, property_id, number, floor, room_type, cleanliness,
                 hk_occupancy, fo_occupancy, service, rush, block, version, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (id) DO UPDATE SET
                 number = excluded.number, floor = excluded.floor,
                 room_type = excluded.room_type, cleanliness = excluded.cleanliness,
                 hk_occupancy = excluded.hk_occupancy, fo_occupancy = excluded.fo_occupancy,
                 service = excluded.service, rush = excluded.rush, block = excluded.block,
                 version = excluded.version, updated_at = excluded.updated_at
             WHERE rooms.version < excluded.version",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                room.id.0.to_string(),
                room.property_id.0.to_string(),
                room.number.as_str(),
                room.floor,
                room.room_type,
                enum_text(&room.cleanliness),
                enum_text(&room.hk_occupancy),
                enum_text(&room.fo_occupancy),
                enum_text(&room.service),
                room.rush,
                block,
                seq_to_i64(room.version).unwrap_or(i64::MAX),
                ts(&room.updated_at),
            ])
        })
        .map_err(sql_error)?;
    if written == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn commit(
        &self,
        events: Vec<NewEvent>,
        projections: Vec<Projection>,
    ) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            // IMMEDIATE takes the write lock up front, so a commit cannot fail half-way on
            // a lock upgrade.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO events (stream, seq, property_id, kind, payload, actor_user, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )
                    .map_err(sql_error)?;
                for e in &events {
                    insert
                        .execute(params![
                            e.stream,
                            seq_to_i64(e.seq)?,
                            e.property_id.map(|p| p.0.to_string()),
                            e.kind,
                            e.payload.to_string(),
                            e.actor.as_str(),
                            ts(&e.at),
                        ])
                        .map_err(sql_error)?;
                }
            }
            // The request's idempotency key, in the same transaction as its events.
            if let Some(first) = events.first()
                && let Some(key) = first.actor.request_key()
            {
                tx.execute(
                    "INSERT INTO request_keys (agent, key, stream, seq, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (agent, key) DO NOTHING",
                    params![
                        first.actor.as_str(),
                        key,
                        first.stream,
                        seq_to_i64(first.seq)?,
                        ts(&first.at),
                    ],
                )
                .map_err(sql_error)?;
            }
            for p in &projections {
                match p {
                    Projection::InsertProperty(prop) => {
                        tx.execute(
                            "INSERT INTO properties (id, name, timezone, created_at)
                             VALUES (?1, ?2, ?3, ?4)",
                            params![
                                prop.id.0.to_string(),
                                prop.name,
                                prop.timezone,
                                ts(&prop.created_at)
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::UpsertRoom(room) => upsert_room(&tx, room)?,
                    Projection::InsertUser(u) => {
                        tx.execute(
                            "INSERT INTO users (id, property_id, email, name, role, password_hash,
                                 totp_secret, totp_enabled, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            params![
                                u.id.to_string(),
                                u.property_id.map(|p| p.0.to_string()),
                                u.email,
                                u.name,
                                enum_text(&u.role),
                                u.password_hash,
                                u.totp_secret,
                                u.totp_enabled,
                                ts(&u.created_at),
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::SetTotp {
                        user_id,
                        secret,
                        enabled,
                    } => {
                        tx.execute(
                            "UPDATE users SET totp_secret = ?2, totp_enabled = ?3 WHERE id = ?1",
                            params![user_id.to_string(), secret, enabled],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::InsertApiKey(k) => {
                        tx.execute(
                            "INSERT INTO api_keys (id, property_id, name, key_hash, permissions,
                                 created_by, created_at, revoked_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                k.id.to_string(),
                                k.property_id.0.to_string(),
                                k.name,
                                k.key_hash,
                                actions_text(&k.permissions),
                                k.created_by,
                                ts(&k.created_at),
                                k.revoked_at.as_ref().map(ts),
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::RevokeApiKey { id, at } => {
                        tx.execute(
                            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                            params![id.to_string(), ts(at)],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::InsertGuest(g) => {
                        tx.execute(
                            "INSERT INTO guests (id, property_id, name, email, phone,
                                 preferences, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![
                                g.id.0.to_string(),
                                g.property_id.0.to_string(),
                                g.name,
                                g.email,
                                g.phone,
                                serde_json::json!(g.preferences).to_string(),
                                ts(&g.created_at),
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::UpsertRoomType(t) => {
                        tx.execute(
                            "INSERT INTO room_types (property_id, code, name, max_occupancy)
                             VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (property_id, code) DO UPDATE SET
                                 name = excluded.name, max_occupancy = excluded.max_occupancy",
                            params![t.property_id.0.to_string(), t.code, t.name, t.max_occupancy],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::CheckInventory {
                        property_id,
                        room_type,
                        stay,
                        exclude,
                    } => check_inventory(&tx, *property_id, room_type, stay, *exclude)?,
                    Projection::SetBusinessDate {
                        property_id,
                        from,
                        to,
                    } => {
                        let moved = tx
                            .execute(
                                "UPDATE properties SET business_date = ?3
                                 WHERE id = ?1 AND business_date IS ?2",
                                params![
                                    property_id.0.to_string(),
                                    from.map(|d| d.to_string()),
                                    to.to_string()
                                ],
                            )
                            .map_err(sql_error)?;
                        if moved == 0 {
                            return Err(StoreError::Constraint(BUSINESS_DATE_MOVED.into()));
                        }
                    }
                    Projection::UpsertTask(t) => {
                        let state = serde_json::to_string(t).map_err(|e| {
                            StoreError::Other(anyhow::anyhow!("encoding a task: {e}"))
                        })?;
                        let written = tx
                            .execute(
                                "INSERT INTO tasks (id, property_id, kind, status, room_id,
                                     assignee, state, version, updated_at)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                                 ON CONFLICT (id) DO UPDATE SET
                                     kind = excluded.kind, status = excluded.status,
                                     room_id = excluded.room_id, assignee = excluded.assignee,
                                     state = excluded.state, version = excluded.version,
                                     updated_at = excluded.updated_at
                                 WHERE tasks.version < excluded.version",
                                params![
                                    t.id.0.to_string(),
                                    t.property_id.0.to_string(),
                                    enum_text(&t.kind),
                                    t.status.as_str(),
                                    t.room_id.map(|r| r.0.to_string()),
                                    t.assignee.map(|u| u.to_string()),
                                    state,
                                    seq_to_i64(t.version)?,
                                    ts(&t.updated_at),
                                ],
                            )
                            .map_err(sql_error)?;
                        if written == 0 {
                            return Err(StoreError::Constraint("tasks_version".into()));
                        }
                    }
                    Projection::UpsertConversation(c) => {
                        let state = serde_json::to_string(c).map_err(|e| {
                            StoreError::Other(anyhow::anyhow!("encoding a conversation: {e}"))
                        })?;
                        let written = tx
                            .execute(
                                "INSERT INTO conversations (id, property_id, reservation_id,
                                     status, state, version, updated_at, waiting_since)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                                 ON CONFLICT (id) DO UPDATE SET
                                     status = excluded.status, state = excluded.state,
                                     version = excluded.version,
                                     updated_at = excluded.updated_at,
                                     waiting_since = excluded.waiting_since
                                 WHERE conversations.version < excluded.version",
                                params![
                                    c.id.0.to_string(),
                                    c.property_id.0.to_string(),
                                    c.reservation_id.0.to_string(),
                                    enum_text(&c.status),
                                    state,
                                    seq_to_i64(c.version)?,
                                    ts(&c.updated_at),
                                    c.waiting_since().as_ref().map(ts),
                                ],
                            )
                            .map_err(|e| match sql_error(e) {
                                StoreError::Constraint(m)
                                    if m.contains("conversations.reservation_id") =>
                                {
                                    StoreError::Constraint("conversations_reservation_key".into())
                                }
                                other => other,
                            })?;
                        if written == 0 {
                            return Err(StoreError::Constraint("conversations_version".into()));
                        }
                    }
                    Projection::UpsertVenue(v) => {
                        let written = tx
                            .execute(
                                "INSERT INTO venues (id, property_id, state, version)
                                 VALUES (?1, ?2, ?3, ?4)
                                 ON CONFLICT (id) DO UPDATE SET
                                     state = excluded.state, version = excluded.version
                                 WHERE venues.version < excluded.version",
                                params![
                                    v.id.0.to_string(),
                                    v.property_id.0.to_string(),
                                    to_json(v)?,
                                    seq_to_i64(v.version)?
                                ],
                            )
                            .map_err(sql_error)?;
                        if written == 0 {
                            return Err(StoreError::Constraint("venues_version".into()));
                        }
                    }
                    Projection::UpsertTable(t) => {
                        let written = tx
                            .execute(
                                "INSERT INTO venue_tables (id, venue_id, name, state, version)
                                 VALUES (?1, ?2, ?3, ?4, ?5)
                                 ON CONFLICT (id) DO UPDATE SET
                                     name = excluded.name, state = excluded.state,
                                     version = excluded.version
                                 WHERE venue_tables.version < excluded.version",
                                params![
                                    t.id.0.to_string(),
                                    t.venue_id.0.to_string(),
                                    t.name,
                                    to_json(t)?,
                                    seq_to_i64(t.version)?
                                ],
                            )
                            .map_err(|e| match sql_error(e) {
                                StoreError::Constraint(m) if m.contains("venue_tables.name") => {
                                    StoreError::Constraint("venue_tables_name_key".into())
                                }
                                other => other,
                            })?;
                        if written == 0 {
                            return Err(StoreError::Constraint("venue_tables_version".into()));
                        }
                    }
                    Projection::UpsertParty(p) => {
                        let written = tx
                            .execute(
                                "INSERT INTO parties (id, venue_id, kind, status, size, starts_at,
                                     ends_at, state, version)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                                 ON CONFLICT (id) DO UPDATE SET
                                     status = excluded.status, size = excluded.size,
                                     starts_at = excluded.starts_at, ends_at = excluded.ends_at,
                                     state = excluded.state, version = excluded.version
                                 WHERE parties.version < excluded.version",
                                params![
                                    p.id.0.to_string(),
                                    p.venue_id.0.to_string(),
                                    enum_text(&p.kind),
                                    p.status.as_str(),
                                    i64::from(p.size),
                                    ts(&p.starts_at),
                                    ts(&p.ends_at),
                                    to_json(p)?,
                                    seq_to_i64(p.version)?
                                ],
                            )
                            .map_err(sql_error)?;
                        if written == 0 {
                            return Err(StoreError::Constraint("parties_version".into()));
                        }
                        tx.execute(
                            "DELETE FROM party_tables WHERE party_id = ?1",
                            [p.id.0.to_string()],
                        )
                        .map_err(sql_error)?;
                        for table in &p.tables {
                            tx.execute(
                                "INSERT INTO party_tables (party_id, table_id, starts_at,
                                     ends_at, live)
                                 VALUES (?1, ?2, ?3, ?4, ?5)",
                                params![
                                    p.id.0.to_string(),
                                    table.0.to_string(),
                                    ts(&p.starts_at),
                                    ts(&p.ends_at),
                                    p.status.holds_tables()
                                ],
                            )
                            .map_err(sql_error)?;
                        }
                    }
                    // One writer at a time: nothing can book between this check and the write.
                    Projection::CheckPacing {
                        venue_id,
                        party,
                        from,
                        to,
                        size,
                        limit,
                    } => {
                        let covers: i64 = tx
                            .query_row(
                                "SELECT COALESCE(SUM(size), 0) FROM parties
                                 WHERE venue_id = ?1 AND kind = 'booking' AND id <> ?2
                                   AND status IN ('booked', 'arrived', 'seated', 'paid',
                                                  'finished')
                                   AND starts_at >= ?3 AND starts_at < ?4",
                                params![
                                    venue_id.0.to_string(),
                                    party.0.to_string(),
                                    ts(from),
                                    ts(to)
                                ],
                                |r| r.get(0),
                            )
                            .map_err(sql_error)?;
                        if covers + i64::from(*size) > i64::from(*limit) {
                            return Err(StoreError::Constraint("pacing_full".into()));
                        }
                    }
                    Projection::UpsertCannedReply(r) => {
                        tx.execute(
                            "INSERT INTO canned_replies (id, property_id, title, body, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5)
                             ON CONFLICT (id) DO UPDATE SET
                                 title = excluded.title, body = excluded.body,
                                 updated_at = excluded.updated_at
                             WHERE canned_replies.property_id = excluded.property_id",
                            params![
                                r.id.to_string(),
                                r.property_id.0.to_string(),
                                r.title,
                                r.body,
                                ts(&r.updated_at),
                            ],
                        )
                        .map_err(|e| match sql_error(e) {
                            StoreError::Constraint(m) if m.contains("canned_replies.title") => {
                                StoreError::Constraint("canned_replies_title_key".into())
                            }
                            other => other,
                        })?;
                    }
                    Projection::DeleteCannedReply { property_id, id } => {
                        tx.execute(
                            "DELETE FROM canned_replies WHERE id = ?1 AND property_id = ?2",
                            params![id.to_string(), property_id.0.to_string()],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::UpsertStock(it) => {
                        let written = tx
                            .execute(
                                "INSERT INTO stock_items (property_id, item, count, low_at, uses,
                                     version)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                                 ON CONFLICT (property_id, item) DO UPDATE SET
                                     count = excluded.count, low_at = excluded.low_at,
                                     uses = excluded.uses, version = excluded.version
                                 WHERE stock_items.version < excluded.version",
                                params![
                                    it.property_id.0.to_string(),
                                    it.item,
                                    it.count,
                                    it.low_at,
                                    serde_json::json!(it.uses).to_string(),
                                    seq_to_i64(it.version)?,
                                ],
                            )
                            .map_err(sql_error)?;
                        if written == 0 {
                            return Err(StoreError::Constraint("stock_items_version".into()));
                        }
                    }
                    Projection::SetShift { shift, on_duty } => {
                        if *on_duty {
                            tx.execute(
                                "INSERT INTO shifts (property_id, date, user_id, floors)
                                 VALUES (?1, ?2, ?3, ?4)
                                 ON CONFLICT (property_id, date, user_id)
                                 DO UPDATE SET floors = excluded.floors",
                                params![
                                    shift.property_id.0.to_string(),
                                    shift.date.to_string(),
                                    shift.user_id.to_string(),
                                    serde_json::json!(shift.floors).to_string(),
                                ],
                            )
                            .map_err(sql_error)?;
                        } else {
                            tx.execute(
                                "DELETE FROM shifts
                                 WHERE property_id = ?1 AND date = ?2 AND user_id = ?3",
                                params![
                                    shift.property_id.0.to_string(),
                                    shift.date.to_string(),
                                    shift.user_id.to_string(),
                                ],
                            )
                            .map_err(sql_error)?;
                        }
                    }
                    Projection::EnqueueEmail(m) => {
                        tx.execute(
                            "INSERT INTO outbox (id, property_id, kind, idempotency_key,
                                 recipient, subject, body, reservation_id, link_expires_at,
                                 created_at, next_attempt_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                             ON CONFLICT (idempotency_key) DO NOTHING",
                            params![
                                m.id.to_string(),
                                m.property_id.0.to_string(),
                                m.kind,
                                m.idempotency_key,
                                m.recipient,
                                m.subject,
                                m.body,
                                m.reservation_id.map(|r| r.0.to_string()),
                                m.link_expires_at.as_ref().map(ts),
                                ts(&m.created_at),
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::SetRequireInspected {
                        property_id,
                        require_inspected,
                        stayover_every_days,
                    } => {
                        tx.execute(
                            "UPDATE properties SET require_inspected = ?2, stayover_every_days = ?3
                             WHERE id = ?1",
                            params![
                                property_id.0.to_string(),
                                require_inspected,
                                stayover_every_days
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                    Projection::UpsertReservation { reservation, at } => {
                        upsert_reservation(&tx, reservation, at)?;
                    }
                }
            }
            tx.commit().map_err(sql_error)
        })
        .await
    }

    async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                &format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = ?1"),
                [id.0.to_string()],
                columns::<RawProperty>,
            )
            .optional()
            .map_err(sql_error)?
            .map(decode_property)
            .transpose()
        })
        .await
    }

    async fn properties(&self) -> Result<Vec<Property>, StoreError> {
        self.with_conn(|conn| {
            query_all(
                conn,
                &format!("SELECT {PROPERTY_COLUMNS} FROM properties ORDER BY created_at, id"),
                [],
                columns::<RawProperty>,
                decode_property,
            )
        })
        .await
    }

    async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError> {
        self.with_conn(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = ?1
                     ORDER BY floor, length(number), number"
                ),
                [property.0.to_string()],
                columns::<RawRoom>,
                decode_room,
            )
        })
        .await
    }

    async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<Option<Room>, StoreError> {
        let number = number.as_str().to_owned();
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = ?1 AND number = ?2"
            ))
            .and_then(|mut s| {
                s.query_row(params![property.0.to_string(), number], columns::<RawRoom>)
                    .optional()
            })
            .map_err(sql_error)?
            .map(decode_room)
            .transpose()
        })
        .await
    }

    async fn room_by_id(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = ?1"))
                .and_then(|mut s| {
                    s.query_row([id.0.to_string()], columns::<RawRoom>)
                        .optional()
                })
                .map_err(sql_error)?
                .map(decode_room)
                .transpose()
        })
        .await
    }

    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([id.0.to_string()], columns::<RawGuest>)
                    .optional()
            })
            .map_err(sql_error)?
            .map(decode_guest)
            .transpose()
        })
        .await
    }

    async fn guests(
        &self,
        property: PropertyId,
        email: Option<String>,
        limit: usize,
    ) -> Result<Vec<Guest>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            query_all(
                conn,
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests
                 WHERE property_id = ?1 AND (?2 IS NULL OR lower(email) = lower(?2))
                 ORDER BY name, id LIMIT ?3",
                params![property.0.to_string(), email, limit],
                columns::<RawGuest>,
                decode_guest,
            )
        })
        .await
    }

    async fn guests_by_id(
        &self,
        property: PropertyId,
        ids: &[GuestId],
    ) -> Result<Vec<Guest>, StoreError> {
        // The ids travel as one JSON array (json_each), so the statement is the same whatever
        // their number and stays cached.
        let ids = serde_json::to_string(&ids.iter().map(|g| g.0.to_string()).collect::<Vec<_>>())
            .map_err(|e| StoreError::Other(anyhow::anyhow!("encoding guest ids: {e}")))?;
        self.with_conn(move |conn| {
            query_all(
                conn,
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests
                 WHERE property_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
                params![property.0.to_string(), ids],
                columns::<RawGuest>,
                decode_guest,
            )
        })
        .await
    }

    async fn room_types(&self, property: PropertyId) -> Result<Vec<RoomType>, StoreError> {
        let types = self
            .with_conn(move |conn| {
                query_all(
                    conn,
                    "SELECT code, name, max_occupancy FROM room_types
                     WHERE property_id = ?1 ORDER BY code",
                    [property.0.to_string()],
                    columns::<(String, String, u8)>,
                    Ok,
                )
            })
            .await?;
        Ok(types
            .into_iter()
            .map(|(code, name, max_occupancy)| RoomType {
                property_id: property,
                code,
                name,
                max_occupancy,
            })
            .collect())
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.with_conn(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations r
                 LEFT JOIN rooms ro ON ro.id = r.room_id WHERE r.id = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([id.0.to_string()], columns::<RawReservation>)
                    .optional()
            })
            .map_err(sql_error)?
            .map(decode_reservation)
            .transpose()
        })
        .await
    }

    async fn reservations_between(
        &self,
        property: PropertyId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<Reservation>, StoreError> {
        self.with_conn(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations r
                     LEFT JOIN rooms ro ON ro.id = r.room_id
                     WHERE r.property_id = ?1 AND r.arrival < ?3 AND ?2 < r.departure
                     ORDER BY r.arrival, r.id"
                ),
                params![property.0.to_string(), from.to_string(), to.to_string()],
                columns::<RawReservation>,
                decode_reservation,
            )
        })
        .await
    }

    async fn reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError> {
        let filter = filter.clone();
        self.with_conn(move |conn| select_reservations(conn, &filter))
            .await
    }

    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        self.with_conn(move |conn| {
            // One writer at a time: select and lease in one IMMEDIATE transaction.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let raws = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT id, property_id, kind, idempotency_key, recipient, subject, body,
                             reservation_id, link_expires_at, created_at, attempts
                         FROM outbox
                         WHERE sent_at IS NULL AND next_attempt_at <= ?1
                           AND (locked_until IS NULL OR locked_until < ?1)
                         ORDER BY next_attempt_at LIMIT ?2",
                    )
                    .map_err(sql_error)?;
                stmt.query_map(
                    params![ts(&now), i64::try_from(limit).unwrap_or(100)],
                    columns::<RawOutbox>,
                )
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql_error)?
            };
            let mut out = Vec::with_capacity(raws.len());
            for raw in raws {
                tx.execute(
                    "UPDATE outbox SET locked_until = ?2, attempts = attempts + 1 WHERE id = ?1",
                    params![raw.0, ts(&lease_until)],
                )
                .map_err(sql_error)?;
                out.push(decode_outbox(raw)?);
            }
            tx.commit().map_err(sql_error)?;
            Ok(out)
        })
        .await
    }

    async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE outbox SET sent_at = ?2, locked_until = NULL, last_error = NULL
                 WHERE id = ?1",
                params![id.to_string(), ts(&at)],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn email_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ?2, locked_until = NULL, last_error = ?3
                 WHERE id = ?1 AND sent_at IS NULL",
                params![id.to_string(), ts(&next_attempt_at), error],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT state FROM tasks WHERE id = ?1",
                [id.0.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql_error)?
            .map(|s| task_from_json(&s))
            .transpose()
        })
        .await
    }

    async fn stock(&self, property: PropertyId) -> Result<Vec<StockItem>, StoreError> {
        self.with_conn(move |conn| {
            let raws = query_all(
                conn,
                "SELECT item, count, low_at, uses, version FROM stock_items
                 WHERE property_id = ?1 ORDER BY item",
                [property.0.to_string()],
                columns::<(String, i64, i64, String, i64)>,
                Ok,
            )?;
            raws.into_iter()
                .map(|(item, count, low_at, uses, version)| {
                    Ok(StockItem {
                        property_id: property,
                        item,
                        count,
                        low_at,
                        uses: serde_json::from_str(&uses).map_err(|e| {
                            StoreError::Other(anyhow::anyhow!("bad uses in store: {e}"))
                        })?,
                        version: i64_to_seq(version)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn shifts(
        &self,
        property: PropertyId,
        date: chrono::NaiveDate,
    ) -> Result<Vec<Shift>, StoreError> {
        self.with_conn(move |conn| {
            let raws = query_all(
                conn,
                "SELECT user_id, floors FROM shifts WHERE property_id = ?1 AND date = ?2
                 ORDER BY user_id",
                params![property.0.to_string(), date.to_string()],
                columns::<(String, String)>,
                Ok,
            )?;
            raws.into_iter()
                .map(|(user, floors)| {
                    Ok(Shift {
                        property_id: property,
                        date,
                        user_id: parse_uuid("shifts.user_id", &user)?,
                        floors: serde_json::from_str(&floors).map_err(|e| {
                            StoreError::Other(anyhow::anyhow!("bad floors in store: {e}"))
                        })?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        let filter = filter.clone();
        self.with_conn(move |conn| {
            let open = if filter.open_only {
                "AND status IN ('created', 'assigned', 'in_progress', 'on_hold')"
            } else {
                ""
            };
            let states = query_all(
                conn,
                &format!(
                    "SELECT state FROM tasks WHERE property_id = ?1
                     AND (?2 IS NULL OR assignee = ?2)
                     AND (?3 IS NULL OR room_id = ?3) {open}
                     LIMIT 10000"
                ),
                params![
                    filter.property.0.to_string(),
                    filter.assignee.map(|u| u.to_string()),
                    filter.room.map(|r| r.0.to_string())
                ],
                |r| r.get::<_, String>(0),
                Ok,
            )?;
            states.iter().map(|s| task_from_json(s)).collect()
        })
        .await
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT state FROM conversations WHERE id = ?1",
                [id.0.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(sql_error)?
            .map(|s| conversation_from_json(&s))
            .transpose()
        })
        .await
    }

    async fn conversations(
        &self,
        property: PropertyId,
        status: Option<InboxStatus>,
    ) -> Result<Vec<Conversation>, StoreError> {
        self.with_conn(move |conn| {
            let states = query_all(
                conn,
                "SELECT state FROM conversations WHERE property_id = ?1
                 AND (status = ?2 OR (?2 IS NULL AND status <> 'archived' AND version > 1))
                 LIMIT 10000",
                params![property.0.to_string(), status.as_ref().map(enum_text)],
                |r| r.get::<_, String>(0),
                Ok,
            )?;
            states.iter().map(|s| conversation_from_json(s)).collect()
        })
        .await
    }

    async fn conversations_waiting(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationId>, StoreError> {
        self.with_conn(move |conn| {
            let ids = query_all(
                conn,
                "SELECT id FROM conversations WHERE waiting_since <= ?1
                 AND (guest_present_until IS NULL OR guest_present_until < ?2)
                 ORDER BY waiting_since LIMIT 500",
                params![ts(&before), ts(&now)],
                |r| r.get::<_, String>(0),
                Ok,
            )?;
            ids.iter()
                .map(|s| parse_uuid("conversations.id", s).map(ConversationId))
                .collect()
        })
        .await
    }

    async fn set_guest_presence(
        &self,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE conversations SET guest_present_until = ?2 WHERE id = ?1",
                params![id.0.to_string(), until.as_ref().map(ts)],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn guest_present(
        &self,
        id: ConversationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.with_conn(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT 1 FROM conversations WHERE id = ?1 AND guest_present_until >= ?2",
                    params![id.0.to_string(), ts(&now)],
                    |_| Ok(()),
                )
                .optional()
                .map_err(sql_error)?
                .is_some())
        })
        .await
    }

    async fn canned_replies(&self, property: PropertyId) -> Result<Vec<CannedReply>, StoreError> {
        self.with_conn(move |conn| {
            let raws = query_all(
                conn,
                "SELECT id, title, body, updated_at FROM canned_replies
                 WHERE property_id = ?1 ORDER BY title",
                [property.0.to_string()],
                columns::<(String, String, String, String)>,
                Ok,
            )?;
            raws.into_iter()
                .map(|(id, title, body, at)| {
                    Ok(CannedReply {
                        id: parse_uuid("canned_replies.id", &id)?,
                        property_id: property,
                        title,
                        body,
                        updated_at: parse_ts("canned_replies.updated_at", &at)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        self.state_of("SELECT state FROM venues WHERE id = ?1", id.0, "venue")
            .await
    }

    async fn venues(&self, property: PropertyId) -> Result<Vec<Venue>, StoreError> {
        let mut all: Vec<Venue> = self
            .states_of(
                "SELECT state FROM venues WHERE property_id = ?1",
                vec![property.0.to_string()],
                "venue",
            )
            .await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn venue_table(&self, id: TableId) -> Result<Option<Table>, StoreError> {
        self.state_of(
            "SELECT state FROM venue_tables WHERE id = ?1",
            id.0,
            "table",
        )
        .await
    }

    async fn venue_tables(&self, venue: VenueId) -> Result<Vec<Table>, StoreError> {
        self.states_of(
            "SELECT state FROM venue_tables WHERE venue_id = ?1 ORDER BY name",
            vec![venue.0.to_string()],
            "table",
        )
        .await
    }

    async fn party(&self, id: PartyId) -> Result<Option<venue::Party>, StoreError> {
        self.state_of("SELECT state FROM parties WHERE id = ?1", id.0, "party")
            .await
    }

    async fn parties(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<venue::Party>, StoreError> {
        self.states_of(
            "SELECT state FROM parties WHERE venue_id = ?1
               AND ((starts_at >= ?2 AND starts_at < ?3)
                    OR status IN ('seated', 'paid', 'quoted', 'notified'))
             ORDER BY starts_at LIMIT 10000",
            vec![venue.0.to_string(), ts(&from), ts(&to)],
            "party",
        )
        .await
    }

    async fn schedule(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        self.with_conn(move |conn| {
            let raws = query_all(
                conn,
                "SELECT pt.table_id, pt.party_id, pt.starts_at, pt.ends_at
                 FROM party_tables pt JOIN venue_tables t ON t.id = pt.table_id
                 WHERE t.venue_id = ?1 AND pt.live AND pt.starts_at < ?3 AND pt.ends_at > ?2
                   AND pt.starts_at > ?4",
                // See the PostgreSQL store: bounded by the longest turn.
                params![
                    venue.0.to_string(),
                    ts(&from),
                    ts(&to),
                    ts(&(from - chrono::Duration::minutes(venue::MAX_TURN_MINUTES)))
                ],
                columns::<(String, String, String, String)>,
                Ok,
            )?;
            raws.into_iter()
                .map(|(table, party, from, to)| {
                    Ok(Slot {
                        table: TableId(parse_uuid("party_tables.table_id", &table)?),
                        party: PartyId(parse_uuid("party_tables.party_id", &party)?),
                        starts_at: parse_ts("party_tables.starts_at", &from)?,
                        ends_at: parse_ts("party_tables.ends_at", &to)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let stream = stream.to_owned();
        self.with_conn(move |conn| {
            let v: i64 = conn
                .query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream = ?1",
                    [stream],
                    |r| r.get(0),
                )
                .map_err(sql_error)?;
            i64_to_seq(v)
        })
        .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stream = stream.to_owned();
        let after = seq_to_i64(after)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            query_all(
                conn,
                "SELECT stream, seq, kind, payload, actor_user, at FROM events
                     WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                params![stream, after, limit],
                columns::<RawEvent>,
                decode_event,
            )
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(sql_error)
        })
        .await
    }

    async fn request_record(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let (agent, key) = (agent.to_owned(), key.to_owned());
        let since = ts(&(Utc::now() - chrono::Duration::hours(48)));
        self.with_conn(move |conn| {
            let row = conn
                .query_row(
                    "SELECT stream, seq, status, body FROM request_keys
                     WHERE agent = ?1 AND key = ?2 AND created_at > ?3",
                    params![agent, key, since],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, Option<i64>>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(sql_error)?;
            row.map(|(stream, seq, status, body)| {
                Ok(RequestRecord {
                    stream,
                    seq: seq.map(i64_to_seq).transpose()?,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    body,
                })
            })
            .transpose()
        })
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
        let (agent, key, body, at) = (agent.to_owned(), key.to_owned(), body.to_owned(), ts(&at));
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO request_keys (agent, key, status, body, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (agent, key) DO UPDATE SET status = ?3, body = ?4
                 WHERE request_keys.status IS NULL",
                params![agent, key, i64::from(status), body, at],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn prune_request_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = ts(&before);
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM request_keys WHERE created_at < ?1",
                params![before],
            )
            .map(|n| n as u64)
            .map_err(sql_error)
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let email = email.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
                [email],
                columns::<RawUser>,
            )
            .optional()
            .map_err(sql_error)?
            .map(decode_user)
            .transpose()
        })
        .await
    }

    async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id.to_string()],
                columns::<RawUser>,
            )
            .optional()
            .map_err(sql_error)?
            .map(decode_user)
            .transpose()
        })
        .await
    }

    async fn users(&self, property: PropertyId) -> Result<Vec<UserRecord>, StoreError> {
        self.with_conn(move |conn| {
            query_all(
                conn,
                &format!("SELECT {USER_COLUMNS} FROM users WHERE property_id = ?1 ORDER BY email"),
                [property.0.to_string()],
                columns::<RawUser>,
                decode_user,
            )
        })
        .await
    }

    async fn use_totp_step(&self, user: Uuid, step: u64) -> Result<bool, StoreError> {
        let step = seq_to_i64(step)?;
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE users SET totp_last_step = ?2
                 WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
                params![user.to_string(), step],
            )
            .map(|n| n == 1)
            .map_err(sql_error)
        })
        .await
    }

    async fn insert_refresh(&self, t: RefreshRecord) -> Result<(), StoreError> {
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.id.to_string(),
                    t.user_id.to_string(),
                    t.family_id.to_string(),
                    t.token_hash,
                    ts(&t.issued_at),
                    ts(&t.expires_at)
                ],
            )
            .map(|_| ())
            .map_err(sql_error)
        })
        .await
    }

    async fn rotate_refresh(
        &self,
        old: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let old = old.to_owned();
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let row: Option<(String, String, String, Option<String>, Option<String>)> = tx
                .query_row(
                    "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens
                     WHERE token_hash = ?1",
                    [&old],
                    columns,
                )
                .optional()
                .map_err(sql_error)?;
            let Some((user, family, expires, used, revoked)) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            if used.is_some() {
                tx.execute(
                    "UPDATE refresh_tokens SET revoked_at = ?2 WHERE family_id = ?1 AND revoked_at IS NULL",
                    params![family, ts(&now)],
                )
                .map_err(sql_error)?;
                tx.commit().map_err(sql_error)?;
                return Ok(RefreshOutcome::Reused);
            }
            if revoked.is_some() || parse_ts("refresh_tokens.expires_at", &expires)? <= now {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
                params![old, ts(&now)],
            )
            .map_err(sql_error)?;
            tx.execute(
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    next.id.to_string(),
                    user,
                    family,
                    next.token_hash,
                    ts(&next.issued_at),
                    ts(&next.expires_at)
                ],
            )
            .map_err(sql_error)?;
            tx.commit().map_err(sql_error)?;
            Ok(RefreshOutcome::Rotated {
                user_id: parse_uuid("refresh_tokens.user_id", &user)?,
            })
        })
        .await
    }

    async fn revoke_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let hash = hash.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ?2
                 WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = ?1)
                   AND revoked_at IS NULL",
                params![hash, ts(&now)],
            )
            .map(|n| n > 0)
            .map_err(sql_error)
        })
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let hash = hash.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"),
                [hash],
                columns::<RawApiKey>,
            )
            .optional()
            .map_err(sql_error)?
            .map(decode_api_key)
            .transpose()
        })
        .await
    }

    async fn api_keys(&self, property: PropertyId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.with_conn(move |conn| {
            query_all(conn, &format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE property_id = ?1 ORDER BY created_at, id"
                ), [property.0.to_string()], columns::<RawApiKey>, decode_api_key)
        })
        .await
    }

    async fn audit(
        &self,
        property: PropertyId,
        q: &AuditQuery,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let q = q.clone();
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        self.with_conn(move |conn| {
            query_all(
                conn,
                "SELECT stream, seq, kind, payload, actor_user, at FROM events
                 WHERE property_id = ?1
                   AND (?2 IS NULL OR stream = ?2)
                   AND (?3 IS NULL OR actor_user = ?3)
                   AND (?4 IS NULL OR at >= ?4)
                   AND (?5 IS NULL OR at < ?5)
                 ORDER BY at, id LIMIT ?6",
                params![
                    property.0.to_string(),
                    q.stream,
                    q.actor,
                    q.from.as_ref().map(ts),
                    q.to.as_ref().map(ts),
                    limit
                ],
                columns::<RawEvent>,
                decode_event,
            )
        })
        .await
    }
}
