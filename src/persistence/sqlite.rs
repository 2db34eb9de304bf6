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
    NewEvent, Projection, Store, StoreError, StoredEvent, migrations,
    rows::{enum_text, i64_to_seq, seq_to_i64, text_enum},
};
use crate::domain::{Property, PropertyId, Room, RoomId, RoomNumber};

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

fn raw_room(r: &Row<'_>) -> rusqlite::Result<RawRoom> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

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

fn decode_property(raw: (String, String, String, String)) -> Result<Property, StoreError> {
    Ok(Property {
        id: PropertyId(parse_uuid("properties.id", &raw.0)?),
        name: raw.1,
        timezone: raw.2,
        created_at: parse_ts("properties.created_at", &raw.3)?,
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
                }
            }
            tx.commit().map_err(sql_error)
        })
        .await
    }

    async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError> {
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT id, name, timezone, created_at FROM properties WHERE id = ?1",
                [id.0.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
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
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, name, timezone, created_at FROM properties
                     ORDER BY created_at, id",
                )
                .map_err(sql_error)?;
            let raws = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql_error)?;
            raws.into_iter().map(decode_property).collect()
        })
        .await
    }

    async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError> {
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = ?1
                     ORDER BY floor, length(number), number"
                ))
                .map_err(sql_error)?;
            let raws = stmt
                .query_map([property.0.to_string()], raw_room)
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql_error)?;
            raws.into_iter().map(decode_room).collect()
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
                s.query_row(params![property.0.to_string(), number], raw_room)
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
                .and_then(|mut s| s.query_row([id.0.to_string()], raw_room).optional())
                .map_err(sql_error)?
                .map(decode_room)
                .transpose()
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
            let mut stmt = conn
                .prepare_cached(
                    "SELECT stream, seq, kind, payload, actor_user, at FROM events
                     WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(sql_error)?;
            let raws = stmt
                .query_map(params![stream, after, limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                })
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(sql_error)?;
            raws.into_iter()
                .map(|(stream, seq, kind, payload, actor, at)| {
                    Ok(StoredEvent {
                        stream,
                        seq: i64_to_seq(seq)?,
                        kind,
                        payload: serde_json::from_str(&payload).map_err(|e| {
                            StoreError::Other(anyhow::anyhow!("bad payload in store: {e}"))
                        })?,
                        actor,
                        at: parse_ts("events.at", &at)?,
                    })
                })
                .collect()
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
}
