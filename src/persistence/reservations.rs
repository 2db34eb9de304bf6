//! Guests and reservations, and the inventory check that keeps a room type from being sold
//! twice.

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    ReservationFilter, Store, StoreError,
    rooms::{PROPERTY_COLUMNS, ROOM_COLUMNS, property, room},
    sql::{Cols, Conn, Query, Value, args, json, name_of, placeholders, seq},
};
use crate::domain::{
    Guest, GuestId, PropertyId, Reservation, ReservationId, ReservationStatus, RoomId, RoomNumber,
    availability,
    reservation::{AssignedRoom, Party, Stay},
};

/// The constraint name a write gets when a room type is sold out on one of its nights.
pub(crate) const INVENTORY_EXHAUSTED: &str = "inventory_exhausted";

const GUEST_COLUMNS: &str = "id, property_id, name, email, phone, preferences, created_at";

fn guest(mut c: Cols) -> Result<Guest, StoreError> {
    Ok(Guest {
        id: GuestId(c.take()?),
        property_id: PropertyId(c.take()?),
        name: c.take()?,
        email: c.take()?,
        phone: c.take()?,
        preferences: c.json()?,
        created_at: c.take()?,
    })
}

/// The columns [`reservation`] reads (`r`: reservations, `ro`: the assigned room).
const RESERVATION_COLUMNS: &str = "r.id, r.property_id, r.guest_id, r.status, r.room_type, \
    r.arrival, r.departure, r.adults, r.children, r.room_id, ro.number, r.overbooked, \
    r.version, r.created_at";

fn reservation(mut c: Cols) -> Result<Reservation, StoreError> {
    Ok(Reservation {
        id: ReservationId(c.take()?),
        property_id: PropertyId(c.take()?),
        guest_id: GuestId(c.take()?),
        status: c.name()?,
        room_type: c.take()?,
        stay: Stay {
            arrival: c.take()?,
            departure: c.take()?,
        },
        party: Party {
            adults: c.take()?,
            children: c.take()?,
        },
        room: match (c.take()?, c.take::<Option<String>>()?) {
            (Some(id), Some(number)) => Some(AssignedRoom {
                room_id: RoomId(id),
                number: RoomNumber::parse(&number).map_err(|e| {
                    StoreError::Other(anyhow::anyhow!("bad room number in store: {e}"))
                })?,
            }),
            _ => None,
        },
        overbooked: c.take()?,
        version: c.take()?,
        created_at: c.take()?,
    })
}

/// The statement and parameters reading the reservations `filter` selects. Statuses are
/// inlined: they come from our own enum, never from a caller's text.
fn reservations_query(filter: &ReservationFilter) -> Query {
    let mut q = Query::new(
        format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations r
             LEFT JOIN rooms ro ON ro.id = r.room_id WHERE r.property_id = $1"
        ),
        filter.property.0,
    );
    if let Some((from, to)) = filter.nights {
        q.and(" AND r.arrival < #", to);
        q.and(" AND # < r.departure", from);
    }
    if let Some(t) = &filter.room_type {
        q.and(" AND r.room_type = #", t);
    }
    if let Some(room) = filter.room {
        q.and(" AND r.room_id = #", room.0);
    }
    if let Some(guest) = filter.guest {
        q.and(" AND r.guest_id = #", guest.0);
    }
    if let Some(d) = filter.arrival_before {
        q.and(" AND r.arrival < #", d);
    }
    if let Some(id) = filter.exclude {
        q.and(" AND r.id <> #", id.0);
    }
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        q.sql
            .push_str(&format!(" AND r.status IN ({})", list.join(", ")));
    }
    // Sorted after reading rather than by `ORDER BY`: an `ORDER BY arrival` leads SQLite's
    // planner to the arrival index, which scans a hotel's whole history for "live stays
    // touching these nights", instead of the partial live-stay indexes (migration 0006) that
    // hold only current stays. A filter's `limit` therefore bounds the answer; it does not
    // page it.
    q.sql
        .push_str(&format!(" LIMIT {}", filter.limit.min(100_000)));
    q
}

async fn select_reservations(
    c: &mut dyn Conn,
    filter: &ReservationFilter,
) -> Result<Vec<Reservation>, StoreError> {
    let q = reservations_query(filter);
    let mut found = c.all(&q.sql, &q.values, reservation).await?;
    found.sort_by(|a, b| {
        (a.stay.arrival, a.created_at, a.id.0).cmp(&(b.stay.arrival, b.created_at, b.id.0))
    });
    Ok(found)
}

impl Store {
    /// A guest profile by id.
    pub async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        self.opt(
            format!("SELECT {GUEST_COLUMNS} FROM guests WHERE id = $1"),
            args![id.0],
            guest,
        )
        .await
    }

    /// The guests among `ids` that belong to `property`, in one read (a day's list names
    /// hundreds of guests; one query each would be as many round trips).
    pub async fn guests_by_id(
        &self,
        property: PropertyId,
        ids: &[GuestId],
    ) -> Result<Vec<Guest>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        // In chunks, so a statement's parameters stay well inside both backends' limits.
        for chunk in ids.chunks(500) {
            let mut values = Vec::from(args![property.0]);
            values.extend(chunk.iter().map(|g| Value::Uuid(g.0)));
            let sql = format!(
                "SELECT {GUEST_COLUMNS} FROM guests WHERE property_id = $1 AND id IN ({})",
                placeholders(2, chunk.len())
            );
            found.extend(self.all(sql, values, guest).await?);
        }
        Ok(found)
    }

    /// A property's guests, by name; only those with this email (any case) if given.
    pub async fn guests(
        &self,
        property: PropertyId,
        email: Option<String>,
        limit: usize,
    ) -> Result<Vec<Guest>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut q = Query::new(
            format!("SELECT {GUEST_COLUMNS} FROM guests WHERE property_id = $1"),
            property.0,
        );
        if let Some(email) = email {
            q.and(" AND lower(email) = lower(#)", email);
        }
        q.and(" ORDER BY name, id LIMIT #", limit);
        self.all(q.sql, q.values, guest).await
    }

    pub async fn reservation(&self, id: ReservationId) -> Result<Option<Reservation>, StoreError> {
        self.opt(
            format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations r
                 LEFT JOIN rooms ro ON ro.id = r.room_id WHERE r.id = $1"
            ),
            args![id.0],
            reservation,
        )
        .await
    }

    /// A property's reservations whose stay shares a night with `[from, to)`, by arrival.
    pub async fn reservations_between(
        &self,
        property: PropertyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Reservation>, StoreError> {
        self.all(
            format!(
                "SELECT {RESERVATION_COLUMNS} FROM reservations r
                 LEFT JOIN rooms ro ON ro.id = r.room_id
                 WHERE r.property_id = $1 AND r.arrival < $3 AND $2 < r.departure
                 ORDER BY r.arrival, r.id"
            ),
            args![property.0, from, to],
            reservation,
        )
        .await
    }

    /// Reservations matching `filter`, by arrival then booking time.
    pub async fn reservations(
        &self,
        filter: &ReservationFilter,
    ) -> Result<Vec<Reservation>, StoreError> {
        let filter = filter.clone();
        self.run("reservations", false, move |c| {
            Box::pin(async move { select_reservations(c, &filter).await })
        })
        .await
    }
}

pub(super) async fn insert_guest(c: &mut dyn Conn, g: &Guest) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO guests (id, property_id, name, email, phone, preferences, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &args![
            g.id.0,
            g.property_id.0,
            &g.name,
            g.email.as_deref(),
            g.phone.as_deref(),
            json(&g.preferences)?,
            g.created_at
        ],
    )
    .await
}

pub(super) async fn upsert_reservation(
    c: &mut dyn Conn,
    r: &Reservation,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    c.upsert_versioned(
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
        &args![
            r.id.0,
            r.property_id.0,
            r.guest_id.0,
            name_of(&r.status),
            &r.room_type,
            r.stay.arrival,
            r.stay.departure,
            r.party.adults,
            r.party.children,
            r.room.as_ref().map(|a| a.room_id.0),
            r.overbooked,
            seq(r.version)?,
            at,
            r.created_at
        ],
        "reservations_version",
    )
    .await
}

/// See [`super::Projection::CheckInventory`]. The lock serializes every booking of this
/// property and type until the transaction ends (PostgreSQL's READ COMMITTED then lets the
/// reads below see whatever the previous holder committed; SQLite's one writer is serial
/// anyway), so nothing can book between the check and the write.
pub(super) async fn check_inventory(
    c: &mut dyn Conn,
    property_id: PropertyId,
    room_type: &str,
    stay: &Stay,
    exclude: ReservationId,
) -> Result<(), StoreError> {
    c.lock(&format!("inventory:{property_id}:{room_type}"))
        .await?;
    let property = c
        .opt(
            &format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = $1"),
            &args![property_id.0],
            property,
        )
        .await?
        .ok_or_else(|| StoreError::Constraint("reservations_property_id_fkey".into()))?;
    let rooms = c
        .all(
            &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1 AND room_type = $2"),
            &args![property_id.0, room_type],
            room,
        )
        .await?;
    let sold = select_reservations(
        c,
        &ReservationFilter {
            nights: Some((stay.arrival, stay.departure)),
            statuses: ReservationStatus::HOLDING.to_vec(),
            room_type: Some(room_type.to_owned()),
            exclude: Some(exclude),
            ..ReservationFilter::property(property_id)
        },
    )
    .await?;
    let nights = availability::nights(
        &rooms,
        &sold,
        stay.arrival,
        stay.departure,
        Some(room_type),
        |d| property.night(d),
    )
    .map_err(|e| StoreError::Other(anyhow::anyhow!("inventory check: {e}")))?;
    if availability::fits(&nights, room_type, stay) {
        Ok(())
    } else {
        Err(StoreError::Constraint(INVENTORY_EXHAUSTED.into()))
    }
}
