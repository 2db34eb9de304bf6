//! The per-node registry of room actors: activation on demand, re-creation of dead actors,
//! passivation of idle ones.
//!
//! actix's `Supervisor` does not restart an actor whose handler panicked: the actor is gone
//! and its mailbox closed. So every lookup checks `connected()`; a dead address is dropped
//! and the room re-activated from the store, which holds everything that was ever
//! acknowledged. A panic therefore costs one command, never the node, never data.
//!
//! Actors run on dedicated arbiters (threads), not on the HTTP workers, so a busy worker
//! cannot stall the rooms it happened to activate.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use actix::{Actor as _, Addr};
use actix_rt::{Arbiter, ArbiterHandle};

use super::{
    CommandError,
    room::{
        RoomActor, RoomHandle,
        messages::{ApplyRemote, Passivate, Reload},
        publication,
    },
};
use crate::{
    config::ActorConfig,
    domain::{Agent, NewRoom, PropertyId, Room, RoomId, RoomNumber},
    metrics::Metrics,
    persistence::{self, NewEvent, Projection, Store, StoreError},
    ws::{bus::Bus, hub::Published, protocol::room_topic},
};

/// Most rooms one request may create.
pub const MAX_ROOMS_PER_REQUEST: usize = 1000;

type RoomKey = (PropertyId, RoomNumber);

struct Slot {
    addr: Addr<RoomActor>,
    last_used: Instant,
}

struct Inner {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    config: ActorConfig,
    arbiters: Mutex<Vec<Arbiter>>,
    handles: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    live: Mutex<HashMap<RoomKey, Slot>>,
    closed: AtomicBool,
    /// Notified when actors come or go (the bus subscribes to the rooms held here).
    activity: Arc<tokio::sync::Notify>,
}

/// Finds or activates room actors. Cheap to clone.
#[derive(Clone)]
pub struct RoomRegistry {
    inner: Arc<Inner>,
}

impl RoomRegistry {
    /// Starts the actor arbiters and the passivation sweep. Must run inside an actix System.
    #[must_use]
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        config: ActorConfig,
    ) -> Self {
        let arbiters: Vec<Arbiter> = (0..config.arbiters.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let handles = arbiters.iter().map(Arbiter::handle).collect();
        let inner = Arc::new(Inner {
            store,
            bus,
            metrics,
            config,
            arbiters: Mutex::new(arbiters),
            handles,
            next_arbiter: AtomicUsize::new(0),
            live: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            activity: Arc::new(tokio::sync::Notify::new()),
        });
        actix_rt::spawn(sweep(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// The store this registry writes to.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The actor of a room, activating it from the store if needed.
    pub async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<RoomHandle, CommandError> {
        let key = (property, number.clone());
        if let Some(addr) = self.lookup(&key) {
            return Ok(RoomHandle { addr });
        }
        if self.inner.closed.load(Relaxed) {
            return Err(CommandError::Unavailable(
                "the node is shutting down".into(),
            ));
        }
        let room = self
            .inner
            .store
            .room(property, number)
            .await?
            .ok_or(CommandError::RoomNotFound)?;
        Ok(RoomHandle {
            addr: self.activate(key, room),
        })
    }

    /// Notified whenever room actors are activated or stopped.
    #[must_use]
    pub fn activity(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.inner.activity)
    }

    /// The single-room topics of the rooms active here: a replica must hear what other nodes
    /// commit to its room.
    #[must_use]
    pub fn live_topics(&self) -> Vec<String> {
        self.lock_live()
            .keys()
            .map(|(pid, n)| room_topic(*pid, n))
            .collect()
    }

    /// Hands a batch committed by another node to this node's replica of the room, if any.
    pub fn apply_remote(&self, msg: &Published) {
        let Some(last) = msg.events.last() else {
            return;
        };
        let (Some(pid), Some(number)) = (
            last.state["property_id"]
                .as_str()
                .and_then(|p| p.parse::<PropertyId>().ok()),
            last.state["number"]
                .as_str()
                .and_then(|n| RoomNumber::parse(n).ok()),
        ) else {
            return;
        };
        let addr = self.lock_live().get(&(pid, number)).map(|s| s.addr.clone());
        if let Some(addr) = addr {
            // try_send: never let a flood from the bus queue up unboundedly; a dropped update
            // only leaves a stale replica, which the next command's OCC check repairs.
            let _ = addr.try_send(ApplyRemote {
                from_seq: msg.from_seq,
                to_seq: msg.to_seq,
                state: last.state.clone(),
            });
        }
    }

    /// Makes every replica reload from the store (after the bus lost messages).
    pub fn reload_all(&self) {
        for slot in self.lock_live().values() {
            let _ = slot.addr.try_send(Reload);
        }
    }

    /// Number of active room actors on this node.
    #[must_use]
    pub fn active(&self) -> usize {
        self.lock_live().len()
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<RoomKey, Slot>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A live address for `key`, or `None`; forgets a dead one.
    fn lookup(&self, key: &RoomKey) -> Option<Addr<RoomActor>> {
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

    fn forget_dead(&self, key: &RoomKey) {
        let m = &self.inner.metrics;
        Metrics::inc(&m.actor_restarts);
        m.actors_live.fetch_sub(1, Relaxed);
        tracing::warn!(
            property = %key.0,
            room = %key.1,
            "room actor died (a handler panicked); re-creating it from the store"
        );
    }

    /// Starts an actor for `room` unless another caller did in the meantime.
    fn activate(&self, key: RoomKey, room: Room) -> Addr<RoomActor> {
        let mut live = self.lock_live();
        if let Some(slot) = live.get_mut(&key) {
            if slot.addr.connected() {
                slot.last_used = Instant::now();
                return slot.addr.clone();
            }
            live.remove(&key);
            self.forget_dead(&key);
        }
        let i = self.inner.next_arbiter.fetch_add(1, Relaxed) % self.inner.handles.len();
        let (store, bus, metrics) = (
            Arc::clone(&self.inner.store),
            Arc::clone(&self.inner.bus),
            Arc::clone(&self.inner.metrics),
        );
        let retries = self.inner.config.max_conflict_retries;
        let addr = RoomActor::start_in_arbiter(&self.inner.handles[i], move |_ctx| {
            RoomActor::new(room, store, bus, metrics, retries)
        });
        live.insert(
            key,
            Slot {
                addr: addr.clone(),
                last_used: Instant::now(),
            },
        );
        Metrics::inc(&self.inner.metrics.actor_activations);
        self.inner.metrics.actors_live.fetch_add(1, Relaxed);
        self.inner.activity.notify_one();
        addr
    }

    /// Creates rooms in a property, all or none, and announces them on the board.
    pub async fn create_rooms(
        &self,
        property: PropertyId,
        specs: Vec<NewRoom>,
        agent: &Agent,
    ) -> Result<Vec<Room>, CommandError> {
        if specs.is_empty() || specs.len() > MAX_ROOMS_PER_REQUEST {
            return Err(CommandError::Invalid(format!(
                "give 1 to {MAX_ROOMS_PER_REQUEST} rooms"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for spec in &specs {
            spec.validate().map_err(CommandError::Invalid)?;
            if !seen.insert(spec.number.clone()) {
                return Err(CommandError::Invalid(format!(
                    "room {} appears twice in the request",
                    spec.number
                )));
            }
        }
        let store = &self.inner.store;
        if store.property(property).await?.is_none() {
            return Err(CommandError::PropertyNotFound);
        }
        let at = persistence::now();
        let mut created = Vec::with_capacity(specs.len());
        let mut rows = Vec::with_capacity(specs.len());
        for spec in &specs {
            let (room, event) = Room::create(RoomId::new(), property, spec, at);
            rows.push(NewEvent {
                stream: room.id.stream(),
                seq: 1,
                property_id: Some(property),
                kind: event.kind().into(),
                payload: serde_json::to_value(&event).unwrap_or_default(),
                actor: agent.clone(),
                at,
            });
            created.push((room, event));
        }
        let projections = created
            .iter()
            .map(|(room, _)| Projection::UpsertRoom(room.clone()))
            .collect();
        store.commit(rows, projections).await.map_err(|e| match e {
            StoreError::Constraint(c) if c == "rooms_property_number_key" => {
                CommandError::Conflict {
                    code: "room_exists",
                    message: "a room with one of these numbers exists in the property".into(),
                }
            }
            other => other.into(),
        })?;
        for (room, event) in &created {
            if let Some(batch) = publication([(1, event, room)], agent, at) {
                self.inner.bus.publish(batch);
            }
        }
        Ok(created.into_iter().map(|(room, _)| room).collect())
    }

    /// Stops every actor after the commands already queued to it, then the arbiters.
    pub async fn shutdown(&self) {
        self.inner.closed.store(true, Relaxed);
        let slots: Vec<Slot> = self.lock_live().drain().map(|(_, s)| s).collect();
        for slot in slots {
            // `send` (not `do_send`): wait for the actor to reach this message, which means
            // every command queued before it has committed and replied.
            let _ = tokio::time::timeout(Duration::from_secs(5), slot.addr.send(Passivate)).await;
            self.inner.metrics.actors_live.fetch_sub(1, Relaxed);
        }
        let arbiters: Vec<Arbiter> = std::mem::take(
            &mut *self
                .inner
                .arbiters
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
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

/// Passivates idle actors. Ends by itself when the registry is dropped or shut down.
async fn sweep(inner: Weak<Inner>) {
    let period = {
        let Some(i) = inner.upgrade() else { return };
        (i.config.passivate_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.closed.load(Relaxed) {
            return;
        }
        let idle_after = inner.config.passivate_after;
        let idle: Vec<Slot> = {
            let mut live = inner
                .live
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let keys: Vec<RoomKey> = live
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
                Metrics::inc(&inner.metrics.actor_passivations);
            } else {
                Metrics::inc(&inner.metrics.actor_restarts);
            }
            inner.metrics.actors_live.fetch_sub(1, Relaxed);
            inner.activity.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        actors::room::Fault,
        domain::{Cleanliness, RoomCommand, RoomRefusal, StatusChange},
        persistence::sqlite::SqliteStore,
        ws::hub::Published,
        ws::{bus::LocalBus, hub::Hub},
    };

    struct Fixture {
        registry: RoomRegistry,
        metrics: Arc<Metrics>,
        pid: PropertyId,
        _dir: tempfile::TempDir,
    }

    async fn fixture(config: ActorConfig) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
        let registry = RoomRegistry::start(
            Arc::clone(&store),
            Arc::new(LocalBus::new(hub)),
            Arc::clone(&metrics),
            config,
        );
        let agent = Agent::system("test");
        let pid = crate::actors::property::create_property(store.as_ref(), "T", "UTC", &agent)
            .await
            .unwrap()
            .id;
        let specs = ["101", "102"]
            .iter()
            .map(|n| NewRoom {
                number: RoomNumber::parse(n).unwrap(),
                floor: 1,
                room_type: "KING".into(),
                cleanliness: None,
            })
            .collect();
        registry.create_rooms(pid, specs, &agent).await.unwrap();
        Fixture {
            registry,
            metrics,
            pid,
            _dir: dir,
        }
    }

    fn to(c: Cleanliness) -> RoomCommand {
        RoomCommand::ChangeStatus(StatusChange {
            cleanliness: Some(c),
            ..StatusChange::default()
        })
    }

    fn n(s: &str) -> RoomNumber {
        RoomNumber::parse(s).unwrap()
    }

    #[actix_rt::test]
    async fn a_panic_costs_one_command_and_the_room_comes_back_from_the_store() {
        let f = fixture(ActorConfig::default()).await;
        let agent = Agent::system("test");
        let room = f.registry.room(f.pid, &n("101")).await.unwrap();
        let r = room
            .execute(to(Cleanliness::Clean), None, agent.clone())
            .await
            .unwrap();
        assert_eq!(r.version, 2);

        // Panic after the commit: the caller hears "not confirmed", the change is durable.
        room.inject_fault(Fault::AfterCommit).await;
        let err = room
            .execute(to(Cleanliness::Inspected), None, agent.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Unavailable(_)), "{err:?}");
        // The other room, on the same node, is untouched and still answers.
        let other = f.registry.room(f.pid, &n("102")).await.unwrap();
        assert_eq!(other.state().await.unwrap().version, 1);

        let again = f.registry.room(f.pid, &n("101")).await.unwrap();
        let state = again.state().await.unwrap();
        assert_eq!(state.cleanliness, Cleanliness::Inspected);
        assert_eq!(state.version, 3);
        assert_eq!(f.metrics.actor_restarts.load(Relaxed), 1);

        // Panic before the commit: nothing changed, the version did not move.
        again.inject_fault(Fault::BeforeCommit).await;
        assert!(
            again
                .execute(to(Cleanliness::Dirty), None, agent.clone())
                .await
                .is_err()
        );
        let third = f.registry.room(f.pid, &n("101")).await.unwrap();
        let state = third.state().await.unwrap();
        assert_eq!(state.cleanliness, Cleanliness::Inspected);
        assert_eq!(state.version, 3);
        assert_eq!(f.metrics.actor_restarts.load(Relaxed), 2);
        // And it works normally afterwards.
        let r = third
            .execute(to(Cleanliness::Dirty), Some(3), agent)
            .await
            .unwrap();
        assert_eq!(r.version, 4);
        f.registry.shutdown().await;
    }

    #[actix_rt::test]
    async fn concurrent_commands_on_one_node_never_interleave() {
        let f = fixture(ActorConfig::default()).await;
        let room = f.registry.room(f.pid, &n("101")).await.unwrap();
        let attempts = (0..40).map(|_| {
            let room = room.clone();
            async move {
                room.execute(to(Cleanliness::Clean), None, Agent::system("t"))
                    .await
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 1, "exactly one dirty→clean wins");
        for r in results.iter().filter(|r| r.is_err()) {
            assert!(matches!(
                r,
                Err(CommandError::Refused(RoomRefusal::NoChange))
            ));
        }
        // Atomic handlers mean the store never saw two writers of one seq from this node.
        assert_eq!(f.metrics.store_conflicts.load(Relaxed), 0);
        assert_eq!(room.state().await.unwrap().version, 2);
        f.registry.shutdown().await;
    }

    #[actix_rt::test]
    async fn idle_actors_are_passivated_and_reactivated_with_their_state() {
        let f = fixture(ActorConfig {
            passivate_after: Duration::from_millis(200),
            ..ActorConfig::default()
        })
        .await;
        let room = f.registry.room(f.pid, &n("101")).await.unwrap();
        room.execute(to(Cleanliness::Clean), None, Agent::system("t"))
            .await
            .unwrap();
        assert_eq!(f.registry.active(), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while f.registry.active() > 0 {
            assert!(Instant::now() < deadline, "actor was never passivated");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(f.metrics.actor_passivations.load(Relaxed), 1);
        let back = f.registry.room(f.pid, &n("101")).await.unwrap();
        let state = back.state().await.unwrap();
        assert_eq!((state.cleanliness, state.version), (Cleanliness::Clean, 2));
        f.registry.shutdown().await;
    }

    /// Commits `change` to the room directly in the store, as another node would, and
    /// returns the bus message that node would publish.
    async fn commit_elsewhere(
        store: &dyn Store,
        room: &mut Room,
        change: StatusChange,
    ) -> Published {
        let at = persistence::now();
        let events = room.decide(&RoomCommand::ChangeStatus(change), at).unwrap();
        let from = room.version + 1;
        let mut rows = Vec::new();
        let mut after = Vec::new();
        for e in &events {
            room.apply(e, at);
            rows.push(NewEvent {
                stream: room.id.stream(),
                seq: room.version,
                property_id: Some(room.property_id),
                kind: e.kind().into(),
                payload: serde_json::to_value(e).unwrap(),
                actor: Agent::system("other-node"),
                at,
            });
            after.push((room.version, e.clone(), room.clone()));
        }
        store
            .commit(rows, vec![Projection::UpsertRoom(room.clone())])
            .await
            .unwrap();
        let msg = publication(
            after.iter().map(|(s, e, r)| (*s, e, r)),
            &Agent::system("other-node"),
            at,
        )
        .unwrap();
        assert_eq!(msg.from_seq, from);
        msg
    }

    async fn settle(handle: &RoomHandle) -> Room {
        // Messages to one actor are handled in order: a query after them sees their effect.
        handle.state().await.unwrap()
    }

    #[actix_rt::test]
    async fn a_replica_applies_the_next_seq_ignores_duplicates_and_reloads_on_a_gap() {
        let f = fixture(ActorConfig::default()).await;
        let store = Arc::clone(f.registry.store());
        let handle = f.registry.room(f.pid, &n("101")).await.unwrap();
        let mut elsewhere = handle.state().await.unwrap();
        let rush = |on| StatusChange {
            rush: Some(on),
            ..StatusChange::default()
        };

        // The next seq: applied from the message alone.
        let v2 = commit_elsewhere(store.as_ref(), &mut elsewhere, rush(true)).await;
        f.registry.apply_remote(&v2);
        let r = settle(&handle).await;
        assert_eq!((r.version, r.rush), (2, true));

        // A duplicate changes nothing.
        f.registry.apply_remote(&v2);
        assert_eq!(settle(&handle).await.version, 2);

        // v3 is lost on the way; v4 arrives: a gap, so the replica reloads from the store.
        let _lost = commit_elsewhere(store.as_ref(), &mut elsewhere, rush(false)).await;
        let v4 = commit_elsewhere(
            store.as_ref(),
            &mut elsewhere,
            StatusChange {
                cleanliness: Some(Cleanliness::Clean),
                ..StatusChange::default()
            },
        )
        .await;
        f.registry.apply_remote(&v4);
        let r = settle(&handle).await;
        assert_eq!(
            (r.version, r.rush, r.cleanliness),
            (4, false, Cleanliness::Clean)
        );
        assert_eq!(r, elsewhere, "converged on exactly the other node's state");
        // Now a local command needs no conflict retry.
        handle
            .execute(to(Cleanliness::Dirty), Some(4), Agent::system("t"))
            .await
            .unwrap();
        assert_eq!(f.metrics.store_conflicts.load(Relaxed), 0);
        f.registry.shutdown().await;
    }

    #[actix_rt::test]
    async fn unknown_rooms_and_properties_are_not_found() {
        let f = fixture(ActorConfig::default()).await;
        assert!(matches!(
            f.registry.room(f.pid, &n("999")).await,
            Err(CommandError::RoomNotFound)
        ));
        let spec = NewRoom {
            number: n("1"),
            floor: 1,
            room_type: "K".into(),
            cleanliness: None,
        };
        assert!(matches!(
            f.registry
                .create_rooms(PropertyId::new(), vec![spec], &Agent::system("t"))
                .await,
            Err(CommandError::PropertyNotFound)
        ));
        f.registry.shutdown().await;
    }
}
