//! The WebSocket protocol of DESIGN §4: JSON text frames, client ops and server frames.
//!
//! Parsing is strict (unknown ops and fields are errors the client hears about) and every
//! server frame is built here, so the wire format lives in one file.

use actix_web::web::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::events::topics::*;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        topic: String,
        #[serde(default)]
        id: Option<Value>,
        /// For state topics the snapshot is the recovery, so `since` is accepted and the
        /// answer is always a fresh snapshot with versions (never a partial replay).
        #[serde(default)]
        since: Option<Value>,
    },
    Unsubscribe {
        topic: String,
        #[serde(default)]
        id: Option<Value>,
    },
    Ping {
        #[serde(default)]
        id: Option<Value>,
    },
    /// A chat message on `chat:<cid>`, answered `sent` with its seq. `key` (or, without one,
    /// `id`) is the idempotency key: sending again with it answers the seq stored the first
    /// time.
    Send {
        topic: String,
        body: String,
        #[serde(default)]
        id: Option<Value>,
        #[serde(default)]
        key: Option<String>,
        /// `text` (default) or, for staff, `note`.
        #[serde(default)]
        kind: Option<crate::domain::chat::MessageKind>,
    },
    /// "I am typing" on `chat:<cid>`; not stored, shown for a few seconds.
    Typing {
        topic: String,
        #[serde(default)]
        id: Option<Value>,
    },
    /// "I have read up to `seq`" on `chat:<cid>`.
    Read {
        topic: String,
        #[serde(deserialize_with = "crate::domain::ids::seq::de")]
        seq: u64,
        #[serde(default)]
        id: Option<Value>,
    },
}

/// Pulls `id` out of a frame that failed to parse, so the error can still be correlated.
#[must_use]
pub fn salvage_id(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("id").cloned())
}

/// The head of a frame that carries a snapshot: every field but `snapshot`, which comes last.
#[derive(Serialize)]
struct SnapshotHead<'a> {
    r#type: &'static str,
    topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
}

/// A `subscribed` or `reset` frame: `head`, then the shared snapshot JSON, then `}`.
///
/// The snapshot is encoded once per read and shared by every session that subscribed with it
/// (see `snapshots`); only the few bytes of the head are per session. A session writes head,
/// snapshot and tail as one WebSocket frame straight from these buffers, never copying the
/// snapshot.
#[derive(Debug)]
pub struct SnapshotFrame {
    /// `{"type":…,"topic":…,"id":…,"snapshot":`
    pub head: Bytes,
    pub snapshot: Bytes,
}

impl SnapshotFrame {
    fn new(head: &SnapshotHead<'_>, snapshot: Bytes) -> Self {
        let mut head = serde_json::to_string(head).unwrap_or_default();
        head.pop(); // the closing brace; the snapshot field follows
        head.push_str(r#","snapshot":"#);
        Self {
            head: Bytes::from(head),
            snapshot,
        }
    }

    /// The closing brace after the snapshot.
    pub const TAIL: &'static [u8] = b"}";

    /// Total length of the frame's text.
    #[must_use]
    pub fn len(&self) -> usize {
        self.head.len() + self.snapshot.len() + Self::TAIL.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole frame as one text message (for small snapshots).
    #[must_use]
    pub fn to_text(&self) -> ByteString {
        let mut text = String::with_capacity(self.len());
        text.push_str(std::str::from_utf8(&self.head).unwrap_or_default());
        text.push_str(std::str::from_utf8(&self.snapshot).unwrap_or_default());
        text.push('}');
        ByteString::from(text)
    }
}

#[derive(Serialize)]
struct Ack<'a> {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
}

#[derive(Serialize)]
struct SentFrame<'a> {
    r#type: &'static str,
    topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    seq: u64,
    duplicate: bool,
}

/// The answer to a `send`: the message's seq (and whether it had been stored before).
#[must_use]
pub fn sent(topic: &str, id: Option<&Value>, seq: u64, duplicate: bool) -> ByteString {
    encode(&SentFrame {
        r#type: "sent",
        topic,
        id,
        seq,
        duplicate,
    })
}

/// The answer to a `read` or `typing` (or anything else that needs only an acknowledgement).
#[must_use]
pub fn ok(topic: &str, id: Option<&Value>) -> ByteString {
    encode(&Ack {
        r#type: "ok",
        topic: Some(topic),
        id,
    })
}

/// The answer to a `subscribe` with `since` on a stream topic: exactly the events after it.
/// `events` are encoded event objects (`stream`, `seq`, `event`); `state` is the entity now.
#[must_use]
pub fn recovered(topic: &str, id: Option<&Value>, events: &[Value], state: &Value) -> ByteString {
    encode(&serde_json::json!({
        "type": "recovered",
        "topic": topic,
        "id": id,
        "events": events,
        "state": state,
    }))
}

#[derive(Serialize)]
struct ErrorFrame<'a> {
    r#type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    code: &'a str,
    message: &'a str,
}

/// One event of a stream, as sent on a topic. `state` is the entity after this event, whose
/// `version` equals `seq`.
#[derive(Serialize)]
pub struct EventFrame<'a> {
    pub r#type: &'static str,
    pub topic: &'a str,
    pub stream: &'a str,
    pub seq: u64,
    pub event: &'a Value,
    pub state: &'a Value,
}

fn encode(v: &impl Serialize) -> ByteString {
    // Serializing these plain structs cannot fail (no maps with non-string keys).
    ByteString::from(serde_json::to_string(v).unwrap_or_default())
}

/// The answer to a subscribe: the topic's snapshot with versions.
#[must_use]
pub fn subscribed(topic: &str, id: Option<&Value>, snapshot: Bytes) -> SnapshotFrame {
    SnapshotFrame::new(
        &SnapshotHead {
            r#type: "subscribed",
            topic,
            id,
        },
        snapshot,
    )
}

/// A fresh snapshot replacing whatever the client had for `topic` (it may have missed events).
#[must_use]
pub fn reset(topic: &str, snapshot: Bytes) -> SnapshotFrame {
    SnapshotFrame::new(
        &SnapshotHead {
            r#type: "reset",
            topic,
            id: None,
        },
        snapshot,
    )
}

#[must_use]
pub fn unsubscribed(topic: &str, id: Option<&Value>) -> ByteString {
    encode(&Ack {
        r#type: "unsubscribed",
        topic: Some(topic),
        id,
    })
}

#[must_use]
pub fn pong(id: Option<&Value>) -> ByteString {
    encode(&Ack {
        r#type: "pong",
        topic: None,
        id,
    })
}

#[must_use]
pub fn error(id: Option<&Value>, code: &str, message: &str) -> ByteString {
    encode(&ErrorFrame {
        r#type: "error",
        id,
        code,
        message,
    })
}

#[must_use]
pub fn event(frame: &EventFrame<'_>) -> ByteString {
    encode(frame)
}

/// Close codes this server uses (documented in the README).
pub mod close {
    /// The session fell behind its outbound queue cap: reconnect and resubscribe.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// Nothing (not even a pong) arrived within the client timeout.
    pub const IDLE_TIMEOUT: u16 = 4002;
    /// The access token expired: refresh it and reconnect.
    pub const TOKEN_EXPIRED: u16 = 4401;
    /// The API key the session was opened with has been revoked.
    pub const CREDENTIAL_REVOKED: u16 = 4403;
    /// The credential already holds as many sockets on this node as it may.
    pub const TOO_MANY_SOCKETS: u16 = 4429;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_frame_is_head_snapshot_and_tail() {
        let f = subscribed(
            "rooms:x",
            Some(&Value::from(7)),
            Bytes::from_static(b"{\"rooms\":[]}"),
        );
        let v: Value = serde_json::from_str(&f.to_text()).unwrap();
        assert_eq!(v["type"], "subscribed");
        assert_eq!(v["id"], 7);
        assert_eq!(v["snapshot"]["rooms"], serde_json::json!([]));
        assert_eq!(f.len(), f.to_text().len());
    }

    #[test]
    fn client_frames_parse_strictly() {
        let f: ClientFrame =
            serde_json::from_str(r#"{"op":"subscribe","topic":"rooms:x","id":7}"#).unwrap();
        assert!(matches!(f, ClientFrame::Subscribe { id: Some(_), .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"dance"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"op":"ping","x":1}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"topic":"rooms:x"}"#).is_err());
        assert_eq!(
            salvage_id(r#"{"op":"dance","id":"k1"}"#),
            Some(Value::from("k1"))
        );
    }

    #[test]
    fn frames_have_the_documented_shape() {
        let e: Value =
            serde_json::from_str(&error(Some(&Value::from(3)), "bad_request", "no")).unwrap();
        assert_eq!(
            e,
            serde_json::json!({"type":"error","id":3,"code":"bad_request","message":"no"})
        );
        let p: Value = serde_json::from_str(&pong(None)).unwrap();
        assert_eq!(p, serde_json::json!({"type":"pong"}));
    }
}
