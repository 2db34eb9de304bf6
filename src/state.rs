//! What every HTTP handler and WebSocket session shares on one node.

use std::sync::Arc;

use crate::{
    actors::Actors,
    auth::AuthService,
    config::{HttpConfig, WsConfig},
    metrics::Metrics,
    persistence::Store,
    ws::{bus::Bus, hub::Hub, snapshots::Snapshots},
};

/// Node-wide state background tasks watch (sessions hear the same through the hub).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pulse {
    pub shutting_down: bool,
}

/// Shared state of a node, handed to actix-web as `web::Data`.
pub struct AppState {
    pub store: Arc<dyn Store>,
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
}
