//! Room routes: create, the board, one room, status changes and blocks.
//!
//! Every mutating route accepts an optional `expected_version` (409 `version_mismatch` when
//! the room moved on) and answers the room after the change, with its new `version`.

use super::body::{Body, Json};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{Caller, Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::CommandError,
    domain::{
        Action, BlockKind, Cleanliness, HkOccupancy, NewBlock, NewRoom, Property, PropertyId,
        RoomCommand, RoomNumber, ServiceFlag, StatusChange,
    },
    persistence,
    state::AppState,
    views::RoomView,
};

/// `{pid}/rooms/{number}`: a number that cannot exist is simply not found.
fn room_path(path: (PropertyId, String)) -> Result<(PropertyId, RoomNumber), ApiError> {
    let number = RoomNumber::parse(&path.1).map_err(|_| CommandError::RoomNotFound)?;
    Ok((path.0, number))
}

/// `POST …/rooms`: one room (an object), or many (an array, or `{"rooms": [...]}`).
pub async fn create(state: State, at: Permit<to::RoomCreate>, body: Json<Value>) -> Reply {
    let pid = at.property;
    let body = body.into_inner();
    let specs: Vec<NewRoom> = match body {
        Value::Array(_) => serde_json::from_value(body),
        Value::Object(ref o) if o.contains_key("rooms") => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Many {
                rooms: Vec<NewRoom>,
            }
            serde_json::from_value::<Many>(body).map(|m| m.rooms)
        }
        Value::Object(_) => serde_json::from_value(body).map(|one| vec![one]),
        _ => {
            return Err(ApiError::bad_request(
                "send a room object or an array of rooms",
            ));
        }
    }
    .map_err(|e| ApiError::BadRequest {
        code: "invalid_body",
        message: e.to_string(),
    })?;
    let rooms = state
        .actors
        .rooms
        .create_rooms(pid, specs, &at.agent())
        .await?;
    let views: Vec<_> = rooms.iter().map(RoomView::of).collect();
    Ok(HttpResponse::Created().json(json!({ "rooms": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardFilter {
    floor: Option<i16>,
    cleanliness: Option<Cleanliness>,
    room_type: Option<String>,
}

/// `GET …/rooms`: the room board, optionally filtered.
pub async fn board(
    state: State,
    at: Permit<to::RoomRead>,
    filter: web::Query<BoardFilter>,
) -> Reply {
    let pid = at.property;
    if state.store.property(pid).await?.is_none() {
        return Err(CommandError::PropertyNotFound.into());
    }
    let rooms = state.store.rooms(pid).await?;
    let views: Vec<_> = rooms
        .iter()
        .filter(|r| filter.floor.is_none_or(|f| r.floor == f))
        .filter(|r| filter.cleanliness.is_none_or(|c| r.cleanliness == c))
        .filter(|r| filter.room_type.as_ref().is_none_or(|t| &r.room_type == t))
        .map(RoomView::of)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "property_id": pid, "rooms": views })))
}

/// `GET …/rooms/{number}`.
pub async fn get(
    state: State,
    _: Permit<to::RoomRead>,
    path: web::Path<(PropertyId, String)>,
) -> Reply {
    let (pid, number) = room_path(path.into_inner())?;
    let room = state
        .store
        .room(pid, &number)
        .await?
        .ok_or(CommandError::RoomNotFound)?;
    Ok(HttpResponse::Ok().json(RoomView::of(&room)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    cleanliness: Option<Cleanliness>,
    hk_occupancy: Option<HkOccupancy>,
    service: Option<ServiceFlag>,
    rush: Option<bool>,
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
}

/// `POST …/rooms/{number}/status`: change one or more facets at once, all or nothing.
pub async fn change_status(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, String)>,
    body: Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let command = RoomCommand::ChangeStatus(StatusChange {
        cleanliness: b.cleanliness,
        hk_occupancy: b.hk_occupancy,
        service: b.service,
        rush: b.rush,
    });
    let room = execute(
        &state,
        &caller,
        Action::RoomStatus,
        path.into_inner(),
        command,
        b.expected_version,
    )
    .await?;
    // Do not disturb, or service refused: the room's work in hand waits, by the room's own
    // reaction to the change (see `actors::reactions`), on every path that sets it.
    Ok(HttpResponse::Ok().json(room))
}

/// A block's `from`/`to` as sent: an RFC 3339 instant, or a date (`YYYY-MM-DD`) naming a hotel
/// night, which starts at local noon in the property's time zone (`Property::night`, as
/// availability counts nights). So `{"from":"2026-12-01","to":"2026-12-03"}` takes the nights
/// of the 1st and the 2nd, as a stay with those dates would.
#[derive(Clone, Copy, Debug)]
enum BlockTime {
    At(DateTime<Utc>),
    Night(NaiveDate),
}

impl BlockTime {
    fn parse(field: &str, v: &Value) -> Result<Self, String> {
        let bad = || {
            format!(
                "{field}: an RFC 3339 time (\"2026-12-01T14:00:00Z\") or the date of a hotel \
                 night (\"2026-12-01\")"
            )
        };
        let s = v.as_str().ok_or_else(bad)?;
        if let Ok(t) = s.parse::<DateTime<Utc>>() {
            return Ok(Self::At(t));
        }
        if s.len() == 10
            && let Ok(d) = s.parse::<NaiveDate>()
        {
            return Ok(Self::Night(d));
        }
        Err(bad())
    }

    fn at(self, property: &Property) -> DateTime<Utc> {
        match self {
            Self::At(t) => t,
            Self::Night(d) => property.night(d).0,
        }
    }
}

fn block_from<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<BlockTime>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => BlockTime::parse("from", &v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn block_to<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BlockTime, D::Error> {
    BlockTime::parse("to", &Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    kind: BlockKind,
    /// Defaults to now.
    #[serde(default, deserialize_with = "block_from")]
    from: Option<BlockTime>,
    #[serde(deserialize_with = "block_to")]
    to: BlockTime,
    reason: String,
    return_status: Option<Cleanliness>,
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
}

/// `POST …/rooms/{number}/blocks`: take the room out of order or out of service.
pub async fn place_block(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, String)>,
    body: Json<BlockBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let path = path.into_inner();
    // Who asks first (404/403), then the property whose time zone a date is read in.
    caller.may(Action::RoomBlock, path.0)?;
    let property = crate::actors::property::existing(&state.store, path.0).await?;
    let command = RoomCommand::PlaceBlock(NewBlock {
        kind: b.kind,
        from: b.from.map_or_else(persistence::now, |t| t.at(&property)),
        to: b.to.at(&property),
        reason: b.reason,
        return_status: b.return_status,
    });
    execute(
        &state,
        &caller,
        Action::RoomBlock,
        path,
        command,
        b.expected_version,
    )
    .await
    .map(|room| HttpResponse::Created().json(room))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    return_status: Option<Cleanliness>,
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
}

/// `POST …/rooms/{number}/blocks/release`: end the block; the room takes its return status.
pub async fn release_block(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    // The body is optional; when present it must be valid (a typo is never ignored).
    let b: ReleaseBody = super::optional_json(&body)?;
    let command = RoomCommand::ReleaseBlock {
        return_status: b.return_status,
    };
    execute(
        &state,
        &caller,
        Action::RoomBlock,
        path.into_inner(),
        command,
        b.expected_version,
    )
    .await
    .map(|room| HttpResponse::Ok().json(room))
}

/// Checks the caller may do `action` here, then runs the command through the room's actor.
async fn execute(
    state: &AppState,
    caller: &Caller,
    action: Action,
    path: (PropertyId, String),
    command: RoomCommand,
    expected_version: Option<u64>,
) -> Result<Value, ApiError> {
    caller.may(action, path.0)?;
    let (pid, number) = room_path(path)?;
    let handle = state.actors.rooms.room(pid, &number).await?;
    let room = handle
        .execute(command, expected_version, caller.agent())
        .await?;
    Ok(serde_json::to_value(RoomView::of(&room)).unwrap_or_default())
}
