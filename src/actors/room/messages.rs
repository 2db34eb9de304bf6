//! Messages a [`RoomActor`](super::RoomActor) handles. Only the handle and the registry send
//! them; everyone else uses [`RoomHandle`](super::RoomHandle).

use actix::Message;

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

/// Stop: the registry has already forgotten this actor. Messages queued before this one are
/// handled first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivate;

/// A batch another node committed to this room. Applied only if it is the next seq;
/// duplicates are ignored, and a gap makes the actor reload from the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyRemote {
    pub from_seq: u64,
    pub to_seq: u64,
    /// The room after the batch (its view JSON).
    pub state: serde_json::Value,
}

/// Reload the state from the store (this node may have missed batches).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

/// Test-only: make the next command panic at a chosen point.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct InjectFault(pub(crate) super::Fault);
