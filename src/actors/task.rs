//! The task aggregate: one housekeeping or maintenance task's state on the generic
//! [`EntityActor`](super::entity), and its command path.
//!
//! Finishing a cleaning makes its room clean, and passing an inspection makes it inspected:
//! those changes are committed **through the room's actor** in the task's transaction (as a
//! reservation's check-in is), so the board never shows a room cleaned by a task the log does
//! not have, nor the reverse.

use super::{
    CommandError, RoomRegistry,
    entity::{Aggregate, Applied, Attempt, Ctx, Done, Handle, append, row, streamed},
    room::Coordinate,
};
use crate::{
    domain::{
        Agent, Cleanliness, PropertyId, RoomCommand, StatusChange, TaskId,
        task::{NewTask, Task, TaskCommand, TaskEvent, TaskKind},
    },
    events::{
        Published, PublishedEvent,
        topics::{tasks_topic, user_tasks_topic},
    },
    persistence::{self, NewEvent, Projection, Store, StoreError},
};

/// A cloneable handle to an active task. Obtain one from [`Tasks`](crate::actors::Tasks).
pub type TaskHandle = Handle<Task>;

streamed!(Task, TaskEvent, |task, event, at| task.apply(event, at));

impl Aggregate for Task {
    type Key = TaskId;
    type Command = TaskCommand;
    type Output = Task;
    /// Finishing work changes the task's room, through the room's actor.
    type Deps = RoomRegistry;
    const KIND: &'static str = "task";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.task(self.id).await
    }

    async fn attempt(&self, command: &TaskCommand, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        attempt(ctx.store, ctx.deps, self, command, ctx.agent).await
    }

    fn key_of(msg: &Published) -> Option<TaskId> {
        msg.stream.strip_prefix("task:")?.parse().ok()
    }

    // No live topic: a task's replica hears its stream through the supervisor board of its
    // property, one topic per property (far fewer channels than one per task).
}

/// The first event and row of a new task (for tasks other commands create).
pub(crate) fn new_task(
    property: PropertyId,
    spec: NewTask,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Task, NewEvent, Applied<Task>), CommandError> {
    let (task, event) = Task::create(TaskId::new(), property, spec, agent.as_str(), at)
        .map_err(|r| CommandError::Invalid(r.to_string()))?;
    let row = row(&task, &event, agent, at)?;
    Ok((task.clone(), row, vec![(1, event, task)]))
}

async fn attempt(
    store: &Store,
    rooms: &RoomRegistry,
    current: &Task,
    command: &TaskCommand,
    agent: &Agent,
) -> Result<Done<Task>, CommandError> {
    let at = persistence::now();
    let events = current
        .decide(command, agent.as_str(), at)
        .map_err(CommandError::TaskRefused)?;
    let mut next = current.clone();
    let (mut all_rows, applied) = append(&mut next, events, agent, at)?;
    let mut projections = vec![Projection::UpsertTask(next.clone())];
    let mut batches = vec![applied];
    // What finishing work does to the room.
    let mut room_change = None;
    if *command == TaskCommand::Complete
        && let Some(room_id) = next.room_id
    {
        let handle = rooms.room_by_id(room_id).await?;
        let room = handle.state().await?;
        if next.kind.cleans() {
            if matches!(room.cleanliness, Cleanliness::Dirty | Cleanliness::Pickup) {
                room_change = Some((handle.clone(), Cleanliness::Clean));
            }
            let property = super::property::existing(store, next.property_id).await?;
            if property.require_inspected {
                let spec = NewTask {
                    kind: TaskKind::Inspection,
                    room: next.room_id.zip(next.room_number.clone()),
                    priority: next.priority,
                    rush: next.rush,
                    reservation_id: next.reservation_id,
                    inspects: Some(next.id),
                    arrival_today: next.arrival_today,
                    note: None,
                    due_at: None,
                };
                let (inspection, row, batch) = new_task(next.property_id, spec, agent, at)?;
                all_rows.push(row);
                projections.push(Projection::UpsertTask(inspection));
                batches.push(batch);
            }
            if room_change.is_none() && batches.len() > 1 {
                room_change = Some((handle, room.cleanliness));
            }
        } else if next.kind == TaskKind::Inspection && room.cleanliness == Cleanliness::Clean {
            room_change = Some((handle, Cleanliness::Inspected));
        }
    }
    match room_change {
        Some((room, to)) => {
            let command = (to != room.state().await?.cleanliness).then(|| {
                RoomCommand::ChangeStatus(StatusChange {
                    cleanliness: Some(to),
                    ..StatusChange::default()
                })
            });
            room.coordinate(Coordinate {
                rows: all_rows,
                projections,
                overlap: None,
                command,
                agent: agent.clone(),
                at,
            })
            .await?;
        }
        None => store.commit(all_rows, projections).await?,
    }
    let publish = batches
        .iter()
        .filter_map(|b| publication(b, agent, at))
        .collect();
    Ok(Done::state(next, publish))
}

/// The bus message for a batch: on the supervisor board, the assignee's queue, and the queue
/// of whoever it was taken from.
pub(crate) fn publication(
    events: &[(u64, TaskEvent, Task)],
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<Published> {
    let (_, _, last) = events.last()?;
    let mut topics = vec![tasks_topic(last.property_id)];
    for (_, event, after) in events {
        if let Some(user) = after.assignee {
            topics.push(user_tasks_topic(user));
        }
        if let TaskEvent::TaskAssigned { from: Some(u), .. }
        | TaskEvent::TaskUnassigned { from: u } = event
        {
            topics.push(user_tasks_topic(*u));
        }
    }
    topics.dedup();
    Some(Published {
        topics,
        stream: last.id.stream(),
        from_seq: events.first()?.0,
        to_seq: last.version,
        events: events
            .iter()
            .map(|(seq, event, after)| {
                let state = serde_json::to_value(after).unwrap_or_default();
                PublishedEvent::new(*seq, event, agent, at, state)
            })
            .collect(),
    })
}
