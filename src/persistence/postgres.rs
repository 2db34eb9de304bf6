//! The PostgreSQL backend: deadpool-postgres over tokio-postgres.
//!
//! Every write is one transaction (events first, then projections). Unique violations on
//! `events_stream_seq_key` become [`StoreError::Conflict`]; other integrity violations keep
//! their constraint name; connection and pool failures become [`StoreError::Unavailable`] so
//! the API answers 503, never 500, while the database is away.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::{NoTls, Row, error::SqlState, types::ToSql};

use chrono::{DateTime, Utc};
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

/// Pool size per node. Commands are short transactions; more connections than this mostly
/// add contention on a small database server.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection before the store counts as unavailable.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL store. Cheap to share: the pool is reference-counted.
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects, checks the database answers, and applies pending migrations.
    pub async fn connect(url: &SecretString) -> anyhow::Result<Self> {
        // The parse error never contains the URL itself, so it is safe to report.
        let mut pg: tokio_postgres::Config = url
            .expose_secret()
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        pg.connect_timeout(POOL_TIMEOUT);
        // A peer that vanished is noticed by the socket: unacknowledged data for 5 s, or an
        // idle connection that stops answering keepalives, fails the connection (and the pool
        // drops it) instead of waiting on it for the kernel's 15 minutes or two hours.
        pg.tcp_user_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(3);
        // And on the server's side: no statement runs past the node's deadline, and a
        // transaction the node abandoned (its deadline passed before COMMIT) is rolled back
        // and its locks freed within seconds rather than when the server notices the socket.
        let options = format!(
            "{} -c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000",
            pg.get_options().unwrap_or_default()
        );
        pg.options(options.trim());
        if pg.get_application_name().is_none() {
            pg.application_name("bellhop");
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                // Fast: no clean-up query per checkout. We hold no session state (no advisory
                // session locks, no temp tables), so there is nothing to clean.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .context("building the PostgreSQL pool")?;
        let store = Self { pool };
        store
            .migrate()
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(store)
    }

    /// Applies missing migrations under a transaction-scoped advisory lock, so several nodes
    /// starting at once do not race each other.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock(7402010001)", &[])
            .await
            .map_err(pg_error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint      PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg_error)?;
        let applied: Vec<i64> = tx
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for m in migrations::POSTGRES {
            if applied.contains(&m.version) {
                continue;
            }
            tracing::info!(version = m.version, name = m.name, "applying migration");
            tx.batch_execute(m.sql).await.map_err(pg_error)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }

    /// Drops every idle connection of the pool: called when a store call passed its deadline,
    /// since the connection it held may be stuck on a path that drops traffic.
    #[must_use]
    pub fn idle_purger(&self) -> std::sync::Arc<dyn Fn() + Send + Sync> {
        let pool = self.pool.clone();
        std::sync::Arc::new(move || {
            let _ = pool.retain(|_, _| false);
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

fn pool_error(e: PoolError) -> StoreError {
    // Whatever stops the pool from handing out a connection (timeouts, refused or failed
    // connects, even a server error such as "database does not accept connections") means
    // the store is away for now: 503, not 500.
    StoreError::Unavailable(e.to_string())
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION && db.constraint() == Some("events_stream_seq_key") {
            return StoreError::Conflict;
        }
        // Class 23: integrity constraint violations (unique, foreign key, check, exclusion).
        if code.code().starts_with("23") {
            return StoreError::Constraint(
                db.constraint()
                    .map_or_else(|| code.code().to_owned(), str::to_owned),
            );
        }
        // Class 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown).
        if ["08", "53", "57"]
            .iter()
            .any(|c| code.code().starts_with(c))
        {
            return StoreError::Unavailable(db.message().to_owned());
        }
        return StoreError::Other(anyhow::Error::new(e));
    }
    // No server error: the connection itself failed or closed.
    StoreError::Unavailable(e.to_string())
}

fn room_from_row(row: &Row) -> Result<Room, StoreError> {
    let block: Option<serde_json::Value> = row.get("block");
    Ok(Room {
        id: RoomId(row.get("id")),
        property_id: PropertyId(row.get("property_id")),
        number: RoomNumber::parse(row.get("number"))
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad room number in store: {e}")))?,
        floor: row.get("floor"),
        room_type: row.get("room_type"),
        cleanliness: text_enum("cleanliness", row.get("cleanliness"))?,
        hk_occupancy: text_enum("hk_occupancy", row.get("hk_occupancy"))?,
        fo_occupancy: text_enum("fo_occupancy", row.get("fo_occupancy"))?,
        service: text_enum("service", row.get("service"))?,
        rush: row.get("rush"),
        block: block
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad block in store: {e}")))?,
        version: i64_to_seq(row.get("version"))?,
        updated_at: row.get("updated_at"),
    })
}

async fn upsert_reservation(
    tx: &deadpool_postgres::Transaction<'_>,
    r: &Reservation,
    at: &DateTime<Utc>,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO reservations (id, property_id, guest_id, status, room_type, arrival,
                 departure, adults, children, room_id, overbooked, version, updated_at,
                 created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (id) DO UPDATE SET
                 status = EXCLUDED.status, room_type = EXCLUDED.room_type,
                 arrival = EXCLUDED.arrival, departure = EXCLUDED.departure,
                 adults = EXCLUDED.adults, children = EXCLUDED.children,
                 room_id = EXCLUDED.room_id, overbooked = EXCLUDED.overbooked,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             -- As for rooms: a stale projection write is impossible.
             WHERE reservations.version < EXCLUDED.version",
        )
        .await
        .map_err(pg_error)?;
    let written = tx
        .execute(
            &stmt,
            &[
                &r.id.0,
                &r.property_id.0,
                &r.guest_id.0,
                &enum_text(&r.status),
                &r.room_type,
                &r.stay.arrival,
                &r.stay.departure,
                &i16::from(r.party.adults),
                &i16::from(r.party.children),
                &r.room.as_ref().map(|a| a.room_id.0),
                &r.overbooked,
                &seq_to_i64(r.version)?,
                at,
                &r.created_at,
            ],
        )
        .await
        .map_err(pg_error)?;
    if written == 0 {
        return Err(StoreError::Constraint("reservations_version".into()));
    }
    Ok(())
}

/// The columns [`reservation_from_row`] reads (`r`: reservations, `ro`: the assigned room).
const RESERVATION_COLUMNS: &str = "r.id, r.property_id, r.guest_id, r.status, r.room_type, \
    r.arrival, r.departure, r.adults, r.children, r.room_id, ro.number AS room_number, \
    r.overbooked, r.version, r.created_at";

fn reservation_from_row(row: &Row) -> Result<Reservation, StoreError> {
    let small = |column: &str| -> Result<u8, StoreError> {
        u8::try_from(row.get::<_, i16>(column))
            .map_err(|_| StoreError::Other(anyhow::anyhow!("bad {column} in store")))
    };
    let room = assigned_room(row.get("room_id"), row.get("room_number"))?;
    Ok(Reservation {
        id: ReservationId(row.get("id")),
        property_id: PropertyId(row.get("property_id")),
        guest_id: GuestId(row.get("guest_id")),
        status: text_enum("reservations.status", row.get("status"))?,
        room_type: row.get("room_type"),
        stay: Stay {
            arrival: row.get("arrival"),
            departure: row.get("departure"),
        },
        party: Party {
            adults: small("adults")?,
            children: small("children")?,
        },
        room,
        overbooked: row.get("overbooked"),
        version: i64_to_seq(row.get("version"))?,
        created_at: row.get("created_at"),
    })
}

fn guest_from_row(row: &Row) -> Result<Guest, StoreError> {
    Ok(Guest {
        id: GuestId(row.get("id")),
        property_id: PropertyId(row.get("property_id")),
        name: row.get("name"),
        email: row.get("email"),
        phone: row.get("phone"),
        preferences: serde_json::from_value(row.get("preferences"))
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad preferences in store: {e}")))?,
        created_at: row.get("created_at"),
    })
}

const PROPERTY_COLUMNS: &str =
    "id, name, timezone, created_at, business_date, require_inspected, stayover_every_days";

fn property_from_row(row: &Row) -> Property {
    Property {
        id: PropertyId(row.get("id")),
        name: row.get("name"),
        timezone: row.get("timezone"),
        created_at: row.get("created_at"),
        business_date: row.get("business_date"),
        require_inspected: row.get("require_inspected"),
        stayover_every_days: u8::try_from(row.get::<_, i16>("stayover_every_days")).unwrap_or(1),
    }
}

fn task_from_json(v: serde_json::Value) -> Result<Task, StoreError> {
    serde_json::from_value(v)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad task in store: {e}")))
}

fn to_json(v: &impl serde::Serialize) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Other(anyhow::anyhow!("encoding state: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(v)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad {what} in store: {e}")))
}

fn conversation_from_json(v: serde_json::Value) -> Result<Conversation, StoreError> {
    serde_json::from_value(v)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad conversation in store: {e}")))
}

fn pg_params(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Uuid(u) => Box::new(*u),
                Param::Date(d) => Box::new(*d),
                Param::Text(t) => Box::new(t.clone()),
            }
        })
        .collect()
}

/// Reservations matching `filter`, on a connection or inside a transaction.
async fn select_reservations<C: GenericClient>(
    client: &C,
    filter: &ReservationFilter,
) -> Result<Vec<Reservation>, StoreError> {
    let (clause, params) = reservation_where(filter, |n| format!("${n}"));
    let params = pg_params(&params);
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = client
        .query(
            &format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations r
                 LEFT JOIN rooms ro ON ro.id = r.room_id
                 WHERE {clause}
                 LIMIT {}",
                filter.limit.min(100_000)
            ),
            &refs,
        )
        .await
        .map_err(pg_error)?;
    let mut found = rows
        .iter()
        .map(reservation_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    sort_reservations(&mut found);
    Ok(found)
}

/// See [`Projection::CheckInventory`]. The advisory lock serializes every booking of this
/// property and type until the transaction ends; READ COMMITTED then lets the reads below see
/// whatever the previous holder committed.
async fn check_inventory(
    tx: &deadpool_postgres::Transaction<'_>,
    property_id: PropertyId,
    room_type: &str,
    stay: &Stay,
    exclude: ReservationId,
) -> Result<(), StoreError> {
    let key = format!("inventory:{property_id}:{room_type}");
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await
    .map_err(pg_error)?;
    let property = tx
        .query_opt(
            &format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = $1"),
            &[&property_id.0],
        )
        .await
        .map_err(pg_error)?
        .map(|r| property_from_row(&r))
        .ok_or_else(|| StoreError::Constraint("reservations_property_id_fkey".into()))?;
    let rooms = tx
        .query(
            &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1 AND room_type = $2"),
            &[&property_id.0, &room_type],
        )
        .await
        .map_err(pg_error)?
        .iter()
        .map(room_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let sold = select_reservations(
        tx,
        &ReservationFilter {
            nights: Some((stay.arrival, stay.departure)),
            statuses: ReservationStatus::HOLDING.to_vec(),
            room_type: Some(room_type.to_owned()),
            exclude: Some(exclude),
            ..ReservationFilter::property(property_id)
        },
    )
    .await?;
    inventory_fits(&property, &rooms, &sold, room_type, stay)
}

const USER_COLUMNS: &str = "id, property_id, email, name, role, password_hash, totp_secret, \
    totp_enabled, created_at";

fn user_from_row(row: &Row) -> Result<UserRecord, StoreError> {
    let property: Option<Uuid> = row.get("property_id");
    Ok(UserRecord {
        id: row.get("id"),
        property_id: property.map(PropertyId),
        email: row.get("email"),
        name: row.get("name"),
        role: text_enum("role", row.get("role"))?,
        password_hash: row.get("password_hash"),
        totp_secret: row.get("totp_secret"),
        totp_enabled: row.get("totp_enabled"),
        created_at: row.get("created_at"),
    })
}

const API_KEY_COLUMNS: &str =
    "id, property_id, name, key_hash, permissions, created_by, created_at, revoked_at";

fn api_key_from_row(row: &Row) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: row.get("id"),
        property_id: PropertyId(row.get("property_id")),
        name: row.get("name"),
        key_hash: row.get("key_hash"),
        permissions: text_actions(row.get("permissions"))?,
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}

fn event_from_row(r: &Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        stream: r.get("stream"),
        seq: i64_to_seq(r.get("seq"))?,
        kind: r.get("kind"),
        payload: r.get("payload"),
        actor: r.get("actor_user"),
        at: r.get("at"),
    })
}

const ROOM_COLUMNS: &str = "id, property_id, number, floor, room_type, cleanliness, \
    hk_occupancy, fo_occupancy, service, rush, block, version, updated_at";

async fn upsert_room(
    tx: &deadpool_postgres::Transaction<'_>,
    room: &Room,
) -> Result<(), StoreError> {
    let block = room
        .block
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| StoreError::Other(e.into()))?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO rooms (id, property_id, number, floor, room_type, cleanliness,
                 hk_occupancy, fo_occupancy, service, rush, block, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (id) DO UPDATE SET
                 number = EXCLUDED.number, floor = EXCLUDED.floor,
                 room_type = EXCLUDED.room_type, cleanliness = EXCLUDED.cleanliness,
                 hk_occupancy = EXCLUDED.hk_occupancy, fo_occupancy = EXCLUDED.fo_occupancy,
                 service = EXCLUDED.service, rush = EXCLUDED.rush, block = EXCLUDED.block,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             -- The event insert already fenced this write; this guard makes a stale
             -- projection write impossible even if a caller skipped the events.
             WHERE rooms.version < EXCLUDED.version",
        )
        .await
        .map_err(pg_error)?;
    let written = tx
        .execute(
            &stmt,
            &[
                &room.id.0,
                &room.property_id.0,
                &room.number.as_str(),
                &room.floor,
                &room.room_type,
                &enum_text(&room.cleanliness),
                &enum_text(&room.hk_occupancy),
                &enum_text(&room.fo_occupancy),
                &enum_text(&room.service),
                &room.rush,
                &block,
                &seq_to_i64(room.version)?,
                &room.updated_at,
            ],
        )
        .await
        .map_err(pg_error)?;
    if written == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn commit(
        &self,
        events: Vec<NewEvent>,
        projections: Vec<Projection>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO events (stream, seq, property_id, kind, payload, actor_user, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(pg_error)?;
        for e in &events {
            tx.execute(
                &insert,
                &[
                    &e.stream,
                    &seq_to_i64(e.seq)?,
                    &e.property_id.map(|p| p.0),
                    &e.kind,
                    &e.payload,
                    &e.actor.as_str(),
                    &e.at,
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        // The request's idempotency key, in the same transaction as its events.
        if let Some(first) = events.first()
            && let Some(key) = first.actor.request_key()
        {
            tx.execute(
                "INSERT INTO request_keys (agent, key, stream, seq, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent, key) DO NOTHING",
                &[
                    &first.actor.as_str(),
                    &key,
                    &first.stream,
                    &seq_to_i64(first.seq)?,
                    &first.at,
                ],
            )
            .await
            .map_err(pg_error)?;
        }
        for p in &projections {
            match p {
                Projection::InsertProperty(prop) => {
                    tx.execute(
                        "INSERT INTO properties (id, name, timezone, created_at)
                         VALUES ($1, $2, $3, $4)",
                        &[&prop.id.0, &prop.name, &prop.timezone, &prop.created_at],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::UpsertRoom(room) => upsert_room(&tx, room).await?,
                Projection::InsertUser(u) => {
                    tx.execute(
                        "INSERT INTO users (id, property_id, email, name, role, password_hash,
                             totp_secret, totp_enabled, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            &u.id,
                            &u.property_id.map(|p| p.0),
                            &u.email,
                            &u.name,
                            &enum_text(&u.role),
                            &u.password_hash,
                            &u.totp_secret,
                            &u.totp_enabled,
                            &u.created_at,
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::SetTotp {
                    user_id,
                    secret,
                    enabled,
                } => {
                    tx.execute(
                        "UPDATE users SET totp_secret = $2, totp_enabled = $3 WHERE id = $1",
                        &[user_id, secret, enabled],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::InsertApiKey(k) => {
                    tx.execute(
                        "INSERT INTO api_keys (id, property_id, name, key_hash, permissions,
                             created_by, created_at, revoked_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        &[
                            &k.id,
                            &k.property_id.0,
                            &k.name,
                            &k.key_hash,
                            &actions_text(&k.permissions),
                            &k.created_by,
                            &k.created_at,
                            &k.revoked_at,
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::RevokeApiKey { id, at } => {
                    tx.execute(
                        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                        &[id, at],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::InsertGuest(g) => {
                    tx.execute(
                        "INSERT INTO guests (id, property_id, name, email, phone, preferences,
                             created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[
                            &g.id.0,
                            &g.property_id.0,
                            &g.name,
                            &g.email,
                            &g.phone,
                            &serde_json::json!(g.preferences),
                            &g.created_at,
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::UpsertRoomType(t) => {
                    tx.execute(
                        "INSERT INTO room_types (property_id, code, name, max_occupancy)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (property_id, code) DO UPDATE SET
                             name = EXCLUDED.name, max_occupancy = EXCLUDED.max_occupancy",
                        &[
                            &t.property_id.0,
                            &t.code,
                            &t.name,
                            &i16::from(t.max_occupancy),
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::CheckInventory {
                    property_id,
                    room_type,
                    stay,
                    exclude,
                } => check_inventory(&tx, *property_id, room_type, stay, *exclude).await?,
                Projection::SetBusinessDate {
                    property_id,
                    from,
                    to,
                } => {
                    let moved = tx
                        .execute(
                            "UPDATE properties SET business_date = $3
                             WHERE id = $1 AND business_date IS NOT DISTINCT FROM $2",
                            &[&property_id.0, from, to],
                        )
                        .await
                        .map_err(pg_error)?;
                    if moved == 0 {
                        return Err(StoreError::Constraint(BUSINESS_DATE_MOVED.into()));
                    }
                }
                Projection::UpsertTask(t) => {
                    let state = serde_json::to_value(t)
                        .map_err(|e| StoreError::Other(anyhow::anyhow!("encoding a task: {e}")))?;
                    let written = tx
                        .execute(
                            "INSERT INTO tasks (id, property_id, kind, status, room_id, assignee,
                                 state, version, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                             ON CONFLICT (id) DO UPDATE SET
                                 kind = EXCLUDED.kind, status = EXCLUDED.status,
                                 room_id = EXCLUDED.room_id, assignee = EXCLUDED.assignee,
                                 state = EXCLUDED.state, version = EXCLUDED.version,
                                 updated_at = EXCLUDED.updated_at
                             WHERE tasks.version < EXCLUDED.version",
                            &[
                                &t.id.0,
                                &t.property_id.0,
                                &enum_text(&t.kind),
                                &t.status.as_str(),
                                &t.room_id.map(|r| r.0),
                                &t.assignee,
                                &state,
                                &seq_to_i64(t.version)?,
                                &t.updated_at,
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("tasks_version".into()));
                    }
                }
                Projection::UpsertConversation(c) => {
                    let state = serde_json::to_value(c).map_err(|e| {
                        StoreError::Other(anyhow::anyhow!("encoding a conversation: {e}"))
                    })?;
                    let written = tx
                        .execute(
                            "INSERT INTO conversations (id, property_id, reservation_id, status,
                                 state, version, updated_at, waiting_since)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                             ON CONFLICT (id) DO UPDATE SET
                                 status = EXCLUDED.status, state = EXCLUDED.state,
                                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
                                 waiting_since = EXCLUDED.waiting_since
                             WHERE conversations.version < EXCLUDED.version",
                            &[
                                &c.id.0,
                                &c.property_id.0,
                                &c.reservation_id.0,
                                &enum_text(&c.status),
                                &state,
                                &seq_to_i64(c.version)?,
                                &c.updated_at,
                                &c.waiting_since(),
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("conversations_version".into()));
                    }
                }
                Projection::UpsertVenue(v) => {
                    let written = tx
                        .execute(
                            "INSERT INTO venues (id, property_id, state, version)
                             VALUES ($1, $2, $3, $4)
                             ON CONFLICT (id) DO UPDATE SET
                                 state = EXCLUDED.state, version = EXCLUDED.version
                             WHERE venues.version < EXCLUDED.version",
                            &[
                                &v.id.0,
                                &v.property_id.0,
                                &to_json(v)?,
                                &seq_to_i64(v.version)?,
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("venues_version".into()));
                    }
                }
                Projection::UpsertTable(t) => {
                    let written = tx
                        .execute(
                            "INSERT INTO venue_tables (id, venue_id, name, state, version)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (id) DO UPDATE SET
                                 name = EXCLUDED.name, state = EXCLUDED.state,
                                 version = EXCLUDED.version
                             WHERE venue_tables.version < EXCLUDED.version",
                            &[
                                &t.id.0,
                                &t.venue_id.0,
                                &t.name,
                                &to_json(t)?,
                                &seq_to_i64(t.version)?,
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("venue_tables_version".into()));
                    }
                }
                Projection::UpsertParty(p) => {
                    let written = tx
                        .execute(
                            "INSERT INTO parties (id, venue_id, kind, status, size, starts_at,
                                 ends_at, state, version)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                             ON CONFLICT (id) DO UPDATE SET
                                 status = EXCLUDED.status, size = EXCLUDED.size,
                                 starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
                                 state = EXCLUDED.state, version = EXCLUDED.version
                             WHERE parties.version < EXCLUDED.version",
                            &[
                                &p.id.0,
                                &p.venue_id.0,
                                &enum_text(&p.kind),
                                &p.status.as_str(),
                                &i32::from(p.size),
                                &p.starts_at,
                                &p.ends_at,
                                &to_json(p)?,
                                &seq_to_i64(p.version)?,
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("parties_version".into()));
                    }
                    // Its holds are replaced whole: the exclusion constraint judges the new
                    // ones against every other party's.
                    tx.execute("DELETE FROM party_tables WHERE party_id = $1", &[&p.id.0])
                        .await
                        .map_err(pg_error)?;
                    for table in &p.tables {
                        tx.execute(
                            "INSERT INTO party_tables (party_id, table_id, starts_at, ends_at, live)
                             VALUES ($1, $2, $3, $4, $5)",
                            &[&p.id.0, &table.0, &p.starts_at, &p.ends_at, &p.status.holds_tables()],
                        )
                        .await
                        .map_err(pg_error)?;
                    }
                }
                Projection::CheckPacing {
                    venue_id,
                    party,
                    from,
                    to,
                    size,
                    limit,
                } => {
                    // One booking of this venue at a time decides, on every node.
                    let key = format!("pacing:{venue_id}");
                    tx.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                        &[&key],
                    )
                    .await
                    .map_err(pg_error)?;
                    let row = tx
                        .query_one(
                            "SELECT COALESCE(SUM(size), 0)::bigint AS covers FROM parties
                             WHERE venue_id = $1 AND kind = 'booking' AND id <> $2
                               AND status IN ('booked', 'arrived', 'seated', 'paid', 'finished')
                               AND starts_at >= $3 AND starts_at < $4",
                            &[&venue_id.0, &party.0, from, to],
                        )
                        .await
                        .map_err(pg_error)?;
                    let covers: i64 = row.get("covers");
                    if covers + i64::from(*size) > i64::from(*limit) {
                        return Err(StoreError::Constraint("pacing_full".into()));
                    }
                }
                Projection::UpsertCannedReply(r) => {
                    tx.execute(
                        "INSERT INTO canned_replies (id, property_id, title, body, updated_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (id) DO UPDATE SET
                             title = EXCLUDED.title, body = EXCLUDED.body,
                             updated_at = EXCLUDED.updated_at
                         WHERE canned_replies.property_id = EXCLUDED.property_id",
                        &[&r.id, &r.property_id.0, &r.title, &r.body, &r.updated_at],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::DeleteCannedReply { property_id, id } => {
                    tx.execute(
                        "DELETE FROM canned_replies WHERE id = $1 AND property_id = $2",
                        &[id, &property_id.0],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::UpsertStock(it) => {
                    let written = tx
                        .execute(
                            "INSERT INTO stock_items (property_id, item, count, low_at, uses, version)
                             VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (property_id, item) DO UPDATE SET
                                 count = EXCLUDED.count, low_at = EXCLUDED.low_at,
                                 uses = EXCLUDED.uses, version = EXCLUDED.version
                             WHERE stock_items.version < EXCLUDED.version",
                            &[
                                &it.property_id.0,
                                &it.item,
                                &it.count,
                                &it.low_at,
                                &serde_json::json!(it.uses),
                                &seq_to_i64(it.version)?,
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    if written == 0 {
                        return Err(StoreError::Constraint("stock_items_version".into()));
                    }
                }
                Projection::SetShift { shift, on_duty } => {
                    if *on_duty {
                        tx.execute(
                            "INSERT INTO shifts (property_id, date, user_id, floors)
                             VALUES ($1, $2, $3, $4)
                             ON CONFLICT (property_id, date, user_id)
                             DO UPDATE SET floors = EXCLUDED.floors",
                            &[
                                &shift.property_id.0,
                                &shift.date,
                                &shift.user_id,
                                &serde_json::json!(shift.floors),
                            ],
                        )
                        .await
                        .map_err(pg_error)?;
                    } else {
                        tx.execute(
                            "DELETE FROM shifts WHERE property_id = $1 AND date = $2 AND user_id = $3",
                            &[&shift.property_id.0, &shift.date, &shift.user_id],
                        )
                        .await
                        .map_err(pg_error)?;
                    }
                }
                Projection::EnqueueEmail(m) => {
                    tx.execute(
                        "INSERT INTO outbox (id, property_id, kind, idempotency_key, recipient,
                             subject, body, reservation_id, link_expires_at, created_at,
                             next_attempt_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
                         ON CONFLICT (idempotency_key) DO NOTHING",
                        &[
                            &m.id,
                            &m.property_id.0,
                            &m.kind,
                            &m.idempotency_key,
                            &m.recipient,
                            &m.subject,
                            &m.body,
                            &m.reservation_id.map(|r| r.0),
                            &m.link_expires_at,
                            &m.created_at,
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::SetRequireInspected {
                    property_id,
                    require_inspected,
                    stayover_every_days,
                } => {
                    tx.execute(
                        "UPDATE properties SET require_inspected = $2, stayover_every_days = $3
                         WHERE id = $1",
                        &[
                            &property_id.0,
                            require_inspected,
                            &i16::from(*stayover_every_days),
                        ],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                Projection::UpsertReservation { reservation, at } => {
                    upsert_reservation(&tx, reservation, at).await?;
                }
            }
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = $1"),
                &[&id.0],
            )
            .await
            .map_err(pg_error)?;
        Ok(row.as_ref().map(property_from_row))
    }

    async fn properties(&self) -> Result<Vec<Property>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {PROPERTY_COLUMNS} FROM properties ORDER BY created_at, id"),
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(property_from_row).collect())
    }

    async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1
                 ORDER BY floor, length(number), number"
            ))
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(&stmt, &[&property.0])
            .await
            .map_err(pg_error)?;
        rows.iter().map(room_from_row).collect()
    }

    async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<Option<Room>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1 AND number = $2"
            ))
            .await
            .map_err(pg_error)?;
        let row = client
            .query_opt(&stmt, &[&property.0, &number.as_str()])
            .await
            .map_err(pg_error)?;
        row.as_ref().map(room_from_row).transpose()
    }

    async fn room_by_id(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1"))
            .await
            .map_err(pg_error)?;
        let row = client.query_opt(&stmt, &[&id.0]).await.map_err(pg_error)?;
        row.as_ref().map(room_from_row).transpose()
    }

    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests WHERE id = $1",
                &[&id.0],
            )
            .await
            .map_err(pg_error)?;
        row.as_ref().map(guest_from_row).transpose()
    }

    async fn guests(
        &self,
        property: PropertyId,
        email: Option<String>,
        limit: usize,
    ) -> Result<Vec<Guest>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests
                 WHERE property_id = $1 AND ($2::text IS NULL OR lower(email) = lower($2))
                 ORDER BY name, id LIMIT $3",
                &[&property.0, &email, &limit],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(guest_from_row).collect()
    }

    async fn guests_by_id(
        &self,
        property: PropertyId,
        ids: &[GuestId],
    ) -> Result<Vec<Guest>, StoreError> {
        let client = self.client().await?;
        let ids: Vec<uuid::Uuid> = ids.iter().map(|g| g.0).collect();
        let rows = client
            .query(
                "SELECT id, property_id, name, email, phone, preferences, created_at
                 FROM guests WHERE property_id = $1 AND id = ANY($2)",
                &[&property.0, &ids],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(guest_from_row).collect()
    }

    async fn room_types(&self, property: PropertyId) -> Result<Vec<RoomType>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT code, name, max_occupancy FROM room_types
                 WHERE property_id = $1 ORDER BY code",
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|row| {
                Ok(RoomType {
                    property_id: property,
                    code: row.get("code"),
                    name: row.get("name"),
                    max_occupancy: u8::try_from(row.get::<_, i16>("max_occupancy")).map_err(
                        |_| StoreError::Other(anyhow::anyhow!("bad max_occupancy in store")),
                    )?,
                })
            })
            .collect()
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations r
                 LEFT JOIN rooms ro ON ro.id = r.room_id WHERE r.id = $1"
            ))
            .await
            .map_err(pg_error)?;
        let row = client.query_opt(&stmt, &[&id.0]).await.map_err(pg_error)?;
        row.as_ref().map(reservation_from_row).transpose()
    }

    async fn reservations_between(
        &self,
        property: PropertyId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<Reservation>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {RESERVATION_COLUMNS} FROM reservations r
                     LEFT JOIN rooms ro ON ro.id = r.room_id
                     WHERE r.property_id = $1 AND r.arrival < $3 AND $2 < r.departure
                     ORDER BY r.arrival, r.id"
                ),
                &[&property.0, &from, &to],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(reservation_from_row).collect()
    }

    async fn reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError> {
        let client = self.client().await?;
        select_reservations(&client, filter).await
    }

    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        let client = self.client().await?;
        // SKIP LOCKED: workers on several nodes take disjoint rows instead of queueing
        // behind each other; the lease covers a worker that dies mid-send.
        let rows = client
            .query(
                "UPDATE outbox SET locked_until = $2, attempts = attempts + 1
                 WHERE id IN (
                     SELECT id FROM outbox
                     WHERE sent_at IS NULL AND next_attempt_at <= $1
                       AND (locked_until IS NULL OR locked_until < $1)
                     ORDER BY next_attempt_at
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 RETURNING id, property_id, kind, idempotency_key, recipient, subject, body,
                     reservation_id, link_expires_at, created_at, attempts",
                &[&now, &lease_until, &i64::try_from(limit).unwrap_or(100)],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| OutboxEmail {
                id: r.get("id"),
                property_id: PropertyId(r.get("property_id")),
                kind: r.get("kind"),
                idempotency_key: r.get("idempotency_key"),
                recipient: r.get("recipient"),
                subject: r.get("subject"),
                body: r.get("body"),
                reservation_id: r
                    .get::<_, Option<Uuid>>("reservation_id")
                    .map(ReservationId),
                link_expires_at: r.get("link_expires_at"),
                created_at: r.get("created_at"),
                attempts: u32::try_from(r.get::<_, i32>("attempts")).unwrap_or(0),
            })
            .collect())
    }

    async fn email_sent(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE outbox SET sent_at = $2, locked_until = NULL, last_error = NULL
                 WHERE id = $1",
                &[&id, &at],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn email_failed(
        &self,
        id: Uuid,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3
                 WHERE id = $1 AND sent_at IS NULL",
                &[&id, &next_attempt_at, &error],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM tasks WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?;
        row.map(|r| task_from_json(r.get("state"))).transpose()
    }

    async fn stock(&self, property: PropertyId) -> Result<Vec<StockItem>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT item, count, low_at, uses, version FROM stock_items
                 WHERE property_id = $1 ORDER BY item",
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                Ok(StockItem {
                    property_id: property,
                    item: r.get("item"),
                    count: r.get("count"),
                    low_at: r.get("low_at"),
                    uses: serde_json::from_value(r.get("uses")).map_err(|e| {
                        StoreError::Other(anyhow::anyhow!("bad uses in store: {e}"))
                    })?,
                    version: i64_to_seq(r.get("version"))?,
                })
            })
            .collect()
    }

    async fn shifts(
        &self,
        property: PropertyId,
        date: chrono::NaiveDate,
    ) -> Result<Vec<Shift>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT user_id, floors FROM shifts WHERE property_id = $1 AND date = $2
                 ORDER BY user_id",
                &[&property.0, &date],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                Ok(Shift {
                    property_id: property,
                    date,
                    user_id: r.get("user_id"),
                    floors: serde_json::from_value(r.get("floors")).map_err(|e| {
                        StoreError::Other(anyhow::anyhow!("bad floors in store: {e}"))
                    })?,
                })
            })
            .collect()
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        let client = self.client().await?;
        let open = if filter.open_only {
            "AND status IN ('created', 'assigned', 'in_progress', 'on_hold')"
        } else {
            ""
        };
        let rows = client
            .query(
                &format!(
                    "SELECT state FROM tasks WHERE property_id = $1
                     AND ($2::uuid IS NULL OR assignee = $2)
                     AND ($3::uuid IS NULL OR room_id = $3) {open}
                     LIMIT 10000"
                ),
                &[
                    &filter.property.0,
                    &filter.assignee,
                    &filter.room.map(|r| r.0),
                ],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| task_from_json(r.get("state")))
            .collect()
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM conversations WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?;
        row.map(|r| conversation_from_json(r.get("state")))
            .transpose()
    }

    async fn conversations(
        &self,
        property: PropertyId,
        status: Option<InboxStatus>,
    ) -> Result<Vec<Conversation>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                // Without a status: the inbox — conversations where something happened (a
                // reservation's conversation opens at version 1), archived ones left out.
                "SELECT state FROM conversations WHERE property_id = $1
                 AND (status = $2 OR ($2::text IS NULL AND status <> 'archived' AND version > 1))
                 LIMIT 10000",
                &[&property.0, &status.as_ref().map(enum_text)],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| conversation_from_json(r.get("state")))
            .collect()
    }

    async fn conversations_waiting(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id FROM conversations WHERE waiting_since <= $1
                 AND (guest_present_until IS NULL OR guest_present_until < $2)
                 ORDER BY waiting_since LIMIT 500",
                &[&before, &now],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows.iter().map(|r| ConversationId(r.get("id"))).collect())
    }

    async fn set_guest_presence(
        &self,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE conversations SET guest_present_until = $2 WHERE id = $1",
                &[&id.0, &until],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn guest_present(
        &self,
        id: ConversationId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM conversations WHERE id = $1 AND guest_present_until >= $2",
                &[&id.0, &now],
            )
            .await
            .map_err(pg_error)?;
        Ok(row.is_some())
    }

    async fn canned_replies(&self, property: PropertyId) -> Result<Vec<CannedReply>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, title, body, updated_at FROM canned_replies
                 WHERE property_id = $1 ORDER BY title",
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| CannedReply {
                id: r.get("id"),
                property_id: property,
                title: r.get("title"),
                body: r.get("body"),
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM venues WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?;
        row.map(|r| from_json(r.get("state"), "venue")).transpose()
    }

    async fn venues(&self, property: PropertyId) -> Result<Vec<Venue>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT state FROM venues WHERE property_id = $1 ORDER BY state->>'name'",
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| from_json(r.get("state"), "venue"))
            .collect()
    }

    async fn venue_table(&self, id: TableId) -> Result<Option<Table>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM venue_tables WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?;
        row.map(|r| from_json(r.get("state"), "table")).transpose()
    }

    async fn venue_tables(&self, venue: VenueId) -> Result<Vec<Table>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT state FROM venue_tables WHERE venue_id = $1 ORDER BY name",
                &[&venue.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| from_json(r.get("state"), "table"))
            .collect()
    }

    async fn party(&self, id: PartyId) -> Result<Option<venue::Party>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT state FROM parties WHERE id = $1", &[&id.0])
            .await
            .map_err(pg_error)?;
        row.map(|r| from_json(r.get("state"), "party")).transpose()
    }

    async fn parties(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<venue::Party>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT state FROM parties WHERE venue_id = $1
                   AND ((starts_at >= $2 AND starts_at < $3)
                        OR status IN ('seated', 'paid', 'quoted', 'notified'))
                 ORDER BY starts_at LIMIT 10000",
                &[&venue.0, &from, &to],
            )
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| from_json(r.get("state"), "party"))
            .collect()
    }

    async fn schedule(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT pt.table_id, pt.party_id, pt.starts_at, pt.ends_at
                 FROM party_tables pt JOIN venue_tables t ON t.id = pt.table_id
                 WHERE t.venue_id = $1 AND pt.live AND pt.starts_at < $3 AND pt.ends_at > $2
                   AND pt.starts_at > $4",
                // No hold is longer than the longest turn: this bounds the index range (a
                // venue's history of bookings is never scanned).
                &[
                    &venue.0,
                    &from,
                    &to,
                    &(from - chrono::Duration::minutes(venue::MAX_TURN_MINUTES)),
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| Slot {
                table: TableId(r.get("table_id")),
                party: PartyId(r.get("party_id")),
                starts_at: r.get("starts_at"),
                ends_at: r.get("ends_at"),
            })
            .collect())
    }

    async fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE stream = $1",
                &[&stream],
            )
            .await
            .map_err(pg_error)?;
        i64_to_seq(row.get(0))
    }

    async fn read_stream(
        &self,
        stream: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT stream, seq, kind, payload, actor_user, at FROM events
                 WHERE stream = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&stream, &seq_to_i64(after)?, &limit],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(pg_error)?;
        Ok(())
    }

    async fn request_record(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT stream, seq, status, body FROM request_keys
                 WHERE agent = $1 AND key = $2 AND created_at > now() - interval '48 hours'",
                &[&agent, &key],
            )
            .await
            .map_err(pg_error)?;
        row.map(|r| {
            Ok(RequestRecord {
                stream: r.get("stream"),
                seq: r.get::<_, Option<i64>>("seq").map(i64_to_seq).transpose()?,
                status: r
                    .get::<_, Option<i32>>("status")
                    .and_then(|s| u16::try_from(s).ok()),
                body: r.get("body"),
            })
        })
        .transpose()
    }

    async fn save_request_answer(
        &self,
        agent: &str,
        key: &str,
        status: u16,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO request_keys (agent, key, status, body, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (agent, key) DO UPDATE SET status = $3, body = $4
                 WHERE request_keys.status IS NULL",
                &[&agent, &key, &i32::from(status), &body, &at],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn prune_request_keys(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM request_keys WHERE created_at < $1", &[&before])
            .await
            .map_err(pg_error)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
                &[&email],
            )
            .await
            .map_err(pg_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(pg_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn users(&self, property: PropertyId) -> Result<Vec<UserRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE property_id = $1 ORDER BY email"),
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn use_totp_step(&self, user: Uuid, step: u64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE users SET totp_last_step = $2
                 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                &[&user, &seq_to_i64(step)?],
            )
            .await
            .map_err(pg_error)?;
        Ok(n == 1)
    }

    async fn insert_refresh(&self, t: RefreshRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&t.id, &t.user_id, &t.family_id, &t.token_hash, &t.issued_at, &t.expires_at],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old: &str,
        next: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // FOR UPDATE: two concurrent presentations of one token are serialized, so exactly one
        // can rotate it and the other is seen as a reuse.
        let Some(row) = tx
            .query_opt(
                "SELECT user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens
                 WHERE token_hash = $1 FOR UPDATE",
                &[&old],
            )
            .await
            .map_err(pg_error)?
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        let (user_id, family): (Uuid, Uuid) = (row.get(0), row.get(1));
        let expires_at: DateTime<Utc> = row.get(2);
        let used_at: Option<DateTime<Utc>> = row.get(3);
        let revoked_at: Option<DateTime<Utc>> = row.get(4);
        if used_at.is_some() {
            tx.execute(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                &[&family, &now],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            return Ok(RefreshOutcome::Reused);
        }
        if revoked_at.is_some() || expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        tx.execute(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1",
            &[&old, &now],
        )
        .await
        .map_err(pg_error)?;
        tx.execute(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &next.id,
                &user_id,
                &family,
                &next.token_hash,
                &next.issued_at,
                &next.expires_at,
            ],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        Ok(RefreshOutcome::Rotated { user_id })
    }

    async fn revoke_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE refresh_tokens SET revoked_at = $2
                 WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
                   AND revoked_at IS NULL",
                &[&hash, &now],
            )
            .await
            .map_err(pg_error)?;
        Ok(n > 0)
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&hash],
            )
            .await
            .map_err(pg_error)?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    async fn api_keys(&self, property: PropertyId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE property_id = $1 ORDER BY created_at, id"),
                &[&property.0],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn audit(
        &self,
        property: PropertyId,
        q: &AuditQuery,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "SELECT stream, seq, kind, payload, actor_user, at FROM events
                 WHERE property_id = $1
                   AND ($2::text IS NULL OR stream = $2)
                   AND ($3::text IS NULL OR actor_user = $3)
                   AND ($4::timestamptz IS NULL OR at >= $4)
                   AND ($5::timestamptz IS NULL OR at < $5)
                 ORDER BY at, id LIMIT $6",
                &[&property.0, &q.stream, &q.actor, &q.from, &q.to, &limit],
            )
            .await
            .map_err(pg_error)?;
        rows.iter().map(event_from_row).collect()
    }
}
