//! Housekeeping and maintenance: tasks, stock, and who is on duty.

use chrono::NaiveDate;

use super::{
    Shift, Store, StoreError, TaskFilter,
    sql::{Conn, Query, args, json, name_of, seq, state},
};
use crate::domain::{PropertyId, TaskId, stock::StockItem, task::Task};

impl Store {
    pub async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.opt("SELECT state FROM tasks WHERE id = $1", args![id.0], state)
            .await
    }

    /// Tasks matching `filter` (in no particular order; queues sort them).
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, StoreError> {
        let mut q = Query::new(
            "SELECT state FROM tasks WHERE property_id = $1",
            filter.property.0,
        );
        if let Some(user) = filter.assignee {
            q.and(" AND assignee = #", user);
        }
        if let Some(room) = filter.room {
            q.and(" AND room_id = #", room.0);
        }
        if filter.open_only {
            q.sql
                .push_str(" AND status IN ('created', 'assigned', 'in_progress', 'on_hold')");
        }
        q.sql.push_str(" LIMIT 10000");
        self.all(q.sql, q.values, state).await
    }

    /// A property's stock, by item.
    pub async fn stock(&self, property: PropertyId) -> Result<Vec<StockItem>, StoreError> {
        self.all(
            "SELECT property_id, item, count, low_at, uses, version FROM stock_items
             WHERE property_id = $1 ORDER BY item",
            args![property.0],
            |mut c| {
                Ok(StockItem {
                    property_id: PropertyId(c.take()?),
                    item: c.take()?,
                    count: c.take()?,
                    low_at: c.take()?,
                    uses: c.json()?,
                    version: c.take()?,
                })
            },
        )
        .await
    }

    /// Who is on duty at `property` on `date`.
    pub async fn shifts(
        &self,
        property: PropertyId,
        date: NaiveDate,
    ) -> Result<Vec<Shift>, StoreError> {
        self.all(
            "SELECT property_id, date, user_id, floors FROM shifts
             WHERE property_id = $1 AND date = $2 ORDER BY user_id",
            args![property.0, date],
            |mut c| {
                Ok(Shift {
                    property_id: PropertyId(c.take()?),
                    date: c.take()?,
                    user_id: c.take()?,
                    floors: c.json()?,
                })
            },
        )
        .await
    }
}

pub(super) async fn upsert_task(c: &mut dyn Conn, t: &Task) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO tasks (id, property_id, kind, status, room_id, assignee, state, version,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET
             kind = EXCLUDED.kind, status = EXCLUDED.status,
             room_id = EXCLUDED.room_id, assignee = EXCLUDED.assignee,
             state = EXCLUDED.state, version = EXCLUDED.version,
             updated_at = EXCLUDED.updated_at
         WHERE tasks.version < EXCLUDED.version",
        &args![
            t.id.0,
            t.property_id.0,
            name_of(&t.kind),
            t.status.as_str(),
            t.room_id.map(|r| r.0),
            t.assignee,
            json(t)?,
            seq(t.version)?,
            t.updated_at
        ],
        "tasks_version",
    )
    .await
}

pub(super) async fn upsert_stock(c: &mut dyn Conn, it: &StockItem) -> Result<(), StoreError> {
    c.upsert_versioned(
        "INSERT INTO stock_items (property_id, item, count, low_at, uses, version)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (property_id, item) DO UPDATE SET
             count = EXCLUDED.count, low_at = EXCLUDED.low_at,
             uses = EXCLUDED.uses, version = EXCLUDED.version
         WHERE stock_items.version < EXCLUDED.version",
        &args![
            it.property_id.0,
            &it.item,
            it.count,
            it.low_at,
            json(&it.uses)?,
            seq(it.version)?
        ],
        "stock_items_version",
    )
    .await
}

pub(super) async fn set_shift(
    c: &mut dyn Conn,
    shift: &Shift,
    on_duty: bool,
) -> Result<(), StoreError> {
    if on_duty {
        c.execute(
            "INSERT INTO shifts (property_id, date, user_id, floors) VALUES ($1, $2, $3, $4)
             ON CONFLICT (property_id, date, user_id) DO UPDATE SET floors = EXCLUDED.floors",
            &args![
                shift.property_id.0,
                shift.date,
                shift.user_id,
                json(&shift.floors)?
            ],
        )
        .await
    } else {
        c.execute(
            "DELETE FROM shifts WHERE property_id = $1 AND date = $2 AND user_id = $3",
            &args![shift.property_id.0, shift.date, shift.user_id],
        )
        .await
    }
    .map(drop)
}
