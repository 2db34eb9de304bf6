//! Messages a [`ReservationActor`](super::ReservationActor) handles. Only the handle and the
//! registry send them; everyone else uses [`ReservationHandle`](super::ReservationHandle).

use actix::Message;
use serde::Deserialize;

pub use crate::actors::messages::{ApplyRemote, Passivate, Reload};
use crate::{
    actors::CommandError,
    domain::{Agent, Reservation, RoomNumber, reservation::Amendment},
};

/// What staff ask of a reservation (`POST /reservations/<rid>/<action>`). Rooms are named by
/// number, as the front desk knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Confirm,
    Promote,
    Assign { room: RoomNumber },
    Unassign,
    CheckIn,
    Move { room: RoomNumber },
    CheckOut,
    Cancel { reason: String },
    NoShow,
    Amend(Amendment),
}

/// The body of `assign` and `move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    pub room: RoomNumber,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Validate, commit and apply a request. Answers the reservation after it.
#[derive(Message)]
#[rtype(result = "Result<Reservation, CommandError>")]
pub struct Execute {
    pub request: Request,
    /// When given, refused unless the reservation is at exactly this version.
    pub expected_version: Option<u64>,
    pub agent: Agent,
}

/// The current state (as last committed through this actor or reloaded).
#[derive(Message)]
#[rtype(result = "Reservation")]
pub struct GetState;
