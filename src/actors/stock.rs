//! The stock aggregate: one item's count (linen, amenities) on the generic
//! [`EntityActor`](super::entity), so a delivery counted at the desk and the sheets a finished
//! clean takes are judged one after the other on this node, and against the store's version
//! between nodes, with the retry policy and metrics of every other kind.
//!
//! An item exists once it is first counted: until then its actor holds it at version 0 (an
//! adjustment of such an item is refused as unknown).

use super::{
    CommandError,
    entity::{Aggregate, Attempt, Ctx, Done, Handle, Retry, Streamed, append},
};
use crate::{
    domain::{
        PropertyId,
        stock::{StockEvent, StockItem},
        task::TaskKind,
    },
    events::{Published, PublishedEvent, topics::tasks_topic},
    persistence::{self, Projection, Store, StoreError},
};

/// A cloneable handle to an active stock item.
pub type StockHandle = Handle<StockItem>;

/// What can be asked of an item.
#[derive(Clone, Debug)]
pub enum StockCommand {
    /// Define it, or count it again (checked by the caller).
    Count {
        count: i64,
        low_at: i64,
        uses: std::collections::BTreeMap<TaskKind, u32>,
    },
    /// A delivery, breakage, or what a task used.
    Adjust { delta: i64, reason: String },
}

/// The stream of an item: `stock:<pid>:<item>`.
#[must_use]
pub fn stream_of(property: PropertyId, item: &str) -> String {
    format!("stock:{property}:{item}")
}

/// An item nobody has counted yet.
#[must_use]
pub fn uncounted(property: PropertyId, item: &str) -> StockItem {
    StockItem {
        property_id: property,
        item: item.to_owned(),
        count: 0,
        low_at: 0,
        uses: std::collections::BTreeMap::new(),
        version: 0,
    }
}

impl Streamed for StockItem {
    type Event = StockEvent;

    fn same_entity(&self, other: &Self) -> bool {
        self.property_id == other.property_id && self.item == other.item
    }

    fn stream(&self) -> String {
        stream_of(self.property_id, &self.item)
    }

    fn property(&self) -> PropertyId {
        self.property_id
    }

    fn seq(&self) -> u64 {
        self.version
    }

    fn kind(event: &StockEvent) -> &'static str {
        event.kind()
    }

    fn apply_event(&mut self, event: &StockEvent, _at: chrono::DateTime<chrono::Utc>) {
        self.apply(event);
    }
}

impl Aggregate for StockItem {
    type Key = (PropertyId, String);
    type Command = StockCommand;
    type Output = StockItem;
    type Deps = ();
    const KIND: &'static str = "stock";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        load(store, self.property_id, &self.item).await.map(Some)
    }

    async fn attempt(&self, command: &StockCommand, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        let events = match command {
            StockCommand::Count {
                count,
                low_at,
                uses,
            } => vec![StockEvent::StockCounted {
                count: *count,
                low_at: *low_at,
                uses: uses.clone(),
            }],
            StockCommand::Adjust { .. } if self.version == 0 => {
                return Err(CommandError::Conflict {
                    code: "unknown_item",
                    message: "no such stock item; count it first".into(),
                });
            }
            StockCommand::Adjust { delta, reason } => {
                self.adjust(*delta, reason).map_err(CommandError::Invalid)?
            }
        };
        let at = persistence::now();
        let mut next = self.clone();
        let (rows, applied) = append(&mut next, events, ctx.agent, at)?;
        ctx.store
            .commit(rows, vec![Projection::UpsertStock(next.clone())])
            .await?;
        // The supervisors' board shows stock (and its alerts) beside the work.
        let publish = Published {
            topics: vec![tasks_topic(next.property_id)],
            stream: next.stream(),
            from_seq: self.version + 1,
            to_seq: next.version,
            events: applied
                .iter()
                .map(|(seq, e, state)| {
                    let view = serde_json::to_value(state).unwrap_or_default();
                    PublishedEvent::new(*seq, e, ctx.agent, at, view)
                })
                .collect(),
        };
        Ok(Done::state(next, vec![publish]))
    }

    /// An item unknown to this replica may have been counted on another node meanwhile: that
    /// too is judged again when the store moved.
    fn retry(_command: &StockCommand, error: &CommandError) -> Retry {
        match error {
            CommandError::Conflict {
                code: "unknown_item",
                ..
            } => Retry::IfMoved,
            e => Retry::of(e),
        }
    }

    fn key_of(msg: &Published) -> Option<(PropertyId, String)> {
        let (pid, item) = msg.stream.strip_prefix("stock:")?.split_once(':')?;
        Some((pid.parse().ok()?, item.to_owned()))
    }
}

/// The item as the store has it (uncounted if it has no row yet).
pub(crate) async fn load(
    store: &Store,
    property: PropertyId,
    item: &str,
) -> Result<StockItem, StoreError> {
    let found = store
        .stock(property)
        .await?
        .into_iter()
        .find(|s| s.item == item);
    Ok(found.unwrap_or_else(|| uncounted(property, item)))
}
