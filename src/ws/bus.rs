//! The bus carries committed batches from the actor that wrote them to every node's hub.
//!
//! With one node (the default) it is a direct call into the local hub. A Redis pub/sub
//! implementation for many nodes goes behind the same trait; its messages carry
//! `(stream, from_seq, to_seq)` so a receiver can tell a gap from a duplicate.

use std::sync::Arc;

use async_trait::async_trait;

use super::hub::{Hub, Published};

/// Fan-out of committed events. `publish` never blocks the caller (an entity actor).
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// `in-process` or `redis`, for logs and `/ready`.
    fn name(&self) -> &'static str;

    /// Hands a committed batch to every node's hub. Called after the commit, never before.
    fn publish(&self, msg: Published);

    /// Whether the bus can currently deliver (for `/ready`).
    async fn ping(&self) -> Result<(), String>;

    /// Waits (briefly) until this node receives other nodes' batches for `topic`, so that a
    /// snapshot read afterwards cannot miss one. Immediate for the in-process bus.
    async fn ready_for(&self, _topic: &str) {}
}

/// The single-node bus: publishing is dispatching to the local hub.
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    #[must_use]
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn publish(&self, msg: Published) {
        self.hub.dispatch(&msg);
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
