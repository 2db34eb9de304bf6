//! The typed façade over a conversation actor's address.

use actix::{Addr, MailboxError};

use super::{
    ConversationActor,
    messages::{Execute, GetState},
};
use crate::{
    actors::CommandError,
    domain::{
        Agent,
        chat::{ChatCommand, Conversation},
    },
};

/// What a command led to.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The conversation after it.
    pub conversation: Conversation,
    /// The seq the command stored (for a send, the message's seq; for a retried send, the
    /// seq stored the first time).
    pub seq: u64,
    /// The send was a retry: nothing new was stored.
    pub duplicate: bool,
}

/// A cloneable handle to an active conversation. Obtain one from
/// [`Conversations`](crate::actors::Conversations).
#[derive(Clone)]
pub struct ConversationHandle {
    pub(crate) addr: Addr<ConversationActor>,
}

impl ConversationHandle {
    /// Validates, commits and applies a command.
    pub async fn execute(
        &self,
        command: ChatCommand,
        key: Option<String>,
        agent: Agent,
    ) -> Result<Outcome, CommandError> {
        self.addr
            .send(Execute {
                command,
                key,
                agent,
            })
            .await
            .map_err(mailbox_error)?
    }

    /// The conversation as this node knows it.
    pub async fn state(&self) -> Result<Conversation, CommandError> {
        self.addr.send(GetState).await.map_err(mailbox_error)
    }
}

fn mailbox_error(e: MailboxError) -> CommandError {
    CommandError::Unavailable(format!(
        "conversation actor stopped ({e}); the command was not confirmed"
    ))
}
