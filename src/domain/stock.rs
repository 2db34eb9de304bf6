//! Linen and amenity stock per property (issue: housekeeping, point 6).
//!
//! A count per item, a threshold under which the supervisors are alerted, and how much of it
//! each kind of finished task uses (a departure clean takes a set of sheets and towels). Every
//! change is an event on the item's stream `stock:<pid>:<item>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ids::PropertyId, task::TaskKind};

/// One stocked item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockItem {
    pub property_id: PropertyId,
    pub item: String,
    pub count: i64,
    /// At or below this, the item is low (alerted on the supervisors' board).
    pub low_at: i64,
    /// How many a finished task of each kind uses.
    #[serde(default)]
    pub uses: BTreeMap<TaskKind, u32>,
    pub version: u64,
}

/// Facts about an item, on its stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StockEvent {
    /// Defined, or counted again (the count is set, not adjusted).
    StockCounted {
        count: i64,
        low_at: i64,
        uses: BTreeMap<TaskKind, u32>,
    },
    StockAdjusted {
        delta: i64,
        reason: String,
    },
    /// The count went down to (or below) the threshold: restock.
    StockLow {
        count: i64,
        low_at: i64,
    },
}

impl StockEvent {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::StockCounted { .. } => "stock_counted",
            Self::StockAdjusted { .. } => "stock_adjusted",
            Self::StockLow { .. } => "stock_low",
        }
    }
}

/// An item name: 1 to 64 letters, digits, spaces, `_` or `-`.
pub fn validate_item(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err("an item name has 1 to 64 letters, digits, spaces, '_' or '-'".into())
    }
}

impl StockItem {
    /// The events of an adjustment by `delta` (negative: used), with the alert when the count
    /// crosses the threshold going down.
    pub fn adjust(&self, delta: i64, reason: &str) -> Result<Vec<StockEvent>, String> {
        let reason = reason.trim();
        if delta == 0 {
            return Err("an adjustment changes the count".into());
        }
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err("an adjustment needs a reason of 1 to 200 characters".into());
        }
        let after = self.count.saturating_add(delta);
        let mut events = vec![StockEvent::StockAdjusted {
            delta,
            reason: reason.to_owned(),
        }];
        if self.count > self.low_at && after <= self.low_at {
            events.push(StockEvent::StockLow {
                count: after,
                low_at: self.low_at,
            });
        }
        Ok(events)
    }

    /// Folds one event in and advances the version.
    pub fn apply(&mut self, event: &StockEvent) {
        match event {
            StockEvent::StockCounted {
                count,
                low_at,
                uses,
            } => {
                self.count = *count;
                self.low_at = *low_at;
                self.uses.clone_from(uses);
            }
            StockEvent::StockAdjusted { delta, .. } => {
                self.count = self.count.saturating_add(*delta);
            }
            StockEvent::StockLow { .. } => {}
        }
        self.version += 1;
    }

    /// Whether it is at or below its threshold.
    #[must_use]
    pub fn is_low(&self) -> bool {
        self.count <= self.low_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheets(count: i64) -> StockItem {
        StockItem {
            property_id: PropertyId::new(),
            item: "sheets".into(),
            count,
            low_at: 10,
            uses: BTreeMap::from([(TaskKind::Departure, 2)]),
            version: 1,
        }
    }

    #[test]
    fn going_below_the_threshold_alerts_once() {
        let mut s = sheets(13);
        for e in s.adjust(-2, "departure clean").unwrap() {
            s.apply(&e);
        }
        assert_eq!((s.count, s.is_low()), (11, false));
        let events = s.adjust(-2, "departure clean").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[1],
            StockEvent::StockLow {
                count: 9,
                low_at: 10
            }
        );
        for e in &events {
            s.apply(e);
        }
        assert_eq!(s.version, 4);
        // Already low: no second alert; a delivery is an adjustment up.
        assert_eq!(s.adjust(-2, "x").unwrap().len(), 1);
        assert_eq!(s.adjust(50, "delivery").unwrap().len(), 1);
        assert!(s.adjust(0, "x").is_err());
        assert!(s.adjust(1, " ").is_err());
        assert!(validate_item("bath towels").is_ok());
        assert!(validate_item("bath;towels").is_err());
    }
}
