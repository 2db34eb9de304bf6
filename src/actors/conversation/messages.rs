//! Messages a [`ConversationActor`](super::ConversationActor) handles; callers use
//! [`ConversationHandle`](super::ConversationHandle).

use actix::Message;

pub use crate::actors::messages::{ApplyRemote, Passivate, Reload};
use crate::{
    actors::CommandError,
    domain::{
        Agent,
        chat::{ChatCommand, Conversation},
    },
};

/// Validate, commit and apply a command. `key` (a sender's idempotency key, see
/// [`sender_key`](crate::domain::chat::sender_key)) makes a retried send answer the message
/// stored the first time instead of storing it again.
#[derive(Message)]
#[rtype(result = "Result<super::Outcome, CommandError>")]
pub struct Execute {
    pub command: ChatCommand,
    pub key: Option<String>,
    pub agent: Agent,
}

/// The current state.
#[derive(Message)]
#[rtype(result = "Conversation")]
pub struct GetState;
