//! How entities look on the wire: the same JSON in HTTP bodies, WebSocket snapshots and the
//! `state` of live events, so a client has one parser per entity.

use serde::Serialize;

use crate::domain::{Discrepancy, Room};

/// A room as clients see it: its state plus what is derived from it.
#[derive(Debug, Serialize)]
pub struct RoomView<'a> {
    #[serde(flatten)]
    pub room: &'a Room,
    /// The event stream whose seq `version` counts.
    pub stream: String,
    pub discrepancy: Discrepancy,
}

impl<'a> RoomView<'a> {
    #[must_use]
    pub fn of(room: &'a Room) -> Self {
        Self {
            room,
            stream: room.id.stream(),
            discrepancy: room.discrepancy(),
        }
    }

    /// The view as a JSON value (for embedding in frames).
    #[must_use]
    pub fn json(room: &Room) -> serde_json::Value {
        serde_json::to_value(RoomView::of(room)).unwrap_or(serde_json::Value::Null)
    }
}
