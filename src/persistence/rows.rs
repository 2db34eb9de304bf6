//! Encoding shared by both backends: the room enums are stored as their snake_case names,
//! exactly as the API spells them, so the SQL tables read naturally.

use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

pub(crate) fn enum_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("unit enum serializes to a string, got {other:?}"),
    }
}

pub(crate) fn text_enum<T: DeserializeOwned>(column: &str, s: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad value in column {column}: {e}")))
}

pub(crate) fn seq_to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Other(anyhow::anyhow!("seq {seq} out of range")))
}

pub(crate) fn i64_to_seq(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Other(anyhow::anyhow!("negative seq {v}")))
}

/// Action names as stored in `api_keys.permissions`.
pub(crate) fn actions_text(actions: &[crate::domain::Action]) -> String {
    actions.iter().map(enum_text).collect::<Vec<_>>().join(",")
}

pub(crate) fn text_actions(s: &str) -> Result<Vec<crate::domain::Action>, StoreError> {
    s.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| text_enum("api_keys.permissions", a.to_owned()))
        .collect()
}

/// The room a reservation row points to: its id and (joined from `rooms`) its number.
pub(crate) fn assigned_room(
    id: Option<uuid::Uuid>,
    number: Option<String>,
) -> Result<Option<crate::domain::reservation::AssignedRoom>, StoreError> {
    let (Some(id), Some(number)) = (id, number) else {
        return Ok(None);
    };
    Ok(Some(crate::domain::reservation::AssignedRoom {
        room_id: crate::domain::RoomId(id),
        number: crate::domain::RoomNumber::parse(&number)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad room number in store: {e}")))?,
    }))
}

/// The order reservation reads answer in: by arrival, then booking time.
///
/// Sorted here rather than by `ORDER BY`: an `ORDER BY arrival` leads SQLite's planner to the
/// arrival index, which scans a hotel's whole history for "live stays touching these nights",
/// instead of the partial live-stay indexes (migration 0006) that hold only current stays.
/// A filter's `limit` therefore bounds the answer; it does not page it.
pub(crate) fn sort_reservations(found: &mut [crate::domain::Reservation]) {
    found.sort_by(|a, b| {
        (a.stay.arrival, a.created_at, a.id.0).cmp(&(b.stay.arrival, b.created_at, b.id.0))
    });
}

/// A query parameter of [`reservation_where`], converted by each backend.
pub(crate) enum Param {
    Uuid(uuid::Uuid),
    Date(chrono::NaiveDate),
    Text(String),
}

/// The `WHERE` clause (over `reservations r`) and parameters for `filter`; `placeholder(n)`
/// spells the n-th parameter in the backend's dialect (`$n` or `?n`). Statuses are inlined:
/// they come from our own enum, never from a caller's text.
pub(crate) fn reservation_where(
    filter: &super::ReservationFilter,
    placeholder: fn(usize) -> String,
) -> (String, Vec<Param>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut push = |sql: &str, p: Param, params: &mut Vec<Param>| {
        params.push(p);
        clauses.push(sql.replace('#', &placeholder(params.len())));
    };
    push(
        "r.property_id = #",
        Param::Uuid(filter.property.0),
        &mut params,
    );
    if let Some((from, to)) = filter.nights {
        push("r.arrival < #", Param::Date(to), &mut params);
        push("# < r.departure", Param::Date(from), &mut params);
    }
    if let Some(t) = &filter.room_type {
        push("r.room_type = #", Param::Text(t.clone()), &mut params);
    }
    if let Some(room) = filter.room {
        push("r.room_id = #", Param::Uuid(room.0), &mut params);
    }
    if let Some(guest) = filter.guest {
        push("r.guest_id = #", Param::Uuid(guest.0), &mut params);
    }
    if let Some(d) = filter.arrival_before {
        push("r.arrival < #", Param::Date(d), &mut params);
    }
    if let Some(id) = filter.exclude {
        push("r.id <> #", Param::Uuid(id.0), &mut params);
    }
    if !filter.statuses.is_empty() {
        let list: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        clauses.push(format!("r.status IN ({})", list.join(", ")));
    }
    (clauses.join(" AND "), params)
}

/// Whether one more stay of `room_type` fits every night of `stay`, given what the store
/// holds (read inside the writing transaction, after the inventory lock).
pub(crate) fn inventory_fits(
    property: &crate::domain::Property,
    rooms: &[crate::domain::Room],
    sold: &[crate::domain::Reservation],
    room_type: &str,
    stay: &crate::domain::reservation::Stay,
) -> Result<(), StoreError> {
    let nights = crate::domain::availability::nights(
        rooms,
        sold,
        stay.arrival,
        stay.departure,
        Some(room_type),
        |d| property.night(d),
    )
    .map_err(|e| StoreError::Other(anyhow::anyhow!("inventory check: {e}")))?;
    if crate::domain::availability::fits(&nights, room_type, stay) {
        Ok(())
    } else {
        Err(StoreError::Constraint(INVENTORY_EXHAUSTED.into()))
    }
}

/// The constraint name a write gets when a room type is sold out on one of its nights.
pub(crate) const INVENTORY_EXHAUSTED: &str = "inventory_exhausted";
/// The constraint name a night audit gets when another node rolled the date first.
pub(crate) const BUSINESS_DATE_MOVED: &str = "business_date_moved";
