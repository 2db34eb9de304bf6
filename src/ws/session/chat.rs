//! The chat side of a session: subscribing to `chat:<cid>` (exact resume by `since`), and the
//! `send`, `typing` and `read` ops, plus the delivery marks and guest presence they imply.
//!
//! Staff and the guest subscribe by the same name; the session listens on the hub topic of
//! its side (the guest's never carries notes or the inbox's workings). A guest session keeps
//! the conversation's presence lease fresh while subscribed, which is what holds back the email
//! fallback while the guest is connected.

use std::{sync::Arc, time::Instant};

use serde_json::Value;

pub(super) use crate::domain::chat::Side;

use super::{End, Session, Subscription};
use crate::{
    actors::CommandError,
    api_error::ApiError,
    domain::{
        ConversationId, Denial, Principal,
        chat::{Author, MessageKind},
    },
    ws::{
        protocol::{self, Topic, chat_topic, guest_chat_topic},
        snapshots::{self, CHAT_RECOVERY_LIMIT, Snapshot},
    },
};

/// At most one typing signal per subscription per this long (clients send on keystrokes).
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A chat subscription's own state.
pub(super) struct ChatSub {
    pub(super) cid: ConversationId,
    pub(super) side: Side,
    last_typing: Option<Instant>,
}

impl Session {
    /// The side the caller is on in conversation `cid` (after checking they may be in it).
    async fn chat_side(&self, cid: ConversationId) -> Result<Side, (&'static str, String)> {
        let c = self
            .state
            .actors
            .conversations
            .state(cid)
            .await
            .map_err(command_error)?;
        match c.side_of(&self.caller.principal) {
            Ok(side) => Ok(side),
            Err(Denial::NotFound) => Err(("not_found", "no such conversation".into())),
            Err(Denial::Forbidden) => Err((
                "forbidden",
                "you may not take part in this conversation".into(),
            )),
        }
    }

    /// Subscribes to a conversation: the latest messages (`subscribed`), or with `since`
    /// exactly the events after it (`recovered`), or a `reset` when too many were missed.
    pub(super) async fn subscribe_chat(
        &mut self,
        cid: ConversationId,
        id: Option<&Value>,
        since: Option<Value>,
    ) -> Result<(), End> {
        let name = chat_topic(cid);
        let since = match since {
            None => None,
            Some(v) => match v
                .as_u64()
                .or_else(|| v.get(cid.stream()).and_then(Value::as_u64))
                .filter(|&n| crate::domain::ids::seq::check(n).is_ok())
            {
                Some(n) => Some(n),
                None => {
                    return self.send_error(
                        id,
                        "bad_request",
                        "since is the seq of the last event seen (a number up to 2^63 - 1)",
                    );
                }
            },
        };
        let side = match self.chat_side(cid).await {
            Ok(s) => s,
            Err((code, msg)) => return self.send_error(id, code, &msg),
        };
        if self.chat_sub(&name).is_ok() {
            return self.send_error(id, "already_subscribed", "already subscribed to that topic");
        }
        if self.subs.len() >= self.state.ws.max_subscriptions {
            return self.send_error(
                id,
                "too_many_subscriptions",
                "unsubscribe from a topic first",
            );
        }
        let key = match side {
            Side::Guest => guest_chat_topic(cid),
            Side::Staff => name.clone(),
        };
        // Listen first, then read (see the module docs of `session`).
        self.state
            .hub
            .subscribe(&key, self.id, Arc::clone(&self.outbox));
        self.state.bus.ready_for(&key).await;
        let store = self.state.store.as_ref();
        let read = match since {
            Some(after) => snapshots::chat_events(store, cid, after, CHAT_RECOVERY_LIMIT)
                .await
                .map(|r| r.map(|(c, events, more)| Read::Events(Box::new(c), events, more))),
            None => snapshots::chat_snapshot(store, cid, side)
                .await
                .map(|r| r.map(|(json, version)| Read::Snapshot(json, version))),
        };
        let read = match read {
            Ok(Some(r)) => r,
            Ok(None) => {
                self.state.hub.unsubscribe(&key, self.id);
                return self.send_error(id, "not_found", "no such conversation");
            }
            Err(e) => {
                self.state.hub.unsubscribe(&key, self.id);
                tracing::warn!(session = self.id, topic = %name, error = %e, "chat read failed");
                return self.send_error(id, "unavailable", "the store is unavailable; retry");
            }
        };
        let version = match &read {
            Read::Events(c, ..) => c.version,
            Read::Snapshot(_, v) => *v,
        };
        self.subs.push(Subscription {
            topic: key.into_boxed_str(),
            floor: Some(floor(cid, version)),
            chat: Some(ChatSub {
                cid,
                side,
                last_typing: None,
            }),
        });
        if side == Side::Guest {
            self.guest_present(cid, true);
        }
        self.mark_delivered(cid, side, version);
        match read {
            Read::Events(c, events, false) => {
                let events: Vec<Value> = events
                    .iter()
                    .filter_map(|e| crate::views::chat_event(e, side))
                    .collect();
                self.send(&protocol::recovered(&name, id, &events, &c.view(side)))
            }
            // Too much was missed for one frame: start over from the latest messages.
            Read::Events(..) => match snapshots::chat_snapshot(store, cid, side).await {
                Ok(Some((json, _))) => self.send_snapshot(protocol::reset(&name, json)),
                _ => self.send_error(id, "unavailable", "the store is unavailable; retry"),
            },
            Read::Snapshot(json, _) => self.send_snapshot(protocol::subscribed(&name, id, json)),
        }
    }

    /// A fresh chat snapshot after this node may have missed events.
    pub(super) async fn reset_chat(
        &mut self,
        key: &str,
        cid: ConversationId,
        side: Side,
    ) -> Result<(), End> {
        let name = chat_topic(cid);
        match snapshots::chat_snapshot(self.state.store.as_ref(), cid, side).await {
            Ok(Some((json, version))) => {
                if let Some(sub) = self.subscription(key) {
                    sub.floor = Some(floor(cid, version));
                }
                self.send_snapshot(protocol::reset(&name, json))
            }
            _ => self.send_error(
                None,
                "unavailable",
                "could not refresh a topic; resubscribe",
            ),
        }
    }

    /// The conversation and side of the chat subscription named `raw` by the client, or the
    /// error to answer.
    fn chat_sub(&self, raw: &str) -> Result<(ConversationId, Side), (&'static str, &'static str)> {
        let Ok(Topic::Chat(cid)) = Topic::parse(raw) else {
            return Err((
                "bad_request",
                "send, typing and read work on chat:<cid> topics",
            ));
        };
        self.subs
            .iter()
            .find_map(|s| s.chat.as_ref().filter(|c| c.cid == cid))
            .map(|c| (c.cid, c.side))
            .ok_or(("not_subscribed", "subscribe to the conversation first"))
    }

    pub(super) async fn send_message(
        &mut self,
        topic: &str,
        id: Option<&Value>,
        body: String,
        key: Option<String>,
        kind: Option<MessageKind>,
    ) -> Result<(), End> {
        let (cid, side) = match self.chat_sub(topic) {
            Ok(s) => s,
            Err((code, msg)) => return self.send_error(id, code, msg),
        };
        let author = match (&self.caller.principal, side) {
            (_, Side::Guest) => Author::Guest,
            (Principal::Staff { user_id, .. }, Side::Staff) => Author::Staff { user_id: *user_id },
            _ => return self.send_error(id, "forbidden", "only people send chat messages"),
        };
        // Without a key the frame's id is the key: a client that resends the same frame
        // after a reconnect stores it once.
        let key =
            key.or_else(|| id.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)));
        let outcome = self
            .state
            .actors
            .conversations
            .send(
                cid,
                author,
                kind.unwrap_or(MessageKind::Text),
                body,
                key.as_deref(),
                self.caller.principal.agent(),
            )
            .await;
        match outcome {
            Ok(o) => self.send(&protocol::sent(&chat_topic(cid), id, o.seq, o.duplicate)),
            Err(e) => {
                let (code, msg) = command_error(e);
                self.send_error(id, code, &msg)
            }
        }
    }

    pub(super) async fn typing(&mut self, topic: &str, id: Option<&Value>) -> Result<(), End> {
        let (cid, side) = match self.chat_sub(topic) {
            Ok(s) => s,
            Err((code, msg)) => return self.send_error(id, code, msg),
        };
        let now = Instant::now();
        let due = self
            .subs
            .iter_mut()
            .find_map(|s| s.chat.as_mut().filter(|c| c.cid == cid))
            .is_some_and(|c| {
                let due = c.last_typing.is_none_or(|t| now - t >= TYPING_EVERY);
                if due {
                    c.last_typing = Some(now);
                }
                due
            });
        if due && let Ok(c) = self.state.actors.conversations.state(cid).await {
            self.state.actors.conversations.typing(&c, side);
        }
        match id {
            Some(_) => self.send(&protocol::ok(&chat_topic(cid), id)),
            None => Ok(()),
        }
    }

    pub(super) async fn read(
        &mut self,
        topic: &str,
        seq: u64,
        id: Option<&Value>,
    ) -> Result<(), End> {
        let (cid, side) = match self.chat_sub(topic) {
            Ok(s) => s,
            Err((code, msg)) => return self.send_error(id, code, msg),
        };
        let marked = self
            .state
            .actors
            .conversations
            .mark(cid, side, seq, true, self.caller.principal.agent())
            .await;
        match marked {
            Ok(_) => self.send(&protocol::ok(&chat_topic(cid), id)),
            Err(e) => {
                let (code, msg) = command_error(e);
                self.send_error(id, code, &msg)
            }
        }
    }

    /// Records (in the background) that `side` received the conversation up to `up_to`; the
    /// actor ignores it unless it covers a message that side had not received.
    pub(super) fn mark_delivered(&self, cid: ConversationId, side: Side, up_to: u64) {
        let conversations = self.state.actors.conversations.clone();
        let agent = self.caller.principal.agent();
        actix_rt::spawn(async move {
            if let Err(e) = conversations.mark(cid, side, up_to, false, agent).await {
                tracing::debug!(conversation = %cid, error = %e, "delivery mark failed");
            }
        });
    }

    /// Renews (or ends) the guest's presence lease on a conversation, in the background.
    pub(super) fn guest_present(&self, cid: ConversationId, present: bool) {
        let store = Arc::clone(&self.state.store);
        // Two heartbeats and some slack: a node that dies leaves its guests "away" soon.
        let lease = self.state.ws.ping_interval * 2 + std::time::Duration::from_secs(5);
        let until = present.then(|| {
            crate::persistence::now() + chrono::Duration::from_std(lease).unwrap_or_default()
        });
        actix_rt::spawn(async move {
            if let Err(e) = store.set_guest_presence(cid, until).await {
                tracing::debug!(conversation = %cid, error = %e, "presence update failed");
            }
        });
    }
}

enum Read {
    Events(
        Box<crate::domain::chat::Conversation>,
        Vec<crate::persistence::StoredEvent>,
        bool,
    ),
    Snapshot(bytes::Bytes, u64),
}

/// Live events of the conversation up to `version` were already read: skip them.
fn floor(cid: ConversationId, version: u64) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        json: bytes::Bytes::new(),
        versions: std::collections::HashMap::from([(cid.stream().into_boxed_str(), version)]),
        read_at: Instant::now(),
    })
}

/// A command's failure as an error frame's code and message (internal causes stay in logs).
pub(super) fn command_error(e: CommandError) -> (&'static str, String) {
    let e = ApiError::from(e);
    let code = e.code();
    let message = match &e {
        ApiError::Internal(_) | ApiError::Unavailable(_) => {
            tracing::warn!(error = ?e, "chat command failed");
            "the service is temporarily unavailable; retry".to_owned()
        }
        other => other.to_string(),
    };
    (code, message)
}
