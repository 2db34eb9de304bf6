//! Entity actors and the per-node registry that activates them.
//!
//! Each room is an actix actor that owns `(state, version)`. A command is validated against
//! the state, its events are committed to the store **before** the actor replies or applies
//! them, and only then handed to the bus. Handlers are atomic across their awaits
//! (`AtomicResponse`), so check-then-act races cannot happen within a node; between nodes the
//! store's `UNIQUE(stream, seq)` decides, and the loser reloads, re-validates and retries.
//!
//! Callers never touch actix: [`RoomRegistry`] hands out [`RoomHandle`]s with typed async
//! methods. Property creation is a plain function: a property has no concurrent state to own.

pub mod catalog;
mod error;
pub mod property;
mod registry;
pub mod room;

pub use error::CommandError;
pub use registry::RoomRegistry;
pub use room::RoomHandle;
