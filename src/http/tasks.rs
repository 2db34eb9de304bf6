//! Housekeeping tasks (DESIGN §5): the supervisor's board and creation, a housekeeper's queue,
//! and the actions on one task.
//!
//! Supervisors (`task_manage`: managers, front desk) see and steer every task of the property.
//! Housekeepers and maintenance (`task_work`) see their own queue and work only the tasks
//! assigned to them; a manager may work any.

use super::body::{Body, Json};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::access::{Caller, Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::{CommandError, CreateTask},
    domain::{
        Action, Denial, PropertyId, Role, TaskId,
        task::{HoldReason, Priority, Task, TaskCommand, order_queue},
    },
    persistence::TaskFilter,
    state::AppState,
};

/// The staff user behind the caller, with their role (API keys and guests have none).
fn staff(caller: &Caller) -> Option<(Uuid, Role)> {
    caller.principal().staff()
}

fn own_tasks_only(caller: &Caller) -> bool {
    caller.principal().works_own_tasks_only()
}

/// `POST /api/v1/properties/<pid>/tasks`: 201 with the task. Supervisors create any task;
/// housekeepers and maintenance may report a repair.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
    body: Json<CreateTask>,
) -> Result<HttpResponse, ApiError> {
    let new = body.into_inner();
    caller.may(
        caller
            .principal()
            .task_creation(new.kind, new.assignee.is_some()),
        *pid,
    )?;
    let task = state
        .actors
        .tasks
        .create(*pid, new, &caller.agent())
        .await?;
    Ok(HttpResponse::Created().json(task))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this person's tasks (a housekeeper always gets their own).
    #[serde(default)]
    assignee: Option<Uuid>,
    /// Include done and canceled tasks (default: open ones only).
    #[serde(default)]
    all: bool,
    /// Instead: the open tasks nobody has that the caller may claim (of their trade, for
    /// housekeepers and maintenance).
    #[serde(default)]
    claimable: bool,
}

/// `GET /api/v1/properties/<pid>/tasks?assignee=&all=`: the board, or a queue, in queue
/// order (work in hand, rush, arrivals, priority, age; holds last).
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    if q.claimable {
        return claimable_list(&state, &caller, *pid, q).await;
    }
    let assignee = if own_tasks_only(&caller) {
        caller.may(Action::TaskWork, *pid)?;
        let me = staff(&caller).map(|(u, _)| u).unwrap_or_default();
        if q.assignee.is_some_and(|a| a != me) {
            return Err(Denial::Forbidden.into());
        }
        Some(me)
    } else {
        caller.may(Action::TaskManage, *pid)?;
        q.assignee
    };
    let mut tasks = state
        .store
        .tasks(&TaskFilter {
            property: *pid,
            open_only: !q.all,
            assignee,
            room: None,
        })
        .await?;
    order_queue(&mut tasks);
    Ok(HttpResponse::Ok().json(json!({ "tasks": tasks })))
}

/// `GET …/tasks?claimable=true`: what the caller could take now, in queue order.
async fn claimable_list(
    state: &AppState,
    caller: &Caller,
    pid: PropertyId,
    q: ListQuery,
) -> Result<HttpResponse, ApiError> {
    // Who asks is checked before what they ask: another hotel's list is not found, whatever
    // the query.
    caller.may(Action::TaskWork, pid)?;
    if q.all || q.assignee.is_some() {
        return Err(ApiError::BadRequest {
            code: "invalid_query",
            message: "claimable lists open tasks nobody has: no assignee, no all".into(),
        });
    }
    let mut tasks = state
        .store
        .tasks(&TaskFilter {
            property: pid,
            open_only: true,
            assignee: None,
            room: None,
        })
        .await?;
    tasks.retain(|t| t.assignee.is_none() && caller.principal().of_trade(t.kind));
    order_queue(&mut tasks);
    Ok(HttpResponse::Ok().json(json!({ "tasks": tasks })))
}

/// The task, if the caller may `action` on it: supervisors on any task of their property;
/// housekeepers and maintenance only on their own. Another hotel's reads as not found.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    tid: TaskId,
    action: Action,
) -> Result<Task, ApiError> {
    let task = state
        .store
        .task(tid)
        .await?
        .ok_or(CommandError::TaskNotFound)?;
    caller.may_on(action, task.property_id, CommandError::TaskNotFound)?;
    if action == Action::TaskWork && !caller.principal().may_work(task.assignee) {
        return Err(ApiError::Forbidden {
            code: "not_your_task",
            message: "this task is assigned to someone else".into(),
        });
    }
    Ok(task)
}

/// A worker may claim a task of their trade in their property: repairs for maintenance,
/// cleanings for housekeepers; a manager may claim anything. Whether someone already has it
/// is the task's state, judged by its actor (`already_taken`), never on a store read here:
/// a read taken before or after the winner's commit answered 422 or 403 by timing.
fn claimable(caller: &Caller, task: &Task) -> Result<(), ApiError> {
    caller.may_on(
        Action::TaskWork,
        task.property_id,
        CommandError::TaskNotFound,
    )?;
    if !caller.principal().of_trade(task.kind) {
        return Err(ApiError::Forbidden {
            code: "not_claimable",
            message: "only a task of your trade can be claimed".into(),
        });
    }
    Ok(())
}

/// `GET /api/v1/tasks/<tid>`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    tid: web::Path<TaskId>,
) -> Result<HttpResponse, ApiError> {
    let action = caller.principal().task_reading();
    let stored = authorized(&state, &caller, *tid, action).await?;
    let task = state.actors.tasks.get(stored.id).await?.state().await?;
    Ok(HttpResponse::Ok().json(task))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default, deserialize_with = "crate::domain::ids::seq::opt")]
    expected_version: Option<u64>,
    #[serde(default)]
    to: Option<Uuid>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    hold: Option<HoldReason>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    priority: Option<Priority>,
    #[serde(default)]
    rush: Option<bool>,
}

/// The command an action names, and whether it is the supervisor's or the worker's.
fn command(
    action: &str,
    body: ActionBody,
    task: &Task,
    me: Option<Uuid>,
) -> Result<(TaskCommand, Action), ApiError> {
    let missing = |what: &str| ApiError::BadRequest {
        code: "invalid_body",
        message: format!("this action needs {what}"),
    };
    Ok(match action {
        "assign" => (
            TaskCommand::Assign {
                to: body.to.ok_or_else(|| missing("\"to\": a user id"))?,
            },
            Action::TaskManage,
        ),
        "unassign" => (TaskCommand::Unassign, Action::TaskManage),
        "cancel" => (
            TaskCommand::Cancel {
                reason: body.reason.unwrap_or_default(),
            },
            Action::TaskManage,
        ),
        "reopen" => (
            TaskCommand::Reopen {
                reason: body.reason.unwrap_or_default(),
            },
            Action::TaskManage,
        ),
        "priority" => (
            TaskCommand::SetPriority {
                priority: body.priority.unwrap_or(task.priority),
                rush: body.rush.unwrap_or(task.rush),
            },
            Action::TaskManage,
        ),
        // Taking an unassigned task for oneself (a repair sent to everyone on duty).
        "claim" => (
            TaskCommand::Claim {
                to: me.ok_or(Denial::Forbidden)?,
            },
            Action::TaskWork,
        ),
        "start" => (TaskCommand::Start, Action::TaskWork),
        "hold" => (
            TaskCommand::Hold {
                reason: body.hold.unwrap_or(HoldReason::Other),
            },
            Action::TaskWork,
        ),
        "resume" => (TaskCommand::Resume, Action::TaskWork),
        "complete" => (TaskCommand::Complete, Action::TaskWork),
        "fail" => (
            TaskCommand::FailInspection {
                reason: body.reason.unwrap_or_default(),
            },
            Action::TaskWork,
        ),
        "note" => (
            TaskCommand::AddNote {
                text: body.text.unwrap_or_default(),
            },
            Action::TaskWork,
        ),
        _ => {
            return Err(ApiError::NotFound {
                code: "unknown_action",
                message: "actions are assign, unassign, cancel, reopen, priority, claim, start, \
                          hold, resume, complete, fail, note"
                    .into(),
            });
        }
    })
}

/// `POST /api/v1/tasks/<tid>/<action>`: 200 with the task after it.
pub async fn act(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(TaskId, String)>,
    body: Body,
) -> Result<HttpResponse, ApiError> {
    let (tid, action) = path.into_inner();
    let body: ActionBody = super::optional_json(&body)?;
    // Judge the action's kind on the stored task first (404/403 before anything else).
    let stored = state
        .store
        .task(tid)
        .await?
        .ok_or(CommandError::TaskNotFound)?;
    let expected = body.expected_version;
    let me = staff(&caller).map(|(u, _)| u);
    let (cmd, needs) = command(&action, body, &stored, me)?;
    if action == "claim" {
        claimable(&caller, &stored)?;
    } else {
        authorized(&state, &caller, tid, needs).await?;
    }
    let task = state
        .actors
        .tasks
        .execute(tid, cmd, expected, caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(task))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftBody {
    user_id: Uuid,
    /// The section: floor numbers (empty or absent: any floor).
    #[serde(default)]
    floors: Vec<i16>,
    /// Default: the business date.
    #[serde(default)]
    date: Option<chrono::NaiveDate>,
    /// `false` takes the person off duty.
    #[serde(default = "yes")]
    on_duty: bool,
}

fn yes() -> bool {
    true
}

async fn business_date(state: &AppState, pid: PropertyId) -> Result<chrono::NaiveDate, ApiError> {
    Ok(crate::actors::property::existing(&state.store, pid)
        .await?
        .business_date(crate::persistence::now()))
}

/// `POST /api/v1/properties/<pid>/shifts`: puts someone on (or off) duty; answers the day's
/// roster.
pub async fn set_shift(state: State, at: Permit<to::TaskManage>, body: Json<ShiftBody>) -> Reply {
    let pid = at.property;
    let b = body.into_inner();
    let date = match b.date {
        Some(d) => d,
        None => business_date(&state, pid).await?,
    };
    state
        .actors
        .tasks
        .set_shift(
            crate::persistence::Shift {
                property_id: pid,
                date,
                user_id: b.user_id,
                floors: b.floors,
            },
            b.on_duty,
            &at.agent(),
        )
        .await?;
    let shifts = state.store.shifts(pid, date).await?;
    Ok(HttpResponse::Ok().json(json!({ "date": date, "shifts": shifts })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftQuery {
    #[serde(default)]
    date: Option<chrono::NaiveDate>,
}

/// `GET /api/v1/properties/<pid>/shifts?date=`: who is on duty (default: the business date).
pub async fn shifts(
    state: State,
    at: Permit<to::TaskManage>,
    query: web::Query<ShiftQuery>,
) -> Reply {
    let pid = at.property;
    let date = match query.into_inner().date {
        Some(d) => d,
        None => business_date(&state, pid).await?,
    };
    let shifts = state.store.shifts(pid, date).await?;
    Ok(HttpResponse::Ok().json(json!({ "date": date, "shifts": shifts })))
}

/// `POST /api/v1/properties/<pid>/tasks/auto-assign`: balances every unassigned task over the
/// people on duty (see `Tasks::auto_assign`).
pub async fn auto_assign(state: State, at: Permit<to::TaskManage>) -> Reply {
    let pid = at.property;
    let done = state.actors.tasks.auto_assign(pid, &at.agent()).await?;
    let assigned: Vec<_> = done
        .iter()
        .map(|(task, to)| json!({ "task": task, "to": to }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "assigned": assigned })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    item: String,
    count: i64,
    #[serde(default)]
    low_at: i64,
    /// How many a finished task of each kind uses, e.g. `{"departure": 2}`.
    #[serde(default)]
    uses: std::collections::BTreeMap<crate::domain::task::TaskKind, u32>,
}

/// `POST /api/v1/properties/<pid>/stock`: defines an item or counts it again.
pub async fn count_stock(state: State, at: Permit<to::TaskManage>, body: Json<CountBody>) -> Reply {
    let pid = at.property;
    let b = body.into_inner();
    let item = state
        .actors
        .tasks
        .count_stock(pid, b.item.trim(), b.count, b.low_at, b.uses, &at.agent())
        .await?;
    Ok(HttpResponse::Ok().json(stock_view(&item)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    delta: i64,
    reason: String,
}

/// `POST /api/v1/properties/<pid>/stock/<item>/adjust`: a delivery (+) or loss (−).
pub async fn adjust_stock(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, String)>,
    body: Json<AdjustBody>,
) -> Result<HttpResponse, ApiError> {
    let (pid, item) = path.into_inner();
    caller.may(Action::TaskManage, pid)?;
    let b = body.into_inner();
    let item = state
        .actors
        .tasks
        .adjust_stock(pid, &item, b.delta, &b.reason, &caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(stock_view(&item)))
}

/// `GET /api/v1/properties/<pid>/stock`: every item, with `low` set when it needs restocking.
pub async fn stock(state: State, at: Permit<to::TaskManage>) -> Reply {
    let pid = at.property;
    let items = state.store.stock(pid).await?;
    let views: Vec<_> = items.iter().map(stock_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "stock": views })))
}

fn stock_view(item: &crate::domain::stock::StockItem) -> serde_json::Value {
    let mut v = serde_json::to_value(item).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("low".into(), item.is_low().into());
    }
    v
}

/// `GET /api/v1/properties/<pid>/staff`: whom a supervisor may give work — housekeepers,
/// maintenance and managers (inspections), each with the business date's shift. Names and
/// roles only: a supervisor's screen needs no one's email (user management has those).
pub async fn assignees(state: State, at: Permit<to::TaskManage>) -> Reply {
    let pid = at.property;
    let date = business_date(&state, pid).await?;
    let (users, shifts) = tokio::try_join!(state.store.users(pid), state.store.shifts(pid, date))?;
    let mut staff: Vec<_> = users
        .iter()
        .filter(|u| {
            matches!(
                u.role,
                Role::Housekeeper | Role::Maintenance | Role::Manager
            )
        })
        .map(|u| {
            let shift = shifts.iter().find(|s| s.user_id == u.id);
            json!({
                "user_id": u.id,
                "name": u.name,
                "role": u.role,
                "on_duty": shift.is_some(),
                "floors": shift.map(|s| s.floors.clone()).unwrap_or_default(),
            })
        })
        .collect();
    staff.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(HttpResponse::Ok().json(json!({ "date": date, "staff": staff })))
}
