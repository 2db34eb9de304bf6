//! Messages a [`RoomActor`](super::RoomActor) handles. Only the handle and the registry send
//! them; everyone else uses [`RoomHandle`](super::RoomHandle).

use actix::Message;

pub use crate::actors::messages::{ApplyRemote, Passivate, Reload};

use crate::{
    actors::CommandError,
    domain::{Agent, Room, RoomCommand},
};

/// Validate, commit and apply a command. Answers the room after the change.
#[derive(Message)]
#[rtype(result = "Result<Room, CommandError>")]
pub struct Execute {
    pub command: RoomCommand,
    /// When given, the command is refused unless the room is at exactly this version.
    pub expected_version: Option<u64>,
    pub agent: Agent,
}

/// The current state (as last committed through this actor or reloaded).
#[derive(Message)]
#[rtype(result = "Room")]
pub struct GetState;

/// Test-only: make the next command panic at a chosen point.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct InjectFault(pub(crate) super::Fault);

/// A change of another entity (a reservation, a task) that involves this room, committed by
/// the room's actor so that it is judged and written while nothing else happens to the room on
/// this node: the room's own events (if `command`) and the other entity's, in one transaction.
#[derive(Message)]
#[rtype(result = "Result<Room, CommandError>")]
pub struct Coordinate {
    /// The other entity's events, already numbered on its stream.
    pub rows: Vec<crate::persistence::NewEvent>,
    /// Its projections (checks first, then its upsert); the room's upsert is added.
    pub projections: Vec<crate::persistence::Projection>,
    /// Refuse with `room_unavailable` if a live stay other than this reservation holds the
    /// room on these nights.
    pub overlap: Option<(crate::domain::ReservationId, crate::domain::Stay)>,
    /// The room's own change (occupy on check-in, vacate on check-out, clean after a task).
    pub command: Option<RoomCommand>,
    pub agent: Agent,
    pub at: chrono::DateTime<chrono::Utc>,
}
