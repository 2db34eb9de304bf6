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
//! transaction (a check-out's departure clean, a stay's conversation).

use std::sync::{Mutex, PoisonError};

use super::Tasks;
use crate::domain::{Agent, PropertyId, Room, RoomEvent, RoomId, ServiceFlag, task::HoldReason};

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
                } => tasks.hold_room_tasks(property, room, reason, agent).await,
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
}
