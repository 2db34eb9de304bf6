//! The conversation actor: owner of one guest conversation's state on this node.
//!
//! Messages, read and delivery marks, status changes and email fallbacks are all events of the
//! conversation's stream, so one actor orders them: a message's seq is its place in the
//! stream, an idempotency key is checked and remembered in the same step as the message it
//! stored, and a read mark can never overtake the message it covers.

mod actor;
mod handle;
pub mod messages;

pub(crate) use actor::{Batch, ConversationActor, publications};
pub use handle::{ConversationHandle, Outcome};
