//! Housekeeping tasks on this node: creation (by staff, or by other events such as a
//! check-out), and the actors of existing tasks. Stock, the roster with auto-assignment, and
//! escalation are use cases of the same registry, each in its own file.

mod escalation;
mod shifts;
mod stock;

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
    domain::stock::{StockItem, validate_item},
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
    stock: Registry<StockItem>,
}

impl Tasks {
    pub(crate) fn start(shared: Arc<Shared>, rooms: RoomRegistry) -> Self {
        Self {
            stock: Registry::start(Arc::clone(&shared), ()),
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
        crate::actors::property::existing(store, property).await?;
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

    /// Gives `command` to each of the room's open tasks that `which` picks (a reaction to
    /// the room's or a stay's change). Failures are logged: the change that caused it stands;
    /// a task that already is as asked is left alone.
    pub async fn command_room_tasks(
        &self,
        property: PropertyId,
        room: crate::domain::RoomId,
        which: fn(&Task) -> bool,
        command: TaskCommand,
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
        for t in open.iter().filter(|t| which(t)) {
            match self
                .execute(t.id, command.clone(), None, agent.clone())
                .await
            {
                Ok(_)
                | Err(CommandError::TaskRefused(crate::domain::task::TaskRefusal::NoChange)) => {}
                Err(e) => {
                    tracing::warn!(task = %t.id, error = %e, "a room's reaction on its task failed")
                }
            }
        }
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.inner.clone())
    }

    /// The stock items' registry, likewise.
    pub(crate) fn stock_replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.stock.clone())
    }
}

fn enum_name(kind: TaskKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
