//! The escalation job: open tasks that waited too long go to the supervisors, once.

use super::*;

impl Tasks {
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
}
