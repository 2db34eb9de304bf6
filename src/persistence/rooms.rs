//! Properties, their room types and rooms: the room board's tables.

use chrono::NaiveDate;

use super::{
    Store, StoreError,
    sql::{Cols, Conn, args, json, name_of, seq},
};
use crate::domain::{Property, PropertyId, Room, RoomId, RoomNumber, RoomType};

/// The constraint name a night audit gets when another node rolled the date first.
pub(crate) const BUSINESS_DATE_MOVED: &str = "business_date_moved";

pub(super) const PROPERTY_COLUMNS: &str =
    "id, name, timezone, created_at, business_date, require_inspected, stayover_every_days";

pub(super) fn property(mut c: Cols) -> Result<Property, StoreError> {
    Ok(Property {
        id: PropertyId(c.take()?),
        name: c.take()?,
        timezone: c.take()?,
        created_at: c.take()?,
        business_date: c.take()?,
        require_inspected: c.take()?,
        stayover_every_days: c.take()?,
    })
}

pub(super) const ROOM_COLUMNS: &str = "id, property_id, number, floor, room_type, cleanliness, \
    hk_occupancy, fo_occupancy, service, rush, block, version, updated_at";

pub(super) fn room(mut c: Cols) -> Result<Room, StoreError> {
    Ok(Room {
        id: RoomId(c.take()?),
        property_id: PropertyId(c.take()?),
        number: RoomNumber::parse(&c.take::<String>()?)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad room number in store: {e}")))?,
        floor: c.take()?,
        room_type: c.take()?,
        cleanliness: c.name()?,
        hk_occupancy: c.name()?,
        fo_occupancy: c.name()?,
        service: c.name()?,
        rush: c.take()?,
        block: c.json::<Option<_>>()?,
        version: c.take()?,
        updated_at: c.take()?,
    })
}

impl Store {
    pub async fn property(&self, id: PropertyId) -> Result<Option<Property>, StoreError> {
        self.opt(
            format!("SELECT {PROPERTY_COLUMNS} FROM properties WHERE id = $1"),
            args![id.0],
            property,
        )
        .await
    }

    /// All properties, oldest first.
    pub async fn properties(&self) -> Result<Vec<Property>, StoreError> {
        self.all(
            format!("SELECT {PROPERTY_COLUMNS} FROM properties ORDER BY created_at, id"),
            Vec::new(),
            property,
        )
        .await
    }

    /// The room board: every room of a property, by floor and number.
    pub async fn rooms(&self, property: PropertyId) -> Result<Vec<Room>, StoreError> {
        self.all(
            format!(
                "SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1
                 ORDER BY floor, length(number), number"
            ),
            args![property.0],
            room,
        )
        .await
    }

    pub async fn room(
        &self,
        property: PropertyId,
        number: &RoomNumber,
    ) -> Result<Option<Room>, StoreError> {
        self.opt(
            format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE property_id = $1 AND number = $2"),
            args![property.0, number.as_str()],
            room,
        )
        .await
    }

    pub async fn room_by_id(&self, id: RoomId) -> Result<Option<Room>, StoreError> {
        self.opt(
            format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE id = $1"),
            args![id.0],
            room,
        )
        .await
    }

    /// A property's room types, by code.
    pub async fn room_types(&self, property: PropertyId) -> Result<Vec<RoomType>, StoreError> {
        self.all(
            "SELECT property_id, code, name, max_occupancy FROM room_types
             WHERE property_id = $1 ORDER BY code",
            args![property.0],
            |mut c| {
                Ok(RoomType {
                    property_id: PropertyId(c.take()?),
                    code: c.take()?,
                    name: c.take()?,
                    max_occupancy: c.take()?,
                })
            },
        )
        .await
    }
}

pub(super) async fn insert_property(c: &mut dyn Conn, p: &Property) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO properties (id, name, timezone, created_at) VALUES ($1, $2, $3, $4)",
        &args![p.id.0, &p.name, &p.timezone, p.created_at],
    )
    .await
}

pub(super) async fn upsert_room(c: &mut dyn Conn, room: &Room) -> Result<(), StoreError> {
    let written = c
        .execute(
            "INSERT INTO rooms (id, property_id, number, floor, room_type, cleanliness,
                 hk_occupancy, fo_occupancy, service, rush, block, version, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (id) DO UPDATE SET
                 number = EXCLUDED.number, floor = EXCLUDED.floor,
                 room_type = EXCLUDED.room_type, cleanliness = EXCLUDED.cleanliness,
                 hk_occupancy = EXCLUDED.hk_occupancy, fo_occupancy = EXCLUDED.fo_occupancy,
                 service = EXCLUDED.service, rush = EXCLUDED.rush, block = EXCLUDED.block,
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
             -- The event insert already fenced this write; this guard makes a stale
             -- projection write impossible even if a caller skipped the events.
             WHERE rooms.version < EXCLUDED.version",
            &args![
                room.id.0,
                room.property_id.0,
                room.number.as_str(),
                room.floor,
                &room.room_type,
                name_of(&room.cleanliness),
                name_of(&room.hk_occupancy),
                name_of(&room.fo_occupancy),
                name_of(&room.service),
                room.rush,
                room.block.as_ref().map(json).transpose()?,
                seq(room.version)?,
                room.updated_at
            ],
        )
        .await?;
    if written == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

pub(super) async fn upsert_room_type(c: &mut dyn Conn, t: &RoomType) -> Result<(), StoreError> {
    c.write(
        "INSERT INTO room_types (property_id, code, name, max_occupancy)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (property_id, code) DO UPDATE SET
             name = EXCLUDED.name, max_occupancy = EXCLUDED.max_occupancy",
        &args![t.property_id.0, &t.code, &t.name, t.max_occupancy],
    )
    .await
}

pub(super) async fn set_business_date(
    c: &mut dyn Conn,
    property: PropertyId,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> Result<(), StoreError> {
    let moved = c
        .execute(
            "UPDATE properties SET business_date = $3
             WHERE id = $1 AND business_date IS NOT DISTINCT FROM $2",
            &args![property.0, from, to],
        )
        .await?;
    if moved == 0 {
        return Err(StoreError::Constraint(BUSINESS_DATE_MOVED.into()));
    }
    Ok(())
}

pub(super) async fn set_housekeeping(
    c: &mut dyn Conn,
    property: PropertyId,
    require_inspected: bool,
    stayover_every_days: u8,
) -> Result<(), StoreError> {
    c.write(
        "UPDATE properties SET require_inspected = $2, stayover_every_days = $3 WHERE id = $1",
        &args![property.0, require_inspected, stayover_every_days],
    )
    .await
}
