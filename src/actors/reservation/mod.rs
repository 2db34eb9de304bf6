//! The reservation actor: owner of one reservation's state on this node.
//!
//! Changes that involve a room (assign, check-in, move, check-out, an amendment of an assigned
//! stay) are committed **through the room's actor** ([`Coordinate`](super::room::messages::Coordinate)):
//! the room judges overlaps and readiness and writes its own events in the same transaction,
//! so two reservations can never be given the same room on one node, and the store's
//! exclusion constraint settles races between nodes.

mod actor;
mod handle;
pub mod messages;

pub(crate) use actor::{Committed, ReservationActor};
pub use handle::ReservationHandle;
pub use messages::Request;
