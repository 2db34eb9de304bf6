//! The per-node registry of entity actors (rooms, reservations, later tables): activation on
//! demand, re-creation of dead actors, passivation of idle ones.
//!
//! actix's `Supervisor` does not restart an actor whose handler panicked: the actor is gone
//! and its mailbox closed. So every lookup checks `connected()`; a dead address is dropped
//! and the entity re-activated from the store, which holds everything that was ever
//! acknowledged. A panic therefore costs one command, never the node, never data.
//!
//! Actors run on dedicated arbiters (threads) shared by every kind of entity, not on the HTTP
//! workers, so a busy worker cannot stall the actors it happened to activate.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use actix::{Actor, Addr};
use actix_rt::{Arbiter, ArbiterHandle};

use super::{
    entity::{Aggregate, EntityActor, Handle},
    messages::{ApplyRemote, Passivate, Reload},
};
use crate::{
    config::ActorConfig,
    events::{Bus, Published},
    metrics::Metrics,
    persistence::Store,
};

/// What every entity actor is built from, and the threads they run on.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: ActorConfig,
    arbiters: Mutex<Vec<Arbiter>>,
    handles: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    /// Set at shutdown: no new activations.
    closed: AtomicBool,
    /// Notified when actors come or go (the bus subscribes to the entities held here).
    pub(crate) activity: Arc<tokio::sync::Notify>,
    /// Carries out what committed changes make happen to other entities.
    pub(crate) reactor: Arc<super::reactions::Reactor>,
}

impl Shared {
    /// Starts the actor arbiters. Must run inside an actix System.
    pub(crate) fn start(
        store: Arc<Store>,
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        config: ActorConfig,
    ) -> Arc<Self> {
        let arbiters: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let handles = arbiters.iter().map(Arbiter::handle).collect();
        Arc::new(Self {
            store,
            bus,
            metrics,
            config,
            arbiters: Mutex::new(arbiters),
            handles,
            next_arbiter: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            activity: Arc::new(tokio::sync::Notify::new()),
            reactor: Arc::default(),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Refuses new activations (the registries then passivate what they hold).
    pub(crate) fn close(&self) {
        self.closed.store(true, Relaxed);
        self.reactor.disconnect();
    }

    /// Stops the arbiters after every registry has passivated its actors.
    pub(crate) async fn stop_arbiters(&self) {
        let arbiters: Vec<Arbiter> =
            std::mem::take(&mut *self.arbiters.lock().unwrap_or_else(PoisonError::into_inner));
        for a in &arbiters {
            a.stop();
        }
        let _ = tokio::task::spawn_blocking(move || {
            for a in arbiters {
                let _ = a.join();
            }
        })
        .await;
    }
}

struct Slot<A: Aggregate> {
    addr: Addr<EntityActor<A>>,
    last_used: Instant,
}

struct Inner<A: Aggregate> {
    shared: Arc<Shared>,
    deps: A::Deps,
    live: Mutex<HashMap<A::Key, Slot<A>>>,
}

/// Finds or activates the actors of one kind of entity. Cheap to clone.
pub(crate) struct Registry<A: Aggregate> {
    inner: Arc<Inner<A>>,
}

impl<A: Aggregate> Clone for Registry<A> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<A: Aggregate> Registry<A> {
    /// A registry on `shared`'s arbiters, with its passivation sweep; its actors get `deps`.
    pub(crate) fn start(shared: Arc<Shared>, deps: A::Deps) -> Self {
        let inner = Arc::new(Inner {
            shared,
            deps,
            live: Mutex::new(HashMap::new()),
        });
        actix_rt::spawn(sweep(Arc::downgrade(&inner)));
        Self { inner }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    fn lock_live(&self) -> MutexGuard<'_, HashMap<A::Key, Slot<A>>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A live address for `key`, or `None`; forgets a dead one.
    pub(crate) fn lookup(&self, key: &A::Key) -> Option<Addr<EntityActor<A>>> {
        let mut live = self.lock_live();
        let slot = live.get_mut(key)?;
        if slot.addr.connected() {
            slot.last_used = Instant::now();
            return Some(slot.addr.clone());
        }
        live.remove(key);
        drop(live);
        self.forget_dead(key);
        None
    }

    /// The actor for `key`: the live one, or a new one started from what `load` reads (which
    /// runs only when needed). `load` answering `None` means the entity does not exist.
    pub(crate) async fn get<F, E>(&self, key: &A::Key, load: F) -> Result<Option<Handle<A>>, E>
    where
        F: Future<Output = Result<Option<A>, E>>,
        E: From<super::CommandError>,
    {
        if let Some(addr) = self.lookup(key) {
            return Ok(Some(Handle { addr }));
        }
        if self.inner.shared.is_closed() {
            return Err(
                super::CommandError::Unavailable("the node is shutting down".into()).into(),
            );
        }
        let Some(state) = load.await? else {
            return Ok(None);
        };
        Ok(Some(Handle {
            addr: self.activate(key.clone(), state),
        }))
    }

    fn forget_dead(&self, key: &A::Key) {
        let m = &self.inner.shared.metrics;
        Metrics::inc(&m.actor_restarts);
        m.actors_live.fetch_sub(1, Relaxed);
        tracing::warn!(
            entity = A::KIND,
            key = ?key,
            "actor died (a handler panicked); re-creating it from the store"
        );
    }

    /// Starts an actor for `key` unless another caller did in the meantime.
    fn activate(&self, key: A::Key, state: A) -> Addr<EntityActor<A>> {
        let shared = &self.inner.shared;
        let mut live = self.lock_live();
        if let Some(slot) = live.get_mut(&key) {
            if slot.addr.connected() {
                slot.last_used = Instant::now();
                return slot.addr.clone();
            }
            live.remove(&key);
            self.forget_dead(&key);
        }
        let i = shared.next_arbiter.fetch_add(1, Relaxed) % shared.handles.len();
        let for_actor = Arc::clone(shared);
        let deps = self.inner.deps.clone();
        let addr = EntityActor::start_in_arbiter(&shared.handles[i], move |_ctx| {
            EntityActor::new(state, deps, &for_actor)
        });
        live.insert(
            key,
            Slot {
                addr: addr.clone(),
                last_used: Instant::now(),
            },
        );
        Metrics::inc(&shared.metrics.actor_activations);
        shared.metrics.actors_live.fetch_add(1, Relaxed);
        shared.activity.notify_one();
        addr
    }

    /// The keys of the actors active here.
    pub(crate) fn keys(&self) -> Vec<A::Key> {
        self.lock_live().keys().cloned().collect()
    }

    /// Hands a batch another node committed to the replica of `key`, if there is one: the
    /// batch's seqs and the entity as it was after its last event.
    pub(crate) fn apply_published(&self, msg: &Published) {
        if let Some(last) = msg.events.last()
            && let Some(key) = A::key_of(msg)
        {
            self.apply_remote(
                &key,
                ApplyRemote {
                    from_seq: msg.from_seq,
                    to_seq: msg.to_seq,
                    state: last.state.clone(),
                },
            );
        }
    }

    /// Hands a batch another node committed to this node's replica, if there is one.
    fn apply_remote(&self, key: &A::Key, msg: ApplyRemote) {
        let addr = self.lock_live().get(key).map(|s| s.addr.clone());
        if let Some(addr) = addr {
            // try_send: never let a flood from the bus queue up unboundedly; a dropped update
            // only leaves a stale replica, which the next command's OCC check repairs.
            let _ = addr.try_send(msg);
        }
    }

    /// Makes the replica of `key`, if there is one here, reload from the store (another
    /// entity's command changed it).
    pub(crate) fn reload(&self, key: &A::Key) {
        if let Some(slot) = self.lock_live().get(key) {
            let _ = slot.addr.try_send(Reload);
        }
    }

    /// Makes every replica reload from the store (after the bus lost messages).
    pub(crate) fn reload_all(&self) {
        for slot in self.lock_live().values() {
            let _ = slot.addr.try_send(Reload);
        }
    }

    /// Number of active actors of this kind on this node.
    pub(crate) fn active(&self) -> usize {
        self.lock_live().len()
    }

    /// Stops every actor after the commands already queued to it.
    pub(crate) async fn passivate_all(&self) {
        let slots: Vec<Slot<A>> = self.lock_live().drain().map(|(_, s)| s).collect();
        for slot in slots {
            // `send` (not `do_send`): wait for the actor to reach this message, which means
            // every command queued before it has committed and replied.
            let _ = tokio::time::timeout(Duration::from_secs(5), slot.addr.send(Passivate)).await;
            self.inner.shared.metrics.actors_live.fetch_sub(1, Relaxed);
        }
    }
}

/// What the node does with every registry alike, whatever kind of entity it holds.
pub(crate) trait Replicas: Send + Sync {
    /// The topics this node's replicas must hear other nodes' batches on.
    fn live_topics(&self) -> Vec<String>;
    /// Hands a batch another node committed to the replica it is about, if it is here.
    fn apply_published(&self, msg: &Published);
    /// Makes every replica reload from the store (after the bus lost messages).
    fn reload_all(&self);
    /// Stops every actor after the commands already queued to it.
    fn passivate_all(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

impl<A: Aggregate> Replicas for Registry<A> {
    fn live_topics(&self) -> Vec<String> {
        self.keys().iter().filter_map(A::live_topic).collect()
    }

    fn apply_published(&self, msg: &Published) {
        if msg.stream.split(':').next() == Some(A::KIND) {
            Registry::apply_published(self, msg);
        }
    }

    fn reload_all(&self) {
        Registry::reload_all(self);
    }

    fn passivate_all(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Registry::passivate_all(self))
    }
}

/// Passivates idle actors. Ends by itself when the registry is dropped or shut down.
async fn sweep<A: Aggregate>(inner: Weak<Inner<A>>) {
    let period = {
        let Some(i) = inner.upgrade() else { return };
        (i.shared.config.passivate_after / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(30))
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        let shared = &inner.shared;
        if shared.is_closed() {
            return;
        }
        let idle_after = shared.config.passivate_after;
        let idle: Vec<Slot<A>> = {
            let mut live = inner.live.lock().unwrap_or_else(PoisonError::into_inner);
            let keys: Vec<A::Key> = live
                .iter()
                .filter(|(_, s)| s.last_used.elapsed() >= idle_after || !s.addr.connected())
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| live.remove(k)).collect()
        };
        for slot in idle {
            // Forgotten first, stopped second: a new lookup activates a fresh actor instead
            // of finding one that is about to stop.
            if slot.addr.connected() {
                let _ = slot.addr.try_send(Passivate);
                Metrics::inc(&shared.metrics.actor_passivations);
            } else {
                Metrics::inc(&shared.metrics.actor_restarts);
            }
            shared.metrics.actors_live.fetch_sub(1, Relaxed);
            shared.activity.notify_one();
        }
    }
}
