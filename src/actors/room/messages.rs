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
