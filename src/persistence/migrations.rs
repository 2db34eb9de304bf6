//! Forward-only migrations, embedded in the binary and applied at start.
//!
//! Never edit a migration that has shipped: add a new one. Each backend has its own set
//! because the dialects differ (jsonb, timestamptz, exclusion constraints), but the same
//! numbers describe the same change in both.

/// One migration step.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "events, properties, rooms",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "users, refresh tokens, api keys",
        sql: include_str!("../../migrations/postgres/0002_access.sql"),
    },
    Migration {
        version: 3,
        name: "guests, room types, reservations",
        sql: include_str!("../../migrations/postgres/0003_reservations.sql"),
    },
    Migration {
        version: 4,
        name: "business date, check-in policy, reservation order",
        sql: include_str!("../../migrations/postgres/0004_operations.sql"),
    },
    Migration {
        version: 5,
        name: "outbox",
        sql: include_str!("../../migrations/postgres/0005_outbox.sql"),
    },
    Migration {
        version: 6,
        name: "live stay indexes",
        sql: include_str!("../../migrations/postgres/0006_live_stay_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "tasks",
        sql: include_str!("../../migrations/postgres/0007_tasks.sql"),
    },
    Migration {
        version: 8,
        name: "shifts",
        sql: include_str!("../../migrations/postgres/0008_shifts.sql"),
    },
    Migration {
        version: 9,
        name: "stayover policy",
        sql: include_str!("../../migrations/postgres/0009_stayover_policy.sql"),
    },
    Migration {
        version: 10,
        name: "stock",
        sql: include_str!("../../migrations/postgres/0010_stock.sql"),
    },
    Migration {
        version: 11,
        name: "chat",
        sql: include_str!("../../migrations/postgres/0011_chat.sql"),
    },
    Migration {
        version: 12,
        name: "venues",
        sql: include_str!("../../migrations/postgres/0012_venues.sql"),
    },
    Migration {
        version: 13,
        name: "request keys",
        sql: include_str!("../../migrations/postgres/0013_request_keys.sql"),
    },
];

pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "events, properties, rooms",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "users, refresh tokens, api keys",
        sql: include_str!("../../migrations/sqlite/0002_access.sql"),
    },
    Migration {
        version: 3,
        name: "guests, room types, reservations",
        sql: include_str!("../../migrations/sqlite/0003_reservations.sql"),
    },
    Migration {
        version: 4,
        name: "business date, check-in policy, reservation order",
        sql: include_str!("../../migrations/sqlite/0004_operations.sql"),
    },
    Migration {
        version: 5,
        name: "outbox",
        sql: include_str!("../../migrations/sqlite/0005_outbox.sql"),
    },
    Migration {
        version: 6,
        name: "live stay indexes",
        sql: include_str!("../../migrations/sqlite/0006_live_stay_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "tasks",
        sql: include_str!("../../migrations/sqlite/0007_tasks.sql"),
    },
    Migration {
        version: 8,
        name: "shifts",
        sql: include_str!("../../migrations/sqlite/0008_shifts.sql"),
    },
    Migration {
        version: 9,
        name: "stayover policy",
        sql: include_str!("../../migrations/sqlite/0009_stayover_policy.sql"),
    },
    Migration {
        version: 10,
        name: "stock",
        sql: include_str!("../../migrations/sqlite/0010_stock.sql"),
    },
    Migration {
        version: 11,
        name: "chat",
        sql: include_str!("../../migrations/sqlite/0011_chat.sql"),
    },
    Migration {
        version: 12,
        name: "venues",
        sql: include_str!("../../migrations/sqlite/0012_venues.sql"),
    },
    Migration {
        version: 13,
        name: "request keys",
        sql: include_str!("../../migrations/sqlite/0013_request_keys.sql"),
    },
];
