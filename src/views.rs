//! How entities look on the wire: the same JSON in HTTP bodies, WebSocket snapshots and the
//! `state` of live events, so a client has one parser per entity.

use serde::Serialize;

use crate::domain::{Discrepancy, Room};

/// A room as clients see it: its state plus what is derived from it.
#[derive(Debug, Serialize)]
pub struct RoomView<'a> {
    #[serde(flatten)]
    pub room: &'a Room,
    /// The event stream whose seq `version` counts.
    pub stream: String,
    pub discrepancy: Discrepancy,
}

impl<'a> RoomView<'a> {
    #[must_use]
    pub fn of(room: &'a Room) -> Self {
        Self {
            room,
            stream: room.id.stream(),
            discrepancy: room.discrepancy(),
        }
    }

    /// The view as a JSON value (for embedding in frames).
    #[must_use]
    pub fn json(room: &Room) -> serde_json::Value {
        serde_json::to_value(RoomView::of(room)).unwrap_or(serde_json::Value::Null)
    }
}

/// A conversation's event as `side` receives it: `stream`, `seq` and the event (with `actor`
/// and `at`), the same shape as a live event frame; `None` if the side may not see it. The
/// guest never learns which staff member wrote.
#[must_use]
pub fn chat_event(
    stored: &crate::persistence::StoredEvent,
    side: crate::domain::chat::Side,
) -> Option<serde_json::Value> {
    use crate::domain::chat::{ChatEvent, Side};
    let event: ChatEvent = serde_json::from_value(stored.payload.clone()).ok()?;
    if !event.visible_to(side) {
        return None;
    }
    let mut json = event.to_json(side);
    let actor = if side == Side::Guest && stored.actor.starts_with("user:") {
        "system:staff"
    } else {
        stored.actor.as_str()
    };
    if let Some(obj) = json.as_object_mut() {
        obj.insert("actor".into(), actor.into());
        obj.insert(
            "at".into(),
            serde_json::to_value(stored.at).unwrap_or_default(),
        );
    }
    Some(serde_json::json!({ "stream": stored.stream, "seq": stored.seq, "event": json }))
}

/// A message as `side` sees it in a history page, with where it stands for its recipient
/// (`sent`, `delivered`, `read`; notes have none). The guest sees staff as "staff".
#[must_use]
pub fn chat_message(
    message: &crate::domain::chat::Message,
    conversation: &crate::domain::chat::Conversation,
    side: crate::domain::chat::Side,
) -> serde_json::Value {
    use crate::domain::chat::{Author, Side};
    let author = match (side, message.author) {
        (Side::Guest, Author::Staff { .. }) => serde_json::json!({ "type": "staff" }),
        (_, a) => serde_json::to_value(a).unwrap_or_default(),
    };
    serde_json::json!({
        "seq": message.seq,
        "author": author,
        "kind": message.kind,
        "body": message.body,
        "at": message.at,
        "status": conversation.delivery_of(message),
    })
}

/// A table as clients see it: its fields and its state on the floor plan now.
#[must_use]
pub fn table_view(
    t: &crate::domain::venue::Table,
    now: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(t).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "state".into(),
            serde_json::to_value(t.state(now)).unwrap_or_default(),
        );
    }
    v
}

/// A reservation as clients see it, in HTTP bodies, snapshots and live events alike: its
/// fields and its stream, and — where the hotel's day is known — the business date and what
/// may be done now (`allowed_actions`, judged as the commands would be, on the assigned room's
/// readiness when that matters).
#[must_use]
pub fn reservation_view(
    r: &crate::domain::Reservation,
    day: Option<(
        &crate::domain::reservation::Context,
        Option<&crate::domain::reservation::RoomReadiness>,
    )>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("stream".into(), r.id.stream().into());
        if let Some((day, room)) = day {
            obj.insert("business_date".into(), serde_json::json!(day.business_date));
            obj.insert(
                "allowed_actions".into(),
                serde_json::json!(r.allowed_actions(day, room)),
            );
        }
    }
    v
}
