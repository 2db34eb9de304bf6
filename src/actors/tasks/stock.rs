//! Stock: what housekeeping counts and uses (linen, amenities), changed by staff and taken
//! by the tasks that finish.

use super::*;
use crate::actors::stock::StockCommand;

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
        let command = StockCommand::Count {
            count,
            low_at,
            uses,
        };
        self.change_stock(property, item, command, agent).await
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
        let command = StockCommand::Adjust {
            delta,
            reason: reason.to_owned(),
        };
        self.change_stock(property, item, command, agent).await
    }

    /// Runs `command` on the item's actor (activating it from the store, or uncounted).
    async fn change_stock(
        &self,
        property: PropertyId,
        item: &str,
        command: StockCommand,
        agent: &Agent,
    ) -> Result<StockItem, CommandError> {
        let store = &self.shared().store;
        crate::actors::property::existing(store, property).await?;
        let key = (property, item.to_owned());
        let handle = self
            .stock
            .get(&key, async {
                crate::actors::stock::load(store, property, item)
                    .await
                    .map(Some)
                    .map_err(CommandError::from)
            })
            .await?
            .ok_or(CommandError::PropertyNotFound)?;
        handle.execute(command, None, agent.clone()).await
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
