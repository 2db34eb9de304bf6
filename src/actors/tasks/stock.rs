//! Stock: what housekeeping counts and uses (linen, amenities), changed by staff and taken
//! by the tasks that finish.

use super::*;

impl Tasks {
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
                    tokio::time::sleep(crate::actors::backoff(attempt + 1)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contention)
    }

    /// What a finished task used, taken from stock (each item its own small change). Runs
    /// after the task committed: a failure here is logged, never the housekeeper's problem.
    pub(super) async fn consume(&self, task: &Task) {
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
}
