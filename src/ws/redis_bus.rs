//! The bus between nodes: Redis pub/sub.
//!
//! - **Publishing** goes to the local hub first (local delivery never depends on Redis), then
//!   through a bounded queue to one task that `PUBLISH`es on the node's `ConnectionManager`
//!   (created once, reconnects by itself). One channel per topic: `<prefix>t:<topic>`.
//! - **Subscribing** uses one dedicated pub/sub connection per node, subscribed to exactly the
//!   channels this node needs: topics with local sessions, and the rooms it holds actors for.
//!   Messages from this node itself are skipped (it delivered them already).
//! - **Losing the connection** (Redis restarted, network cut): the subscriber reconnects with
//!   backoff and resubscribes; then, since messages published meanwhile are gone (pub/sub is
//!   at-most-once), every session gets a fresh snapshot (`reset`) and every replica reloads
//!   from the store. Nothing is silently skipped.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use crate::{
    events::{Bus, Listener, Published},
    metrics::Metrics,
    state::Pulse,
};

/// Batches waiting to be published; beyond this they are dropped (and counted): an actor must
/// never wait for Redis, and a dropped batch only delays other nodes until their next read.
const PUBLISH_QUEUE: usize = 8192;
/// How long a new subscription may take before a session reads its snapshot anyway.
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(2);

/// What goes over a channel.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The node that committed (and already delivered locally).
    origin: Uuid,
    msg: Published,
}

/// The Redis bus of one node.
pub struct RedisBus {
    node: Uuid,
    prefix: String,
    /// This node's hub: it hears this node's batches at once, before Redis does.
    local: Arc<dyn Listener>,
    queue: mpsc::Sender<Published>,
    conn: ConnectionManager,
    metrics: Arc<Metrics>,
    /// The channels the subscriber connection currently holds (empty while disconnected).
    subscribed: Mutex<HashSet<String>>,
    /// Notified whenever `subscribed` changes.
    synced: Notify,
    connected: AtomicBool,
}

impl RedisBus {
    /// Starts the publisher task. Call [`RedisBus::spawn_subscriber`] once the registry exists.
    pub fn start(
        conn: ConnectionManager,
        prefix: String,
        local: Arc<dyn Listener>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let bus = Arc::new(Self {
            node: Uuid::new_v4(),
            prefix,
            local,
            queue,
            conn: conn.clone(),
            metrics,
            subscribed: Mutex::new(HashSet::new()),
            synced: Notify::new(),
            connected: AtomicBool::new(false),
        });
        actix_rt::spawn(publisher(Arc::downgrade(&bus), conn, rx));
        bus
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}t:{topic}", self.prefix)
    }

    fn lock_subscribed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.subscribed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the node's subscriber: follows the listeners' interest, forwards other nodes'
    /// batches to them (the hub and the replicas), reconnects and resyncs. Ends on shutdown.
    pub fn spawn_subscriber(
        self: &Arc<Self>,
        client: redis::Client,
        listeners: Vec<Arc<dyn Listener>>,
        pulse: watch::Receiver<Pulse>,
    ) {
        actix_rt::spawn(subscriber(Arc::clone(self), client, listeners, pulse));
    }

    /// The channels this node needs now.
    fn desired(&self, listeners: &[Arc<dyn Listener>]) -> HashSet<String> {
        listeners
            .iter()
            .flat_map(|l| l.topics())
            .map(|t| self.channel(&t))
            .collect()
    }

    fn on_message(&self, payload: &[u8], listeners: &[Arc<dyn Listener>]) {
        let wire: Wire = match serde_json::from_slice(payload) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable bus message");
                return;
            }
        };
        if wire.origin == self.node {
            return;
        }
        Metrics::inc(&self.metrics.bus_received);
        for l in listeners {
            l.deliver(&wire.msg);
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn publish(&self, msg: Published) {
        self.local.deliver(&msg);
        if self.queue.try_send(msg).is_err() {
            Metrics::inc(&self.metrics.bus_publish_failures);
            tracing::warn!(
                "bus publish queue full: a batch reaches other nodes only by their next read"
            );
        }
    }

    async fn ping(&self) -> Result<(), String> {
        if !self.connected.load(Relaxed) {
            return Err("the Redis subscriber connection is down".into());
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("Redis PING timed out".into()),
        }
    }

    async fn ready_for(&self, topic: &str) {
        let channel = self.channel(topic);
        let wait = async {
            loop {
                let synced = self.synced.notified();
                if self.lock_subscribed().contains(&channel) || !self.connected.load(Relaxed) {
                    return;
                }
                synced.await;
            }
        };
        let _ = tokio::time::timeout(SUBSCRIBE_WAIT, wait).await;
    }
}

async fn publisher(
    bus: std::sync::Weak<RedisBus>,
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Published>,
) {
    while let Some(msg) = rx.recv().await {
        let Some(bus) = bus.upgrade() else { return };
        let mut pipe = redis::pipe();
        for topic in &msg.topics {
            let wire = Wire {
                origin: bus.node,
                msg: Published {
                    topics: vec![topic.clone()],
                    ..msg.clone()
                },
            };
            let Ok(payload) = serde_json::to_vec(&wire) else {
                continue;
            };
            pipe.cmd("PUBLISH")
                .arg(bus.channel(topic))
                .arg(payload)
                .ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => Metrics::inc(&bus.metrics.bus_published),
            Err(e) => {
                Metrics::inc(&bus.metrics.bus_publish_failures);
                tracing::warn!(error = %e, "publishing to Redis failed");
            }
        }
    }
}

async fn subscriber(
    bus: Arc<RedisBus>,
    client: redis::Client,
    listeners: Vec<Arc<dyn Listener>>,
    mut pulse: watch::Receiver<Pulse>,
) {
    // Any listener's interest changing (a first subscriber to a topic, a replica activated)
    // makes the subscriber sync its channels.
    let interest: Vec<Arc<Notify>> = listeners.iter().filter_map(|l| l.interest()).collect();
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        if pulse.borrow().shutting_down {
            return;
        }
        let connected =
            tokio::time::timeout(Duration::from_secs(5), client.get_async_pubsub()).await;
        let Ok(Ok(pubsub)) = connected else {
            tracing::warn!(retry_in = ?backoff, "cannot reach Redis for pub/sub");
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = pulse.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut current = HashSet::new();
        let mut synced = sync(&bus, &listeners, &mut sink, &mut current).await;
        if synced {
            bus.connected.store(true, Relaxed);
            backoff = Duration::from_millis(100);
            if !first {
                // Whatever was published while we were away is gone: refetch from the store.
                Metrics::inc(&bus.metrics.bus_reconnects);
                tracing::info!("Redis pub/sub reconnected; resyncing sessions and replicas");
                for l in &listeners {
                    l.resync();
                }
            }
            first = false;
        }
        while synced {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => bus.on_message(msg.get_payload_bytes(), &listeners),
                    None => {
                        tracing::warn!("Redis pub/sub connection lost");
                        break;
                    }
                },
                () = any_notified(&interest) => synced = sync(&bus, &listeners, &mut sink, &mut current).await,
                _ = pulse.changed() => {
                    if pulse.borrow().shutting_down {
                        return;
                    }
                }
            }
        }
        bus.connected.store(false, Relaxed);
        bus.lock_subscribed().clear();
        bus.synced.notify_waiters();
    }
}

/// Waits until one of `notifies` is notified (never, for none).
async fn any_notified(notifies: &[Arc<Notify>]) {
    if notifies.is_empty() {
        return std::future::pending().await;
    }
    futures_util::future::select_all(notifies.iter().map(|n| Box::pin(n.notified()))).await;
}

/// Subscribes to what is desired and not held, unsubscribes from what is held and not
/// desired. False when the connection failed.
async fn sync(
    bus: &RedisBus,
    listeners: &[Arc<dyn Listener>],
    sink: &mut redis::aio::PubSubSink,
    current: &mut HashSet<String>,
) -> bool {
    let desired = bus.desired(listeners);
    let add: Vec<&String> = desired.difference(current).collect();
    let drop: Vec<&String> = current.difference(&desired).collect();
    if !add.is_empty() && sink.subscribe(&add).await.is_err() {
        return false;
    }
    if !drop.is_empty() && sink.unsubscribe(&drop).await.is_err() {
        return false;
    }
    current.clone_from(&desired);
    *bus.lock_subscribed() = desired;
    bus.synced.notify_waiters();
    true
}
