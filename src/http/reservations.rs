//! Reservations (DESIGN §5): booking, lists, one reservation with its allowed actions, the
//! actions themselves; the night audit and the check-in policy of a property.

use super::body::{Body, Json};
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;

use super::access::{Caller, Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::{Booking, CommandError, Request},
    domain::{
        Action, Denial, GuestId, Principal, PropertyId, Reservation, ReservationId,
        ReservationStatus, RoomNumber,
        reservation::{Amendment, Context, Party, RoomReadiness},
    },
    persistence::{self, ReservationFilter},
    state::AppState,
};

/// A reservation as clients see it: its state, its stream, and (for single reads and after
/// actions) what may be done with it now.
use crate::views::reservation_view as view;

async fn context(state: &AppState, property: PropertyId) -> Result<Context, ApiError> {
    let p = crate::actors::property::existing(&state.store, property).await?;
    Ok(context_of(&p))
}

fn context_of(p: &crate::domain::Property) -> Context {
    p.day(persistence::now())
}

/// `POST /api/v1/properties/<pid>/reservations`: 201 with the reservation. A sold-out type is
/// 409 `sold_out`, unless the booking asks for the waitlist or (managers) an overbooking.
pub async fn create(state: State, at: Permit<to::ReservationManage>, body: Json<Booking>) -> Reply {
    let pid = at.property;
    let booking = body.into_inner();
    // Selling beyond what a type holds — more rooms, or more guests in one — is a manager's
    // decision, recorded on the booking.
    if booking.overbook || booking.override_occupancy {
        at.may(Action::ReservationOverbook, pid)?;
    }
    let r = state
        .actors
        .reservations
        .book(pid, booking, &at.agent())
        .await?;
    Ok(HttpResponse::Created().json(full_view(&state, &r).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The front desk's day: arrivals, departures and stays over on it (default: the business
    /// date).
    #[serde(default)]
    date: Option<NaiveDate>,
    #[serde(default)]
    status: Option<ReservationStatus>,
}

/// `GET /api/v1/properties/<pid>/reservations?date=&status=`: every reservation touching
/// `date` (arriving, departing or staying over), by arrival.
pub async fn list(
    state: State,
    at: Permit<to::ReservationRead>,
    query: web::Query<ListQuery>,
) -> Reply {
    let pid = at.property;
    let ctx = context(&state, pid).await?;
    let q = query.into_inner();
    let date = q.date.unwrap_or(ctx.business_date);
    // Nights `date - 1` and `date`: whoever slept here last night or sleeps here tonight.
    let filter = ReservationFilter {
        nights: Some((date - chrono::Days::new(1), date + chrono::Days::new(1))),
        statuses: q.status.into_iter().collect(),
        ..ReservationFilter::property(pid)
    };
    let found = state.store.reservations(&filter).await?;
    let names = guest_names(&state, pid, &found).await?;
    let views: Vec<_> = found
        .iter()
        .map(|r| {
            let mut v = view(r, None);
            v["guest_name"] = json!(names.get(&r.guest_id));
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "date": date,
        "business_date": ctx.business_date,
        "reservations": views,
    })))
}

/// A reservation the caller may `action` on; another hotel's reads as not found.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    rid: ReservationId,
    action: Action,
) -> Result<Reservation, ApiError> {
    let r = state
        .store
        .reservation(rid)
        .await?
        .ok_or(CommandError::ReservationNotFound)?;
    // A guest reads their own reservation and nothing else.
    if let Principal::Guest { reservation_id, .. } = caller.principal()
        && action == Action::ReservationRead
        && *reservation_id == rid.0
    {
        return Ok(r);
    }
    match caller.principal().authorize(action, r.property_id) {
        Ok(()) => Ok(r),
        Err(Denial::NotFound) => Err(CommandError::ReservationNotFound.into()),
        Err(d) => Err(d.into()),
    }
}

/// `GET /api/v1/reservations/<rid>`: the reservation with `allowed_actions`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    rid: web::Path<ReservationId>,
) -> Result<HttpResponse, ApiError> {
    let stored = authorized(&state, &caller, *rid, Action::ReservationRead).await?;
    // The actor (if active here) may be ahead of a replica's store read; it is never behind.
    let r = state
        .actors
        .reservations
        .get(stored.id)
        .await?
        .state()
        .await?;
    Ok(HttpResponse::Ok().json(full_view(&state, &r).await?))
}

/// One reservation with what may be done now, and the guest's and the hotel's names: the
/// guest's page greets them by name and names the hotel, and a guest's token reads no property
/// route, so the two names come with the reservation.
async fn full_view(state: &AppState, r: &Reservation) -> Result<serde_json::Value, ApiError> {
    let (property, guest) = tokio::try_join!(
        state.store.property(r.property_id),
        state.store.guest(r.guest_id)
    )?;
    let property = property.ok_or(CommandError::PropertyNotFound)?;
    // A check-in is judged on the assigned room too: read it as the check-in would (from the
    // room's actor), so the list never offers what the action would refuse.
    let room = match (&r.room, r.status) {
        (Some(a), ReservationStatus::Confirmed) => {
            let room = state
                .actors
                .rooms
                .room_by_id(a.room_id)
                .await?
                .state()
                .await?;
            Some(RoomReadiness::of(&room, persistence::now()))
        }
        _ => None,
    };
    let mut v = view(r, Some((&context_of(&property), room.as_ref())));
    v["guest_name"] = json!(guest.map(|g| g.name));
    v["property_name"] = json!(property.name);
    Ok(v)
}

/// The names of the guests of `found` (all of one property), in one read.
async fn guest_names(
    state: &AppState,
    property: PropertyId,
    found: &[Reservation],
) -> Result<std::collections::HashMap<GuestId, String>, ApiError> {
    let mut ids: Vec<GuestId> = found.iter().map(|r| r.guest_id).collect();
    ids.sort_unstable_by_key(|g| g.0);
    ids.dedup();
    let guests = state.store.guests_by_id(property, &ids).await?;
    Ok(guests.into_iter().map(|g| (g.id, g.name)).collect())
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
    #[serde(default)]
    room: Option<RoomNumber>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    arrival: Option<NaiveDate>,
    #[serde(default)]
    departure: Option<NaiveDate>,
    #[serde(default)]
    room_type: Option<String>,
    #[serde(default)]
    adults: Option<u8>,
    #[serde(default)]
    children: Option<u8>,
    /// `amend`: the party may exceed the type's occupancy (managers).
    #[serde(default)]
    override_occupancy: bool,
}

fn request(action: &str, body: ActionBody, current: &Reservation) -> Result<Request, ApiError> {
    let room = |b: &ActionBody| {
        b.room.clone().ok_or_else(|| ApiError::BadRequest {
            code: "invalid_body",
            message: "give the room number: {\"room\": \"101\"}".into(),
        })
    };
    Ok(match action {
        "confirm" => Request::Confirm,
        "promote" => Request::Promote,
        "assign" => Request::Assign { room: room(&body)? },
        "unassign" => Request::Unassign,
        "check-in" => Request::CheckIn,
        "move" => Request::Move { room: room(&body)? },
        "check-out" => Request::CheckOut,
        "cancel" => Request::Cancel {
            reason: body.reason.unwrap_or_default(),
        },
        "no-show" => Request::NoShow,
        "amend" => Request::Amend(Amendment {
            arrival: body.arrival,
            departure: body.departure,
            room_type: body.room_type.map(|t| t.trim().to_owned()),
            party: (body.adults.is_some() || body.children.is_some()).then(|| Party {
                adults: body.adults.unwrap_or(current.party.adults),
                children: body.children.unwrap_or(current.party.children),
            }),
            override_occupancy: body.override_occupancy,
        }),
        _ => {
            return Err(ApiError::NotFound {
                code: "unknown_action",
                message: "actions are confirm, promote, assign, unassign, check-in, move, \
                          check-out, cancel, no-show, amend"
                    .into(),
            });
        }
    })
}

/// `POST /api/v1/reservations/<rid>/<action>`: 200 with the reservation after it.
pub async fn act(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(ReservationId, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (rid, action) = path.into_inner();
    let stored = authorized(&state, &caller, rid, Action::ReservationManage).await?;
    let body: ActionBody = super::optional_json(&body)?;
    if body.override_occupancy {
        caller.may(Action::ReservationOverbook, stored.property_id)?;
    }
    let expected = body.expected_version;
    let req = request(&action, body, &stored)?;
    let r = state
        .actors
        .reservations
        .execute(rid, req, expected, caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(full_view(&state, &r).await?))
}

/// `POST /api/v1/properties/<pid>/night-audit`: closes the business date now (the background
/// job does it at 03:00 hotel time): no-shows marked, the date moved on by one day. When the
/// business date is already the hotel's tomorrow, nothing happens (`"rolled": false`).
pub async fn night_audit(state: State, at: Permit<to::NightAudit>) -> Reply {
    let pid = at.property;
    let rolled = state
        .actors
        .reservations
        .night_audit(pid, persistence::now(), true)
        .await?;
    let ctx = context(&state, pid).await?;
    Ok(HttpResponse::Ok().json(json!({
        "rolled": rolled.is_some(),
        "business_date": ctx.business_date,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    require_inspected: Option<bool>,
    /// A stayover clean every this many days of a stay (1: daily; 0: only on request).
    #[serde(default)]
    stayover_every_days: Option<u8>,
}

/// `POST /api/v1/properties/<pid>/settings`: the check-in and housekeeping policy (what is
/// given changes, the rest stays). 200 with the property.
pub async fn settings(
    state: State,
    at: Permit<to::PropertySettings>,
    body: Json<Settings>,
) -> Reply {
    let pid = at.property;
    let store = &state.store;
    let current = crate::actors::property::existing(store, pid).await?;
    let p = crate::actors::property::change_settings(
        store.as_ref(),
        &current,
        body.require_inspected,
        body.stayover_every_days,
        &at.agent(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// `GET /api/v1/properties/<pid>/guests/<gid>`: the profile with its stay history.
pub async fn guest(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, GuestId)>,
) -> Result<HttpResponse, ApiError> {
    let (pid, gid) = path.into_inner();
    caller.may(Action::GuestManage, pid)?;
    let guest = state
        .store
        .guest(gid)
        .await?
        .filter(|g| g.property_id == pid)
        .ok_or(CommandError::GuestNotFound)?;
    let stays = state
        .store
        .reservations(&ReservationFilter {
            guest: Some(gid),
            ..ReservationFilter::property(pid)
        })
        .await?;
    let views: Vec<_> = stays.iter().map(|r| view(r, None)).collect();
    Ok(HttpResponse::Ok().json(json!({ "guest": guest, "stays": views })))
}
