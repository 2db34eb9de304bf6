//! The conversation aggregate: one guest conversation's state on the generic
//! [`EntityActor`](super::entity), and its command path.
//!
//! Messages, read and delivery marks, status changes and email fallbacks are all events of the
//! conversation's stream, so one actor orders them: a message's seq is its place in the
//! stream, an idempotency key is checked and remembered in the same step as the message it
//! stored, and a read mark can never overtake the message it covers.

use chrono::{DateTime, Utc};

use super::{
    CommandError,
    entity::{Aggregate, Attempt, Ctx, Done, Handle, append, streamed},
};
use crate::{
    config::ActorConfig,
    domain::{
        Agent, ConversationId,
        chat::{ChatCommand, ChatEvent, Conversation, Side},
        notice::GUEST_LINK,
    },
    events::{
        Published, PublishedEvent,
        topics::{GUEST_SIDE, chat_topic, guest_chat_topic, inbox_topic},
    },
    persistence::{self, OutboxEmail, Projection, Store, StoreError},
};

/// A cloneable handle to an active conversation. Obtain one from
/// [`Conversations`](crate::actors::Conversations).
pub type ConversationHandle = Handle<Conversation>;

/// A command with the sender's idempotency key (see
/// [`sender_key`](crate::domain::chat::sender_key)): a retried send answers the message stored
/// the first time instead of storing it again.
pub struct ChatWrite {
    pub command: ChatCommand,
    pub key: Option<String>,
}

impl From<ChatCommand> for ChatWrite {
    fn from(command: ChatCommand) -> Self {
        Self { command, key: None }
    }
}

/// What a command led to.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The conversation after it.
    pub conversation: Conversation,
    /// The seq the command stored (for a send, the message's seq; for a retried send, the
    /// seq stored the first time).
    pub seq: u64,
    /// The send was a retry: nothing new was stored.
    pub duplicate: bool,
}

streamed!(Conversation, ChatEvent, |c, event, at| c.apply(event, at));

impl Aggregate for Conversation {
    type Key = ConversationId;
    type Command = ChatWrite;
    type Output = Outcome;
    type Deps = ();
    const KIND: &'static str = "conversation";

    fn max_retries(config: &ActorConfig) -> u32 {
        // Two nodes writing one conversation race only for the order of messages, never for
        // whether they may be stored: a sender should not get "retry" for that, so a
        // conversation retries lost races longer than other entities do (each attempt is
        // judged again on the store's state, with jittered backoff).
        config.max_conflict_retries * 4
    }

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.conversation(self.id).await
    }

    /// The bus carries views, not the whole state (idempotency keys stay in the store): a
    /// replica behind the batch reloads.
    fn remote_state(&self, _state: serde_json::Value) -> Option<Self> {
        None
    }

    async fn attempt(&self, write: &ChatWrite, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        attempt(ctx.store, self, write, ctx.agent).await
    }

    fn key_of(msg: &Published) -> Option<ConversationId> {
        // The guest's copy of a batch carries the same seqs; one is enough.
        if msg.topics.iter().all(|t| t.ends_with(GUEST_SIDE)) {
            return None;
        }
        msg.stream.strip_prefix("conversation:")?.parse().ok()
    }

    fn live_topic(id: &ConversationId) -> Option<String> {
        // Replicas hear their stream through the staff topic of the conversation.
        Some(chat_topic(*id))
    }
}

/// The bus messages of a batch: everything, with the staff view, on `chat:<cid>` and the
/// property's inbox; what the guest may see, with the guest view, on the guest's side of
/// `chat:<cid>`. The guest's message covers the same seqs (with fewer events, or none), so
/// its delivery order has no gaps to wait for.
pub(crate) fn publications(
    events: &[(u64, ChatEvent, Conversation)],
    agent: &Agent,
    at: DateTime<Utc>,
) -> Vec<Published> {
    let Some((_, _, last)) = events.last() else {
        return Vec::new();
    };
    let from_seq = events[0].0;
    let staff = Published {
        topics: vec![chat_topic(last.id), inbox_topic(last.property_id)],
        stream: last.id.stream(),
        from_seq,
        to_seq: last.version,
        events: events
            .iter()
            .map(|(seq, e, after)| PublishedEvent::new(*seq, e, agent, at, after.view(Side::Staff)))
            .collect(),
    };
    let guest = Published {
        topics: vec![guest_chat_topic(last.id)],
        events: events
            .iter()
            .filter(|(_, e, _)| e.visible_to(Side::Guest))
            .map(|(seq, e, after)| {
                PublishedEvent::new(
                    *seq,
                    &e.to_json(Side::Guest),
                    &guest_agent(agent),
                    at,
                    after.view(Side::Guest),
                )
            })
            .collect(),
        ..staff.clone()
    };
    vec![staff, guest]
}

/// Who did it, as the guest may know it: staff members by role, not by id.
fn guest_agent(agent: &Agent) -> Agent {
    if agent.as_str().starts_with("user:") {
        Agent::system("staff")
    } else {
        agent.clone()
    }
}

async fn attempt(
    store: &Store,
    current: &Conversation,
    write: &ChatWrite,
    agent: &Agent,
) -> Result<Done<Conversation>, CommandError> {
    if let Some(key) = &write.key
        && let Some(seq) = current.sent_with(key)
    {
        return Ok(Done {
            state: current.clone(),
            publish: Vec::new(),
            output: Outcome {
                conversation: current.clone(),
                seq,
                duplicate: true,
            },
            react: Vec::new(),
        });
    }
    let at = persistence::now();
    let mut command = write.command.clone();
    if let ChatCommand::EmailGuest {
        now, guest_present, ..
    } = &mut command
    {
        // Judged when the email would go, not when the scan found it.
        *guest_present = store.guest_present(current.id, *now).await?;
    }
    let events = current.decide(&command, at)?;
    let mut next = current.clone();
    let (rows, batch) = append(&mut next, events, agent, at)?;
    if let Some(key) = &write.key {
        next.remember_key(key.clone(), next.version);
    }
    let mut projections = vec![Projection::UpsertConversation(next.clone())];
    if let Some((_, ChatEvent::EmailedGuest { seqs }, _)) = batch.first() {
        projections.extend(fallback_email(store, &next, seqs, at).await?);
    }
    store.commit(rows, projections).await?;
    Ok(Done {
        publish: publications(&batch, agent, at),
        output: Outcome {
            conversation: next.clone(),
            seq: next.version,
            duplicate: false,
        },
        state: next,
        react: Vec::new(),
    })
}

/// The email carrying the staff replies `seqs` to the guest, if the guest has an address.
async fn fallback_email(
    store: &Store,
    c: &Conversation,
    seqs: &[u64],
    at: DateTime<Utc>,
) -> Result<Option<Projection>, CommandError> {
    let Some(first) = seqs.iter().min() else {
        return Ok(None);
    };
    let reservation = store
        .reservation(c.reservation_id)
        .await?
        .ok_or(CommandError::ReservationNotFound)?;
    let Some(email) = store
        .guest(reservation.guest_id)
        .await?
        .and_then(|g| g.email)
    else {
        tracing::info!(conversation = %c.id, "unread replies, but the guest has no email address");
        return Ok(None);
    };
    let property = super::property::existing(store, c.property_id).await?;
    let stream = c.id.stream();
    let events = store
        .read_stream(&stream, first - 1, seqs.len() * 8 + 64)
        .await?;
    let replies: Vec<String> = events
        .iter()
        .filter(|e| seqs.contains(&e.seq))
        .filter_map(|e| serde_json::from_value::<ChatEvent>(e.payload.clone()).ok())
        .filter_map(|e| match e {
            ChatEvent::MessageSent { message } => Some(message.body),
            _ => None,
        })
        .collect();
    let hotel = &property.name;
    let subject = format!("A message from {hotel}");
    let body = format!(
        "Dear {},\n\nthe team at {hotel} wrote to you:\n\n{}\n\nRead and answer in the app: {GUEST_LINK}\n",
        c.guest_name,
        replies
            .iter()
            .map(|r| format!("> {}", r.replace('\n', "\n> ")))
            .collect::<Vec<_>>()
            .join("\n\n"),
    );
    Ok(Some(Projection::EnqueueEmail(OutboxEmail {
        id: uuid::Uuid::new_v4(),
        property_id: c.property_id,
        kind: "chat_reply".into(),
        // The event that records the fallback: a retry of it can never queue a second email.
        idempotency_key: format!("{stream}:{}", c.version),
        recipient: email,
        subject,
        body,
        reservation_id: Some(c.reservation_id),
        link_expires_at: Some(property.night(reservation.stay.departure).1),
        created_at: at,
        attempts: 0,
    })))
}
