//! The table actor: owner of one restaurant table's state on this node.
//!
//! Everything that puts a party at a table goes through the table's actor: a booking (the
//! first table of its combination), a walk-in, seating a waiting party, "table ready". The
//! actor reads the venue's schedule and commits the party's events with its own in one
//! transaction, so within a node no two commands can give one table the same time; between
//! nodes the store's `party_tables_no_overlap` constraint decides.

mod actor;
mod handle;
pub mod messages;

pub(crate) use actor::{TableActor, party_publication};
pub use handle::{TableHandle, TableOutcome};
