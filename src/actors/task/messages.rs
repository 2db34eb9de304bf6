//! Messages a [`TaskActor`](super::TaskActor) handles; callers use
//! [`TaskHandle`](super::TaskHandle).

use actix::Message;

pub use crate::actors::messages::{ApplyRemote, Passivate, Reload};
use crate::{
    actors::CommandError,
    domain::{
        Agent,
        task::{Task, TaskCommand},
    },
};

/// Validate, commit and apply a command. Answers the task after it.
#[derive(Message)]
#[rtype(result = "Result<Task, CommandError>")]
pub struct Execute {
    pub command: TaskCommand,
    pub expected_version: Option<u64>,
    pub agent: Agent,
}

/// The current state.
#[derive(Message)]
#[rtype(result = "Task")]
pub struct GetState;
