//! Encoding shared by both backends: the room enums are stored as their snake_case names,
//! exactly as the API spells them, so the SQL tables read naturally.

use serde::{Serialize, de::DeserializeOwned};

use super::StoreError;

pub(crate) fn enum_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("unit enum serializes to a string, got {other:?}"),
    }
}

pub(crate) fn text_enum<T: DeserializeOwned>(column: &str, s: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|e| StoreError::Other(anyhow::anyhow!("bad value in column {column}: {e}")))
}

pub(crate) fn seq_to_i64(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Other(anyhow::anyhow!("seq {seq} out of range")))
}

pub(crate) fn i64_to_seq(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Other(anyhow::anyhow!("negative seq {v}")))
}

/// Action names as stored in `api_keys.permissions`.
pub(crate) fn actions_text(actions: &[crate::domain::Action]) -> String {
    actions.iter().map(enum_text).collect::<Vec<_>>().join(",")
}

pub(crate) fn text_actions(s: &str) -> Result<Vec<crate::domain::Action>, StoreError> {
    s.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| text_enum("api_keys.permissions", a.to_owned()))
        .collect()
}

/// The room a reservation row points to: its id and (joined from `rooms`) its number.
pub(crate) fn assigned_room(
    id: Option<uuid::Uuid>,
    number: Option<String>,
) -> Result<Option<crate::domain::reservation::AssignedRoom>, StoreError> {
    let (Some(id), Some(number)) = (id, number) else {
        return Ok(None);
    };
    Ok(Some(crate::domain::reservation::AssignedRoom {
        room_id: crate::domain::RoomId(id),
        number: crate::domain::RoomNumber::parse(&number)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("bad room number in store: {e}")))?,
    }))
}
