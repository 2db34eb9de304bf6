//! Forward-only migrations, embedded in the binary and applied at start.
//!
//! Never edit a migration that has shipped: add a new one. Each backend has its own set
//! because the dialects differ (jsonb, timestamptz, exclusion constraints), but the same
//! numbers describe the same change in both.

use chrono::Utc;

use super::{
    StoreError,
    sql::{Conn, args},
};

/// One migration step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Both sets, from one list: each step has the same number, name and file name in both
/// dialects' directories (`migrations/postgres/`, `migrations/sqlite/`).
macro_rules! migrations {
    ($($version:literal $name:literal $file:literal,)*) => {
        pub const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/postgres/", $file)),
        }),*];
        pub const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/sqlite/", $file)),
        }),*];
    };
}

migrations! {
    1 "events, properties, rooms" "0001_init.sql",
    2 "users, refresh tokens, api keys" "0002_access.sql",
    3 "guests, room types, reservations" "0003_reservations.sql",
    4 "business date, check-in policy, reservation order" "0004_operations.sql",
    5 "outbox" "0005_outbox.sql",
    6 "live stay indexes" "0006_live_stay_indexes.sql",
    7 "tasks" "0007_tasks.sql",
    8 "shifts" "0008_shifts.sql",
    9 "stayover policy" "0009_stayover_policy.sql",
    10 "stock" "0010_stock.sql",
    11 "chat" "0011_chat.sql",
    12 "venues" "0012_venues.sql",
    13 "request keys" "0013_request_keys.sql",
}

/// Applies the steps of `steps` that `schema_migrations` (created by `ledger` if missing)
/// does not list, in the caller's transaction and under a lock, so several nodes starting at
/// once do not race each other.
pub(super) async fn apply(
    c: &mut dyn Conn,
    steps: &[Migration],
    ledger: &str,
) -> Result<(), StoreError> {
    c.lock("schema_migrations").await?;
    c.batch(ledger).await?;
    let applied = c
        .all("SELECT version FROM schema_migrations", &[], |mut c| {
            c.take::<i64>()
        })
        .await?;
    for m in steps.iter().filter(|m| !applied.contains(&m.version)) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        c.batch(m.sql).await?;
        c.write(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &args![m.version, m.name, Utc::now()],
        )
        .await?;
    }
    Ok(())
}
