//! The actor itself: `(state, version)` of one room and the command path
//! validate → commit → apply → publish.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt as _, AtomicResponse, Context, Handler, MessageResult, WrapFuture as _,
};

use super::messages::{ApplyRemote, Coordinate, Execute, GetState, Passivate, Reload};
use crate::{
    actors::{
        CommandError, backoff, count_outcome,
        registry::{Entity, Shared},
    },
    domain::{Agent, PropertyId, Room, RoomCommand, RoomEvent, RoomNumber},
    events::{
        Bus, Published, PublishedEvent,
        topics::{availability_topic, room_topic, rooms_topic},
    },
    metrics::Metrics,
    persistence::{self, NewEvent, Projection, Store, StoreError},
    views::RoomView,
};

/// Commands waiting for a busy room beyond this make their senders wait (backpressure).
const MAILBOX_CAPACITY: usize = 64;

/// Where a test makes the next command panic.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    BeforeCommit,
    AfterCommit,
}

pub(crate) struct RoomActor {
    room: Room,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    max_retries: u32,
    #[cfg(test)]
    fault: Option<Fault>,
}

impl Entity for RoomActor {
    type Key = (PropertyId, RoomNumber);
    type State = Room;
    const KIND: &'static str = "room";

    fn build(room: Room, shared: &Shared) -> Self {
        Self {
            room,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            max_retries: shared.config.max_conflict_retries,
            #[cfg(test)]
            fault: None,
        }
    }
}

impl RoomActor {
    /// Hands a committed batch to the bus.
    fn publish(&self, committed: &Committed) {
        let events = committed
            .events
            .iter()
            .map(|(e, after)| (e.seq, &e.event, after));
        if let Some(batch) = publication(events, &committed.agent, committed.at) {
            self.bus.publish(batch);
        }
    }
}

/// The bus message for a committed batch of one room's events: one message per batch, seqs
/// `from..=to`, on the board topic and the room's own topic. Each event carries who and when,
/// and the room as it was right after it.
pub(crate) fn publication<'a>(
    events: impl IntoIterator<Item = (u64, &'a RoomEvent, &'a Room)>,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Published> {
    let mut last: Option<&Room> = None;
    let mut moves_inventory = false;
    let events: Vec<PublishedEvent> = events
        .into_iter()
        .map(|(seq, event, after)| {
            last = Some(after);
            // What is sellable changes with a new room or an out-of-order block (out of
            // service rooms stay sellable): availability subscribers hear of it.
            moves_inventory |= matches!(
                event,
                RoomEvent::RoomCreated { .. }
                    | RoomEvent::BlockPlaced {
                        block: crate::domain::Block {
                            kind: crate::domain::BlockKind::OutOfOrder,
                            ..
                        }
                    }
                    | RoomEvent::BlockReleased {
                        block_kind: crate::domain::BlockKind::OutOfOrder,
                        ..
                    }
            );
            PublishedEvent::new(seq, event, agent, at, RoomView::json(after))
        })
        .collect();
    let room = last?;
    let mut topics = vec![
        rooms_topic(room.property_id),
        room_topic(room.property_id, &room.number),
    ];
    if moves_inventory {
        topics.push(availability_topic(room.property_id));
    }
    Some(Published {
        topics,
        stream: room.id.stream(),
        from_seq: events.first()?.seq,
        to_seq: room.version,
        events,
    })
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// A committed event with the room as it was right after it.
struct SeqEvent {
    seq: u64,
    event: RoomEvent,
}

/// What a successful command committed.
struct Committed {
    events: Vec<(SeqEvent, Room)>,
    agent: Agent,
    at: chrono::DateTime<chrono::Utc>,
}

/// A block must not take a room from a guest: refused while a live stay (an arrival or an
/// in-house guest) is assigned to the room on a night the block touches. The guest is moved or
/// unassigned first; then the room can go out of order.
async fn no_stay_during(
    store: &dyn Store,
    room: &Room,
    block: &crate::domain::NewBlock,
) -> Result<(), CommandError> {
    let Some(property) = store.property(room.property_id).await? else {
        return Err(CommandError::PropertyNotFound);
    };
    // Hotel nights run noon to noon local time: the dates a block can touch are within a day
    // of its UTC dates; `night` tells exactly.
    let (first, last) = (
        block.from.date_naive() - chrono::Days::new(1),
        block.to.date_naive() + chrono::Days::new(1),
    );
    let filter = crate::persistence::ReservationFilter {
        nights: Some((first, last)),
        statuses: crate::domain::ReservationStatus::HOLDING.to_vec(),
        room: Some(room.id),
        ..crate::persistence::ReservationFilter::property(room.property_id)
    };
    let touched = store.reservations(&filter).await?.into_iter().any(|r| {
        r.stay
            .arrival
            .iter_days()
            .take_while(|d| *d < r.stay.departure)
            .any(|d| {
                let (start, end) = property.night(d);
                block.from < end && start < block.to
            })
    });
    if touched {
        return Err(crate::domain::RoomRefusal::StayAssigned.into());
    }
    Ok(())
}

/// Validates and commits `msg` starting from `room`. On losing a race for a seq it reloads
/// the room and tries again, at most `max_retries` times. Always returns the newest room it
/// knows, so the actor stays current even when the command fails.
async fn decide_and_commit(
    store: &dyn Store,
    mut room: Room,
    msg: &Execute,
    max_retries: u32,
    metrics: &Metrics,
) -> (Room, Result<Committed, CommandError>) {
    let mut attempt = 0;
    loop {
        let at = persistence::now();
        let decided = match msg.expected_version {
            Some(expected) if expected != room.version => Err(CommandError::VersionMismatch {
                expected,
                actual: room.version,
            }),
            _ => room.decide(&msg.command, at).map_err(CommandError::from),
        };
        let decided = match (decided, &msg.command) {
            (Ok(events), RoomCommand::PlaceBlock(block)) => {
                no_stay_during(store, &room, block).await.map(|()| events)
            }
            (other, _) => other,
        };
        let events = match decided {
            Ok(events) => events,
            Err(refusal) => {
                // A refusal is only as good as the state it was judged on. With several nodes
                // this replica may not have heard of another node's latest commit yet: judge
                // again on the store's state before saying no. (One read, only on refusals.)
                if attempt < max_retries
                    && let Ok(Some(latest)) = store.room_by_id(room.id).await
                    && latest.version != room.version
                {
                    attempt += 1;
                    room = latest;
                    continue;
                }
                return (room, Err(refusal));
            }
        };
        let mut next = room.clone();
        let mut applied = Vec::with_capacity(events.len());
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            next.apply(&event, at);
            rows.push(NewEvent {
                stream: next.id.stream(),
                seq: next.version,
                property_id: Some(next.property_id),
                kind: event.kind().into(),
                payload: match crate::actors::event_payload(&event) {
                    Ok(p) => p,
                    Err(e) => return (room, Err(e)),
                },
                actor: msg.agent.clone(),
                at,
            });
            applied.push((
                SeqEvent {
                    seq: next.version,
                    event,
                },
                next.clone(),
            ));
        }
        match store
            .commit(rows, vec![Projection::UpsertRoom(next.clone())])
            .await
        {
            Ok(()) => {
                return (
                    next,
                    Ok(Committed {
                        events: applied,
                        agent: msg.agent.clone(),
                        at,
                    }),
                );
            }
            Err(StoreError::Conflict) if attempt < max_retries => {
                // Another node wrote this room first: catch up and judge the command again.
                // The jittered, growing pause keeps a busy writer on one node from starving
                // the other node's retries (they would otherwise lose every race).
                Metrics::inc(&metrics.store_conflicts);
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                match store.room_by_id(room.id).await {
                    Ok(Some(latest)) => room = latest,
                    Ok(None) => return (room, Err(CommandError::RoomNotFound)),
                    Err(e) => return (room, Err(e.into())),
                }
            }
            Err(StoreError::Conflict) => {
                Metrics::inc(&metrics.store_conflicts);
                return (room, Err(CommandError::Contention));
            }
            Err(e) => return (room, Err(e.into())),
        }
    }
}

impl Handler<Execute> for RoomActor {
    type Result = AtomicResponse<Self, Result<Room, CommandError>>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let metrics = Arc::clone(&self.metrics);
        let room = self.room.clone();
        let max_retries = self.max_retries;
        #[cfg(test)]
        let fault = self.fault.take();
        let work = async move {
            #[cfg(test)]
            assert_ne!(
                fault,
                Some(Fault::BeforeCommit),
                "injected fault before commit"
            );
            let out = decide_and_commit(store.as_ref(), room, &msg, max_retries, &metrics).await;
            #[cfg(test)]
            assert_ne!(
                fault,
                Some(Fault::AfterCommit),
                "injected fault after commit"
            );
            out
        };
        // AtomicResponse: no other message of this actor runs until the future and the
        // closure below have finished, so the state cannot change under the command.
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.room = latest;
                count_outcome(&act.metrics, &result);
                let committed = result?;
                act.publish(&committed);
                Ok(act.room.clone())
            },
        )))
    }
}

/// Judges and commits a [`Coordinate`] on `room`. A lost race on the room's stream reloads the
/// room and tries again; a lost race on the other entity's stream (the room did not move) is
/// its actor's to retry, so it answers `Contention`.
async fn coordinate(
    store: &dyn Store,
    mut room: Room,
    msg: &Coordinate,
    max_retries: u32,
    metrics: &Metrics,
) -> (Room, Result<Committed, CommandError>) {
    let mut attempt = 0;
    loop {
        if let Some((reservation, stay)) = msg.overlap {
            let filter = crate::persistence::ReservationFilter {
                nights: Some((stay.arrival, stay.departure)),
                statuses: crate::domain::ReservationStatus::HOLDING.to_vec(),
                room: Some(room.id),
                exclude: Some(reservation),
                limit: 1,
                ..crate::persistence::ReservationFilter::property(room.property_id)
            };
            match store.reservations(&filter).await {
                Ok(found) if !found.is_empty() => {
                    return (room, Err(CommandError::room_unavailable()));
                }
                Ok(_) => {}
                Err(e) => return (room, Err(e.into())),
            }
        }
        let events = match &msg.command {
            Some(cmd) => match room.decide(cmd, msg.at) {
                Ok(events) => events,
                Err(refusal) => return (room, Err(refusal.into())),
            },
            None => Vec::new(),
        };
        let mut next = room.clone();
        let mut rows = msg.rows.clone();
        let mut applied = Vec::with_capacity(events.len());
        for event in events {
            next.apply(&event, msg.at);
            rows.push(NewEvent {
                stream: next.id.stream(),
                seq: next.version,
                property_id: Some(next.property_id),
                kind: event.kind().into(),
                payload: match crate::actors::event_payload(&event) {
                    Ok(p) => p,
                    Err(e) => return (room, Err(e)),
                },
                actor: msg.agent.clone(),
                at: msg.at,
            });
            applied.push((
                SeqEvent {
                    seq: next.version,
                    event,
                },
                next.clone(),
            ));
        }
        let mut projections = msg.projections.clone();
        if !applied.is_empty() {
            projections.push(Projection::UpsertRoom(next.clone()));
        }
        match store.commit(rows, projections).await {
            Ok(()) => {
                return (
                    next,
                    Ok(Committed {
                        events: applied,
                        agent: msg.agent.clone(),
                        at: msg.at,
                    }),
                );
            }
            Err(StoreError::Conflict) => {
                Metrics::inc(&metrics.store_conflicts);
                let latest = match store.room_by_id(room.id).await {
                    Ok(Some(latest)) => latest,
                    Ok(None) => return (room, Err(CommandError::RoomNotFound)),
                    Err(e) => return (room, Err(e.into())),
                };
                if latest.version == room.version || attempt >= max_retries {
                    return (latest, Err(CommandError::Contention));
                }
                attempt += 1;
                room = latest;
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(e) => return (room, Err(e.into())),
        }
    }
}

impl Handler<Coordinate> for RoomActor {
    type Result = AtomicResponse<Self, Result<Room, CommandError>>;

    fn handle(&mut self, msg: Coordinate, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let metrics = Arc::clone(&self.metrics);
        let room = self.room.clone();
        let max_retries = self.max_retries;
        let work =
            async move { coordinate(store.as_ref(), room, &msg, max_retries, &metrics).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.room = latest;
                let committed = result?;
                act.publish(&committed);
                Ok(act.room.clone())
            },
        )))
    }
}

impl RoomActor {
    /// Replaces the state with the store's (atomically: no command runs meanwhile).
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let id = self.room.id;
        AtomicResponse::new(Box::pin(
            async move { store.room_by_id(id).await }
                .into_actor(self)
                .map(|loaded, act, _ctx| match loaded {
                    Ok(Some(room)) if room.version >= act.room.version => act.room = room,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(room = %act.room.id, error = %e, "reload failed"),
                }),
        ))
    }
}

impl Handler<ApplyRemote> for RoomActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        let version = self.room.version;
        if msg.to_seq <= version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if msg.from_seq == version + 1 {
            match serde_json::from_value::<Room>(msg.state) {
                Ok(room) if room.id == self.room.id && room.version == msg.to_seq => {
                    self.room = room;
                    return AtomicResponse::new(Box::pin(actix::fut::ready(())));
                }
                _ => tracing::warn!(room = %self.room.id, "unreadable remote state; reloading"),
            }
        }
        // A gap: some batch never reached us. The store has everything.
        self.reload()
    }
}

impl Handler<Reload> for RoomActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl Handler<GetState> for RoomActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.room.clone())
    }
}

impl Handler<Passivate> for RoomActor {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}

#[cfg(test)]
impl Handler<super::messages::InjectFault> for RoomActor {
    type Result = ();

    fn handle(&mut self, msg: super::messages::InjectFault, _ctx: &mut Self::Context) {
        self.fault = Some(msg.0);
    }
}
