//! The room aggregate: one room's state on the generic [`EntityActor`](super::entity), and the
//! command path validate → commit → apply → publish.
//!
//! Besides its own commands a room commits the changes of other entities that involve it
//! ([`Coordinate`]: a check-in occupies it, a finished clean cleans it), so they are judged
//! and written while nothing else happens to the room on this node.

use super::{
    CommandError,
    entity::{Aggregate, Attempt, Ctx, Done, Handle, Retry, append, streamed},
    reactions,
};
use crate::{
    domain::{
        Agent, Block, BlockKind, NewBlock, PropertyId, ReservationId, ReservationStatus, Room,
        RoomCommand, RoomEvent, RoomNumber, RoomRefusal, Stay,
    },
    events::{
        Published, PublishedEvent,
        topics::{availability_topic, room_topic, rooms_topic},
    },
    persistence::{self, NewEvent, Projection, ReservationFilter, Store, StoreError},
    views::RoomView,
};

#[cfg(test)]
pub(crate) use super::entity::Fault;

/// A cloneable handle to an active room. Obtain one from the
/// [`RoomRegistry`](crate::actors::RoomRegistry).
pub type RoomHandle = Handle<Room>;

/// What a room actor is asked to do.
pub enum RoomWrite {
    /// One of its own commands.
    Command(RoomCommand),
    /// Another entity's change that involves the room.
    Coordinate(Box<Coordinate>),
}

impl From<RoomCommand> for RoomWrite {
    fn from(c: RoomCommand) -> Self {
        Self::Command(c)
    }
}

/// A change of another entity (a reservation, a task) that involves this room, committed by
/// the room's actor so that it is judged and written while nothing else happens to the room on
/// this node: the room's own events (if `command`) and the other entity's, in one transaction.
pub struct Coordinate {
    /// The other entity's events, already numbered on its stream.
    pub rows: Vec<NewEvent>,
    /// Its projections (checks first, then its upsert); the room's upsert is added.
    pub projections: Vec<Projection>,
    /// Refuse with `room_unavailable` if a live stay other than this reservation holds the
    /// room on these nights.
    pub overlap: Option<(ReservationId, Stay)>,
    /// The room's own change (occupy on check-in, vacate on check-out, clean after a task).
    pub command: Option<RoomCommand>,
    pub agent: Agent,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Handle<Room> {
    /// Commits another entity's change that involves this room (see [`Coordinate`]);
    /// answers the room after it.
    pub(crate) async fn coordinate(&self, msg: Coordinate) -> Result<Room, CommandError> {
        let agent = msg.agent.clone();
        self.execute(RoomWrite::Coordinate(Box::new(msg)), None, agent)
            .await
    }
}

streamed!(Room, RoomEvent, |room, event, at| room.apply(event, at));

impl Aggregate for Room {
    type Key = (PropertyId, RoomNumber);
    type Command = RoomWrite;
    type Output = Room;
    type Deps = ();
    const KIND: &'static str = "room";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.room_by_id(self.id).await
    }

    async fn attempt(&self, command: &RoomWrite, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        match command {
            RoomWrite::Command(command) => own(ctx.store, self, command, ctx.agent).await,
            RoomWrite::Coordinate(c) => coordinate(ctx.store, self, c).await,
        }
    }

    fn retry(command: &RoomWrite, error: &CommandError) -> Retry {
        match (command, error) {
            // The other entity's stream may be the one that moved: that is its actor's to
            // retry, so judge again here only if the room moved.
            (RoomWrite::Coordinate(_), CommandError::Contention) => Retry::IfMoved,
            _ => Retry::of(error),
        }
    }

    fn counted(command: &RoomWrite) -> bool {
        // A coordinated change is counted as the command of the entity that asked for it.
        matches!(command, RoomWrite::Command(_))
    }

    fn key_of(msg: &Published) -> Option<Self::Key> {
        let last = msg.events.last()?;
        let pid = last.state["property_id"].as_str()?.parse().ok()?;
        let number = RoomNumber::parse(last.state["number"].as_str()?).ok()?;
        Some((pid, number))
    }

    fn live_topic((pid, number): &Self::Key) -> Option<String> {
        // A replica must hear what other nodes commit to its room.
        Some(room_topic(*pid, number))
    }
}

/// One of the room's own commands.
async fn own(
    store: &Store,
    room: &Room,
    command: &RoomCommand,
    agent: &Agent,
) -> Result<Done<Room>, CommandError> {
    let at = persistence::now();
    let events = room.decide(command, at)?;
    if let RoomCommand::PlaceBlock(block) = command {
        no_stay_during(store, room, block).await?;
    }
    let mut next = room.clone();
    let (rows, applied) = append(&mut next, events, agent, at)?;
    store
        .commit(rows, vec![Projection::UpsertRoom(next.clone())])
        .await?;
    let publish = publication(&applied, agent, at).into_iter().collect();
    Ok(Done {
        react: reactions::of_room(&applied, agent),
        ..Done::state(next, publish)
    })
}

/// Judges and commits a [`Coordinate`] on `room`.
async fn coordinate(
    store: &Store,
    room: &Room,
    msg: &Coordinate,
) -> Result<Done<Room>, CommandError> {
    if let Some((reservation, stay)) = msg.overlap {
        let filter = ReservationFilter {
            nights: Some((stay.arrival, stay.departure)),
            statuses: ReservationStatus::HOLDING.to_vec(),
            room: Some(room.id),
            exclude: Some(reservation),
            limit: 1,
            ..ReservationFilter::property(room.property_id)
        };
        if !store.reservations(&filter).await?.is_empty() {
            return Err(CommandError::room_unavailable());
        }
    }
    let events = match &msg.command {
        Some(cmd) => room.decide(cmd, msg.at)?,
        None => Vec::new(),
    };
    let mut next = room.clone();
    let (own_rows, applied) = append(&mut next, events, &msg.agent, msg.at)?;
    let mut rows = msg.rows.clone();
    rows.extend(own_rows);
    let mut projections = msg.projections.clone();
    if !applied.is_empty() {
        projections.push(Projection::UpsertRoom(next.clone()));
    }
    store.commit(rows, projections).await?;
    let publish = publication(&applied, &msg.agent, msg.at)
        .into_iter()
        .collect();
    Ok(Done {
        react: reactions::of_room(&applied, &msg.agent),
        ..Done::state(next, publish)
    })
}

/// A block must not take a room from a guest: refused while a live stay (an arrival or an
/// in-house guest) is assigned to the room on a night the block touches. The guest is moved or
/// unassigned first; then the room can go out of order.
async fn no_stay_during(store: &Store, room: &Room, block: &NewBlock) -> Result<(), CommandError> {
    let Some(property) = store.property(room.property_id).await? else {
        return Err(CommandError::PropertyNotFound);
    };
    // Hotel nights run noon to noon local time: the dates a block can touch are within a day
    // of its UTC dates; `night` tells exactly.
    let (first, last) = (
        block.from.date_naive() - chrono::Days::new(1),
        block.to.date_naive() + chrono::Days::new(1),
    );
    let filter = ReservationFilter {
        nights: Some((first, last)),
        statuses: ReservationStatus::HOLDING.to_vec(),
        room: Some(room.id),
        ..ReservationFilter::property(room.property_id)
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
        return Err(RoomRefusal::StayAssigned.into());
    }
    Ok(())
}

/// The bus message for a committed batch of one room's events: one message per batch, seqs
/// `from..=to`, on the board topic and the room's own topic. Each event carries who and when,
/// and the room as it was right after it.
pub(crate) fn publication(
    events: &[(u64, RoomEvent, Room)],
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Published> {
    let (_, _, room) = events.last()?;
    // What is sellable changes with a new room or an out-of-order block (out of service rooms
    // stay sellable): availability subscribers hear of it.
    let moves_inventory = events.iter().any(|(_, event, _)| {
        matches!(
            event,
            RoomEvent::RoomCreated { .. }
                | RoomEvent::BlockPlaced {
                    block: Block {
                        kind: BlockKind::OutOfOrder,
                        ..
                    }
                }
                | RoomEvent::BlockReleased {
                    block_kind: BlockKind::OutOfOrder,
                    ..
                }
        )
    });
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
        from_seq: events.first()?.0,
        to_seq: room.version,
        events: events
            .iter()
            .map(|(seq, event, after)| {
                PublishedEvent::new(*seq, event, agent, at, RoomView::json(after))
            })
            .collect(),
    })
}
