//! The actor itself: one conversation's state and its command path.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt as _, AtomicResponse, Context, Handler, MessageResult, WrapFuture as _,
};
use chrono::{DateTime, Utc};

use super::{
    Outcome,
    messages::{ApplyRemote, Execute, GetState, Passivate, Reload},
};
use crate::{
    actors::{
        CommandError, backoff, count_outcome,
        registry::{Entity, Shared},
    },
    domain::{
        Agent, ConversationId,
        chat::{ChatCommand, ChatEvent, Conversation, Side},
        notice::GUEST_LINK,
    },
    events::{
        Bus, Published, PublishedEvent,
        topics::{chat_topic, guest_chat_topic, inbox_topic},
    },
    metrics::Metrics,
    persistence::{self, NewEvent, OutboxEmail, Projection, Store, StoreError},
};

/// Commands waiting for a busy conversation beyond this make their senders wait.
const MAILBOX_CAPACITY: usize = 64;

pub(crate) struct ConversationActor {
    conversation: Conversation,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    max_retries: u32,
}

impl Entity for ConversationActor {
    type Key = ConversationId;
    type State = Conversation;
    const KIND: &'static str = "conversation";

    fn build(conversation: Self::State, shared: &Shared) -> Self {
        Self {
            conversation,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            // Two nodes writing one conversation race only for the order of messages, never
            // for whether they may be stored: a sender should not get "retry" for that, so a
            // conversation retries lost races longer than other entities do (each attempt is
            // judged again on the store's state, with jittered backoff).
            max_retries: shared.config.max_conflict_retries * 4,
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// A committed batch of one conversation's events, each with the conversation after it.
pub(crate) struct Batch {
    pub(crate) events: Vec<(u64, ChatEvent, Conversation)>,
    pub(crate) agent: Agent,
    pub(crate) at: DateTime<Utc>,
}

/// The rows of `events`, applying them to `c`.
pub(crate) fn rows(
    c: &mut Conversation,
    events: Vec<ChatEvent>,
    agent: &Agent,
    at: DateTime<Utc>,
) -> Result<(Vec<NewEvent>, Batch), CommandError> {
    let mut rows = Vec::with_capacity(events.len());
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        c.apply(&event, at);
        rows.push(NewEvent {
            stream: c.id.stream(),
            seq: c.version,
            property_id: Some(c.property_id),
            kind: event.kind().into(),
            payload: crate::actors::event_payload(&event)?,
            actor: agent.clone(),
            at,
        });
        applied.push((c.version, event, c.clone()));
    }
    Ok((
        rows,
        Batch {
            events: applied,
            agent: agent.clone(),
            at,
        },
    ))
}

/// The bus messages of a batch: everything, with the staff view, on `chat:<cid>` and the
/// property's inbox; what the guest may see, with the guest view, on the guest's side of
/// `chat:<cid>`. The guest's message covers the same seqs (with fewer events, or none), so
/// its delivery order has no gaps to wait for.
pub(crate) fn publications(b: &Batch) -> Vec<Published> {
    let Some((_, _, last)) = b.events.last() else {
        return Vec::new();
    };
    let from_seq = b.events[0].0;
    let staff = Published {
        topics: vec![chat_topic(last.id), inbox_topic(last.property_id)],
        stream: last.id.stream(),
        from_seq,
        to_seq: last.version,
        events: b
            .events
            .iter()
            .map(|(seq, e, after)| {
                PublishedEvent::new(*seq, e, &b.agent, b.at, after.view(Side::Staff))
            })
            .collect(),
    };
    let guest = Published {
        topics: vec![guest_chat_topic(last.id)],
        events: b
            .events
            .iter()
            .filter(|(_, e, _)| e.visible_to(Side::Guest))
            .map(|(seq, e, after)| {
                PublishedEvent::new(
                    *seq,
                    &e.to_json(Side::Guest),
                    &guest_agent(&b.agent),
                    b.at,
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

async fn attempt_once(
    store: &dyn Store,
    current: &Conversation,
    msg: &Execute,
) -> Result<(Conversation, Option<Batch>, u64), CommandError> {
    if let Some(key) = &msg.key
        && let Some(seq) = current.sent_with(key)
    {
        return Ok((current.clone(), None, seq));
    }
    let at = persistence::now();
    let mut command = msg.command.clone();
    if let ChatCommand::EmailGuest {
        now, guest_present, ..
    } = &mut command
    {
        // Judged when the email would go, not when the scan found it.
        *guest_present = store.guest_present(current.id, *now).await?;
    }
    let events = current.decide(&command, at)?;
    let mut next = current.clone();
    let (rows, batch) = rows(&mut next, events, &msg.agent, at)?;
    if let Some(key) = &msg.key {
        next.remember_key(key.clone(), next.version);
    }
    let mut projections = vec![Projection::UpsertConversation(next.clone())];
    if let Some((_, ChatEvent::EmailedGuest { seqs }, _)) = batch.events.first() {
        projections.extend(fallback_email(store, &next, seqs, at).await?);
    }
    store.commit(rows, projections).await.map_err(|e| match e {
        StoreError::Conflict => CommandError::Contention,
        other => other.into(),
    })?;
    Ok((next.clone(), Some(batch), next.version))
}

/// The email carrying the staff replies `seqs` to the guest, if the guest has an address.
async fn fallback_email(
    store: &dyn Store,
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
    let property = store
        .property(c.property_id)
        .await?
        .ok_or(CommandError::PropertyNotFound)?;
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

async fn decide_and_commit(
    store: &dyn Store,
    mut c: Conversation,
    msg: &Execute,
    max_retries: u32,
) -> (Conversation, Result<(Option<Batch>, u64), CommandError>) {
    let mut attempt = 0;
    loop {
        let outcome = attempt_once(store, &c, msg).await;
        // A lost race, or a refusal judged on a replica another node has moved past (a read
        // mark "covering nothing" may cover a message this node has not heard of): judge
        // again on the store's state.
        if matches!(
            outcome,
            Err(CommandError::Contention | CommandError::ChatRefused(_))
        ) && attempt < max_retries
            && let Ok(Some(latest)) = store.conversation(c.id).await
            && latest.version != c.version
        {
            attempt += 1;
            c = latest;
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        return match outcome {
            Ok((next, batch, seq)) => (next, Ok((batch, seq))),
            Err(e) => (c, Err(e)),
        };
    }
}

impl Handler<Execute> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Outcome, CommandError>>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let c = self.conversation.clone();
        let max_retries = self.max_retries;
        let work = async move { decide_and_commit(store.as_ref(), c, &msg, max_retries).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.conversation = latest;
                count_outcome(&act.metrics, &result);
                let (batch, seq) = result?;
                let duplicate = batch.is_none();
                if let Some(batch) = batch {
                    for p in publications(&batch) {
                        act.bus.publish(p);
                    }
                }
                Ok(Outcome {
                    conversation: act.conversation.clone(),
                    seq,
                    duplicate,
                })
            },
        )))
    }
}

impl ConversationActor {
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let id = self.conversation.id;
        AtomicResponse::new(Box::pin(
            async move { store.conversation(id).await }
                .into_actor(self)
                .map(move |loaded, act, _ctx| match loaded {
                    Ok(Some(c)) if c.version >= act.conversation.version => act.conversation = c,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(conversation = %id, error = %e, "reload failed"),
                }),
        ))
    }
}

impl Handler<ApplyRemote> for ConversationActor {
    type Result = AtomicResponse<Self, ()>;

    /// The bus carries views, not the whole state (idempotency keys stay in the store): a
    /// replica behind the batch reloads.
    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        if msg.to_seq <= self.conversation.version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        self.reload()
    }
}

impl Handler<Reload> for ConversationActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl Handler<GetState> for ConversationActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.conversation.clone())
    }
}

impl Handler<Passivate> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}
