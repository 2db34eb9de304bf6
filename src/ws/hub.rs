//! The per-node hub: which local sessions listen to which topic, and fan-out to them.
//!
//! Each published batch is encoded **once per topic** and the same bytes (`ByteString` is
//! reference-counted) go to every subscriber. Delivery is a `try_send` into the session's
//! bounded queue: the hub never waits for a client. A session whose queue is full is told to
//! close itself as a slow consumer; nobody else waits for it.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};

use super::protocol::{self, EventFrame};
use crate::metrics::Metrics;

/// Identifies a session within this node.
pub type SessionId = u64;

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

/// What a session's queue carries: the encoded frames of one batch for one topic.
#[derive(Debug)]
pub struct Delivery {
    pub topic: Arc<str>,
    pub stream: Arc<str>,
    pub to_seq: u64,
    pub frames: Box<[ByteString]>,
}

/// The sending side of a session's queue, held by the hub.
#[derive(Clone, Debug)]
pub struct Mailbox {
    pub tx: mpsc::Sender<Arc<Delivery>>,
    /// Notified when the session fell behind and must close.
    pub kick: Arc<Notify>,
}

/// The hub of one node.
#[derive(Debug)]
pub struct Hub {
    topics: RwLock<HashMap<Arc<str>, HashMap<SessionId, Mailbox>>>,
    next_session: AtomicU64,
    metrics: Arc<Metrics>,
}

impl Hub {
    #[must_use]
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            topics: RwLock::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            metrics,
        }
    }

    /// A new session id, unique within this node.
    pub fn session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Relaxed)
    }

    pub fn subscribe(&self, topic: &str, session: SessionId, mailbox: Mailbox) {
        let mut topics = self
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        topics
            .entry(Arc::from(topic))
            .or_default()
            .insert(session, mailbox);
    }

    pub fn unsubscribe(&self, topic: &str, session: SessionId) {
        let mut topics = self
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(subs) = topics.get_mut(topic) {
            subs.remove(&session);
            if subs.is_empty() {
                topics.remove(topic);
            }
        }
    }

    /// Number of local subscribers of a topic.
    #[must_use]
    pub fn subscribers(&self, topic: &str) -> usize {
        let topics = self
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        topics.get(topic).map_or(0, HashMap::len)
    }

    /// Hands a committed batch to every local subscriber of its topics.
    pub fn dispatch(&self, msg: &Published) {
        let stream: Arc<str> = Arc::from(msg.stream.as_str());
        for topic in &msg.topics {
            let topics = self
                .topics
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some((topic_key, subs)) = topics.get_key_value(topic.as_str()) else {
                continue;
            };
            let frames: Box<[ByteString]> = msg
                .events
                .iter()
                .map(|e| {
                    protocol::event(&EventFrame {
                        r#type: "event",
                        topic,
                        stream: &msg.stream,
                        seq: e.seq,
                        event: &e.event,
                        state: &e.state,
                    })
                })
                .collect();
            let delivery = Arc::new(Delivery {
                topic: Arc::clone(topic_key),
                stream: Arc::clone(&stream),
                to_seq: msg.to_seq,
                frames,
            });
            for mailbox in subs.values() {
                match mailbox.tx.try_send(Arc::clone(&delivery)) {
                    Ok(()) => Metrics::inc(&self.metrics.hub_deliveries),
                    Err(mpsc::error::TrySendError::Full(_)) => mailbox.kick.notify_one(),
                    // The session is going away and will unsubscribe itself.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(topic: &str, seqs: std::ops::RangeInclusive<u64>) -> Published {
        Published {
            topics: vec![topic.into()],
            stream: "room:x".into(),
            from_seq: *seqs.start(),
            to_seq: *seqs.end(),
            events: seqs
                .map(|seq| PublishedEvent {
                    seq,
                    event: serde_json::json!({"kind":"k"}),
                    state: serde_json::json!({"version": seq}),
                })
                .collect(),
        }
    }

    fn mailbox(cap: usize) -> (Mailbox, mpsc::Receiver<Arc<Delivery>>) {
        let (tx, rx) = mpsc::channel(cap);
        (
            Mailbox {
                tx,
                kick: Arc::new(Notify::new()),
            },
            rx,
        )
    }

    #[tokio::test]
    async fn every_subscriber_gets_the_same_encoded_bytes() {
        let hub = Hub::new(Arc::default());
        let (a, mut ra) = mailbox(4);
        let (b, mut rb) = mailbox(4);
        hub.subscribe("t", 1, a);
        hub.subscribe("t", 2, b);
        hub.dispatch(&batch("t", 1..=2));
        let da = ra.recv().await.unwrap();
        let db = rb.recv().await.unwrap();
        assert!(Arc::ptr_eq(&da, &db), "encoded once, shared");
        assert_eq!(da.frames.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&da.frames[1]).unwrap();
        assert_eq!(v["seq"], 2);
        assert_eq!(v["topic"], "t");
        assert_eq!(v["state"]["version"], 2);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_only_that_session() {
        let hub = Hub::new(Arc::default());
        let (slow, _keep_slow_rx) = mailbox(1);
        let (fast, mut fast_rx) = mailbox(8);
        let slow_kick = Arc::clone(&slow.kick);
        hub.subscribe("t", 1, slow);
        hub.subscribe("t", 2, fast);
        for i in 1..=3 {
            hub.dispatch(&batch("t", i..=i));
        }
        // The slow one was told to go (the permit is stored even without a waiter).
        tokio::time::timeout(std::time::Duration::from_secs(1), slow_kick.notified())
            .await
            .unwrap();
        for i in 1..=3 {
            assert_eq!(fast_rx.recv().await.unwrap().to_seq, i);
        }
    }

    #[test]
    fn unsubscribing_the_last_session_forgets_the_topic() {
        let hub = Hub::new(Arc::default());
        let (a, _ra) = mailbox(1);
        hub.subscribe("t", 1, a);
        assert_eq!(hub.subscribers("t"), 1);
        hub.unsubscribe("t", 1);
        assert_eq!(hub.subscribers("t"), 0);
        hub.dispatch(&batch("t", 1..=1));
    }
}
