//! Guest profiles, room types and availability (issue: reservations).
//!
//! `POST|GET /api/v1/properties/<pid>/guests` (`?email=` finds a returning guest),
//! `POST|GET /api/v1/properties/<pid>/room-types` (a type's listing carries its inventory: the
//! number of rooms of that type) and `GET /api/v1/properties/<pid>/availability`.

use super::body::Json;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::access::{Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::catalog::{self, NewGuest},
    domain::RoomType,
};

/// Most guests one search answers.
const GUEST_PAGE: usize = 100;

pub async fn create(state: State, at: Permit<to::GuestManage>, body: Json<NewGuest>) -> Reply {
    let pid = at.property;
    let guest =
        catalog::create_guest(state.store.as_ref(), pid, body.into_inner(), &at.agent()).await?;
    Ok(HttpResponse::Created().json(guest))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestQuery {
    #[serde(default)]
    email: Option<String>,
}

pub async fn list(
    state: State,
    at: Permit<to::GuestManage>,
    query: web::Query<GuestQuery>,
) -> Reply {
    let pid = at.property;
    let email = query.into_inner().email.map(|e| e.trim().to_owned());
    let guests = state.store.guests(pid, email, GUEST_PAGE).await?;
    Ok(HttpResponse::Ok().json(json!({ "guests": guests })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRoomType {
    code: String,
    name: String,
    max_occupancy: u8,
}

/// Defines a room type or changes it (by code): 200 with the type.
pub async fn put_room_type(
    state: State,
    at: Permit<to::RoomTypeManage>,
    body: Json<PutRoomType>,
) -> Reply {
    let pid = at.property;
    let body = body.into_inner();
    let room_type = catalog::put_room_type(
        state.store.as_ref(),
        RoomType {
            property_id: pid,
            code: body.code.trim().to_owned(),
            name: body.name.trim().to_owned(),
            max_occupancy: body.max_occupancy,
        },
        &at.agent(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(room_type))
}

/// The property's room types with the rooms of each. Types that rooms use but nobody defined
/// are listed too (with `defined: false`), so inventory is never hidden.
pub async fn room_types(state: State, at: Permit<to::RoomRead>) -> Reply {
    let pid = at.property;
    let (types, rooms) = tokio::try_join!(state.store.room_types(pid), state.store.rooms(pid))?;
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for room in &rooms {
        *counts.entry(room.room_type.as_str()).or_default() += 1;
    }
    let mut listed: Vec<serde_json::Value> = types
        .iter()
        .map(|t| {
            json!({
                "code": t.code,
                "name": t.name,
                "max_occupancy": t.max_occupancy,
                "rooms": counts.get(t.code.as_str()).copied().unwrap_or(0),
                "defined": true,
            })
        })
        .collect();
    for (code, n) in &counts {
        if !types.iter().any(|t| t.code == *code) {
            listed.push(json!({ "code": code, "rooms": n, "defined": false }));
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "room_types": listed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityQuery {
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    #[serde(default)]
    room_type: Option<String>,
}

/// `GET /api/v1/properties/<pid>/availability?from=&to=&room_type=`: per night and room type,
/// rooms less out-of-order blocks less reservations holding inventory (see
/// `domain::availability`). Nights are the hotel's, in its time zone.
pub async fn availability(
    state: State,
    at: Permit<to::RoomRead>,
    query: web::Query<AvailabilityQuery>,
) -> Reply {
    let pid = at.property;
    let q = query.into_inner();
    let property = state
        .store
        .property(pid)
        .await?
        .ok_or(crate::actors::CommandError::PropertyNotFound)?;
    let (rooms, reservations) = tokio::try_join!(
        state.store.rooms(pid),
        state.store.reservations_between(pid, q.from, q.to)
    )?;
    let nights = crate::domain::availability::nights(
        &rooms,
        &reservations,
        q.from,
        q.to,
        q.room_type.as_deref(),
        |d| property.night(d),
    )
    .map_err(|message| ApiError::Unprocessable {
        code: "invalid_range",
        message,
    })?;
    Ok(HttpResponse::Ok().json(json!({ "from": q.from, "to": q.to, "nights": nights })))
}
