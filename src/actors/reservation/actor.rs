//! The actor itself: `(state, version)` of one reservation and the command path
//! resolve rooms → decide → commit (through the room when one is involved) → apply → publish.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt as _, AtomicResponse, Context, Handler, MessageResult, WrapFuture as _,
};

use super::messages::{ApplyRemote, Execute, GetState, Passivate, Reload, Request};
use crate::{
    actors::{
        CommandError, RoomHandle, RoomRegistry, backoff, count_outcome,
        registry::{Entity, Shared},
        room::messages::Coordinate,
    },
    domain::{
        Agent, Reservation, ReservationId, Room, RoomCommand, Stay,
        reservation::{
            AssignedRoom, Context as Day, ReservationCommand, ReservationEvent, ReservationRefusal,
            RoomReadiness,
        },
    },
    events::Bus,
    metrics::Metrics,
    persistence::{self, NewEvent, Projection, Store, StoreError},
};

/// Commands waiting for a busy reservation beyond this make their senders wait.
const MAILBOX_CAPACITY: usize = 64;

pub(crate) struct ReservationActor {
    reservation: Reservation,
    rooms: RoomRegistry,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    max_retries: u32,
}

impl Entity for ReservationActor {
    type Key = ReservationId;
    type State = (Reservation, RoomRegistry);
    const KIND: &'static str = "reservation";

    fn build((reservation, rooms): Self::State, shared: &Shared) -> Self {
        Self {
            reservation,
            rooms,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            max_retries: shared.config.max_conflict_retries,
        }
    }
}

impl Actor for ReservationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// What a successful command committed.
pub(crate) struct Committed {
    pub(crate) events: Vec<(u64, ReservationEvent, Reservation)>,
    pub(crate) agent: Agent,
    pub(crate) at: chrono::DateTime<chrono::Utc>,
    /// Other entities' batches committed in the same transaction (a check-out's task).
    pub(crate) also: Vec<crate::events::Published>,
}

/// The housekeeping a check-out (or a move away) causes, in its transaction: the room's open
/// stayover becomes a departure clean, or a departure clean is created. Wanted first when
/// someone arrives in the room today.
async fn departure_task(
    store: &dyn Store,
    r: &Reservation,
    room: &AssignedRoom,
    today: chrono::NaiveDate,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<NewEvent>, Vec<Projection>, crate::events::Published), CommandError> {
    use crate::domain::task::{NewTask, Priority, TaskCommand, TaskKind};
    let arriving = store
        .reservations(&crate::persistence::ReservationFilter {
            nights: Some((today, today + chrono::Days::new(1))),
            statuses: vec![crate::domain::ReservationStatus::Confirmed],
            room: Some(room.room_id),
            exclude: Some(r.id),
            ..crate::persistence::ReservationFilter::property(r.property_id)
        })
        .await?
        .iter()
        .any(|o| o.stay.arrival == today);
    let open = store
        .tasks(&crate::persistence::TaskFilter {
            property: r.property_id,
            open_only: true,
            assignee: None,
            room: Some(room.room_id),
        })
        .await?;
    let (task, rows, batch) = match open.into_iter().find(|t| t.kind == TaskKind::Stayover) {
        Some(mut stayover) => {
            let events = stayover
                .decide(
                    &TaskCommand::Convert {
                        to: TaskKind::Departure,
                    },
                    agent.as_str(),
                    at,
                )
                .map_err(CommandError::TaskRefused)?;
            let mut rows = Vec::new();
            let mut applied = Vec::new();
            for e in events {
                stayover.apply(&e, at);
                rows.push(NewEvent {
                    stream: stayover.id.stream(),
                    seq: stayover.version,
                    property_id: Some(stayover.property_id),
                    kind: e.kind().into(),
                    payload: crate::actors::event_payload(&e)?,
                    actor: agent.clone(),
                    at,
                });
                applied.push((stayover.version, e, stayover.clone()));
            }
            let batch = crate::actors::task::Batch {
                events: applied,
                agent: agent.clone(),
                at,
            };
            (stayover, rows, batch)
        }
        None => {
            let spec = NewTask {
                kind: TaskKind::Departure,
                room: Some((room.room_id, room.number.clone())),
                priority: if arriving {
                    Priority::High
                } else {
                    Priority::Normal
                },
                rush: false,
                reservation_id: Some(r.id),
                inspects: None,
                arrival_today: arriving,
                note: None,
                due_at: None,
            };
            let (task, row, batch) = crate::actors::task::new_task(r.property_id, spec, agent, at)?;
            (task, vec![row], batch)
        }
    };
    let published = crate::actors::task::publication(&batch)
        .ok_or_else(|| CommandError::Internal(anyhow::anyhow!("an empty task batch")))?;
    Ok((rows, vec![Projection::UpsertTask(task)], published))
}

/// How a decided command is written.
struct Plan {
    command: ReservationCommand,
    /// The room whose actor commits it, with the room's own change and overlap check.
    room: Option<(RoomHandle, Option<RoomCommand>, Option<Stay>)>,
    /// An inventory check before the write.
    inventory: bool,
    /// The room a move leaves (vacated after the move committed).
    vacate: Option<AssignedRoom>,
}

/// The room a reservation may be given: it must be of the reservation's type (an upgrade is
/// an amendment of the type first, so inventory stays right).
async fn room_for(
    rooms: &RoomRegistry,
    reservation: &Reservation,
    number: &crate::domain::RoomNumber,
) -> Result<(RoomHandle, Room), CommandError> {
    let handle = rooms.room(reservation.property_id, number).await?;
    let room = handle.state().await?;
    if room.room_type != reservation.room_type {
        return Err(CommandError::Conflict {
            code: "room_type_mismatch",
            message: format!(
                "room {} is a {} room; the reservation is for {} (amend the room type first)",
                room.number, room.room_type, reservation.room_type
            ),
        });
    }
    Ok((handle, room))
}

/// Resolves the rooms a request names and decides how it is written.
async fn plan(
    rooms: &RoomRegistry,
    r: &Reservation,
    request: &Request,
    day: &Day,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Plan, CommandError> {
    let plain = |command| Plan {
        command,
        room: None,
        inventory: false,
        vacate: None,
    };
    Ok(match request {
        Request::Confirm => plain(ReservationCommand::Confirm),
        Request::Promote => Plan {
            inventory: true,
            ..plain(ReservationCommand::Promote)
        },
        Request::Unassign => plain(ReservationCommand::Unassign),
        Request::Cancel { reason } => plain(ReservationCommand::Cancel {
            reason: reason.clone(),
        }),
        Request::NoShow => plain(ReservationCommand::NoShow),
        Request::Assign { room } => {
            // Judge the status first: a clear 422 beats looking up a room for nothing.
            r.guard(crate::domain::reservation::ReservationAction::Assign, day)?;
            let (handle, state) = room_for(rooms, r, room).await?;
            Plan {
                command: ReservationCommand::Assign(AssignedRoom {
                    room_id: state.id,
                    number: state.number,
                }),
                room: Some((handle, None, Some(r.stay))),
                inventory: false,
                vacate: None,
            }
        }
        Request::CheckIn => {
            r.guard(crate::domain::reservation::ReservationAction::CheckIn, day)?;
            let assigned = r.room.as_ref().ok_or(ReservationRefusal::NoRoomAssigned)?;
            let handle = rooms.room_by_id(assigned.room_id).await?;
            let state = handle.state().await?;
            Plan {
                command: ReservationCommand::CheckIn(RoomReadiness::of(&state, at)),
                room: Some((
                    handle,
                    Some(RoomCommand::Occupy {
                        reservation: r.id,
                        require_inspected: day.require_inspected,
                    }),
                    None,
                )),
                inventory: false,
                vacate: None,
            }
        }
        Request::Move { room } => {
            r.guard(crate::domain::reservation::ReservationAction::Move, day)?;
            let (handle, state) = room_for(rooms, r, room).await?;
            // The nights left: from today (the guest moves now) to the departure.
            let left = Stay {
                arrival: day.business_date.max(r.stay.arrival),
                departure: r.stay.departure,
            };
            let overlap = (left.departure > left.arrival).then_some(left);
            Plan {
                command: ReservationCommand::Move(AssignedRoom {
                    room_id: state.id,
                    number: state.number,
                }),
                room: Some((
                    handle,
                    Some(RoomCommand::Occupy {
                        reservation: r.id,
                        require_inspected: day.require_inspected,
                    }),
                    overlap,
                )),
                inventory: false,
                vacate: r.room.clone(),
            }
        }
        Request::CheckOut => {
            r.guard(crate::domain::reservation::ReservationAction::CheckOut, day)?;
            let assigned = r.room.as_ref().ok_or(ReservationRefusal::NoRoomAssigned)?;
            let handle = rooms.room_by_id(assigned.room_id).await?;
            Plan {
                command: ReservationCommand::CheckOut,
                room: Some((
                    handle,
                    Some(RoomCommand::Vacate { reservation: r.id }),
                    None,
                )),
                inventory: false,
                vacate: None,
            }
        }
        Request::Amend(change) => {
            let command = ReservationCommand::Amend(change.clone());
            // Decided here only to know what changes; decided again when written.
            let (after, party) = match r.decide(&command, day)?.first() {
                Some(ReservationEvent::Amended {
                    stay,
                    room_type,
                    party,
                    ..
                }) => ((*stay, room_type.clone()), *party),
                _ => ((r.stay, r.room_type.clone()), r.party),
            };
            // A new party or type must fit the type, as when booking.
            if (party != r.party || after.1 != r.room_type)
                && let Some(t) = rooms
                    .store()
                    .room_types(r.property_id)
                    .await?
                    .into_iter()
                    .find(|t| t.code == after.1)
                && party.fits(&t.code, t.max_occupancy, change.override_occupancy)?
            {
                tracing::info!(reservation = %r.id, room_type = %t.code,
                    "amended party beyond the type's occupancy on a manager's decision");
            }
            let more_nights = after.0.arrival < r.stay.arrival
                || after.0.departure > r.stay.departure
                || after.1 != r.room_type;
            let inventory = more_nights && r.status.holds_inventory();
            // An assigned room keeps the stay only if the new nights are free in it.
            let room = match (&r.room, after.1 == r.room_type && after.0 != r.stay) {
                (Some(assigned), true) => Some((
                    rooms.room_by_id(assigned.room_id).await?,
                    None,
                    Some(after.0),
                )),
                _ => None,
            };
            Plan {
                command,
                room,
                inventory,
                vacate: None,
            }
        }
    })
}

/// Decides and commits `msg` starting from `r`, retrying lost races a bounded number of
/// times. Always returns the newest reservation it knows.
async fn decide_and_commit(
    store: &dyn Store,
    rooms: &RoomRegistry,
    mut r: Reservation,
    msg: &Execute,
    max_retries: u32,
    metrics: &Metrics,
) -> (Reservation, Result<Committed, CommandError>) {
    let mut attempt = 0;
    loop {
        let outcome = attempt_once(store, rooms, &r, msg).await;
        let retry = match &outcome {
            Ok(_) => false,
            Err(CommandError::Contention) => {
                Metrics::inc(&metrics.store_conflicts);
                true
            }
            // A refusal is only as good as the state it was judged on (another node may have
            // moved the reservation on): judge again on the store's state before saying no.
            Err(
                CommandError::ReservationRefused(_)
                | CommandError::Refused(_)
                | CommandError::VersionMismatch { .. },
            ) => true,
            Err(_) => false,
        };
        if retry && attempt < max_retries {
            match store.reservation(r.id).await {
                Ok(Some(latest)) if latest.version != r.version => {
                    attempt += 1;
                    r = latest;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Ok(Some(_)) if matches!(outcome, Err(CommandError::Contention)) => {
                    // The room's stream moved, not ours: try again as is.
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                _ => {}
            }
        }
        return match outcome {
            Ok((next, committed)) => (next, Ok(committed)),
            Err(e) => (r, Err(e)),
        };
    }
}

async fn attempt_once(
    store: &dyn Store,
    rooms: &RoomRegistry,
    r: &Reservation,
    msg: &Execute,
) -> Result<(Reservation, Committed), CommandError> {
    if let Some(expected) = msg.expected_version
        && expected != r.version
    {
        return Err(CommandError::VersionMismatch {
            expected,
            actual: r.version,
        });
    }
    let at = persistence::now();
    let property = store
        .property(r.property_id)
        .await?
        .ok_or(CommandError::PropertyNotFound)?;
    let day = Day {
        business_date: property.business_date(at),
        require_inspected: property.require_inspected,
    };
    let plan = plan(rooms, r, &msg.request, &day, at).await?;
    let events = r.decide(&plan.command, &day)?;
    let mut next = r.clone();
    let mut rows = Vec::with_capacity(events.len());
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        next.apply(&event);
        rows.push(NewEvent {
            stream: next.id.stream(),
            seq: next.version,
            property_id: Some(next.property_id),
            kind: event.kind().into(),
            payload: crate::actors::event_payload(&event)?,
            actor: msg.agent.clone(),
            at,
        });
        applied.push((next.version, event, next.clone()));
    }
    let mut checks = if plan.inventory && !next.overbooked {
        vec![Projection::CheckInventory {
            property_id: next.property_id,
            room_type: next.room_type.clone(),
            stay: next.stay,
            exclude: next.id,
        }]
    } else {
        Vec::new()
    };
    // The guest's emails go into the outbox in the same transaction as the change.
    checks.extend(crate::actors::reservations::notices(store, &applied, at).await?);
    let mut also = Vec::new();
    // A check-out leaves its room to be cleaned, and so does a move (the room left behind).
    if let (ReservationCommand::CheckOut | ReservationCommand::Move(_), Some(assigned)) =
        (&plan.command, &r.room)
    {
        let (task_rows, task_projections, published) =
            departure_task(store, r, assigned, day.business_date, &msg.agent, at).await?;
        rows.extend(task_rows);
        checks.extend(task_projections);
        also.push(published);
    }
    match plan.room {
        Some((room, command, overlap)) => {
            let mut projections = checks;
            projections.push(Projection::UpsertReservation {
                reservation: next.clone(),
                at,
            });
            room.coordinate(Coordinate {
                rows,
                projections,
                overlap: overlap.map(|stay| (next.id, stay)),
                command,
                agent: msg.agent.clone(),
                at,
            })
            .await?;
        }
        None => {
            let mut projections = checks;
            projections.push(Projection::UpsertReservation {
                reservation: next.clone(),
                at,
            });
            store.commit(rows, projections).await.map_err(|e| match e {
                StoreError::Conflict => CommandError::Contention,
                other => other.into(),
            })?;
        }
    }
    if let Some(old) = plan.vacate {
        // The move is committed; the old room is vacated (and dirty) by its own actor. If
        // that fails the board shows the old room occupied until someone corrects it: log
        // loudly, the guest's move itself stands.
        let vacated = match rooms.room_by_id(old.room_id).await {
            Ok(h) => h
                .execute(
                    RoomCommand::Vacate { reservation: r.id },
                    None,
                    msg.agent.clone(),
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = vacated {
            tracing::error!(reservation = %r.id, room = %old.number, error = %e,
                "room move committed but the old room could not be vacated");
        }
    }
    Ok((
        next,
        Committed {
            events: applied,
            agent: msg.agent.clone(),
            at,
            also,
        },
    ))
}

impl Handler<Execute> for ReservationActor {
    type Result = AtomicResponse<Self, Result<Reservation, CommandError>>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let metrics = Arc::clone(&self.metrics);
        let rooms = self.rooms.clone();
        let r = self.reservation.clone();
        let max_retries = self.max_retries;
        let work = async move {
            decide_and_commit(store.as_ref(), &rooms, r, &msg, max_retries, &metrics).await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.reservation = latest;
                count_outcome(&act.metrics, &result);
                let committed = result?;
                if let Some(batch) = super::super::reservations::publication(&committed) {
                    act.bus.publish(batch);
                }
                for other in committed.also {
                    act.bus.publish(other);
                }
                Ok(act.reservation.clone())
            },
        )))
    }
}

impl ReservationActor {
    /// Replaces the state with the store's (atomically: no command runs meanwhile).
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let id = self.reservation.id;
        AtomicResponse::new(Box::pin(
            async move { store.reservation(id).await }
                .into_actor(self)
                .map(move |loaded, act, _ctx| match loaded {
                    Ok(Some(r)) if r.version >= act.reservation.version => act.reservation = r,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(reservation = %id, error = %e, "reload failed"),
                }),
        ))
    }
}

impl Handler<ApplyRemote> for ReservationActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        let version = self.reservation.version;
        if msg.to_seq <= version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if msg.from_seq == version + 1 {
            match serde_json::from_value::<Reservation>(msg.state) {
                Ok(r) if r.id == self.reservation.id && r.version == msg.to_seq => {
                    self.reservation = r;
                    return AtomicResponse::new(Box::pin(actix::fut::ready(())));
                }
                _ => {
                    tracing::warn!(reservation = %self.reservation.id, "unreadable remote state; reloading")
                }
            }
        }
        self.reload()
    }
}

impl Handler<Reload> for ReservationActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl Handler<GetState> for ReservationActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.reservation.clone())
    }
}

impl Handler<Passivate> for ReservationActor {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}
