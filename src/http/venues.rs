//! Restaurants and bars over HTTP (DESIGN §5): venues and their floor plans, bookings,
//! walk-ins, the waitlist, and the actions on tables and parties.
//!
//! Managers lay venues out (`venue_manage`); hosts — restaurant staff, the front desk and
//! managers — run the service (`table_service`).

use super::body::{Body, Json};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::access::{Caller, Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::{
        BookingRequest, CommandError, NewVenue, VenueSettings, WaitlistRequest, WalkInRequest,
        table::TableRequest,
    },
    domain::{
        Action, PartyId, PropertyId, TableId, VenueId,
        venue::{NewTable, PartyCommand, Venue},
    },
    persistence,
    state::AppState,
    ws::snapshots,
};

/// The venue of the path's property, if the caller may `action` there (another hotel reads
/// as a missing property, like every route under `/properties/<pid>`).
async fn venue_for(
    state: &AppState,
    caller: &Caller,
    pid: PropertyId,
    vid: VenueId,
    action: Action,
) -> Result<Venue, ApiError> {
    caller.may(action, pid)?;
    match state.actors.venues.venue(vid).await {
        Ok(v) if v.property_id == pid => Ok(v),
        Ok(_) | Err(CommandError::VenueNotFound) => Err(CommandError::VenueNotFound.into()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/properties/<pid>/venues`: 201 with the venue.
pub async fn create(state: State, at: Permit<to::VenueManage>, body: Json<NewVenue>) -> Reply {
    let pid = at.property;
    let venue = state
        .actors
        .venues
        .create_venue(pid, body.into_inner(), &at.agent())
        .await?;
    Ok(HttpResponse::Created().json(venue))
}

/// `GET /api/v1/properties/<pid>/venues`.
pub async fn list(state: State, at: Permit<to::TableService>) -> Reply {
    let pid = at.property;
    let venues = state.store.venues(pid).await?;
    Ok(HttpResponse::Ok().json(json!({ "venues": venues })))
}

/// `GET /api/v1/properties/<pid>/venues/<vid>`: the floor plan now — the venue, its tables
/// with their state, and the day's parties (what `tables:<vid>` starts from).
pub async fn floor(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::TableService).await?;
    let (json, _) = snapshots::floor_plan(state.store.as_ref(), vid)
        .await?
        .ok_or(CommandError::VenueNotFound)?;
    Ok(HttpResponse::Ok().json(json))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(flatten)]
    settings: VenueSettings,
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
}

/// `POST /api/v1/properties/<pid>/venues/<vid>/settings`: name, sections, turn times,
/// pacing (0: off), hold minutes, combinations.
pub async fn settings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    body: Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::VenueManage).await?;
    let b = body.into_inner();
    let venue = state
        .actors
        .venues
        .update_venue(vid, b.settings, b.expected_version, &caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(venue))
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    Many(Vec<NewTable>),
    One(NewTable),
}

/// `POST /api/v1/properties/<pid>/venues/<vid>/tables` (one or many): 201 with the tables.
pub async fn add_tables(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    body: Json<OneOrMany>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::VenueManage).await?;
    let specs = match body.into_inner() {
        OneOrMany::Many(v) => v,
        OneOrMany::One(t) => vec![t],
    };
    let tables = state
        .actors
        .venues
        .add_tables(vid, specs, &caller.agent())
        .await?;
    Ok(HttpResponse::Created().json(json!({ "tables": tables })))
}

/// `POST /api/v1/properties/<pid>/venues/<vid>/bookings`: 201 with the party and the tables
/// it got (409 `no_table_available` or `pacing_full` otherwise).
pub async fn book(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    body: Json<BookingRequest>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::TableService).await?;
    let party = state
        .actors
        .venues
        .book(vid, body.into_inner(), &caller.agent())
        .await?;
    Ok(HttpResponse::Created().json(party))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    #[serde(default)]
    from: Option<DateTime<Utc>>,
    #[serde(default)]
    to: Option<DateTime<Utc>>,
}

/// `GET /api/v1/properties/<pid>/venues/<vid>/bookings?from=&to=`: parties starting in the
/// window (default: the next 24 hours) and everyone seated or waiting.
pub async fn bookings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    query: web::Query<DayQuery>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::TableService).await?;
    let now = persistence::now();
    let q = query.into_inner();
    let from = q.from.unwrap_or(now - chrono::Duration::hours(6));
    let to = q.to.unwrap_or(now + chrono::Duration::hours(24));
    if to <= from || to - from > chrono::Duration::days(31) {
        return Err(ApiError::bad_request("from < to, at most 31 days apart"));
    }
    let parties = state.store.parties(vid, from, to).await?;
    Ok(HttpResponse::Ok().json(json!({ "parties": parties })))
}

/// `POST /api/v1/properties/<pid>/venues/<vid>/walk-ins`: 201 with the party, seated.
pub async fn walk_in(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    body: Json<WalkInRequest>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::TableService).await?;
    let (party, table) = state
        .actors
        .venues
        .walk_in(vid, body.into_inner(), &caller.agent())
        .await?;
    Ok(HttpResponse::Created().json(json!({
        "party": party,
        "table": crate::views::table_view(&table, persistence::now()),
    })))
}

/// `POST /api/v1/properties/<pid>/venues/<vid>/waitlist`: 201 with the party and its quoted
/// wait (`quoted_minutes`).
pub async fn wait(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, VenueId)>,
    body: Json<WaitlistRequest>,
) -> Result<HttpResponse, ApiError> {
    let (pid, vid) = path.into_inner();
    venue_for(&state, &caller, pid, vid, Action::TableService).await?;
    let party = state
        .actors
        .venues
        .wait(vid, body.into_inner(), &caller.agent())
        .await?;
    Ok(HttpResponse::Created().json(party))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    party_id: Option<PartyId>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    charge_to_room: bool,
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
}

/// `POST /api/v1/tables/<tid>/<action>`: `seat` `{"party_id"}`, `clear`, `bus`, `block`
/// `{"reason"}`, `unblock`, `ready` `{"party_id"}` (hold the table for a waiting party and
/// tell them). Answers the table (with its state) and the party concerned.
pub async fn table_act(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(TableId, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (tid, action) = path.into_inner();
    let body: ActionBody = super::optional_json(&body)?;
    let table = state
        .store
        .venue_table(tid)
        .await?
        .ok_or(CommandError::TableNotFound)?;
    caller.may_on(
        Action::TableService,
        table.property_id,
        CommandError::TableNotFound,
    )?;
    let party = || {
        body.party_id
            .ok_or_else(|| ApiError::bad_request("this action needs a party_id"))
    };
    let request = match action.as_str() {
        "seat" => TableRequest::Seat { party: party()? },
        "ready" => TableRequest::Ready { party: party()? },
        "clear" => TableRequest::Clear,
        "bus" => TableRequest::Bus,
        "block" => TableRequest::Block {
            reason: body.reason.clone().unwrap_or_default(),
        },
        "unblock" => TableRequest::Unblock,
        _ => {
            return Err(ApiError::NotFound {
                code: "unknown_action",
                message: "table actions: seat, clear, bus, block, unblock, ready".into(),
            });
        }
    };
    let outcome = state
        .actors
        .venues
        .table_action(tid, request, body.expected_version, caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "table": crate::views::table_view(&outcome.table, persistence::now()),
        "party": outcome.party,
    })))
}

/// `POST /api/v1/parties/<id>/<action>`: `arrive`, `pay` `{"charge_to_room"?}`, `cancel`,
/// `no-show`, `remove` (from the waitlist). Answers the party.
pub async fn party_act(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PartyId, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let body: ActionBody = super::optional_json(&body)?;
    let party = state
        .store
        .party(id)
        .await?
        .ok_or(CommandError::PartyNotFound)?;
    caller.may_on(
        Action::TableService,
        party.property_id,
        CommandError::PartyNotFound,
    )?;
    let command = match action.as_str() {
        "arrive" => PartyCommand::Arrive,
        "pay" => PartyCommand::Pay {
            charge_to_room: body.charge_to_room,
        },
        "cancel" => PartyCommand::Cancel,
        "no-show" => PartyCommand::NoShow {
            now: persistence::now(),
        },
        "remove" => PartyCommand::Remove,
        _ => {
            return Err(ApiError::NotFound {
                code: "unknown_action",
                message: "party actions: arrive, pay, cancel, no-show, remove".into(),
            });
        }
    };
    let party = state
        .actors
        .venues
        .party_action(id, command, body.expected_version, &caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(party))
}
