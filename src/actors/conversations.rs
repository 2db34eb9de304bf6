//! Guest conversations on this node: opening one with each reservation, the actors of
//! existing ones, the per-sender rate limit, typing signals and the email fallback job.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use super::{
    CommandError,
    conversation::{ChatWrite, ConversationHandle, Outcome, publications},
    entity::row,
    registry::{Registry, Replicas, Shared},
};
use crate::{
    domain::{
        Agent, ConversationId, Reservation,
        chat::{Author, ChatCommand, ChatRefusal, Conversation, MessageKind, Side, sender_key},
    },
    events::{
        Published, PublishedEvent,
        topics::{chat_topic, guest_chat_topic},
    },
    persistence::{self, NewEvent, Projection, StoreError},
};

/// How long a typing indicator shows unless renewed (clients renew while typing).
pub const TYPING_EXPIRES_MS: u64 = 5000;

/// Finds or activates conversation actors. Cheap to clone.
#[derive(Clone)]
pub struct Conversations {
    inner: Registry<Conversation>,
    limiter: Arc<SendLimiter>,
}

/// A reservation's new conversation: its first event and projection, for the reservation's
/// own transaction (so no reservation exists without its conversation), and what to publish
/// once that has committed.
pub(crate) fn opening(
    reservation: &Reservation,
    guest_name: &str,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(NewEvent, Projection, Vec<Published>), CommandError> {
    let (c, event) = Conversation::open(
        ConversationId(reservation.id.0),
        reservation.property_id,
        reservation.id,
        guest_name,
        at,
    );
    let row = row(&c, &event, agent, at)?;
    let publish = publications(&[(1, event, c.clone())], agent, at);
    Ok((row, Projection::UpsertConversation(c), publish))
}

impl Conversations {
    pub(crate) fn start(shared: Arc<Shared>) -> Self {
        let config = &shared.config;
        let limiter = SendLimiter::new(config.chat_burst, config.chat_per_minute);
        Self {
            inner: Registry::start(shared, ()),
            limiter: Arc::new(limiter),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.inner.shared()
    }

    /// The actor of a conversation, activating it from the store if needed. A reservation
    /// booked before conversations existed gets its conversation now.
    pub async fn get(&self, id: ConversationId) -> Result<ConversationHandle, CommandError> {
        let store = &self.shared().store;
        let load = async {
            if let Some(c) = store.conversation(id).await? {
                return Ok::<_, CommandError>(Some(c));
            }
            let Some(r) = store
                .reservation(crate::domain::ReservationId(id.0))
                .await?
            else {
                return Ok(None);
            };
            let name = store
                .guest(r.guest_id)
                .await?
                .map(|g| g.name)
                .unwrap_or_default();
            let (row, projection, _) =
                opening(&r, &name, &Agent::system("chat"), persistence::now())?;
            match store.commit(vec![row], vec![projection]).await {
                // Another caller opened it first: read theirs.
                Ok(()) | Err(StoreError::Conflict | StoreError::Constraint(_)) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(store.conversation(id).await?)
        };
        self.inner
            .get(&id, load)
            .await?
            .ok_or(CommandError::ConversationNotFound)
    }

    /// The conversation as this node knows it.
    pub async fn state(&self, id: ConversationId) -> Result<Conversation, CommandError> {
        self.get(id).await?.state().await
    }

    /// Sends a message. With a `key`, a retried send answers the seq stored the first time.
    /// Each sender may send `chat_burst` messages at once and `chat_per_minute` after that.
    pub async fn send(
        &self,
        id: ConversationId,
        author: Author,
        kind: MessageKind,
        body: String,
        key: Option<&str>,
        agent: Agent,
    ) -> Result<Outcome, CommandError> {
        let handle = self.get(id).await?;
        // People are limited; the hotel's own notices (a table ready, …) are not.
        if author != Author::System && !self.limiter.allow(agent.as_str()) {
            return Err(CommandError::RateLimited);
        }
        let key = key.map(|k| sender_key(&author, k));
        handle
            .execute(
                ChatWrite {
                    command: ChatCommand::Send { author, kind, body },
                    key,
                },
                None,
                agent,
            )
            .await
    }

    /// Executes any other command.
    pub async fn execute(
        &self,
        id: ConversationId,
        command: ChatCommand,
        agent: Agent,
    ) -> Result<Outcome, CommandError> {
        self.get(id).await?.execute(command, None, agent).await
    }

    /// `side` received (or read) everything up to `up_to`. Acknowledging what was already
    /// acknowledged is fine: it changes nothing and answers `None`.
    pub async fn mark(
        &self,
        id: ConversationId,
        side: Side,
        up_to: u64,
        read: bool,
        agent: Agent,
    ) -> Result<Option<Outcome>, CommandError> {
        let command = if read {
            ChatCommand::MarkRead { side, up_to }
        } else {
            ChatCommand::MarkDelivered { side, up_to }
        };
        match self.execute(id, command, agent).await {
            Ok(o) => Ok(Some(o)),
            Err(CommandError::ChatRefused(ChatRefusal::NoChange)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Tells the other side (and fellow staff) that someone is typing. Not stored: it goes
    /// out once, and clients hide it after [`TYPING_EXPIRES_MS`] unless it is renewed.
    pub fn typing(&self, c: &Conversation, side: Side) {
        let topics = match side {
            Side::Guest => vec![chat_topic(c.id)],
            Side::Staff => vec![chat_topic(c.id), guest_chat_topic(c.id)],
        };
        self.shared().bus.publish(Published {
            topics,
            stream: format!("typing:{}", c.id),
            from_seq: 0,
            to_seq: 0,
            events: vec![PublishedEvent {
                seq: 0,
                event: serde_json::json!({
                    "type": "typing",
                    "side": side,
                    "expires_in_ms": TYPING_EXPIRES_MS,
                }),
                state: serde_json::Value::Null,
            }],
        });
    }

    /// How often the email fallback runs.
    #[must_use]
    pub fn fallback_scan(&self) -> std::time::Duration {
        self.shared().config.chat_fallback_scan
    }

    /// The email fallback: every staff reply a guest has left unread for `chat_fallback_after`
    /// while not connected goes out by email, once (the conversation records it in the same
    /// transaction as the outbox row). Answers how many conversations were emailed.
    pub async fn run_fallbacks(&self) -> usize {
        let delay = self.shared().config.chat_fallback_after;
        let Ok(delay) = chrono::Duration::from_std(delay) else {
            return 0;
        };
        let now = persistence::now();
        let due = match self
            .shared()
            .store
            .conversations_waiting(now - delay, now)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading conversations waiting for the guest failed");
                return 0;
            }
        };
        let mut emailed = 0;
        for id in due {
            let command = ChatCommand::EmailGuest {
                now,
                delay,
                guest_present: false,
            };
            match self.execute(id, command, Agent::system("chat")).await {
                Ok(_) => emailed += 1,
                Err(CommandError::ChatRefused(_)) => {}
                Err(e) => tracing::warn!(conversation = %id, error = %e, "email fallback failed"),
            }
        }
        emailed
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.inner.clone())
    }
}

/// A token bucket per sender: `burst` messages at once, then `per_minute`.
struct SendLimiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl SendLimiter {
    fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn allow(&self, sender: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > 100_000 {
            // Full buckets are the same as no bucket: forget them.
            let (burst, rate) = (self.burst, self.per_second);
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets
            .entry(sender.to_owned())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_gets_a_burst_then_the_rate() {
        let l = SendLimiter::new(3, 60);
        assert!((0..3).all(|_| l.allow("guest:a")));
        assert!(!l.allow("guest:a"), "the burst is spent");
        assert!(l.allow("guest:b"), "per sender");
    }
}
