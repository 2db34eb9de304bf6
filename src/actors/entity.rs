//! The one entity actor: every room, reservation, task, table and conversation is an
//! [`EntityActor`] over its [`Aggregate`], reached through a typed [`Handle`].
//!
//! The actor owns `(state, version)` and runs one command at a time (`AtomicResponse`: no
//! other message of the actor runs until the command's future has finished), so
//! check-then-act races cannot happen within a node. What differs between kinds of entity —
//! how a command is judged and written, what it publishes — is the aggregate's
//! [`Aggregate::attempt`]; everything else is here, once, and therefore the same for every
//! kind: activation state, reload, remote apply, passivation, the bounded mailbox, the
//! retry policy and its metrics.
//!
//! **The retry policy.** Between nodes the store's `UNIQUE(stream, seq)` decides who wins a
//! race. A lost race (`Contention`) is judged again on the store's newest state; so is a
//! refusal, because a refusal is only as good as the state it was judged on and this replica
//! may not yet have heard of another node's commit — but only when the store's state
//! differs from the one judged. Every retry waits a jittered, growing pause
//! ([`backoff`](super::backoff)), so a busy writer on one node cannot starve another node's
//! retries, and every lost race is counted in `store_conflicts`.

use std::{hash::Hash, sync::Arc};

use actix::{
    Actor, ActorContext as _, ActorFutureExt as _, Addr, AtomicResponse, Context, Handler,
    MailboxError, Message, MessageResult, WrapFuture as _,
};

use super::{
    CommandError, backoff, count_outcome,
    messages::{ApplyRemote, Passivate, Reload},
    registry::Shared,
};
use crate::{
    config::ActorConfig,
    domain::Agent,
    events::{Bus, Published},
    metrics::Metrics,
    persistence::{Store, StoreError},
};

/// Commands waiting for a busy entity beyond this make their senders wait (backpressure).
const MAILBOX_CAPACITY: usize = 64;

/// Whether a failed attempt is judged again on the store's newest state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The answer stands.
    Never,
    /// Only if the store's state differs from the one judged (a refusal, a lost race on a
    /// stream this entity does not own).
    IfMoved,
    /// Always, after reloading (a lost race that may be another entity's stream moving).
    Always,
}

impl Retry {
    /// The policy of every entity: lost races always, refusals if the store's state moved,
    /// nothing else.
    #[must_use]
    pub fn of(error: &CommandError) -> Self {
        match error {
            CommandError::Contention => Self::Always,
            e if e.is_refusal() => Self::IfMoved,
            _ => Self::Never,
        }
    }
}

/// What one successful attempt committed.
pub struct Done<A: Aggregate> {
    /// The entity after the command.
    pub state: A,
    /// The batches to hand to the bus (this entity's and those of others it wrote with it).
    pub publish: Vec<Published>,
    /// What the caller is answered.
    pub output: A::Output,
    /// What the change makes happen to other entities, after it (see [`super::reactions`]).
    pub react: Vec<super::reactions::Reaction>,
}

impl<A: Aggregate<Output = A>> Done<A> {
    /// The usual answer: the entity after the command.
    #[must_use]
    pub fn state(state: A, publish: Vec<Published>) -> Self {
        Self {
            output: state.clone(),
            state,
            publish,
            react: Vec::new(),
        }
    }
}

/// What an attempt may use besides the entity's state.
pub struct Ctx<'a, A: Aggregate> {
    pub store: &'a Store,
    /// Who the command's events are recorded as.
    pub agent: &'a Agent,
    /// The other registries this kind of entity works with (a reservation's rooms).
    pub deps: &'a A::Deps,
}

/// One kind of entity: its state is `Self`, with what the generic actor needs of it.
///
/// A new aggregate is a domain module (state, commands, events, `decide`, `apply`) plus one
/// impl of this trait: how a command is judged and committed ([`Aggregate::attempt`]) and
/// where its batches are published.
// The futures of `load` and `attempt` run on the entity's own actor thread and are never sent
// across threads, so they need not be `Send` (which `async fn` in a trait does not promise).
#[allow(async_fn_in_trait)]
pub trait Aggregate: Streamed + serde::de::DeserializeOwned + Send + Unpin + 'static {
    /// How callers name the entity (a room by property and number, a reservation by id).
    type Key: Clone + Eq + Hash + std::fmt::Debug + Send + Sync + 'static;
    /// What callers ask of it.
    type Command: Send + 'static;
    /// What a command answers.
    type Output: Send + 'static;
    /// Other registries the commands use (a reservation's and a task's rooms); `()` if none.
    type Deps: Clone + Send + Sync + Unpin + 'static;
    /// The kind, as streams are named (`<KIND>:<id>`) and logs say it.
    const KIND: &'static str;

    /// How many lost races a command may retry.
    #[must_use]
    fn max_retries(config: &ActorConfig) -> u32 {
        config.max_conflict_retries
    }

    /// The entity as the store has it now.
    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError>;

    /// The entity as another node published it after a batch (`state` is its view JSON), or
    /// `None` to reload it from the store instead.
    fn remote_state(&self, state: serde_json::Value) -> Option<Self> {
        serde_json::from_value::<Self>(state)
            .ok()
            .filter(|other| self.same_entity(other))
    }

    /// Judges `command` on `self` and commits what it decides. Called again (on the newest
    /// state) when [`Aggregate::retry`] says so.
    async fn attempt(&self, command: &Self::Command, ctx: &Ctx<'_, Self>) -> Attempt<Self>;

    /// Whether a failed attempt is judged again. The default is the policy of every entity:
    /// lost races always, refusals if the store's state moved, nothing else.
    fn retry(_command: &Self::Command, error: &CommandError) -> Retry {
        Retry::of(error)
    }

    /// Whether a command counts in `commands_ok`/`_refused`/`_failed` (not a step another
    /// entity's command takes through this one, which that command counts).
    fn counted(_command: &Self::Command) -> bool {
        true
    }

    /// The entity a batch from another node is about, if it is of this kind.
    fn key_of(msg: &Published) -> Option<Self::Key>;

    /// The topic a replica of `key` must hear other nodes' batches on, if any (a replica not
    /// listening is kept right by the store's optimistic concurrency instead).
    fn live_topic(_key: &Self::Key) -> Option<String> {
        None
    }
}

/// What one attempt at a command comes to.
pub type Attempt<A> = Result<Done<A>, CommandError>;

/// Validate, commit and apply a command. Answers what the aggregate says.
pub struct Execute<A: Aggregate> {
    pub command: A::Command,
    /// When given, the command is refused unless the entity is at exactly this version.
    pub expected_version: Option<u64>,
    pub agent: Agent,
}

impl<A: Aggregate> Message for Execute<A> {
    type Result = Result<A::Output, CommandError>;
}

/// The current state (as last committed through this actor or reloaded).
pub struct GetState<A>(std::marker::PhantomData<A>);

impl<A: Aggregate> Message for GetState<A> {
    type Result = A;
}

/// Where a test makes the next command panic.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    BeforeCommit,
    AfterCommit,
}

/// Test-only: make the next command panic at a chosen point.
#[cfg(test)]
pub(crate) struct InjectFault(pub(crate) Fault);

#[cfg(test)]
impl Message for InjectFault {
    type Result = ();
}

/// The actor of one entity.
pub struct EntityActor<A: Aggregate> {
    state: A,
    deps: A::Deps,
    store: Arc<Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    reactor: Arc<super::reactions::Reactor>,
    max_retries: u32,
    #[cfg(test)]
    fault: Option<Fault>,
}

impl<A: Aggregate> EntityActor<A> {
    pub(crate) fn new(state: A, deps: A::Deps, shared: &Shared) -> Self {
        Self {
            state,
            deps,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            reactor: Arc::clone(&shared.reactor),
            max_retries: A::max_retries(&shared.config),
            #[cfg(test)]
            fault: None,
        }
    }

    /// Replaces the state with the store's (atomically: no command runs meanwhile).
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let current = self.state.clone();
        AtomicResponse::new(Box::pin(
            async move { current.load(store.as_ref()).await }
                .into_actor(self)
                .map(|loaded, act, _ctx| match loaded {
                    Ok(Some(s)) if s.seq() >= act.state.seq() => act.state = s,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(entity = A::KIND, error = %e, "reload failed"),
                }),
        ))
    }
}

impl<A: Aggregate> Actor for EntityActor<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// Judges and commits `msg` starting from `current`, retrying as [`Aggregate::retry`] says at
/// most `max_retries` times. Always returns the newest state it knows, so the actor stays
/// current even when the command fails.
async fn run<A: Aggregate>(
    ctx: Ctx<'_, A>,
    mut current: A,
    msg: &Execute<A>,
    max_retries: u32,
    metrics: &Metrics,
) -> (A, Result<Done<A>, CommandError>) {
    let mut attempt = 0;
    loop {
        let outcome = match msg.expected_version {
            Some(expected) if expected != current.seq() => Err(CommandError::VersionMismatch {
                expected,
                actual: current.seq(),
            }),
            _ => current.attempt(&msg.command, &ctx).await,
        };
        let error = match outcome {
            Ok(done) => return (done.state.clone(), Ok(done)),
            Err(e) => e,
        };
        if matches!(error, CommandError::Contention) {
            Metrics::inc(&metrics.store_conflicts);
        }
        let policy = A::retry(&msg.command, &error);
        if policy != Retry::Never
            && attempt < max_retries
            && let Ok(Some(latest)) = current.load(ctx.store).await
        {
            let moved = latest.seq() != current.seq();
            current = latest;
            if moved || policy == Retry::Always {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        }
        return (current, Err(error));
    }
}

impl<A: Aggregate> Handler<Execute<A>> for EntityActor<A> {
    type Result = AtomicResponse<Self, Result<A::Output, CommandError>>;

    fn handle(&mut self, msg: Execute<A>, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let metrics = Arc::clone(&self.metrics);
        let deps = self.deps.clone();
        let current = self.state.clone();
        let max_retries = self.max_retries;
        let counted = A::counted(&msg.command);
        #[cfg(test)]
        let fault = self.fault.take();
        let work = async move {
            #[cfg(test)]
            assert_ne!(
                fault,
                Some(Fault::BeforeCommit),
                "injected fault before commit"
            );
            let ctx = Ctx {
                store: store.as_ref(),
                agent: &msg.agent,
                deps: &deps,
            };
            let out = run(ctx, current, &msg, max_retries, &metrics).await;
            #[cfg(test)]
            assert_ne!(
                fault,
                Some(Fault::AfterCommit),
                "injected fault after commit"
            );
            out
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            move |(latest, result), act, _ctx| {
                act.state = latest;
                if counted {
                    count_outcome(&act.metrics, &result);
                }
                let done = result?;
                for batch in done.publish {
                    act.bus.publish(batch);
                }
                for reaction in done.react {
                    act.reactor.react(reaction);
                }
                Ok(done.output)
            },
        )))
    }
}

/// The one handler of other nodes' batches: applied if it is the next seq, ignored if old,
/// and anything else (a gap, an unreadable state) makes the actor reload from the store.
impl<A: Aggregate> Handler<ApplyRemote> for EntityActor<A> {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        let version = self.state.seq();
        if msg.to_seq <= version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if msg.from_seq == version + 1
            && let Some(next) = self.state.remote_state(msg.state)
            && next.seq() == msg.to_seq
        {
            self.state = next;
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        self.reload()
    }
}

impl<A: Aggregate> Handler<Reload> for EntityActor<A> {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl<A: Aggregate> Handler<GetState<A>> for EntityActor<A> {
    type Result = MessageResult<GetState<A>>;

    fn handle(&mut self, _msg: GetState<A>, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.state.clone())
    }
}

impl<A: Aggregate> Handler<Passivate> for EntityActor<A> {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
impl<A: Aggregate> Handler<InjectFault> for EntityActor<A> {
    type Result = ();

    fn handle(&mut self, msg: InjectFault, _ctx: &mut Self::Context) {
        self.fault = Some(msg.0);
    }
}

/// A cloneable handle to an active entity. Obtain one from its registry.
pub struct Handle<A: Aggregate> {
    pub(crate) addr: Addr<EntityActor<A>>,
}

impl<A: Aggregate> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr.clone(),
        }
    }
}

impl<A: Aggregate> Handle<A> {
    /// Validates, commits and applies a command; answers what the aggregate says (usually
    /// the entity after the command).
    pub async fn execute(
        &self,
        command: impl Into<A::Command>,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<A::Output, CommandError> {
        self.addr
            .send(Execute {
                command: command.into(),
                expected_version,
                agent,
            })
            .await
            .map_err(mailbox_error::<A>)?
    }

    /// The entity's current state as this node knows it.
    pub async fn state(&self) -> Result<A, CommandError> {
        self.addr
            .send(GetState(std::marker::PhantomData))
            .await
            .map_err(mailbox_error::<A>)
    }

    #[cfg(test)]
    pub(crate) async fn inject_fault(&self, fault: Fault) {
        let _ = self.addr.send(InjectFault(fault)).await;
    }
}

fn mailbox_error<A: Aggregate>(e: MailboxError) -> CommandError {
    // The actor stopped while the command was queued or running (a handler panicked, or it
    // was passivated). Whether a running command committed is unknown to us: say so, and
    // let the registry re-create the actor on the next call.
    CommandError::Unavailable(format!(
        "{} actor stopped ({e}); the command was not confirmed",
        A::KIND
    ))
}

/// An entity whose events are rows of its own stream (every aggregate, and the restaurant's
/// parties, which tables write).
pub trait Streamed: Clone {
    type Event: serde::Serialize;
    /// Whether `other` is (a state of) the same entity.
    fn same_entity(&self, other: &Self) -> bool;
    /// `<kind>:<id>`.
    fn stream(&self) -> String;
    fn property(&self) -> crate::domain::PropertyId;
    /// The seq of the last event applied.
    fn seq(&self) -> u64;
    /// The event's kind, as the log stores it.
    fn kind(event: &Self::Event) -> &'static str;
    /// Applies one event (the version becomes the event's seq).
    fn apply_event(&mut self, event: &Self::Event, at: chrono::DateTime<chrono::Utc>);
}

/// `Streamed` for an entity type with `id` (whose `stream()` names its stream),
/// `property_id` and `version`, whose events have `kind()`: the type, its event type, and how
/// an event is applied (`|state, event, at| …`).
macro_rules! streamed {
    ($ty:ty, $event:ty, |$s:ident, $e:ident, $at:ident| $apply:expr) => {
        impl $crate::actors::entity::Streamed for $ty {
            type Event = $event;

            fn same_entity(&self, other: &Self) -> bool {
                self.id == other.id
            }

            fn stream(&self) -> String {
                self.id.stream()
            }

            fn property(&self) -> $crate::domain::PropertyId {
                self.property_id
            }

            fn seq(&self) -> u64 {
                self.version
            }

            fn kind(event: &$event) -> &'static str {
                event.kind()
            }

            fn apply_event(&mut self, $e: &$event, $at: chrono::DateTime<chrono::Utc>) {
                let $s = self;
                $apply
            }
        }
    };
}
pub(crate) use streamed;

/// One committed event with its seq and the entity right after it.
pub type Applied<S> = Vec<(u64, <S as Streamed>::Event, S)>;

/// Applies `events` one by one to `entity`, with the row of each on the entity's stream at the
/// entity's seq after it: what every command does between deciding and committing.
pub fn append<S: Streamed>(
    entity: &mut S,
    events: Vec<S::Event>,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<crate::persistence::NewEvent>, Applied<S>), CommandError> {
    let mut rows = Vec::with_capacity(events.len());
    let mut applied = Vec::with_capacity(events.len());
    for event in events {
        entity.apply_event(&event, at);
        rows.push(row(entity, &event, agent, at)?);
        applied.push((entity.seq(), event, entity.clone()));
    }
    Ok((rows, applied))
}

/// The log row of `event`, already applied to `entity` (which is at the event's seq): for
/// an entity's first event, which creates it.
pub fn row<S: Streamed>(
    entity: &S,
    event: &S::Event,
    agent: &Agent,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<crate::persistence::NewEvent, CommandError> {
    Ok(crate::persistence::NewEvent {
        stream: entity.stream(),
        seq: entity.seq(),
        property_id: Some(entity.property()),
        kind: S::kind(event).into(),
        payload: super::event_payload(event)?,
        actor: agent.clone(),
        at,
    })
}
