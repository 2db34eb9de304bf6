//! Who is on duty: the roster, and auto-assigning open work to the people on it by section
//! and load.

use super::*;

impl Tasks {
    /// The people of `role` on duty today (an empty list if the roster cannot be read).
    pub(super) async fn on_duty(&self, property: PropertyId, role: Role) -> Vec<Uuid> {
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
        let p = crate::actors::property::existing(store, property).await?;
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
}
