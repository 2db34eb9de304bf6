//! Room actors on this node: lookup by property and room number, and room creation.

use std::sync::Arc;

use super::{
    CommandError,
    entity::row,
    registry::{Registry, Replicas, Shared},
    room::{RoomHandle, publication},
};
use crate::{
    domain::{Agent, NewRoom, PropertyId, Room, RoomId, RoomNumber},
    persistence::{self, Projection, Store, StoreError},
};

/// Most rooms one request may create.
pub const MAX_ROOMS_PER_REQUEST: usize = 1000;

/// Finds or activates room actors. Cheap to clone.
#[derive(Clone)]
pub struct RoomRegistry {
    inner: Registry<Room>,
}

impl RoomRegistry {
    pub(crate) fn start(shared: Arc<Shared>) -> Self {
        Self {
            inner: Registry::start(shared, ()),
        }
    }

    /// The store this registry writes to.
    #[must_use]
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.shared().store
    }

    /// The actor of a room, activating it from the store if needed.
    pub async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<RoomHandle, CommandError> {
        let key = (property, number.clone());
        let store = &self.inner.shared().store;
        self.inner
            .get(&key, async {
                store
                    .room(property, number)
                    .await
                    .map_err(CommandError::from)
            })
            .await?
            .ok_or(CommandError::RoomNotFound)
    }

    /// The actor of a room by id (what a reservation knows of its room).
    pub async fn room_by_id(&self, id: RoomId) -> Result<RoomHandle, CommandError> {
        let room = self
            .store()
            .room_by_id(id)
            .await?
            .ok_or(CommandError::RoomNotFound)?;
        let key = (room.property_id, room.number.clone());
        self.inner
            .get(&key, async { Ok::<_, CommandError>(Some(room)) })
            .await?
            .ok_or(CommandError::RoomNotFound)
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.inner.clone())
    }

    /// Number of active room actors on this node.
    #[must_use]
    pub fn active(&self) -> usize {
        self.inner.active()
    }

    #[cfg(test)]
    pub(crate) async fn shutdown(&self) {
        self.inner.shared().close();
        self.inner.passivate_all().await;
        self.inner.shared().stop_arbiters().await;
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
        let store = &self.inner.shared().store;
        super::property::existing(store, property).await?;
        let at = persistence::now();
        let mut created = Vec::with_capacity(specs.len());
        let mut rows = Vec::with_capacity(specs.len());
        for spec in &specs {
            let (room, event) = Room::create(RoomId::new(), property, spec, at);
            rows.push(row(&room, &event, agent, at)?);
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
        let mut rooms = Vec::with_capacity(created.len());
        for (room, event) in created {
            if let Some(batch) = publication(&[(1, event, room.clone())], agent, at) {
                self.inner.shared().bus.publish(batch);
            }
            rooms.push(room);
        }
        Ok(rooms)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::Ordering::Relaxed,
        time::{Duration, Instant},
    };

    use super::*;
    use crate::{
        actors::room::Fault,
        config::ActorConfig,
        domain::{Cleanliness, RoomCommand, RoomRefusal, StatusChange},
        events::LocalBus,
        events::Published,
        metrics::Metrics,
    };

    struct Fixture {
        registry: RoomRegistry,
        metrics: Arc<Metrics>,
        pid: PropertyId,
        _dir: tempfile::TempDir,
    }

    async fn fixture(config: ActorConfig) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<Store> = Arc::new(
            crate::persistence::Store::open_sqlite(&dir.path().join("t.db"))
                .await
                .unwrap(),
        );
        let metrics = Arc::new(Metrics::default());
        let registry = RoomRegistry::start(Shared::start(
            Arc::clone(&store),
            Arc::new(LocalBus::discarding()),
            Arc::clone(&metrics),
            config,
        ));
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
    async fn commit_elsewhere(store: &Store, room: &mut Room, change: StatusChange) -> Published {
        let at = persistence::now();
        let events = room.decide(&RoomCommand::ChangeStatus(change), at).unwrap();
        let from = room.version + 1;
        let (rows, after) =
            crate::actors::entity::append(room, events, &Agent::system("other-node"), at).unwrap();
        store
            .commit(rows, vec![Projection::UpsertRoom(room.clone())])
            .await
            .unwrap();
        let msg = publication(&after, &Agent::system("other-node"), at).unwrap();
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
        f.registry.replicas().apply_published(&v2);
        let r = settle(&handle).await;
        assert_eq!((r.version, r.rush), (2, true));

        // A duplicate changes nothing.
        f.registry.replicas().apply_published(&v2);
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
        f.registry.replicas().apply_published(&v4);
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
