//! The room actor: owner of one room's state on this node.

mod actor;
mod handle;
pub mod messages;

#[cfg(test)]
pub(crate) use actor::Fault;
pub(crate) use actor::{RoomActor, publication};
pub use handle::RoomHandle;
