//! The typed façade over a task actor's address.

use actix::{Addr, MailboxError};

use super::{
    TaskActor,
    messages::{Execute, GetState},
};
use crate::{
    actors::CommandError,
    domain::{
        Agent,
        task::{Task, TaskCommand},
    },
};

/// A cloneable handle to an active task. Obtain one from [`Tasks`](crate::actors::Tasks).
#[derive(Clone)]
pub struct TaskHandle {
    pub(crate) addr: Addr<TaskActor>,
}

impl TaskHandle {
    /// Validates, commits and applies a command; answers the task after it.
    pub async fn execute(
        &self,
        command: TaskCommand,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<Task, CommandError> {
        self.addr
            .send(Execute {
                command,
                expected_version,
                agent,
            })
            .await
            .map_err(mailbox_error)?
    }

    /// The task as this node knows it.
    pub async fn state(&self) -> Result<Task, CommandError> {
        self.addr.send(GetState).await.map_err(mailbox_error)
    }
}

fn mailbox_error(e: MailboxError) -> CommandError {
    CommandError::Unavailable(format!(
        "task actor stopped ({e}); the command was not confirmed"
    ))
}
