//! Real time: the WebSocket protocol and sessions, the per-node hub, and the bus between
//! nodes (DESIGN §4).

pub mod caps;
pub mod hub;
pub mod outbox;
pub mod protocol;
pub mod redis_bus;
pub mod session;
pub mod snapshots;
pub mod wire;
