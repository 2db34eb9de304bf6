//! What leaves an entity actor once its command has committed: batches of one stream's events
//! with the entity after each, the [`Bus`] that carries them to every node, and the names of
//! streams and topics.
//!
//! This module sits below both the actors (who publish) and the WebSocket layer (whose hub
//! delivers to sessions): neither imports the other for it. What hears a batch — the hub, the
//! replicas of other nodes — registers as a [`Listener`] at startup.

pub mod bus;
pub mod topics;

use serde::{Deserialize, Serialize};

pub use bus::{Bus, Listener, LocalBus};

/// A committed batch of one stream's events, as actors publish it on the bus.
/// `(stream, from_seq, to_seq)` lets a receiver detect gaps and duplicates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Every topic that carries this stream (e.g. the board and the single room).
    pub topics: Vec<String>,
    pub stream: String,
    pub from_seq: u64,
    pub to_seq: u64,
    pub events: Vec<PublishedEvent>,
}

/// One event with the entity's state after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedEvent {
    pub seq: u64,
    /// The event (its `kind` and fields) plus `actor` and `at`.
    pub event: serde_json::Value,
    /// The entity after this event (`version == seq`).
    pub state: serde_json::Value,
}

impl PublishedEvent {
    /// `event` as clients receive it: its own fields plus who did it and when.
    pub fn new(
        seq: u64,
        event: &impl Serialize,
        agent: &crate::domain::Agent,
        at: chrono::DateTime<chrono::Utc>,
        state: serde_json::Value,
    ) -> Self {
        let mut event = serde_json::to_value(event).unwrap_or_default();
        if let Some(obj) = event.as_object_mut() {
            obj.insert("actor".into(), agent.as_str().into());
            obj.insert("at".into(), serde_json::to_value(at).unwrap_or_default());
        }
        Self { seq, event, state }
    }
}
