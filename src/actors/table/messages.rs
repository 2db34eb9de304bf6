//! Messages a [`TableActor`](super::TableActor) handles; callers use
//! [`TableHandle`](super::TableHandle).

use actix::Message;

pub use crate::actors::messages::{ApplyRemote, Passivate, Reload};
use crate::{
    actors::CommandError,
    domain::{
        Agent, PartyId,
        venue::{Party, PartyEvent, Table},
    },
};

/// What a table is asked to do.
#[derive(Clone, Debug)]
pub enum TableRequest {
    /// Book a new party on its tables (this table is the first of them) for its time. With
    /// `pacing`, the venue's covers per quarter hour are checked in the same transaction.
    Book {
        party: Box<Party>,
        event: Box<PartyEvent>,
        pacing: Option<u32>,
    },
    /// A new walk-in party sits down here now.
    WalkIn {
        party: Box<Party>,
        event: Box<PartyEvent>,
    },
    /// An existing party (booked or waiting) sits down here now.
    Seat {
        party: PartyId,
    },
    /// The party left: the table (and the rest of its combination) needs bussing.
    Clear,
    Bus,
    Block {
        reason: String,
    },
    Unblock,
    /// Hold the table for a waiting party and tell them it is ready.
    Ready {
        party: PartyId,
    },
}

/// Validate, commit and apply a request.
#[derive(Message)]
#[rtype(result = "Result<super::TableOutcome, CommandError>")]
pub struct Execute {
    pub request: TableRequest,
    pub expected_version: Option<u64>,
    pub agent: Agent,
}

/// The current state.
#[derive(Message)]
#[rtype(result = "Table")]
pub struct GetState;
