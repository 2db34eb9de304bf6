//! What every HTTP handler and WebSocket session shares on one node.

use std::sync::Arc;

use crate::{
    actors::Actors,
    auth::AuthService,
    config::{HttpConfig, WsConfig},
    events::Bus,
    metrics::Metrics,
    persistence::Store,
    ws::{hub::Hub, snapshots::Snapshots},
};

/// The idempotency keys of requests running on this node (see `http::idempotency`).
#[derive(Debug, Default)]
pub struct RequestsRunning(std::sync::Mutex<std::collections::HashSet<(String, String)>>);

/// A running request's place; dropping it lets a retry in.
#[derive(Debug)]
pub struct Running<'a> {
    set: &'a RequestsRunning,
    key: (String, String),
}

impl RequestsRunning {
    /// `None` while a request with the same agent and key runs.
    pub fn enter(&self, agent: &str, key: &str) -> Option<Running<'_>> {
        let key = (agent.to_owned(), key.to_owned());
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Not `then_some`: it would build the guard even when the key is taken, and dropping
        // it would lock this mutex again while it is held here (a deadlock).
        if set.insert(key.clone()) {
            Some(Running { set: self, key })
        } else {
            None
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// Node-wide state background tasks watch (sessions hear the same through the hub).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pulse {
    pub shutting_down: bool,
}

/// Shared state of a node, handed to actix-web as `web::Data`.
pub struct AppState {
    pub store: Arc<Store>,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    /// Topic snapshots shared by sessions subscribing together.
    pub snapshots: Snapshots,
    /// The entity registries (rooms, reservations).
    pub actors: Actors,
    pub auth: AuthService,
    pub metrics: Arc<Metrics>,
    pub http: HttpConfig,
    pub ws: WsConfig,
    /// Open sockets per credential on this node.
    pub ws_caps: Arc<crate::ws::caps::SocketCaps>,
    /// Idempotency keys of requests running on this node.
    pub requests: RequestsRunning,
}

#[cfg(test)]
mod tests {
    use super::RequestsRunning;

    #[test]
    fn a_running_key_refuses_its_twin_until_it_ends() {
        let running = RequestsRunning::default();
        let first = running.enter("user:a", "k").expect("the first runs");
        assert!(running.enter("user:a", "k").is_none(), "its twin waits");
        assert!(
            running.enter("user:b", "k").is_some(),
            "keys are per caller"
        );
        drop(first);
        assert!(running.enter("user:a", "k").is_some());
    }
}
