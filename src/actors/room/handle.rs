//! The typed façade over a room actor's address.

use actix::{Addr, MailboxError};

use super::{
    RoomActor,
    messages::{Coordinate, Execute, GetState},
};
use crate::{
    actors::CommandError,
    domain::{Agent, Room, RoomCommand},
};

/// A cloneable handle to an active room. Obtain one from the
/// [`RoomRegistry`](crate::actors::RoomRegistry).
#[derive(Clone)]
pub struct RoomHandle {
    pub(crate) addr: Addr<RoomActor>,
}

impl RoomHandle {
    /// Validates, commits and applies a command; answers the room after it.
    pub async fn execute(
        &self,
        command: RoomCommand,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<Room, CommandError> {
        self.addr
            .send(Execute {
                command,
                expected_version,
                agent,
            })
            .await
            .map_err(mailbox_error)?
    }

    /// Commits a reservation's change that involves this room (see [`Coordinate`]); answers
    /// the room after it.
    pub(crate) async fn coordinate(&self, msg: Coordinate) -> Result<Room, CommandError> {
        self.addr.send(msg).await.map_err(mailbox_error)?
    }

    /// The room's current state as this node knows it.
    pub async fn state(&self) -> Result<Room, CommandError> {
        self.addr.send(GetState).await.map_err(mailbox_error)
    }

    #[cfg(test)]
    pub(crate) async fn inject_fault(&self, fault: super::Fault) {
        let _ = self.addr.send(super::messages::InjectFault(fault)).await;
    }
}

fn mailbox_error(e: MailboxError) -> CommandError {
    // The actor stopped while the command was queued or running (a handler panicked, or it
    // was passivated). Whether a running command committed is unknown to us: say so, and
    // let the registry re-create the actor on the next call.
    CommandError::Unavailable(format!(
        "room actor stopped ({e}); the command was not confirmed"
    ))
}
