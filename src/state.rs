//! What every HTTP handler and WebSocket session shares on one node.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{
    actors::RoomRegistry,
    auth::AuthService,
    config::WsConfig,
    metrics::Metrics,
    persistence::Store,
    ws::{bus::Bus, hub::Hub, snapshots::Snapshots},
};

/// The node-wide heartbeat: one timer ticks for every session, and the same channel says
/// when the node is shutting down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pulse {
    pub tick: u64,
    pub shutting_down: bool,
}

/// Shared state of a node, handed to actix-web as `web::Data`.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub hub: Arc<Hub>,
    /// Topic snapshots shared by sessions subscribing together.
    pub snapshots: Snapshots,
    pub rooms: RoomRegistry,
    pub auth: AuthService,
    pub metrics: Arc<Metrics>,
    pub ws: WsConfig,
    pub pulse: watch::Receiver<Pulse>,
}
