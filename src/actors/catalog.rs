//! Guest profiles and room types: each write is one event plus its row, in one transaction.
//!
//! Neither needs an actor: a guest profile's changing state (its stays) lives in reservations,
//! and a room type is edited by a manager now and then. The event log still records who
//! created or changed what, like every other change.

use serde::Deserialize;

use super::CommandError;
use crate::{
    domain::{Agent, Guest, GuestId, PropertyId, RoomType},
    persistence::{self, NewEvent, Projection, Store, StoreError},
};

/// A guest profile as the front desk enters it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGuest {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub preferences: Vec<String>,
}

/// Creates a guest profile, recording who did it on `guest:<id>`.
pub async fn create_guest(
    store: &Store,
    property: PropertyId,
    new: NewGuest,
    agent: &Agent,
) -> Result<Guest, CommandError> {
    let trimmed = |s: Option<String>| {
        s.map(|s| s.trim().to_owned())
            .filter(|s: &String| !s.is_empty())
    };
    let guest = Guest {
        id: GuestId::new(),
        property_id: property,
        name: new.name.trim().to_owned(),
        email: trimmed(new.email),
        phone: trimmed(new.phone),
        preferences: new
            .preferences
            .into_iter()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        created_at: persistence::now(),
    };
    guest.validate().map_err(CommandError::Invalid)?;
    super::property::existing(store, property).await?;
    let event = NewEvent {
        stream: format!("guest:{}", guest.id),
        seq: 1,
        property_id: Some(property),
        kind: "guest_created".into(),
        payload: crate::actors::event_payload(&guest)?,
        actor: agent.clone(),
        at: guest.created_at,
    };
    store
        .commit(vec![event], vec![Projection::InsertGuest(guest.clone())])
        .await?;
    Ok(guest)
}

/// Defines a room type, or changes its name and occupancy (`room_type:<pid>:<code>`).
pub async fn put_room_type(
    store: &Store,
    room_type: RoomType,
    agent: &Agent,
) -> Result<RoomType, CommandError> {
    room_type.validate().map_err(CommandError::Invalid)?;
    super::property::existing(store, room_type.property_id).await?;
    let stream = format!("room_type:{}:{}", room_type.property_id, room_type.code);
    // Rare, manual edits: the next seq is read, and `UNIQUE(stream, seq)` turns a concurrent
    // edit into a 409 the manager can retry.
    let seq = store.read_stream(&stream, 0, 100_000).await?.len() as u64 + 1;
    let event = NewEvent {
        stream,
        seq,
        property_id: Some(room_type.property_id),
        kind: if seq == 1 {
            "room_type_defined"
        } else {
            "room_type_changed"
        }
        .into(),
        payload: crate::actors::event_payload(&room_type)?,
        actor: agent.clone(),
        at: persistence::now(),
    };
    store
        .commit(
            vec![event],
            vec![Projection::UpsertRoomType(room_type.clone())],
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict => CommandError::Conflict {
                code: "concurrent_edit",
                message: "the room type was changed at the same moment; retry".into(),
            },
            other => other.into(),
        })?;
    Ok(room_type)
}

/// Adds or replaces a canned reply (a title is unique within the property: 409 `title_taken`).
pub async fn put_canned_reply(
    store: &Store,
    reply: &crate::domain::chat::CannedReply,
) -> Result<(), CommandError> {
    reply.validate()?;
    store
        .commit(
            Vec::new(),
            vec![Projection::UpsertCannedReply(reply.clone())],
        )
        .await
        .map_err(|e| match e {
            StoreError::Constraint(c) if c == "canned_replies_title_key" => {
                CommandError::Conflict {
                    code: "title_taken",
                    message: "this property already has a canned reply with that title".into(),
                }
            }
            other => other.into(),
        })
}

/// Removes a canned reply.
pub async fn delete_canned_reply(
    store: &Store,
    property_id: PropertyId,
    id: uuid::Uuid,
) -> Result<(), CommandError> {
    store
        .commit(
            Vec::new(),
            vec![Projection::DeleteCannedReply { property_id, id }],
        )
        .await?;
    Ok(())
}
