//! Messages every entity actor handles, sent only by the [`Registry`](super::registry) and the
//! bus; callers use the typed handles.

use actix::Message;

/// Stop: the registry has already forgotten this actor. Messages queued before this one are
/// handled first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivate;

/// A batch another node committed to this entity. Applied only if it is the next seq;
/// duplicates are ignored, and a gap makes the actor reload from the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyRemote {
    pub from_seq: u64,
    pub to_seq: u64,
    /// The entity after the batch (its view JSON).
    pub state: serde_json::Value,
}

/// Reload the state from the store (this node may have missed batches).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;
