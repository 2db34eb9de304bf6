//! Housekeeping tasks on this node: creation (by staff, or by other events such as a
//! check-out), and the actors of existing tasks.

use std::sync::Arc;

use serde::Deserialize;
use uuid::Uuid;

use super::{
    CommandError, RoomRegistry,
    entity::append,
    registry::{Registry, Replicas, Shared},
    task::{TaskHandle, publication},
};
use crate::{
    domain::stock::{StockEvent, StockItem, validate_item},
    domain::{
        Agent, PropertyId, Role, RoomNumber, TaskId,
        task::{NewTask, Priority, Task, TaskCommand, TaskKind},
    },
    persistence::{self, Projection, Shift},
};

/// A task as staff create it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    pub kind: TaskKind,
    #[serde(default)]
    pub room: Option<RoomNumber>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub rush: bool,
    #[serde(default)]
    pub note: Option<String>,
    /// Assign it at once.
    #[serde(default)]
    pub assignee: Option<Uuid>,
    /// When it must be done (past it, it escalates to the supervisors).
    #[serde(default)]
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Finds or activates task actors, and creates tasks. Cheap to clone.
#[derive(Clone)]
pub struct Tasks {
    inner: Registry<Task>,
}

impl Tasks {
    pub(crate) fn start(shared: Arc<Shared>, rooms: RoomRegistry) -> Self {
        Self {
            inner: Registry::start(shared, rooms),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.inner.shared()
    }

    /// The actor of a task, activating it from the store if needed.
    pub async fn get(&self, id: TaskId) -> Result<TaskHandle, CommandError> {
        let store = &self.shared().store;
        self.inner
            .get(&id, async { Ok::<_, CommandError>(store.task(id).await?) })
            .await?
            .ok_or(CommandError::TaskNotFound)
    }

    /// Whether `user` may be given work in `property`: staff of it who clean or repair.
    pub async fn check_assignee(
        &self,
        property: PropertyId,
        user: Uuid,
    ) -> Result<(), CommandError> {
        let ok = self.shared().store.user(user).await?.is_some_and(|u| {
            u.property_id == Some(property)
                && matches!(
                    u.role,
                    Role::Housekeeper | Role::Maintenance | Role::Manager
                )
        });
        if ok {
            Ok(())
        } else {
            Err(CommandError::Invalid(
                "the assignee must be a housekeeper, maintenance user or manager of this property"
                    .into(),
            ))
        }
    }

    /// Executes a command on a task. A failed inspection reopens the cleaning it inspected.
    pub async fn execute(
        &self,
        id: TaskId,
        command: TaskCommand,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<Task, CommandError> {
        let handle = self.get(id).await?;
        if let TaskCommand::Assign { to } = command {
            let t = handle.state().await?;
            self.check_assignee(t.property_id, to).await?;
        }
        let reopen = match &command {
            TaskCommand::FailInspection { reason } => Some(reason.clone()),
            _ => None,
        };
        let completes = command == TaskCommand::Complete;
        let after = handle.execute(command, expected_version, agent).await?;
        if completes {
            self.consume(&after).await;
        }
        if let (Some(reason), Some(cleaning)) = (reopen, after.inspects) {
            let reopened = match self.get(cleaning).await {
                Ok(h) => {
                    h.execute(
                        TaskCommand::Reopen { reason },
                        None,
                        Agent::system("inspection"),
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = reopened {
                tracing::warn!(task = %cleaning, error = %e, "reopening an inspected cleaning failed");
            }
        }
        Ok(after)
    }

    /// Creates a task (assigned at once if asked).
    pub async fn create(
        &self,
        property: PropertyId,
        new: CreateTask,
        agent: &Agent,
    ) -> Result<Task, CommandError> {
        let store = &self.shared().store;
        if store.property(property).await?.is_none() {
            return Err(CommandError::PropertyNotFound);
        }
        let room = match &new.room {
            Some(n) => {
                let r = store
                    .room(property, n)
                    .await?
                    .ok_or(CommandError::RoomNotFound)?;
                Some((r.id, r.number))
            }
            None => None,
        };
        if let Some(user) = new.assignee {
            self.check_assignee(property, user).await?;
        }
        let at = persistence::now();
        let spec = NewTask {
            kind: new.kind,
            room,
            priority: new.priority,
            rush: new.rush,
            reservation_id: None,
            inspects: None,
            arrival_today: false,
            note: new.note,
            due_at: new.due_at,
        };
        let (mut task, row, mut batch) = super::task::new_task(property, spec, agent, at)?;
        let mut rows = vec![row];
        if let Some(user) = new.assignee {
            let events = task
                .decide(&TaskCommand::Assign { to: user }, agent.as_str(), at)
                .map_err(CommandError::TaskRefused)?;
            let (more, applied) = append(&mut task, events, agent, at)?;
            rows.extend(more);
            batch.extend(applied);
        }
        store
            .commit(rows, vec![Projection::UpsertTask(task.clone())])
            .await?;
        if let Some(mut p) = publication(&batch, agent, at) {
            // A repair nobody was given goes to every maintenance user on duty today: the
            // first to claim it takes it.
            if task.kind == TaskKind::Maintenance && task.assignee.is_none() {
                p.topics.extend(
                    self.on_duty(property, Role::Maintenance)
                        .await
                        .iter()
                        .map(|u| crate::events::topics::user_tasks_topic(*u)),
                );
            }
            self.shared().bus.publish(p);
        }
        Ok(task)
    }

    /// Defines a stock item or counts it again (sets count, threshold and uses).
    pub async fn count_stock(
        &self,
        property: PropertyId,
        item: &str,
        count: i64,
        low_at: i64,
        uses: std::collections::BTreeMap<TaskKind, u32>,
        agent: &Agent,
    ) -> Result<StockItem, CommandError> {
        validate_item(item).map_err(CommandError::Invalid)?;
        if count < 0 || low_at < 0 {
            return Err(CommandError::Invalid("counts are 0 or more".into()));
        }
        let event = StockEvent::StockCounted {
            count,
            low_at,
            uses,
        };
        self.change_stock(property, item, agent, |_| Ok(vec![event.clone()]))
            .await
    }

    /// Adjusts a stock item by `delta` (a delivery, breakage, or what a task used).
    pub async fn adjust_stock(
        &self,
        property: PropertyId,
        item: &str,
        delta: i64,
        reason: &str,
        agent: &Agent,
    ) -> Result<StockItem, CommandError> {
        self.change_stock(property, item, agent, |current| match current {
            Some(it) => it.adjust(delta, reason).map_err(CommandError::Invalid),
            None => Err(CommandError::Conflict {
                code: "unknown_item",
                message: "no such stock item; count it first".into(),
            }),
        })
        .await
    }

    /// Commits the events `decide` makes of the item's current state, retrying a lost race on
    /// its stream; publishes them on the supervisors' board.
    async fn change_stock(
        &self,
        property: PropertyId,
        item: &str,
        agent: &Agent,
        decide: impl Fn(Option<&StockItem>) -> Result<Vec<StockEvent>, CommandError>,
    ) -> Result<StockItem, CommandError> {
        let store = &self.shared().store;
        if store.property(property).await?.is_none() {
            return Err(CommandError::PropertyNotFound);
        }
        let stream = format!("stock:{property}:{item}");
        for attempt in 0..=self.shared().config.max_conflict_retries {
            let current = store
                .stock(property)
                .await?
                .into_iter()
                .find(|s| s.item == item);
            let events = decide(current.as_ref())?;
            let mut next = current.unwrap_or_else(|| StockItem {
                property_id: property,
                item: item.to_owned(),
                count: 0,
                low_at: 0,
                uses: std::collections::BTreeMap::new(),
                version: 0,
            });
            let at = persistence::now();
            let mut rows = Vec::new();
            let mut published = Vec::new();
            for e in &events {
                next.apply(e);
                rows.push(persistence::NewEvent {
                    stream: stream.clone(),
                    seq: next.version,
                    property_id: Some(property),
                    kind: e.kind().into(),
                    payload: crate::actors::event_payload(e)?,
                    actor: agent.clone(),
                    at,
                });
                published.push(crate::events::PublishedEvent::new(
                    next.version,
                    e,
                    agent,
                    at,
                    serde_json::to_value(&next).unwrap_or_default(),
                ));
            }
            match store
                .commit(rows, vec![Projection::UpsertStock(next.clone())])
                .await
            {
                Ok(()) => {
                    if let Some(first) = published.first().map(|e| e.seq) {
                        self.shared().bus.publish(crate::events::Published {
                            topics: vec![crate::events::topics::tasks_topic(property)],
                            stream: stream.clone(),
                            from_seq: first,
                            to_seq: next.version,
                            events: published,
                        });
                    }
                    return Ok(next);
                }
                Err(persistence::StoreError::Conflict) => {
                    tokio::time::sleep(super::backoff(attempt + 1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contention)
    }

    /// What a finished task used, taken from stock (each item its own small change). Runs
    /// after the task committed: a failure here is logged, never the housekeeper's problem.
    async fn consume(&self, task: &Task) {
        let items = match self.shared().store.stock(task.property_id).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(task = %task.id, error = %e, "stock: reading items failed");
                return;
            }
        };
        let agent = Agent::system(&format!("task:{}", task.id));
        for it in items {
            let Some(&n) = it.uses.get(&task.kind) else {
                continue;
            };
            if n == 0 {
                continue;
            }
            let reason = format!("{} task {}", enum_name(task.kind), task.id);
            if let Err(e) = self
                .adjust_stock(task.property_id, &it.item, -i64::from(n), &reason, &agent)
                .await
            {
                tracing::warn!(task = %task.id, item = %it.item, error = %e, "stock not adjusted");
            }
        }
    }

    /// The people of `role` on duty today (an empty list if the roster cannot be read).
    async fn on_duty(&self, property: PropertyId, role: Role) -> Vec<Uuid> {
        let store = &self.shared().store;
        let Ok(Some(p)) = store.property(property).await else {
            return Vec::new();
        };
        let today = p.business_date(persistence::now());
        let (Ok(shifts), Ok(users)) =
            tokio::join!(store.shifts(property, today), store.users(property))
        else {
            return Vec::new();
        };
        shifts
            .iter()
            .filter(|s| users.iter().any(|u| u.id == s.user_id && u.role == role))
            .map(|s| s.user_id)
            .collect()
    }

    /// Puts `user` on duty on `date` covering `floors` (empty: any floor), or takes them off.
    /// Recorded on the stream `shifts:<pid>`.
    pub async fn set_shift(
        &self,
        shift: Shift,
        on_duty: bool,
        agent: &Agent,
    ) -> Result<(), CommandError> {
        if shift.floors.len() > 100 {
            return Err(CommandError::Invalid("at most 100 floors per shift".into()));
        }
        self.check_assignee(shift.property_id, shift.user_id)
            .await?;
        let store = &self.shared().store;
        let stream = format!("shifts:{}", shift.property_id);
        // The roster's stream is short and rarely contended: take the next seq, and on a lost
        // race take the one after.
        for _ in 0..5 {
            let row = persistence::NewEvent {
                seq: store.stream_version(&stream).await? + 1,
                stream: stream.clone(),
                property_id: Some(shift.property_id),
                kind: if on_duty { "on_duty" } else { "off_duty" }.into(),
                payload: serde_json::json!({
                    "date": shift.date, "user_id": shift.user_id, "floors": shift.floors,
                }),
                actor: agent.clone(),
                at: persistence::now(),
            };
            match store
                .commit(
                    vec![row],
                    vec![Projection::SetShift {
                        shift: shift.clone(),
                        on_duty,
                    }],
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(persistence::StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contention)
    }

    /// Assigns every unassigned open task of the property to someone on duty today whose
    /// section holds the room: cleanings to housekeepers, repairs to maintenance, inspections
    /// to managers; each to whoever carries the fewest credits so far. Answers what it
    /// assigned, in queue order.
    pub async fn auto_assign(
        &self,
        property: PropertyId,
        agent: &Agent,
    ) -> Result<Vec<(TaskId, Uuid)>, CommandError> {
        let store = &self.shared().store;
        let p = store
            .property(property)
            .await?
            .ok_or(CommandError::PropertyNotFound)?;
        let today = p.business_date(persistence::now());
        let filter = crate::persistence::TaskFilter {
            property,
            open_only: true,
            assignee: None,
            room: None,
        };
        let (shifts, users, rooms, mut open) = tokio::try_join!(
            store.shifts(property, today),
            store.users(property),
            store.rooms(property),
            store.tasks(&filter),
        )?;
        let role = |u: Uuid| users.iter().find(|x| x.id == u).map(|x| x.role);
        let floor = |t: &Task| {
            t.room_id
                .and_then(|r| rooms.iter().find(|x| x.id == r).map(|x| x.floor))
        };
        let mut load: std::collections::BTreeMap<Uuid, u32> =
            shifts.iter().map(|s| (s.user_id, 0)).collect();
        for t in &open {
            if let Some(u) = t.assignee
                && let Some(l) = load.get_mut(&u)
            {
                *l += t.kind.credits();
            }
        }
        crate::domain::task::order_queue(&mut open);
        let mut done = Vec::new();
        for t in open.iter().filter(|t| t.assignee.is_none()) {
            let wanted = match t.kind {
                TaskKind::Maintenance => Role::Maintenance,
                TaskKind::Inspection => Role::Manager,
                _ => Role::Housekeeper,
            };
            let candidate = shifts
                .iter()
                .filter(|s| role(s.user_id) == Some(wanted))
                .filter(|s| s.floors.is_empty() || floor(t).is_some_and(|f| s.floors.contains(&f)))
                .map(|s| (load.get(&s.user_id).copied().unwrap_or(0), s.user_id))
                .min();
            let Some((_, user)) = candidate else {
                continue;
            };
            match self
                .execute(t.id, TaskCommand::Assign { to: user }, None, agent.clone())
                .await
            {
                Ok(_) => {
                    *load.entry(user).or_default() += t.kind.credits();
                    done.push((t.id, user));
                }
                // Someone else took it meanwhile: leave it.
                Err(e) => tracing::info!(task = %t.id, error = %e, "auto-assign skipped a task"),
            }
        }
        Ok(done)
    }

    /// The escalation job's pass: every open task that waited too long (see
    /// `Task::escalation_due`) is raised to the supervisors, once. The times it judges are in
    /// the store, so a job on any node, or a restarted one, finds the same tasks.
    pub async fn run_escalations(&self) {
        let store = &self.shared().store;
        let after = self.shared().config.escalate_unassigned_after;
        let properties = match store.properties().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "escalations: reading properties failed");
                return;
            }
        };
        for p in properties {
            let filter = crate::persistence::TaskFilter {
                property: p.id,
                open_only: true,
                assignee: None,
                room: None,
            };
            let open = match store.tasks(&filter).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(property = %p.id, error = %e, "escalations: reading tasks failed");
                    continue;
                }
            };
            let now = persistence::now();
            for t in open {
                let Some(reason) = t.escalation_due(now, after) else {
                    continue;
                };
                let escalated = self
                    .execute(
                        t.id,
                        TaskCommand::Escalate {
                            reason: reason.into(),
                        },
                        None,
                        Agent::system("escalation"),
                    )
                    .await;
                match escalated {
                    Ok(_) => tracing::info!(task = %t.id, reason, "task escalated"),
                    // Another node's job got there first, or the task moved on meanwhile.
                    Err(CommandError::TaskRefused(_)) => {}
                    Err(e) => tracing::warn!(task = %t.id, error = %e, "escalating failed"),
                }
            }
        }
    }

    /// How often the escalation job runs.
    #[must_use]
    pub fn escalation_scan(&self) -> std::time::Duration {
        self.shared().config.escalation_scan
    }

    /// Puts the room's open, assigned tasks on hold (the guest asked not to be disturbed, or
    /// refused service). Failures are logged: the room's own change has happened.
    pub async fn hold_room_tasks(
        &self,
        property: PropertyId,
        room: crate::domain::RoomId,
        reason: crate::domain::task::HoldReason,
        agent: Agent,
    ) {
        let open = match self
            .shared()
            .store
            .tasks(&crate::persistence::TaskFilter {
                property,
                open_only: true,
                assignee: None,
                room: Some(room),
            })
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(%room, error = %e, "reading a room's tasks failed");
                return;
            }
        };
        for t in open.iter().filter(|t| {
            matches!(
                t.status,
                crate::domain::task::TaskStatus::Assigned
                    | crate::domain::task::TaskStatus::InProgress
            )
        }) {
            if let Err(e) = self
                .execute(t.id, TaskCommand::Hold { reason }, None, agent.clone())
                .await
            {
                tracing::warn!(task = %t.id, error = %e, "holding a task failed");
            }
        }
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.inner.clone())
    }
}

fn enum_name(kind: TaskKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
