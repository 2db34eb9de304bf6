//! Housekeeping tasks (DESIGN §6, reference/domain.md §4).
//!
//! ```text
//! created ⇄ assigned → in_progress ⇄ on_hold → done
//!    └──────────┴──────────────────────┴──→ canceled   (never while in progress)
//! done (a cleaning whose inspection failed) → reopened: assigned again (or created)
//! ```
//!
//! A task is about a room (or nothing: a public-area job) and has a kind, a priority and a
//! rush flag; notes accumulate. Every change is an event on the task's stream `task:<id>`.
//! What a task's completion does to its room (clean, inspected) and which tasks other events
//! create are decided by the actors; this module is the task alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ids::{PropertyId, ReservationId, RoomId, RoomNumber, TaskId};

/// What kind of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Full clean after a guest left.
    Departure,
    /// Daily service of an occupied room.
    Stayover,
    /// Look at a vacant room (nobody slept there, but is it still ready?).
    Check,
    /// Touch-up of a room that was ready but became "pickup".
    Pickup,
    Turndown,
    /// A supervisor checks a cleaned room; passing makes it inspected.
    Inspection,
    Maintenance,
    GuestRequest,
}

impl TaskKind {
    /// Whether finishing it leaves the room clean.
    #[must_use]
    pub fn cleans(self) -> bool {
        matches!(
            self,
            Self::Departure | Self::Stayover | Self::Check | Self::Pickup
        )
    }

    /// Credits (attendant workload units) a task of this kind weighs, for balancing.
    #[must_use]
    pub fn credits(self) -> u32 {
        match self {
            Self::Departure => 3,
            Self::Stayover | Self::Inspection | Self::Maintenance => 2,
            Self::Check | Self::Pickup | Self::Turndown | Self::GuestRequest => 1,
        }
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Created,
    Assigned,
    InProgress,
    OnHold,
    Done,
    Canceled,
}

impl TaskStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Assigned => "assigned",
            Self::InProgress => "in_progress",
            Self::OnHold => "on_hold",
            Self::Done => "done",
            Self::Canceled => "canceled",
        }
    }

    /// Still work to do.
    #[must_use]
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Done | Self::Canceled)
    }

    /// Statuses a queue shows.
    pub const OPEN: [Self; 4] = [
        Self::Created,
        Self::Assigned,
        Self::InProgress,
        Self::OnHold,
    ];
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

/// Why a task waits (it moves to the end of the queue meanwhile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// Do not disturb.
    Dnd,
    /// The guest refused service.
    Refused,
    /// Anything else (waiting for linen, a repair…).
    Other,
}

/// A remark on a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub by: String,
    pub at: DateTime<Utc>,
    pub text: String,
}

/// A task to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    pub kind: TaskKind,
    pub room: Option<(RoomId, RoomNumber)>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub rush: bool,
    /// The reservation that caused it (a departure, a stayover).
    #[serde(default)]
    pub reservation_id: Option<ReservationId>,
    /// For an inspection: the cleaning it inspects.
    #[serde(default)]
    pub inspects: Option<TaskId>,
    /// The guest arrives today: the room is wanted early.
    #[serde(default)]
    pub arrival_today: bool,
    #[serde(default)]
    pub note: Option<String>,
    /// When it must be done; past it, the task escalates to the supervisors.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
}

/// What can be asked of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskCommand {
    Assign {
        to: Uuid,
    },
    Unassign,
    /// A worker takes an unassigned task for themselves; refused once anyone has it.
    Claim {
        to: Uuid,
    },
    Start,
    Hold {
        reason: HoldReason,
    },
    Resume,
    Complete,
    Cancel {
        reason: String,
    },
    /// A cleaning whose inspection failed is done again.
    Reopen {
        reason: String,
    },
    AddNote {
        text: String,
    },
    SetPriority {
        priority: Priority,
        rush: bool,
    },
    /// A stayover becomes a departure (the guest left early or moved rooms).
    Convert {
        to: TaskKind,
    },
    /// Someone arrives in the task's room today: the room is wanted first (a cleaning only).
    ExpectArrival,
    /// An inspection in progress finds the cleaning not good enough (the cleaning is then
    /// reopened); completing an inspection is passing it.
    FailInspection {
        reason: String,
    },
    /// The escalation job: the task waited too long (unassigned, or past its due time).
    Escalate {
        reason: String,
    },
}

/// Facts about a task, appended to its stream `task:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskEvent {
    TaskCreated {
        property_id: PropertyId,
        /// Not flattened: the task's own `kind` would collide with the event's tag.
        task: NewTask,
    },
    TaskAssigned {
        to: Uuid,
        from: Option<Uuid>,
    },
    TaskUnassigned {
        from: Uuid,
    },
    TaskStarted,
    TaskHeld {
        reason: HoldReason,
    },
    TaskResumed,
    TaskCompleted,
    TaskCanceled {
        reason: String,
    },
    TaskReopened {
        reason: String,
    },
    NoteAdded {
        note: Note,
    },
    PriorityChanged {
        priority: Priority,
        rush: bool,
    },
    TaskConverted {
        from: TaskKind,
        to: TaskKind,
    },
    /// An arrival was assigned to the room: the cleaning is wanted first, at high priority.
    ArrivalExpected,
    InspectionFailed {
        reason: String,
    },
    TaskEscalated {
        reason: String,
    },
}

impl TaskEvent {
    /// The `kind` column of the event log.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TaskCreated { .. } => "task_created",
            Self::TaskAssigned { .. } => "task_assigned",
            Self::TaskUnassigned { .. } => "task_unassigned",
            Self::TaskStarted => "task_started",
            Self::TaskHeld { .. } => "task_held",
            Self::TaskResumed => "task_resumed",
            Self::TaskCompleted => "task_completed",
            Self::TaskCanceled { .. } => "task_canceled",
            Self::TaskReopened { .. } => "task_reopened",
            Self::NoteAdded { .. } => "note_added",
            Self::PriorityChanged { .. } => "priority_changed",
            Self::ArrivalExpected => "arrival_expected",
            Self::TaskConverted { .. } => "task_converted",
            Self::InspectionFailed { .. } => "inspection_failed",
            Self::TaskEscalated { .. } => "task_escalated",
        }
    }
}

/// Why a command was refused (422), with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TaskRefusal {
    #[error("a {status} task cannot {action}")]
    WrongStatus {
        status: &'static str,
        action: &'static str,
    },
    #[error("a task in progress cannot be canceled; put it on hold first")]
    CancelInProgress,
    #[error("the task is already assigned to that person")]
    SameAssignee,
    #[error("only a cleaning that is done can be reopened")]
    NotReopenable,
    #[error("a note or reason has 1 to 1000 characters")]
    InvalidText,
    #[error("nothing to change")]
    NoChange,
    #[error("only a stayover can become a departure or a check")]
    NotConvertible,
    #[error("an inspection needs a room")]
    NoRoom,
    #[error("only an inspection can fail")]
    NotAnInspection,
    #[error("the task has already been escalated")]
    AlreadyEscalated,
    #[error("someone already has this task")]
    AlreadyTaken,
}

impl TaskRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongStatus { .. } => "illegal_transition",
            Self::CancelInProgress => "cancel_in_progress",
            Self::SameAssignee => "same_assignee",
            Self::NotReopenable => "not_reopenable",
            Self::InvalidText => "invalid_text",
            Self::NoChange => "no_change",
            Self::NotConvertible => "not_convertible",
            Self::NoRoom => "no_room",
            Self::NotAnInspection => "not_an_inspection",
            Self::AlreadyEscalated => "already_escalated",
            Self::AlreadyTaken => "already_taken",
        }
    }
}

fn text(s: &str) -> Result<String, TaskRefusal> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 1000 {
        Err(TaskRefusal::InvalidText)
    } else {
        Ok(t.to_owned())
    }
}

/// The state of one task. `version` is the seq of the last event applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub property_id: PropertyId,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub room_id: Option<RoomId>,
    pub room_number: Option<RoomNumber>,
    pub priority: Priority,
    pub rush: bool,
    pub assignee: Option<Uuid>,
    pub hold: Option<HoldReason>,
    pub reservation_id: Option<ReservationId>,
    pub inspects: Option<TaskId>,
    pub arrival_today: bool,
    pub notes: Vec<Note>,
    /// An inspection that found the cleaning not good enough.
    #[serde(default)]
    pub failed: bool,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Raised to the supervisors (by the escalation job); stays until the task ends.
    #[serde(default)]
    pub escalated: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Task {
    /// Validates a new task; the first event of its stream and the task (version 1).
    pub fn create(
        id: TaskId,
        property_id: PropertyId,
        spec: NewTask,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<(Task, TaskEvent), TaskRefusal> {
        if spec.kind == TaskKind::Inspection && spec.room.is_none() {
            return Err(TaskRefusal::NoRoom);
        }
        let note = spec.note.as_deref().map(text).transpose()?;
        let task = Task {
            id,
            property_id,
            kind: spec.kind,
            status: TaskStatus::Created,
            room_id: spec.room.as_ref().map(|r| r.0),
            room_number: spec.room.as_ref().map(|r| r.1.clone()),
            priority: spec.priority,
            rush: spec.rush,
            assignee: None,
            hold: None,
            reservation_id: spec.reservation_id,
            inspects: spec.inspects,
            arrival_today: spec.arrival_today,
            notes: note
                .map(|text| Note {
                    by: by.to_owned(),
                    at,
                    text,
                })
                .into_iter()
                .collect(),
            failed: false,
            due_at: spec.due_at,
            escalated: false,
            created_at: at,
            updated_at: at,
            version: 1,
        };
        let spec = NewTask {
            note: task.notes.first().map(|n| n.text.clone()),
            ..spec
        };
        Ok((
            task,
            TaskEvent::TaskCreated {
                property_id,
                task: spec,
            },
        ))
    }

    fn wrong(&self, action: &'static str) -> TaskRefusal {
        TaskRefusal::WrongStatus {
            status: self.status.as_str(),
            action,
        }
    }

    /// Validates `cmd` against this state; the events it causes.
    pub fn decide(
        &self,
        cmd: &TaskCommand,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<TaskEvent>, TaskRefusal> {
        use TaskStatus as S;
        let e = match cmd {
            TaskCommand::Assign { to } => match self.status {
                S::Created | S::Assigned | S::OnHold => {
                    if self.assignee == Some(*to) {
                        return Err(TaskRefusal::SameAssignee);
                    }
                    TaskEvent::TaskAssigned {
                        to: *to,
                        from: self.assignee,
                    }
                }
                // Reassigning work someone has started would take it out of their hands.
                _ => return Err(self.wrong("be reassigned")),
            },
            TaskCommand::Unassign => match (self.status, self.assignee) {
                (S::Assigned | S::OnHold, Some(from)) => TaskEvent::TaskUnassigned { from },
                _ => return Err(self.wrong("be unassigned")),
            },
            TaskCommand::Claim { to } => match (self.status, self.assignee) {
                (S::Created, None) => TaskEvent::TaskAssigned {
                    to: *to,
                    from: None,
                },
                _ => return Err(TaskRefusal::AlreadyTaken),
            },
            TaskCommand::Start => match self.status {
                S::Assigned => TaskEvent::TaskStarted,
                _ => return Err(self.wrong("start")),
            },
            TaskCommand::Hold { reason } => match self.status {
                S::Assigned | S::InProgress => TaskEvent::TaskHeld { reason: *reason },
                _ => return Err(self.wrong("be put on hold")),
            },
            TaskCommand::Resume => match self.status {
                S::OnHold => TaskEvent::TaskResumed,
                _ => return Err(self.wrong("resume")),
            },
            TaskCommand::Complete => match self.status {
                S::InProgress => TaskEvent::TaskCompleted,
                _ => return Err(self.wrong("be completed")),
            },
            TaskCommand::Cancel { reason } => match self.status {
                S::InProgress => return Err(TaskRefusal::CancelInProgress),
                S::Created | S::Assigned | S::OnHold => TaskEvent::TaskCanceled {
                    reason: text(reason)?,
                },
                _ => return Err(self.wrong("be canceled")),
            },
            TaskCommand::Reopen { reason } => {
                if self.status != S::Done || !self.kind.cleans() {
                    return Err(TaskRefusal::NotReopenable);
                }
                TaskEvent::TaskReopened {
                    reason: text(reason)?,
                }
            }
            TaskCommand::AddNote { text: t } => {
                if !self.status.is_open() {
                    return Err(self.wrong("take notes"));
                }
                TaskEvent::NoteAdded {
                    note: Note {
                        by: by.to_owned(),
                        at,
                        text: text(t)?,
                    },
                }
            }
            TaskCommand::SetPriority { priority, rush } => {
                if !self.status.is_open() {
                    return Err(self.wrong("change priority"));
                }
                if *priority == self.priority && *rush == self.rush {
                    return Err(TaskRefusal::NoChange);
                }
                TaskEvent::PriorityChanged {
                    priority: *priority,
                    rush: *rush,
                }
            }
            TaskCommand::ExpectArrival => {
                if !self.status.is_open()
                    || !(self.kind.cleans() || self.kind == TaskKind::Inspection)
                {
                    return Err(self.wrong("expect an arrival"));
                }
                if self.arrival_today && self.priority == Priority::High {
                    return Err(TaskRefusal::NoChange);
                }
                TaskEvent::ArrivalExpected
            }
            TaskCommand::Convert { to } => {
                if self.kind != TaskKind::Stayover
                    || !matches!(to, TaskKind::Departure | TaskKind::Check)
                {
                    return Err(TaskRefusal::NotConvertible);
                }
                if !self.status.is_open() {
                    return Err(self.wrong("be converted"));
                }
                TaskEvent::TaskConverted {
                    from: self.kind,
                    to: *to,
                }
            }
            TaskCommand::FailInspection { reason } => {
                if self.kind != TaskKind::Inspection {
                    return Err(TaskRefusal::NotAnInspection);
                }
                if self.status != S::InProgress {
                    return Err(self.wrong("fail"));
                }
                TaskEvent::InspectionFailed {
                    reason: text(reason)?,
                }
            }
            TaskCommand::Escalate { reason } => {
                if !self.status.is_open() {
                    return Err(self.wrong("be escalated"));
                }
                if self.escalated {
                    return Err(TaskRefusal::AlreadyEscalated);
                }
                TaskEvent::TaskEscalated {
                    reason: text(reason)?,
                }
            }
        };
        Ok(vec![e])
    }

    /// Folds one event into the state and advances the version.
    pub fn apply(&mut self, event: &TaskEvent, at: DateTime<Utc>) {
        use TaskStatus as S;
        match event {
            TaskEvent::TaskCreated { .. } => {}
            TaskEvent::TaskAssigned { to, .. } => {
                self.assignee = Some(*to);
                if self.status == S::Created {
                    self.status = S::Assigned;
                }
            }
            TaskEvent::TaskUnassigned { .. } => {
                self.assignee = None;
                self.status = S::Created;
                self.hold = None;
            }
            TaskEvent::TaskStarted | TaskEvent::TaskResumed => {
                self.status = S::InProgress;
                self.hold = None;
            }
            TaskEvent::TaskHeld { reason } => {
                self.status = S::OnHold;
                self.hold = Some(*reason);
            }
            TaskEvent::TaskCompleted => self.status = S::Done,
            TaskEvent::TaskCanceled { .. } => self.status = S::Canceled,
            TaskEvent::TaskReopened { .. } => {
                self.status = if self.assignee.is_some() {
                    S::Assigned
                } else {
                    S::Created
                };
            }
            TaskEvent::NoteAdded { note } => self.notes.push(note.clone()),
            TaskEvent::PriorityChanged { priority, rush } => {
                self.priority = *priority;
                self.rush = *rush;
            }
            TaskEvent::TaskConverted { to, .. } => self.kind = *to,
            TaskEvent::ArrivalExpected => {
                self.arrival_today = true;
                self.priority = Priority::High;
            }
            TaskEvent::InspectionFailed { .. } => {
                self.status = S::Done;
                self.failed = true;
            }
            TaskEvent::TaskEscalated { .. } => {
                self.escalated = true;
                self.priority = Priority::High;
            }
        }
        self.version += 1;
        self.updated_at = at;
    }

    /// Why the escalation job should raise this task at `now`, if it should: nobody took it
    /// within `unassigned_after`, or it is past its due time. Judged on stored times, so any
    /// node's job (or a restarted one) comes to the same answer.
    #[must_use]
    pub fn escalation_due(
        &self,
        now: DateTime<Utc>,
        unassigned_after: std::time::Duration,
    ) -> Option<&'static str> {
        if self.escalated || !self.status.is_open() {
            return None;
        }
        if self.due_at.is_some_and(|d| d <= now) {
            return Some("overdue");
        }
        let waited = (now - self.created_at).to_std().unwrap_or_default();
        (self.status == TaskStatus::Created && waited >= unassigned_after).then_some("unassigned")
    }

    /// Where it goes in a housekeeper's queue: rush first, then rooms wanted for today's
    /// arrivals, then by priority and age; work on hold (DND, refused) last. Smaller first.
    #[must_use]
    pub fn queue_rank(&self) -> (u8, u8, std::cmp::Reverse<Priority>, DateTime<Utc>) {
        let band = if self.status == TaskStatus::OnHold {
            3
        } else if self.status == TaskStatus::InProgress {
            0
        } else if self.rush {
            1
        } else {
            2
        };
        (
            band,
            u8::from(!self.arrival_today),
            std::cmp::Reverse(self.priority),
            self.created_at,
        )
    }
}

/// Sorts a queue in [`Task::queue_rank`] order.
pub fn order_queue(tasks: &mut [Task]) {
    tasks.sort_by(|a, b| a.queue_rank().cmp(&b.queue_rank()).then(a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn task(kind: TaskKind) -> Task {
        let spec = NewTask {
            kind,
            room: Some((RoomId::new(), RoomNumber::parse("101").unwrap())),
            priority: Priority::Normal,
            rush: false,
            reservation_id: None,
            inspects: None,
            arrival_today: false,
            note: None,
            due_at: None,
        };
        Task::create(TaskId::new(), PropertyId::new(), spec, "user:x", now())
            .unwrap()
            .0
    }

    fn run(t: &mut Task, cmd: TaskCommand) -> Result<(), TaskRefusal> {
        for e in t.decide(&cmd, "user:x", now())? {
            t.apply(&e, now());
        }
        Ok(())
    }

    #[test]
    fn a_task_walks_from_created_to_done_with_holds_between() {
        let ann = Uuid::new_v4();
        let mut t = task(TaskKind::Departure);
        assert_eq!(run(&mut t, TaskCommand::Start), Err(t.wrong("start")));
        run(&mut t, TaskCommand::Assign { to: ann }).unwrap();
        assert_eq!((t.status, t.assignee), (TaskStatus::Assigned, Some(ann)));
        assert_eq!(
            run(&mut t, TaskCommand::Assign { to: ann }),
            Err(TaskRefusal::SameAssignee)
        );
        run(&mut t, TaskCommand::Start).unwrap();
        run(
            &mut t,
            TaskCommand::Hold {
                reason: HoldReason::Dnd,
            },
        )
        .unwrap();
        assert_eq!(
            (t.status, t.hold),
            (TaskStatus::OnHold, Some(HoldReason::Dnd))
        );
        assert_eq!(
            run(&mut t, TaskCommand::Complete),
            Err(t.wrong("be completed"))
        );
        run(&mut t, TaskCommand::Resume).unwrap();
        assert_eq!((t.status, t.hold), (TaskStatus::InProgress, None));
        run(&mut t, TaskCommand::Complete).unwrap();
        assert_eq!(t.status, TaskStatus::Done);
        assert_eq!(t.version, 6);
        assert_eq!(
            run(
                &mut t,
                TaskCommand::AddNote {
                    text: "late".into()
                }
            ),
            Err(t.wrong("take notes"))
        );
    }

    #[test]
    fn work_in_progress_is_never_canceled_nor_taken_away() {
        let mut t = task(TaskKind::Stayover);
        run(&mut t, TaskCommand::Assign { to: Uuid::new_v4() }).unwrap();
        run(&mut t, TaskCommand::Start).unwrap();
        let cancel = TaskCommand::Cancel {
            reason: "guest left".into(),
        };
        assert_eq!(
            run(&mut t, cancel.clone()),
            Err(TaskRefusal::CancelInProgress)
        );
        assert_eq!(
            run(&mut t, TaskCommand::Assign { to: Uuid::new_v4() }),
            Err(t.wrong("be reassigned"))
        );
        run(
            &mut t,
            TaskCommand::Hold {
                reason: HoldReason::Other,
            },
        )
        .unwrap();
        run(&mut t, cancel).unwrap();
        assert_eq!(t.status, TaskStatus::Canceled);
        assert_eq!(
            run(&mut t, TaskCommand::Cancel { reason: "x".into() }),
            Err(t.wrong("be canceled"))
        );
        assert_eq!(
            run(&mut t, TaskCommand::Cancel { reason: " ".into() }).unwrap_err(),
            t.wrong("be canceled")
        );
    }

    #[test]
    fn a_failed_inspection_reopens_the_cleaning_for_the_same_attendant() {
        let ann = Uuid::new_v4();
        let mut t = task(TaskKind::Departure);
        assert_eq!(
            run(&mut t, TaskCommand::Reopen { reason: "x".into() }),
            Err(TaskRefusal::NotReopenable)
        );
        for cmd in [
            TaskCommand::Assign { to: ann },
            TaskCommand::Start,
            TaskCommand::Complete,
        ] {
            run(&mut t, cmd).unwrap();
        }
        assert_eq!(
            run(&mut t, TaskCommand::Reopen { reason: "".into() }),
            Err(TaskRefusal::InvalidText)
        );
        run(
            &mut t,
            TaskCommand::Reopen {
                reason: "hair in the sink".into(),
            },
        )
        .unwrap();
        assert_eq!((t.status, t.assignee), (TaskStatus::Assigned, Some(ann)));
        // An inspection itself is never reopened: a new one is made.
        let mut i = task(TaskKind::Inspection);
        i.status = TaskStatus::Done;
        assert_eq!(
            run(&mut i, TaskCommand::Reopen { reason: "x".into() }),
            Err(TaskRefusal::NotReopenable)
        );
    }

    #[test]
    fn stayovers_convert_and_unassigning_returns_to_the_pool() {
        let mut t = task(TaskKind::Stayover);
        run(
            &mut t,
            TaskCommand::Convert {
                to: TaskKind::Departure,
            },
        )
        .unwrap();
        assert_eq!(t.kind, TaskKind::Departure);
        assert_eq!(
            run(
                &mut t,
                TaskCommand::Convert {
                    to: TaskKind::Departure
                }
            ),
            Err(TaskRefusal::NotConvertible)
        );
        run(&mut t, TaskCommand::Assign { to: Uuid::new_v4() }).unwrap();
        run(
            &mut t,
            TaskCommand::Hold {
                reason: HoldReason::Refused,
            },
        )
        .unwrap();
        run(&mut t, TaskCommand::Unassign).unwrap();
        assert_eq!(
            (t.status, t.assignee, t.hold),
            (TaskStatus::Created, None, None)
        );
        assert_eq!(
            run(
                &mut t,
                TaskCommand::SetPriority {
                    priority: Priority::Normal,
                    rush: false
                }
            ),
            Err(TaskRefusal::NoChange)
        );
        assert!(
            Task::create(
                TaskId::new(),
                PropertyId::new(),
                NewTask {
                    room: None,
                    ..task_spec(TaskKind::Inspection)
                },
                "u",
                now()
            )
            .is_err()
        );
    }

    fn task_spec(kind: TaskKind) -> NewTask {
        NewTask {
            kind,
            room: None,
            priority: Priority::Normal,
            rush: false,
            reservation_id: None,
            inspects: None,
            arrival_today: false,
            note: None,
            due_at: None,
        }
    }

    #[test]
    fn the_queue_puts_work_in_hand_and_rush_first_and_holds_last() {
        let at = |m: i64| now() + chrono::Duration::minutes(m);
        let mut normal = task(TaskKind::Stayover);
        normal.created_at = at(0);
        let mut arrival = task(TaskKind::Departure);
        arrival.arrival_today = true;
        arrival.created_at = at(5);
        let mut rush = task(TaskKind::Departure);
        rush.rush = true;
        rush.created_at = at(9);
        let mut held = task(TaskKind::Stayover);
        held.rush = true;
        held.status = TaskStatus::OnHold;
        let mut started = task(TaskKind::Check);
        started.status = TaskStatus::InProgress;
        let mut high = task(TaskKind::Stayover);
        high.priority = Priority::High;
        high.created_at = at(7);
        let mut q = vec![
            held.clone(),
            normal.clone(),
            high.clone(),
            rush.clone(),
            arrival.clone(),
            started.clone(),
        ];
        order_queue(&mut q);
        let ids: Vec<_> = q.iter().map(|t| t.id).collect();
        assert_eq!(
            ids,
            [started.id, rush.id, arrival.id, high.id, normal.id, held.id]
        );
    }

    #[test]
    fn events_round_trip_through_json_with_their_kind() {
        let e = TaskEvent::TaskHeld {
            reason: HoldReason::Dnd,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], e.kind());
        assert_eq!(serde_json::from_value::<TaskEvent>(v).unwrap(), e);
    }

    #[test]
    fn tasks_escalate_when_nobody_takes_them_or_they_run_late_and_only_once() {
        let wait = std::time::Duration::from_secs(1800);
        let mut t = task(TaskKind::Departure);
        assert_eq!(t.escalation_due(now(), wait), None);
        let later = now() + chrono::Duration::minutes(31);
        assert_eq!(t.escalation_due(later, wait), Some("unassigned"));
        run(&mut t, TaskCommand::Assign { to: Uuid::new_v4() }).unwrap();
        assert_eq!(t.escalation_due(later, wait), None, "someone has it");
        t.due_at = Some(now() + chrono::Duration::minutes(10));
        assert_eq!(t.escalation_due(later, wait), Some("overdue"));
        run(
            &mut t,
            TaskCommand::Escalate {
                reason: "overdue".into(),
            },
        )
        .unwrap();
        assert_eq!((t.escalated, t.priority), (true, Priority::High));
        assert_eq!(t.escalation_due(later, wait), None);
        assert_eq!(
            run(
                &mut t,
                TaskCommand::Escalate {
                    reason: "again".into()
                }
            ),
            Err(TaskRefusal::AlreadyEscalated)
        );
    }

    #[test]
    fn a_task_is_claimed_once() {
        let (ann, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let mut t = task(TaskKind::Maintenance);
        run(&mut t, TaskCommand::Claim { to: ann }).unwrap();
        assert_eq!((t.status, t.assignee), (TaskStatus::Assigned, Some(ann)));
        assert_eq!(
            run(&mut t, TaskCommand::Claim { to: bob }),
            Err(TaskRefusal::AlreadyTaken)
        );
    }

    #[test]
    fn an_expected_arrival_puts_a_cleaning_first_once() {
        let mut clean = task(TaskKind::Departure);
        run(&mut clean, TaskCommand::ExpectArrival).unwrap();
        assert!(clean.arrival_today);
        assert_eq!(clean.priority, Priority::High);
        assert_eq!(
            run(&mut clean, TaskCommand::ExpectArrival),
            Err(TaskRefusal::NoChange)
        );
        // Nothing to raise where the work does not ready the room, or is over.
        let mut repair = task(TaskKind::Maintenance);
        assert!(run(&mut repair, TaskCommand::ExpectArrival).is_err());
        let mut done = task(TaskKind::Stayover);
        run(
            &mut done,
            TaskCommand::Cancel {
                reason: "guest left".into(),
            },
        )
        .unwrap();
        assert!(run(&mut done, TaskCommand::ExpectArrival).is_err());
    }
}
