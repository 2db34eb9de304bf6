//! The reservation aggregate: one reservation's state on the generic
//! [`EntityActor`](super::entity), and its command path resolve rooms → decide → commit
//! (through the room when one is involved) → apply → publish.
//!
//! Changes that involve a room (assign, check-in, move, check-out, an amendment of an assigned
//! stay) are committed **through the room's actor** ([`Coordinate`]): the room judges
//! overlaps and readiness and writes its own events in the same transaction, so two
//! reservations can never be given the same room on one node, and the store's exclusion
//! constraint settles races between nodes.

use serde::Deserialize;

use super::{
    CommandError, RoomHandle, RoomRegistry,
    entity::{Aggregate, Attempt, Ctx, Done, Handle, append, streamed},
    room::Coordinate,
};
use crate::{
    domain::{
        Agent, Reservation, ReservationId, Room, RoomCommand, RoomNumber, Stay,
        reservation::{
            Amendment, AssignedRoom, Context as Day, ReservationCommand, ReservationEvent,
            ReservationRefusal, RoomReadiness,
        },
    },
    events::{
        Published, PublishedEvent,
        topics::{availability_topic, reservation_topic, reservations_topic},
    },
    persistence::{self, NewEvent, Projection, Store, StoreError},
    views::reservation_view,
};

/// A cloneable handle to an active reservation. Obtain one from
/// [`Reservations`](crate::actors::Reservations).
pub type ReservationHandle = Handle<Reservation>;

/// What staff ask of a reservation (`POST /reservations/<rid>/<action>`). Rooms are named by
/// number, as the front desk knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Confirm,
    Promote,
    Assign { room: RoomNumber },
    Unassign,
    CheckIn,
    Move { room: RoomNumber },
    CheckOut,
    Cancel { reason: String },
    NoShow,
    Amend(Amendment),
}

/// The body of `assign` and `move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomBody {
    pub room: RoomNumber,
    #[serde(default)]
    pub expected_version: Option<u64>,
}

streamed!(Reservation, ReservationEvent, |r, event, _at| r
    .apply(event));

impl Aggregate for Reservation {
    type Key = ReservationId;
    type Command = Request;
    type Output = Reservation;
    /// A reservation's commands find and coordinate with its rooms.
    type Deps = RoomRegistry;
    const KIND: &'static str = "reservation";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.reservation(self.id).await
    }

    async fn attempt(&self, request: &Request, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        attempt(ctx.store, ctx.deps, self, request, ctx.agent).await
    }

    fn key_of(msg: &Published) -> Option<ReservationId> {
        msg.stream.strip_prefix("reservation:")?.parse().ok()
    }

    fn live_topic(id: &ReservationId) -> Option<String> {
        Some(reservation_topic(id))
    }
}

/// The housekeeping a check-out (or a move away) causes, in its transaction: the room's open
/// stayover becomes a departure clean, or a departure clean is created. Wanted first when
/// someone arrives in the room today.
async fn departure_task(
    store: &Store,
    r: &Reservation,
    room: &AssignedRoom,
    today: chrono::NaiveDate,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<NewEvent>, Vec<Projection>, Published), CommandError> {
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
            let (rows, applied) = append(&mut stayover, events, agent, at)?;
            (stayover, rows, applied)
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
            let (task, row, applied) = super::task::new_task(r.property_id, spec, agent, at)?;
            (task, vec![row], applied)
        }
    };
    let published = super::task::publication(&batch, agent, at)
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

async fn attempt(
    store: &Store,
    rooms: &RoomRegistry,
    r: &Reservation,
    request: &Request,
    agent: &Agent,
) -> Result<Done<Reservation>, CommandError> {
    let at = persistence::now();
    let property = super::property::existing(store, r.property_id).await?;
    let day = property.day(at);
    let plan = plan(rooms, r, request, &day, at).await?;
    let events = r.decide(&plan.command, &day)?;
    let mut next = r.clone();
    let (mut rows, applied) = append(&mut next, events, agent, at)?;
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
    checks.extend(super::reservations::notices(store, &applied, at).await?);
    let mut also = Vec::new();
    // A check-out leaves its room to be cleaned, and so does a move (the room left behind).
    if let (ReservationCommand::CheckOut | ReservationCommand::Move(_), Some(assigned)) =
        (&plan.command, &r.room)
    {
        let (task_rows, task_projections, published) =
            departure_task(store, r, assigned, day.business_date, agent, at).await?;
        rows.extend(task_rows);
        checks.extend(task_projections);
        also.push(published);
    }
    let mut room_after = None;
    match plan.room {
        Some((room, command, overlap)) => {
            let mut projections = checks;
            projections.push(Projection::UpsertReservation {
                reservation: next.clone(),
                at,
            });
            room_after = Some(
                room.coordinate(Coordinate {
                    rows,
                    projections,
                    overlap: overlap.map(|stay| (next.id, stay)),
                    command,
                    agent: agent.clone(),
                    at,
                })
                .await?,
            );
        }
        None => {
            let mut projections = checks;
            projections.push(Projection::UpsertReservation {
                reservation: next.clone(),
                at,
            });
            store.commit(rows, projections).await?;
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
                    agent.clone(),
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
    let readiness = readiness(rooms, &next, room_after, at).await;
    let mut publish: Vec<Published> = publication(&applied, agent, at, &day, readiness.as_ref())
        .into_iter()
        .collect();
    publish.extend(also);
    let react = super::reactions::of_reservation(&applied, day.business_date, agent);
    Ok(Done {
        react,
        ..Done::state(next, publish)
    })
}

/// The readiness of the room a confirmed reservation is assigned to, as a check-in would judge
/// it (from the room's actor, or as the command just left it), for its `allowed_actions`.
/// Read after the commit: if it cannot be read the event goes out without it (the change
/// itself stands, and a client refetches the reservation when it needs to act).
async fn readiness(
    rooms: &RoomRegistry,
    r: &Reservation,
    room_after: Option<Room>,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<RoomReadiness> {
    let assigned = r
        .room
        .as_ref()
        .filter(|_| r.status == crate::domain::ReservationStatus::Confirmed)?;
    let room = match room_after.filter(|room| room.id == assigned.room_id) {
        Some(room) => room,
        None => rooms
            .room_by_id(assigned.room_id)
            .await
            .ok()?
            .state()
            .await
            .ok()?,
    };
    Some(RoomReadiness::of(&room, at))
}

/// The bus message for a committed batch of a reservation's events: on the front desk's
/// list, the reservation's own topic, and availability when inventory moved. Each event's
/// state is the reservation's one view ([`reservation_view`]) on `day`, with what may be done
/// after the batch.
pub(crate) fn publication(
    events: &[(u64, ReservationEvent, Reservation)],
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
    day: &Day,
    room: Option<&RoomReadiness>,
) -> Option<Published> {
    let (_, _, last) = events.last()?;
    let mut topics = vec![
        reservations_topic(last.property_id),
        reservation_topic(&last.id),
    ];
    if events
        .iter()
        .any(|(_, e, _)| super::reservations::moves_inventory(e))
    {
        topics.push(availability_topic(last.property_id));
    }
    Some(Published {
        topics,
        stream: last.id.stream(),
        from_seq: events.first()?.0,
        to_seq: last.version,
        events: events
            .iter()
            .map(|(seq, event, after)| {
                let state = reservation_view(after, Some((day, room)));
                PublishedEvent::new(*seq, event, agent, at, state)
            })
            .collect(),
    })
}
