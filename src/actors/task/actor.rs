//! The actor itself: `(state, version)` of one task and its command path.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt as _, AtomicResponse, Context, Handler, MessageResult, WrapFuture as _,
};

use super::messages::{ApplyRemote, Execute, GetState, Passivate, Reload};
use crate::{
    actors::{
        CommandError, RoomRegistry, backoff, count_outcome,
        registry::{Entity, Shared},
        room::messages::Coordinate,
    },
    domain::{
        Agent, Cleanliness, RoomCommand, StatusChange, TaskId,
        task::{NewTask, Task, TaskCommand, TaskEvent, TaskKind},
    },
    events::{
        Bus, Published, PublishedEvent,
        topics::{tasks_topic, user_tasks_topic},
    },
    metrics::Metrics,
    persistence::{self, NewEvent, Projection, Store, StoreError},
};

/// Commands waiting for a busy task beyond this make their senders wait.
const MAILBOX_CAPACITY: usize = 64;

pub(crate) struct TaskActor {
    task: Task,
    rooms: RoomRegistry,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    max_retries: u32,
}

impl Entity for TaskActor {
    type Key = TaskId;
    type State = (Task, RoomRegistry);
    const KIND: &'static str = "task";

    fn build((task, rooms): Self::State, shared: &Shared) -> Self {
        Self {
            task,
            rooms,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            max_retries: shared.config.max_conflict_retries,
        }
    }
}

impl Actor for TaskActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// A committed batch of one task's events, each with the task after it.
pub(crate) struct Batch {
    pub(crate) events: Vec<(u64, TaskEvent, Task)>,
    pub(crate) agent: Agent,
    pub(crate) at: chrono::DateTime<chrono::Utc>,
}

/// The rows of `events` on `task`'s stream, applying them to `task`.
/// Each event with the task's version after it and the task then.
type Applied = Vec<(u64, TaskEvent, Task)>;

fn rows(
    task: &mut Task,
    events: Vec<TaskEvent>,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<NewEvent>, Applied), CommandError> {
    let mut rows = Vec::with_capacity(events.len());
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        task.apply(&event, at);
        rows.push(NewEvent {
            stream: task.id.stream(),
            seq: task.version,
            property_id: Some(task.property_id),
            kind: event.kind().into(),
            payload: crate::actors::event_payload(&event)?,
            actor: agent.clone(),
            at,
        });
        applied.push((task.version, event, task.clone()));
    }
    Ok((rows, applied))
}

/// The first event and rows of a new task (for tasks other commands create).
pub(crate) fn new_task(
    property: crate::domain::PropertyId,
    spec: NewTask,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Task, NewEvent, Batch), CommandError> {
    let (task, event) = Task::create(TaskId::new(), property, spec, agent.as_str(), at)
        .map_err(|r| CommandError::Invalid(r.to_string()))?;
    let row = NewEvent {
        stream: task.id.stream(),
        seq: 1,
        property_id: Some(property),
        kind: event.kind().into(),
        payload: crate::actors::event_payload(&event)?,
        actor: agent.clone(),
        at,
    };
    let batch = Batch {
        events: vec![(1, event, task.clone())],
        agent: agent.clone(),
        at,
    };
    Ok((task, row, batch))
}

async fn attempt_once(
    store: &dyn Store,
    rooms: &RoomRegistry,
    current: &Task,
    msg: &Execute,
) -> Result<(Task, Vec<Batch>), CommandError> {
    if let Some(expected) = msg.expected_version
        && expected != current.version
    {
        return Err(CommandError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let at = persistence::now();
    let events = current
        .decide(&msg.command, msg.agent.as_str(), at)
        .map_err(CommandError::TaskRefused)?;
    let mut next = current.clone();
    let (mut all_rows, applied) = rows(&mut next, events, &msg.agent, at)?;
    let mut projections = vec![Projection::UpsertTask(next.clone())];
    let mut batches = vec![Batch {
        events: applied,
        agent: msg.agent.clone(),
        at,
    }];
    // What finishing work does to the room.
    let mut room_change = None;
    if msg.command == TaskCommand::Complete
        && let Some(room_id) = next.room_id
    {
        let handle = rooms.room_by_id(room_id).await?;
        let room = handle.state().await?;
        if next.kind.cleans() {
            if matches!(room.cleanliness, Cleanliness::Dirty | Cleanliness::Pickup) {
                room_change = Some((handle.clone(), Cleanliness::Clean));
            }
            let property = store
                .property(next.property_id)
                .await?
                .ok_or(CommandError::PropertyNotFound)?;
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
                let (inspection, row, batch) = new_task(next.property_id, spec, &msg.agent, at)?;
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
                agent: msg.agent.clone(),
                at,
            })
            .await?;
        }
        None => store
            .commit(all_rows, projections)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => CommandError::Contention,
                other => other.into(),
            })?,
    }
    Ok((next, batches))
}

async fn decide_and_commit(
    store: &dyn Store,
    rooms: &RoomRegistry,
    mut task: Task,
    msg: &Execute,
    max_retries: u32,
) -> (Task, Result<Vec<Batch>, CommandError>) {
    let mut attempt = 0;
    loop {
        let outcome = attempt_once(store, rooms, &task, msg).await;
        let retry = matches!(
            outcome,
            Err(CommandError::Contention
                | CommandError::TaskRefused(_)
                | CommandError::VersionMismatch { .. })
        );
        if retry
            && attempt < max_retries
            && let Ok(Some(latest)) = store.task(task.id).await
            && latest.version != task.version
        {
            attempt += 1;
            task = latest;
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        return match outcome {
            Ok((next, batches)) => (next, Ok(batches)),
            Err(e) => (task, Err(e)),
        };
    }
}

/// The bus message for a batch: on the supervisor board, the assignee's queue, and the queue
/// of whoever it was taken from.
pub(crate) fn publication(b: &Batch) -> Option<Published> {
    let (_, _, last) = b.events.last()?;
    let mut topics = vec![tasks_topic(last.property_id)];
    for (_, event, after) in &b.events {
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
    let events: Vec<PublishedEvent> = b
        .events
        .iter()
        .map(|(seq, event, after)| {
            let state = serde_json::to_value(after).unwrap_or_default();
            PublishedEvent::new(*seq, event, &b.agent, b.at, state)
        })
        .collect();
    Some(Published {
        topics,
        stream: last.id.stream(),
        from_seq: events.first()?.seq,
        to_seq: last.version,
        events,
    })
}

impl Handler<Execute> for TaskActor {
    type Result = AtomicResponse<Self, Result<Task, CommandError>>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let rooms = self.rooms.clone();
        let task = self.task.clone();
        let max_retries = self.max_retries;
        let work =
            async move { decide_and_commit(store.as_ref(), &rooms, task, &msg, max_retries).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.task = latest;
                count_outcome(&act.metrics, &result);
                for batch in result? {
                    if let Some(p) = publication(&batch) {
                        act.bus.publish(p);
                    }
                }
                Ok(act.task.clone())
            },
        )))
    }
}

impl TaskActor {
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let id = self.task.id;
        AtomicResponse::new(Box::pin(
            async move { store.task(id).await }
                .into_actor(self)
                .map(move |loaded, act, _ctx| match loaded {
                    Ok(Some(t)) if t.version >= act.task.version => act.task = t,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(task = %id, error = %e, "reload failed"),
                }),
        ))
    }
}

impl Handler<ApplyRemote> for TaskActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        if msg.to_seq <= self.task.version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if msg.from_seq == self.task.version + 1
            && let Ok(t) = serde_json::from_value::<Task>(msg.state)
            && t.id == self.task.id
            && t.version == msg.to_seq
        {
            self.task = t;
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        self.reload()
    }
}

impl Handler<Reload> for TaskActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl Handler<GetState> for TaskActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.task.clone())
    }
}

impl Handler<Passivate> for TaskActor {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}
