//! Restaurants: venues, their tables, parties (bookings, walk-ins, the waitlist), the holds
//! parties keep on tables, and the pacing check that keeps a slot from taking too many covers.

use chrono::{DateTime, Utc};

use super::{
    Store, StoreError,
    sql::{Conn, args, json, name_of, seq, state},
};
use crate::domain::{
    ids::{PartyId, TableId, VenueId},
    venue::{self, Party, Slot, Table, Venue},
};

impl Store {
    pub async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError> {
        self.opt("SELECT state FROM venues WHERE id = $1", args![id.0], state)
            .await
    }

    /// A property's venues, by name.
    pub async fn venues(
        &self,
        property: crate::domain::PropertyId,
    ) -> Result<Vec<Venue>, StoreError> {
        let mut all: Vec<Venue> = self
            .all(
                "SELECT state FROM venues WHERE property_id = $1",
                args![property.0],
                state,
            )
            .await?;
        // The name is inside the state: sorted here, the same on both backends.
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    pub async fn venue_table(&self, id: TableId) -> Result<Option<Table>, StoreError> {
        self.opt(
            "SELECT state FROM venue_tables WHERE id = $1",
            args![id.0],
            state,
        )
        .await
    }

    /// A venue's tables, by name.
    pub async fn venue_tables(&self, venue: VenueId) -> Result<Vec<Table>, StoreError> {
        self.all(
            "SELECT state FROM venue_tables WHERE venue_id = $1 ORDER BY name",
            args![venue.0],
            state,
        )
        .await
    }

    pub async fn party(&self, id: PartyId) -> Result<Option<Party>, StoreError> {
        self.opt(
            "SELECT state FROM parties WHERE id = $1",
            args![id.0],
            state,
        )
        .await
    }

    /// A venue's parties starting in `[from, to)`, and every party still seated or waiting
    /// (whenever it started), by start time.
    pub async fn parties(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Party>, StoreError> {
        self.all(
            "SELECT state FROM parties WHERE venue_id = $1
               AND ((starts_at >= $2 AND starts_at < $3)
                    OR status IN ('seated', 'paid', 'quoted', 'notified'))
             ORDER BY starts_at LIMIT 10000",
            args![venue.0, from, to],
            state,
        )
        .await
    }

    /// The live holds on a venue's tables that overlap `[from, to)`.
    pub async fn schedule(
        &self,
        venue: VenueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Slot>, StoreError> {
        // No hold is longer than the longest turn: the last parameter bounds the index range
        // (a venue's history of bookings is never scanned).
        let earliest = from - chrono::Duration::minutes(venue::MAX_TURN_MINUTES);
        self.all(
            "SELECT pt.table_id, pt.party_id, pt.starts_at, pt.ends_at
             FROM party_tables pt JOIN venue_tables t ON t.id = pt.table_id
             WHERE t.venue_id = $1 AND pt.live AND pt.starts_at < $3 AND pt.ends_at > $2
               AND pt.starts_at > $4",
            args![venue.0, from, to, earliest],
            |mut c| {
                Ok(Slot {
                    table: TableId(c.take()?),
                    party: PartyId(c.take()?),
                    starts_at: c.take()?,
                    ends_at: c.take()?,
                })
            },
        )
        .await
    }
}

pub(super) async fn upsert_venue(c: &mut dyn Conn, v: &Venue) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO venues (id, property_id, state, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, version = EXCLUDED.version
         WHERE venues.version < EXCLUDED.version",
        &args![v.id.0, v.property_id.0, json(v)?, seq(v.version)?],
        "venues_version",
    )
    .await
}

pub(super) async fn upsert_table(c: &mut dyn Conn, t: &Table) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO venue_tables (id, venue_id, name, state, version)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET
             name = EXCLUDED.name, state = EXCLUDED.state, version = EXCLUDED.version
         WHERE venue_tables.version < EXCLUDED.version",
        &args![t.id.0, t.venue_id.0, &t.name, json(t)?, seq(t.version)?],
        "venue_tables_version",
    )
    .await
}

pub(super) async fn upsert_party(c: &mut dyn Conn, p: &Party) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO parties (id, venue_id, kind, status, size, starts_at, ends_at, state,
             version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET
             status = EXCLUDED.status, size = EXCLUDED.size,
             starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
             state = EXCLUDED.state, version = EXCLUDED.version
         WHERE parties.version < EXCLUDED.version",
        &args![
            p.id.0,
            p.venue_id.0,
            name_of(&p.kind),
            p.status.as_str(),
            p.size,
            p.starts_at,
            p.ends_at,
            json(p)?,
            seq(p.version)?
        ],
        "parties_version",
    )
    .await?;
    // Its holds are replaced whole: PostgreSQL's exclusion constraint (SQLite's trigger)
    // judges the new ones against every other party's.
    c.execute(
        "DELETE FROM party_tables WHERE party_id = $1",
        &args![p.id.0],
    )
    .await?;
    for table in &p.tables {
        c.execute(
            "INSERT INTO party_tables (party_id, table_id, starts_at, ends_at, live)
             VALUES ($1, $2, $3, $4, $5)",
            &args![
                p.id.0,
                table.0,
                p.starts_at,
                p.ends_at,
                p.status.holds_tables()
            ],
        )
        .await?;
    }
    Ok(())
}

/// See [`super::Projection::CheckPacing`]: one booking of this venue at a time decides, on
/// every node.
pub(super) async fn check_pacing(
    c: &mut dyn Conn,
    venue: VenueId,
    party: PartyId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    size: u16,
    limit: u32,
) -> Result<(), StoreError> {
    c.lock(&format!("pacing:{venue}")).await?;
    let covers = c
        .opt(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM parties
             WHERE venue_id = $1 AND kind = 'booking' AND id <> $2
               AND status IN ('booked', 'arrived', 'seated', 'paid', 'finished')
               AND starts_at >= $3 AND starts_at < $4",
            &args![venue.0, party.0, from, to],
            |mut c| c.take::<i64>(),
        )
        .await?
        .unwrap_or(0);
    if covers + i64::from(size) > i64::from(limit) {
        return Err(StoreError::Constraint("pacing_full".into()));
    }
    Ok(())
}
