//! The bus carries committed batches from the actor that wrote them to every node's hub.
//!
//! With one node (the default) it is a direct call into the local listeners (the hub). A
//! Redis pub/sub implementation for many nodes goes behind the same trait; its messages carry
//! `(stream, from_seq, to_seq)` so a receiver can tell a gap from a duplicate.

use std::sync::Arc;

use async_trait::async_trait;

use super::Published;

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

/// Something on this node that hears committed batches: the hub (which delivers them to
/// sessions), and, for batches other nodes committed, the replicas of the actors here.
/// Registered at startup, so the bus never names what listens to it.
pub trait Listener: Send + Sync + 'static {
    /// Called once per batch, in the order the bus received them. Must not block.
    fn deliver(&self, msg: &Published);

    /// The topics this listener must hear of other nodes' batches on, now.
    fn topics(&self) -> Vec<String> {
        Vec::new()
    }

    /// Notified whenever [`Listener::topics`] may have changed.
    fn interest(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// The bus may have lost batches (its connection dropped): catch up from the store.
    fn resync(&self) {}
}

/// The single-node bus: publishing is handing the batch to the local listener.
pub struct LocalBus {
    listener: Arc<dyn Listener>,
}

impl LocalBus {
    #[must_use]
    pub fn new(listener: Arc<dyn Listener>) -> Self {
        Self { listener }
    }

    /// A bus nobody listens to (the actors' unit tests, which have no sessions).
    #[must_use]
    pub fn discarding() -> Self {
        struct Nobody;
        impl Listener for Nobody {
            fn deliver(&self, _msg: &Published) {}
        }
        Self::new(Arc::new(Nobody))
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn publish(&self, msg: Published) {
        self.listener.deliver(&msg);
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
