//! The typed façade over a reservation actor's address.

use actix::{Addr, MailboxError};

use super::{
    ReservationActor,
    messages::{Execute, GetState, Request},
};
use crate::{
    actors::CommandError,
    domain::{Agent, Reservation},
};

/// A cloneable handle to an active reservation. Obtain one from
/// [`Reservations`](crate::actors::Reservations).
#[derive(Clone)]
pub struct ReservationHandle {
    pub(crate) addr: Addr<ReservationActor>,
}

impl ReservationHandle {
    /// Validates, commits and applies a request; answers the reservation after it.
    pub async fn execute(
        &self,
        request: Request,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<Reservation, CommandError> {
        self.addr
            .send(Execute {
                request,
                expected_version,
                agent,
            })
            .await
            .map_err(mailbox_error)?
    }

    /// The reservation as this node knows it.
    pub async fn state(&self) -> Result<Reservation, CommandError> {
        self.addr.send(GetState).await.map_err(mailbox_error)
    }
}

fn mailbox_error(e: MailboxError) -> CommandError {
    // As for rooms: whether a running command committed is unknown; say so.
    CommandError::Unavailable(format!(
        "reservation actor stopped ({e}); the command was not confirmed"
    ))
}
