//! Reactions between aggregates: what a committed change of one entity makes happen to
//! others, decided from the change's own typed events by the aggregate that committed it.
//!
//! A reaction runs once per commit, on the node that committed (every commit happens on
//! exactly one node), whichever path caused it — the HTTP route, a WebSocket command, a job or
//! another entity's command coordinated through the room. It runs after the commit, in its
//! own task: the entity that committed never waits for another entity's actor (the two could
//! otherwise wait for each other).
//!
//! Reactions that must be atomic with their cause are not here but in the cause's own
//! transaction (a check-out's departure clean, a stay's conversation): every path that checks
//! a guest out or books a stay goes through the reservation's actor, so they too happen once
//! whatever the path.

use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;

use super::Tasks;
use crate::domain::{
    Agent, PropertyId, Reservation, ReservationStatus, Room, RoomEvent, RoomId, ServiceFlag,
    reservation::ReservationEvent,
    task::{HoldReason, Task, TaskCommand, TaskKind, TaskStatus},
};

/// What a committed change asks of other entities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reaction {
    /// The guest hung the DND sign or refused service: the room's work in hand waits.
    HoldRoomTasks {
        property: PropertyId,
        room: RoomId,
        reason: HoldReason,
        agent: Agent,
    },
    /// A guest arriving today was given the room (or an in-house guest moved into it): its
    /// cleaning, if any is open, is wanted first.
    ExpectArrival {
        property: PropertyId,
        room: RoomId,
        agent: Agent,
    },
}

/// The reactions to a committed batch of a reservation's events, judged on `today` (the
/// property's business date).
#[must_use]
pub fn of_reservation(
    events: &[(u64, ReservationEvent, Reservation)],
    today: NaiveDate,
    agent: &Agent,
) -> Vec<Reaction> {
    events
        .iter()
        .filter_map(|(_, event, r)| {
            let room = match event {
                ReservationEvent::RoomAssigned { room }
                    if r.status == ReservationStatus::Confirmed && r.stay.arrival == today =>
                {
                    room
                }
                ReservationEvent::RoomMoved { to, .. } => to,
                _ => return None,
            };
            Some(Reaction::ExpectArrival {
                property: r.property_id,
                room: room.room_id,
                agent: agent.clone(),
            })
        })
        .collect()
}

/// The room's work in hand: what a DND sign or refused service holds.
fn in_hand(t: &Task) -> bool {
    matches!(t.status, TaskStatus::Assigned | TaskStatus::InProgress)
}

/// What readies the room for a guest: its cleaning and inspection.
fn readies(t: &Task) -> bool {
    t.kind.cleans() || t.kind == TaskKind::Inspection
}

/// The reactions to a committed batch of a room's events.
#[must_use]
pub fn of_room(events: &[(u64, RoomEvent, Room)], agent: &Agent) -> Vec<Reaction> {
    events
        .iter()
        .filter_map(|(_, event, room)| match event {
            RoomEvent::ServiceFlagChanged { to, .. } => {
                let reason = match to {
                    ServiceFlag::Dnd => HoldReason::Dnd,
                    ServiceFlag::Refused => HoldReason::Refused,
                    _ => return None,
                };
                Some(Reaction::HoldRoomTasks {
                    property: room.property_id,
                    room: room.id,
                    reason,
                    agent: agent.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// Carries reactions out. Knows the registries only once they all exist, and forgets them at
/// shutdown (so the registries and the actors that hold this do not keep each other alive).
#[derive(Default)]
pub struct Reactor {
    tasks: Mutex<Option<Tasks>>,
}

impl Reactor {
    pub(crate) fn connect(&self, tasks: Tasks) {
        *self.tasks.lock().unwrap_or_else(PoisonError::into_inner) = Some(tasks);
    }

    pub(crate) fn disconnect(&self) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Starts `reaction` in its own task. Failures are logged: the change that caused it
    /// stands.
    pub(crate) fn react(&self, reaction: Reaction) {
        let Some(tasks) = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        actix_rt::spawn(async move {
            match reaction {
                Reaction::HoldRoomTasks {
                    property,
                    room,
                    reason,
                    agent,
                } => {
                    let hold = TaskCommand::Hold { reason };
                    tasks
                        .command_room_tasks(property, room, in_hand, hold, agent)
                        .await;
                }
                Reaction::ExpectArrival {
                    property,
                    room,
                    agent,
                } => {
                    let raise = TaskCommand::ExpectArrival;
                    tasks
                        .command_room_tasks(property, room, readies, raise, agent)
                        .await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewRoom, RoomNumber};

    #[test]
    fn dnd_and_refused_service_hold_the_rooms_work_and_nothing_else_does() {
        let at = chrono::Utc::now();
        let spec = NewRoom {
            number: RoomNumber::parse("101").unwrap(),
            floor: 1,
            room_type: "QUEEN".into(),
            cleanliness: None,
        };
        let (room, _) = Room::create(RoomId::new(), PropertyId::new(), &spec, at);
        let agent = Agent::system("test");
        let change = |to| {
            vec![(
                2,
                RoomEvent::ServiceFlagChanged {
                    from: ServiceFlag::None,
                    to,
                },
                room.clone(),
            )]
        };
        assert_eq!(
            of_room(&change(ServiceFlag::Dnd), &agent),
            vec![Reaction::HoldRoomTasks {
                property: room.property_id,
                room: room.id,
                reason: HoldReason::Dnd,
                agent: agent.clone(),
            }]
        );
        assert!(matches!(
            of_room(&change(ServiceFlag::Refused), &agent)[..],
            [Reaction::HoldRoomTasks {
                reason: HoldReason::Refused,
                ..
            }]
        ));
        assert!(of_room(&change(ServiceFlag::None), &agent).is_empty());
    }

    #[test]
    fn a_room_given_to_todays_arrival_or_a_move_is_wanted_first() {
        use crate::domain::{
            GuestId, ReservationId, RoomNumber, Stay,
            reservation::{AssignedRoom, Party},
        };
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let room = AssignedRoom {
            room_id: RoomId::new(),
            number: RoomNumber::parse("101").unwrap(),
        };
        let stay = |arrival: NaiveDate, status| Reservation {
            id: ReservationId::new(),
            property_id: PropertyId::new(),
            guest_id: GuestId::new(),
            status,
            room_type: "KING".into(),
            stay: Stay::new(arrival, arrival + chrono::Days::new(2)).unwrap(),
            party: Party {
                adults: 1,
                children: 0,
            },
            room: Some(room.clone()),
            overbooked: false,
            version: 2,
            created_at: chrono::Utc::now(),
        };
        let agent = Agent::system("test");
        let assigned = ReservationEvent::RoomAssigned { room: room.clone() };
        let arriving = stay(today, ReservationStatus::Confirmed);
        assert_eq!(
            of_reservation(&[(2, assigned.clone(), arriving.clone())], today, &agent),
            vec![Reaction::ExpectArrival {
                property: arriving.property_id,
                room: room.room_id,
                agent: agent.clone(),
            }]
        );
        let tomorrow = stay(today + chrono::Days::new(1), ReservationStatus::Confirmed);
        assert!(of_reservation(&[(2, assigned.clone(), tomorrow)], today, &agent).is_empty());
        let moved = ReservationEvent::RoomMoved {
            from: room.clone(),
            to: room.clone(),
            business_date: today,
        };
        let in_house = stay(today - chrono::Days::new(1), ReservationStatus::InHouse);
        assert_eq!(
            of_reservation(&[(3, moved, in_house)], today, &agent).len(),
            1
        );
        let canceled = ReservationEvent::Canceled {
            reason: "plans changed".into(),
        };
        assert!(of_reservation(&[(3, canceled, arriving)], today, &agent).is_empty());
    }
}
