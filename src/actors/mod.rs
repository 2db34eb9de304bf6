//! Entity actors and the per-node registries that activate them.
//!
//! Each room, reservation, task, table and conversation is one generic
//! [`EntityActor`](entity::EntityActor) over its [`Aggregate`](entity::Aggregate) (the files
//! `room.rs`, `reservation.rs`, …), owning `(state, version)`. A command is validated against
//! the state, its events are committed to the store **before** the actor replies or applies
//! them, and only then handed to the bus. Handlers are atomic across their awaits
//! (`AtomicResponse`), so check-then-act races cannot happen within a node; between nodes the
//! store's `UNIQUE(stream, seq)` decides, and the loser reloads, re-validates and retries.
//!
//! Callers never touch actix: [`Actors`] holds one registry per kind of entity (`rooms.rs`,
//! `reservations.rs`, …, with the use cases of that kind), which hand out typed handles
//! ([`RoomHandle`]). Property creation, guests and room types are plain functions: they have
//! no concurrent state to own.

pub mod catalog;
pub mod conversation;
pub(crate) mod conversations;
pub mod entity;
mod error;
pub(crate) mod messages;
pub mod party;
pub mod property;
pub mod reactions;
mod registry;
pub mod reservation;
pub(crate) mod reservations;
pub mod room;
mod rooms;
pub mod stock;
pub mod table;
pub mod task;
mod tasks;
mod venues;

use std::sync::Arc;

pub use conversation::{ConversationHandle, Outcome};
pub use conversations::Conversations;
pub use entity::Handle;
pub use error::{CommandError, event_payload};
pub use reservation::{Request, ReservationHandle};
pub use reservations::{Booking, Reservations};
pub use room::RoomHandle;
pub use rooms::{MAX_ROOMS_PER_REQUEST, RoomRegistry};
pub use table::{TableHandle, TableOutcome};
pub use task::TaskHandle;
pub use tasks::{CreateTask, Tasks};
pub use venues::{
    BookingRequest, MAX_TABLES_PER_REQUEST, NewVenue, VenueSettings, Venues, WaitlistRequest,
    WalkInRequest,
};

use crate::{
    config::ActorConfig, events::Bus, events::Published, metrics::Metrics, persistence::Store,
};

/// Every entity registry of this node, on one set of actor threads. Cheap to clone.
#[derive(Clone)]
pub struct Actors {
    shared: Arc<registry::Shared>,
    pub rooms: RoomRegistry,
    pub reservations: Reservations,
    pub tasks: Tasks,
    pub conversations: Conversations,
    pub venues: Venues,
}

impl Actors {
    /// Starts the actor threads and the registries. Must run inside an actix System.
    #[must_use]
    pub fn start(
        store: Arc<Store>,
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        config: ActorConfig,
    ) -> Self {
        let shared = registry::Shared::start(store, bus, metrics, config);
        let rooms = RoomRegistry::start(Arc::clone(&shared));
        let conversations = Conversations::start(Arc::clone(&shared));
        let tasks = Tasks::start(Arc::clone(&shared), rooms.clone());
        shared.reactor.connect(tasks.clone());
        Self {
            venues: Venues::start(Arc::clone(&shared), conversations.clone()),
            conversations,
            reservations: Reservations::start(Arc::clone(&shared), rooms.clone()),
            tasks,
            rooms,
            shared,
        }
    }

    /// The store the actors write to.
    #[must_use]
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Notified whenever actors are activated or stopped.
    #[must_use]
    pub fn activity(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shared.activity)
    }

    /// The registries, in the order they stop at shutdown: reservations first (their
    /// commands may still call rooms), tables before conversations ("table ready" may still
    /// write to a guest's chat), rooms last.
    fn registries(&self) -> [Box<dyn registry::Replicas>; 7] {
        [
            self.reservations.replicas(),
            self.tasks.replicas(),
            self.tasks.stock_replicas(),
            self.venues.party_replicas(),
            self.venues.replicas(),
            self.conversations.replicas(),
            self.rooms.replicas(),
        ]
    }

    /// The topics replicas on this node must hear (what other nodes commit to them).
    #[must_use]
    pub fn live_topics(&self) -> Vec<String> {
        self.registries()
            .iter()
            .flat_map(|r| r.live_topics())
            .collect()
    }

    /// Hands a batch another node committed to the replica here, if any (each registry takes
    /// the batches of its own kind of stream).
    pub fn apply_remote(&self, msg: &Published) {
        for r in self.registries() {
            r.apply_published(msg);
        }
    }

    /// Makes every replica reload from the store (after the bus lost messages).
    pub fn reload_all(&self) {
        for r in self.registries() {
            r.reload_all();
        }
    }

    /// Stops every actor after the commands already queued to it, then the actor threads.
    pub async fn shutdown(&self) {
        self.shared.close();
        for r in self.registries() {
            r.passivate_all().await;
        }
        self.shared.stop_arbiters().await;
    }
}

/// The replicas of this node hear what other nodes commit to the entities they hold.
impl crate::events::Listener for Actors {
    fn deliver(&self, msg: &Published) {
        self.apply_remote(msg);
    }

    fn topics(&self) -> Vec<String> {
        self.live_topics()
    }

    fn interest(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.activity())
    }

    fn resync(&self) {
        self.reload_all();
    }
}

/// The pause before retry `attempt` of a lost optimistic-concurrency race: random in
/// `[0, 2^attempt)` ms, capped at 64 ms. The jitter keeps a busy writer on one node from
/// starving the other node's retries (they would otherwise lose every race).
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::BuildHasher as _;
    let ceiling = 1u64 << attempt.min(6);
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % ceiling;
    std::time::Duration::from_millis(jitter)
}

/// Counts a command's outcome: done, refused (the caller's problem) or failed (ours).
pub(crate) fn count_outcome<T>(metrics: &Metrics, result: &Result<T, CommandError>) {
    let counter = match result {
        Ok(_) => &metrics.commands_ok,
        Err(
            CommandError::Unavailable(_) | CommandError::Internal(_) | CommandError::Contention,
        ) => &metrics.commands_failed,
        Err(_) => &metrics.commands_refused,
    };
    Metrics::inc(counter);
}
