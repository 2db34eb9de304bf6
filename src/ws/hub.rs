//! The per-node hub: which local sessions listen to which topic, and fan-out to them.
//!
//! Each published batch is encoded **once per topic**, WebSocket framing included, and the
//! same bytes (`Bytes` is reference-counted) go to every subscriber. Delivery is a push into
//! the session's bounded [`Outbox`]: the hub never waits for a client. A session whose queue
//! is full is told to close itself as a slow consumer; nobody else waits for it.
//!
//! The hub also knows every live session of the node, so the node-wide heartbeat and the
//! shutdown reach them without a timer or a watch receiver per session.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::sync::Notify;

use super::{
    outbox::{Delivery, Outbox, Pushed, signal},
    protocol::{self, EventFrame},
    wire,
};
use crate::events::Published;
use crate::metrics::Metrics;

/// Identifies a session within this node.
pub type SessionId = u64;

/// The sending side of a session's queue, held by the hub.
pub type Mailbox = Arc<Outbox>;

/// Delivery order of one stream on one topic.
#[derive(Debug, Default)]
struct Order {
    /// The last seq delivered (0: nothing yet; the next batch is accepted as it comes).
    last: u64,
    /// Batches that arrived ahead of a missing seq, by `from_seq`.
    pending: BTreeMap<u64, Published>,
    /// When the oldest pending batch started waiting.
    waiting_since: Option<Instant>,
}

/// Delivery positions: per topic, per stream.
type Orders = HashMap<Arc<str>, HashMap<Arc<str>, Order>>;

/// The hub of one node.
///
/// Batches of a stream can reach a node out of order: this node's own commit is dispatched at
/// once, while an earlier seq written by another node is still on its way through Redis. So
/// per (topic, stream) the hub delivers only the next seq, drops duplicates, and holds batches
/// that arrive early until the gap fills — or, if it does not fill within a short wait (the
/// message was lost: pub/sub is at-most-once), releases them anyway; the version jump then
/// tells clients to refetch.
#[derive(Debug)]
pub struct Hub {
    topics: RwLock<HashMap<Arc<str>, HashMap<SessionId, Mailbox>>>,
    /// Per topic, per stream. Sequencing and delivery happen under this one lock, so two
    /// threads dispatching the same stream cannot overtake each other.
    orders: Mutex<Orders>,
    next_session: AtomicU64,
    metrics: Arc<Metrics>,
    /// Notified when a topic gains its first or loses its last local subscriber (the bus
    /// subscribes to exactly what local sessions need).
    interest: Arc<Notify>,
    /// Every live session of this node, for the heartbeat and the shutdown.
    sessions: Mutex<HashMap<SessionId, Mailbox>>,
    shutting_down: std::sync::atomic::AtomicBool,
}

impl Hub {
    #[must_use]
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            topics: RwLock::new(HashMap::new()),
            orders: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            metrics,
            interest: Arc::new(Notify::new()),
            sessions: Mutex::new(HashMap::new()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Mailbox>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A session starts: it hears heartbeats, and the shutdown (at once, if it already began).
    pub fn register(&self, session: SessionId, mailbox: Mailbox) {
        let mut sessions = self.lock_sessions();
        if self.shutting_down.load(Relaxed) {
            mailbox.signal(signal::SHUTDOWN);
        }
        sessions.insert(session, mailbox);
    }

    /// A session ended.
    pub fn deregister(&self, session: SessionId) {
        self.lock_sessions().remove(&session);
    }

    /// Live sessions on this node.
    #[must_use]
    pub fn sessions(&self) -> usize {
        self.lock_sessions().len()
    }

    /// One step of the node-wide heartbeat: the sessions in `slot` of `slots` are ticked.
    /// Spreading them over slots keeps a node with tens of thousands of sessions from pinging
    /// all of them in the same millisecond.
    pub fn tick(&self, slot: u64, slots: u64) {
        let slots = slots.max(1);
        for (id, mailbox) in self.lock_sessions().iter() {
            if id % slots == slot % slots {
                mailbox.signal(signal::TICK);
            }
        }
    }

    /// Tells every session, now and later, that the node is going away.
    pub fn shut_down_sessions(&self) {
        let sessions = self.lock_sessions();
        self.shutting_down.store(true, Relaxed);
        for mailbox in sessions.values() {
            mailbox.signal(signal::SHUTDOWN);
        }
    }

    /// Notified whenever the set of topics with local subscribers changes.
    #[must_use]
    pub fn interest(&self) -> Arc<Notify> {
        Arc::clone(&self.interest)
    }

    /// The topics that have local subscribers.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        let topics = self
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        topics.keys().map(|t| t.to_string()).collect()
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
        let subs = topics.entry(Arc::from(topic)).or_default();
        subs.insert(session, mailbox);
        if subs.len() == 1 {
            self.interest.notify_one();
        }
    }

    pub fn unsubscribe(&self, topic: &str, session: SessionId) {
        let mut topics = self
            .topics
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut gone = false;
        if let Some(subs) = topics.get_mut(topic) {
            subs.remove(&session);
            if subs.is_empty() {
                topics.remove(topic);
                gone = true;
            }
        }
        drop(topics);
        if gone {
            // Lock order is orders → topics in dispatch; never hold topics while taking orders.
            self.lock_orders().remove(topic);
            self.interest.notify_one();
        }
    }

    fn lock_orders(&self) -> std::sync::MutexGuard<'_, Orders> {
        self.orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Hands a committed batch to every local subscriber of its topics, in seq order per
    /// stream (see the type's docs).
    pub fn dispatch(&self, msg: &Published) {
        let stream: Arc<str> = Arc::from(msg.stream.as_str());
        let mut orders = self.lock_orders();
        for topic in &msg.topics {
            let topics = self
                .topics
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some((topic_key, subs)) = topics.get_key_value(topic.as_str()) else {
                continue;
            };
            if msg.to_seq == 0 {
                // A signal (typing): no seq, no order, nothing to wait for.
                self.deliver(topic_key, &stream, msg, 0, subs);
                continue;
            }
            let order = orders
                .entry(Arc::clone(topic_key))
                .or_default()
                .entry(Arc::clone(&stream))
                .or_default();
            if order.last != 0 && msg.to_seq <= order.last {
                continue; // a duplicate
            }
            if order.last != 0 && msg.from_seq > order.last + 1 {
                // Early: wait for the missing seqs.
                order.pending.insert(msg.from_seq, msg.clone());
                order.waiting_since.get_or_insert_with(Instant::now);
                continue;
            }
            self.deliver(topic_key, &stream, msg, order.last, subs);
            order.last = msg.to_seq;
            // Whatever waited for this may go now.
            while let Some((&from, _)) = order.pending.first_key_value() {
                if from > order.last + 1 {
                    break;
                }
                let Some((_, next)) = order.pending.pop_first() else {
                    break;
                };
                if next.to_seq > order.last {
                    self.deliver(topic_key, &stream, &next, order.last, subs);
                    order.last = next.to_seq;
                }
            }
            if order.pending.is_empty() {
                order.waiting_since = None;
            }
        }
    }

    /// Releases batches that waited longer than `max_wait` for a seq that never came.
    pub fn release_stale(&self, max_wait: Duration) {
        let mut orders = self.lock_orders();
        let topics = self
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, streams) in orders.iter_mut() {
            let Some(subs) = topics.get(topic) else {
                continue;
            };
            for (stream, order) in streams.iter_mut() {
                if order.waiting_since.is_none_or(|t| t.elapsed() < max_wait) {
                    continue;
                }
                tracing::debug!(%topic, %stream, after = order.last, "releasing events past a gap");
                while let Some((_, next)) = order.pending.pop_first() {
                    if next.to_seq > order.last {
                        self.deliver(topic, stream, &next, order.last, subs);
                        order.last = next.to_seq;
                    }
                }
                order.waiting_since = None;
            }
        }
    }

    /// Tells every session to refetch every topic (after this node may have missed events),
    /// and forgets delivery positions: the snapshots set them anew.
    pub fn resync_all(&self) {
        let mut orders = self.lock_orders();
        orders.clear();
        let topics = self
            .topics
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (topic, subs) in topics.iter() {
            let delivery = Arc::new(Delivery {
                topic: Arc::clone(topic),
                stream: Arc::from(""),
                to_seq: 0,
                frames: Box::new([]),
                resync: true,
            });
            for mailbox in subs.values() {
                // Full: the session was kicked; closed: it is unsubscribing itself.
                let _ = mailbox.push(Arc::clone(&delivery));
            }
        }
    }

    /// Encodes the events after `after` once and queues them to every subscriber.
    fn deliver(
        &self,
        topic: &Arc<str>,
        stream: &Arc<str>,
        msg: &Published,
        after: u64,
        subs: &HashMap<SessionId, Mailbox>,
    ) {
        let shown = protocol::public_name(topic);
        let frames: Box<[Bytes]> = msg
            .events
            .iter()
            .filter(|e| e.seq > after || msg.to_seq == 0)
            .map(|e| {
                if msg.to_seq == 0 {
                    // A signal (typing), not an event of the stream: the event object is the
                    // frame, with the topic.
                    let mut frame = e.event.clone();
                    if let Some(obj) = frame.as_object_mut() {
                        obj.insert("topic".into(), shown.into());
                    }
                    return wire::text(frame.to_string().as_bytes());
                }
                wire::text(
                    protocol::event(&EventFrame {
                        r#type: "event",
                        topic: shown,
                        stream,
                        seq: e.seq,
                        event: &e.event,
                        state: &e.state,
                    })
                    .as_bytes(),
                )
            })
            .collect();
        if frames.is_empty() {
            return;
        }
        let delivery = Arc::new(Delivery {
            topic: Arc::clone(topic),
            stream: Arc::clone(stream),
            to_seq: msg.to_seq,
            frames,
            resync: false,
        });
        let mut queued = 0;
        for mailbox in subs.values() {
            match mailbox.push(Arc::clone(&delivery)) {
                Pushed::Queued => queued += 1,
                // The session was kicked, or is going away and will unsubscribe itself.
                Pushed::Full | Pushed::Closed => {}
            }
        }
        // One shared counter update per fan-out, not one per subscriber.
        self.metrics.hub_deliveries.fetch_add(queued, Relaxed);
    }
}

/// The hub hears every batch of this node, and (through the Redis bus) every other node's
/// batch for a topic a local session listens to.
impl crate::events::Listener for Hub {
    fn deliver(&self, msg: &Published) {
        self.dispatch(msg);
    }

    fn topics(&self) -> Vec<String> {
        Hub::topics(self)
    }

    fn interest(&self) -> Option<Arc<Notify>> {
        Some(Hub::interest(self))
    }

    fn resync(&self) {
        self.resync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PublishedEvent;

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

    /// A session's outbox, and the same outbox to read it as the session would.
    fn mailbox(cap: usize) -> (Mailbox, Receiver) {
        let o = Arc::new(Outbox::new(cap));
        (Arc::clone(&o), Receiver(o))
    }

    struct Receiver(Mailbox);

    impl Receiver {
        fn try_recv(&mut self) -> Result<Arc<Delivery>, ()> {
            self.0.pop().ok_or(())
        }

        async fn recv(&mut self) -> Option<Arc<Delivery>> {
            self.0.pop()
        }
    }

    fn json_of(frame: &Bytes) -> serde_json::Value {
        serde_json::from_slice(wire::payload(frame)).unwrap()
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
        let v = json_of(&da.frames[1]);
        assert_eq!(v["seq"], 2);
        assert_eq!(v["topic"], "t");
        assert_eq!(v["state"]["version"], 2);
    }

    #[tokio::test]
    async fn a_full_queue_kicks_only_that_session() {
        let hub = Hub::new(Arc::default());
        let (slow, _keep_slow_rx) = mailbox(1);
        let (fast, mut fast_rx) = mailbox(8);
        hub.subscribe("t", 1, Arc::clone(&slow));
        hub.subscribe("t", 2, fast);
        for i in 1..=3 {
            hub.dispatch(&batch("t", i..=i));
        }
        // The slow one was told to go.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert_eq!(
            slow.poll(&mut cx, false),
            std::task::Poll::Ready(signal::KICK)
        );
        for i in 1..=3 {
            assert_eq!(fast_rx.recv().await.unwrap().to_seq, i);
        }
    }

    #[tokio::test]
    async fn batches_are_delivered_in_seq_order_once_each() {
        let hub = Hub::new(Arc::default());
        let (a, mut ra) = mailbox(16);
        hub.subscribe("t", 1, a);
        hub.dispatch(&batch("t", 1..=1));
        // 3 overtakes 2 (another node's commit still in flight): held until 2 arrives.
        hub.dispatch(&batch("t", 3..=3));
        hub.dispatch(&batch("t", 2..=2));
        hub.dispatch(&batch("t", 2..=2)); // a duplicate
        hub.dispatch(&batch("t", 1..=3)); // an overlap adds nothing
        hub.dispatch(&batch("t", 4..=5));
        let mut seqs = Vec::new();
        while let Ok(d) = ra.try_recv() {
            for f in &*d.frames {
                seqs.push(json_of(f)["seq"].as_u64().unwrap());
            }
        }
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn a_gap_that_never_fills_is_released_after_the_wait() {
        let hub = Hub::new(Arc::default());
        let (a, mut ra) = mailbox(16);
        hub.subscribe("t", 1, a);
        hub.dispatch(&batch("t", 1..=1));
        hub.dispatch(&batch("t", 3..=3)); // 2 was lost
        assert_eq!(ra.recv().await.unwrap().to_seq, 1);
        assert!(ra.try_recv().is_err(), "held");
        hub.release_stale(Duration::from_secs(60));
        assert!(ra.try_recv().is_err(), "not yet");
        hub.release_stale(Duration::ZERO);
        assert_eq!(ra.try_recv().unwrap().to_seq, 3);
        hub.dispatch(&batch("t", 4..=4));
        assert_eq!(ra.try_recv().unwrap().to_seq, 4);
    }

    #[tokio::test]
    async fn resync_asks_every_session_for_a_fresh_snapshot() {
        let hub = Hub::new(Arc::default());
        let (a, mut ra) = mailbox(4);
        hub.subscribe("t", 1, a);
        hub.dispatch(&batch("t", 5..=5));
        hub.resync_all();
        assert_eq!(ra.try_recv().unwrap().to_seq, 5);
        assert!(ra.try_recv().unwrap().resync);
        // Positions were forgotten: the next batch is taken as it comes.
        hub.dispatch(&batch("t", 9..=9));
        assert_eq!(ra.try_recv().unwrap().to_seq, 9);
    }

    #[test]
    fn heartbeat_slots_reach_every_session_once_per_round() {
        use std::task::{Context, Poll, Waker};
        let hub = Hub::new(Arc::default());
        let outboxes: Vec<Mailbox> = (0..10)
            .map(|id| {
                let (m, _) = mailbox(1);
                hub.register(id, Arc::clone(&m));
                m
            })
            .collect();
        let mut cx = Context::from_waker(Waker::noop());
        hub.tick(1, 4);
        let ticked: Vec<usize> = (0..10)
            .filter(|&i| outboxes[i].poll(&mut cx, false).is_ready())
            .collect();
        assert_eq!(ticked, [1, 5, 9]);
        for slot in 2..6 {
            hub.tick(slot, 4);
        }
        for o in &outboxes {
            assert_eq!(o.poll(&mut cx, false), Poll::Ready(signal::TICK));
        }
        hub.deregister(3);
        assert_eq!(hub.sessions(), 9);
    }

    #[test]
    fn a_session_that_starts_during_shutdown_hears_it_at_once() {
        use std::task::{Context, Poll, Waker};
        let hub = Hub::new(Arc::default());
        let (before, _) = mailbox(1);
        hub.register(1, Arc::clone(&before));
        hub.shut_down_sessions();
        let (after, _) = mailbox(1);
        hub.register(2, Arc::clone(&after));
        let mut cx = Context::from_waker(Waker::noop());
        for o in [before, after] {
            assert_eq!(o.poll(&mut cx, false), Poll::Ready(signal::SHUTDOWN));
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
