//! The task actor: owner of one housekeeping task's state on this node.
//!
//! Finishing a cleaning makes its room clean, and passing an inspection makes it inspected:
//! those changes are committed **through the room's actor** in the task's transaction (as a
//! reservation's check-in is), so the board never shows a room cleaned by a task the log does
//! not have, nor the reverse.

mod actor;
mod handle;
pub mod messages;

pub(crate) use actor::{Batch, TaskActor, new_task, publication};
pub use handle::TaskHandle;
