//! The actor itself: one table's state, and every command that seats, books or holds it.

use std::sync::Arc;

use actix::{
    Actor, ActorFutureExt as _, AtomicResponse, Context, Handler, MessageResult, WrapFuture as _,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    TableOutcome,
    messages::{ApplyRemote, Execute, GetState, Passivate, Reload, TableRequest},
};
use crate::{
    actors::{
        CommandError, backoff, count_outcome,
        registry::{Entity, Shared},
    },
    domain::{
        Agent, PropertyId, TableId,
        venue::{
            Channel, Party, PartyCommand, PartyEvent, Table, TableCommand, TableEvent, Venue,
            VenueRefusal, free,
        },
    },
    events::{Bus, Published, PublishedEvent, topics::tables_topic},
    metrics::Metrics,
    persistence::{self, NewEvent, Projection, Store, StoreError},
    views::table_view,
};

/// Commands waiting for a busy table beyond this make their senders wait.
const MAILBOX_CAPACITY: usize = 64;

pub(crate) struct TableActor {
    table: Table,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    max_retries: u32,
}

impl Entity for TableActor {
    type Key = TableId;
    type State = Table;
    const KIND: &'static str = "table";

    fn build(table: Self::State, shared: &Shared) -> Self {
        Self {
            table,
            store: Arc::clone(&shared.store),
            bus: Arc::clone(&shared.bus),
            metrics: Arc::clone(&shared.metrics),
            max_retries: shared.config.max_conflict_retries,
        }
    }
}

impl Actor for TableActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    }
}

/// Everything one command writes and then publishes.
struct Step {
    rows: Vec<NewEvent>,
    /// An event that could not be serialized: the step fails before anything is committed.
    broken: Option<CommandError>,
    projections: Vec<Projection>,
    publish: Vec<Published>,
    agent: Agent,
    at: DateTime<Utc>,
}

impl Step {
    fn new(agent: &Agent, at: DateTime<Utc>) -> Self {
        Self {
            rows: Vec::new(),
            broken: None,
            projections: Vec::new(),
            publish: Vec::new(),
            agent: agent.clone(),
            at,
        }
    }

    /// Appends `event` to `stream` at `seq`.
    fn row<E: Serialize>(
        &mut self,
        stream: String,
        seq: u64,
        property: PropertyId,
        kind: &str,
        event: &E,
    ) {
        let payload = match crate::actors::event_payload(event) {
            Ok(p) => p,
            Err(e) => {
                self.broken.get_or_insert(e);
                return;
            }
        };
        self.rows.push(NewEvent {
            stream,
            seq,
            property_id: Some(property),
            kind: kind.into(),
            payload,
            actor: self.agent.clone(),
            at: self.at,
        });
    }

    /// Applies `events` to `t`, with their rows, projection and publication.
    fn table(&mut self, t: &mut Table, events: Vec<TableEvent>) {
        let mut published = Vec::with_capacity(events.len());
        for e in events {
            t.apply(&e);
            self.row(t.id.stream(), t.version, t.property_id, e.kind(), &e);
            published.push(PublishedEvent::new(
                t.version,
                &e,
                &self.agent,
                self.at,
                table_view(t, self.at),
            ));
        }
        self.projections.push(Projection::UpsertTable(t.clone()));
        self.publish.push(publication(
            tables_topic(t.venue_id),
            t.id.stream(),
            published,
        ));
    }

    /// Applies `events` to `p` (a new party when `created`), likewise.
    fn party(&mut self, p: &mut Party, events: Vec<PartyEvent>) {
        let mut published = Vec::with_capacity(events.len());
        for e in events {
            if !matches!(e, PartyEvent::PartyCreated { .. }) {
                p.apply(&e);
            }
            self.row(p.id.stream(), p.version, p.property_id, e.kind(), &e);
            let state = serde_json::to_value(&*p).unwrap_or_default();
            published.push(PublishedEvent::new(
                p.version,
                &e,
                &self.agent,
                self.at,
                state,
            ));
        }
        self.projections.push(Projection::UpsertParty(p.clone()));
        self.publish.push(publication(
            tables_topic(p.venue_id),
            p.id.stream(),
            published,
        ));
    }
}

fn publication(topic: String, stream: String, events: Vec<PublishedEvent>) -> Published {
    Published {
        topics: vec![topic],
        stream,
        from_seq: events.first().map_or(0, |e| e.seq),
        to_seq: events.last().map_or(0, |e| e.seq),
        events,
    }
}

/// The bus message for events of a party committed outside any table (arrive, cancel, …).
pub(crate) fn party_publication(
    p: &Party,
    events: &[(u64, PartyEvent)],
    agent: &Agent,
    at: DateTime<Utc>,
) -> Published {
    let state = serde_json::to_value(p).unwrap_or_default();
    let events = events
        .iter()
        .map(|(seq, e)| PublishedEvent::new(*seq, e, agent, at, state.clone()))
        .collect();
    publication(tables_topic(p.venue_id), p.id.stream(), events)
}

/// The other tables of `tables` (not `this`), as the store has them.
async fn others(
    store: &dyn Store,
    tables: &[TableId],
    this: TableId,
) -> Result<Vec<Table>, CommandError> {
    let mut out = Vec::new();
    for id in tables.iter().filter(|id| **id != this) {
        out.push(
            store
                .venue_table(*id)
                .await?
                .ok_or(CommandError::TableNotFound)?,
        );
    }
    Ok(out)
}

async fn party_of(
    store: &dyn Store,
    venue: &Venue,
    id: crate::domain::PartyId,
) -> Result<Party, CommandError> {
    store
        .party(id)
        .await?
        .filter(|p| p.venue_id == venue.id)
        .ok_or(CommandError::PartyNotFound)
}

async fn attempt_once(
    store: &dyn Store,
    current: &Table,
    msg: &Execute,
) -> Result<(Table, Option<Party>, Vec<TableId>, Step), CommandError> {
    if let Some(expected) = msg.expected_version
        && expected != current.version
    {
        return Err(CommandError::VersionMismatch {
            expected,
            actual: current.version,
        });
    }
    let at = persistence::now();
    let venue = store
        .venue(current.venue_id)
        .await?
        .ok_or(CommandError::VenueNotFound)?;
    let mut step = Step::new(&msg.agent, at);
    let mut table = current.clone();
    // A hold for a party that is no longer waiting for it (seated elsewhere, removed) holds
    // nothing: the table is free for the next party without waiting for the hold to run out.
    if let Some(hold) = table.held
        && hold.until > at
        && store
            .party(hold.party)
            .await?
            .is_none_or(|p| p.status != crate::domain::venue::PartyStatus::Notified)
    {
        table.held = None;
    }
    let mut party_after = None;
    let mut changed_others = Vec::new();
    match &msg.request {
        TableRequest::Book {
            party,
            event,
            pacing,
        } => {
            if table.blocked.is_some() {
                return Err(VenueRefusal::TableBlocked.into());
            }
            for other in others(store, &party.tables, table.id).await? {
                if other.venue_id != venue.id {
                    // A combination never spans venues: this is a bug, not a blocked table.
                    return Err(CommandError::TableNotFound);
                }
                if other.blocked.is_some() {
                    return Err(VenueRefusal::TableBlocked.into());
                }
            }
            let schedule = store
                .schedule(venue.id, party.starts_at, party.ends_at)
                .await?;
            if !free(
                &schedule,
                &party.tables,
                party.starts_at,
                party.ends_at,
                None,
            ) {
                return Err(CommandError::table_taken());
            }
            if let Some(limit) = pacing {
                let (from, to) = crate::domain::venue::pacing_slot(party.starts_at);
                step.projections.push(Projection::CheckPacing {
                    venue_id: venue.id,
                    party: party.id,
                    from,
                    to,
                    size: party.size,
                    limit: *limit,
                });
            }
            let mut p = (**party).clone();
            step.party(&mut p, vec![(**event).clone()]);
            party_after = Some(p);
        }
        TableRequest::WalkIn { party, event } => {
            let events = table.decide(&TableCommand::Seat { party: party.id }, at)?;
            let schedule = store.schedule(venue.id, at, party.ends_at).await?;
            if !free(&schedule, &[table.id], at, party.ends_at, None) {
                // A booking starts within the walk-in's turn time.
                return Err(CommandError::table_taken());
            }
            let mut p = (**party).clone();
            step.party(&mut p, vec![(**event).clone()]);
            step.table(&mut table, events);
            party_after = Some(p);
        }
        TableRequest::Seat { party } => {
            let mut p = party_of(store, &venue, *party).await?;
            let tables = if p.tables.contains(&table.id) {
                p.tables.clone()
            } else {
                if !table.fits(p.size) {
                    return Err(VenueRefusal::DoesNotFit {
                        size: p.size,
                        min: table.min_seats,
                        max: table.max_seats,
                    }
                    .into());
                }
                vec![table.id]
            };
            // The table's own state first (the most specific answer), then the party's,
            // then the schedule (a booking due within this party's turn time).
            let seat = TableCommand::Seat { party: p.id };
            let events = table.decide(&seat, at)?;
            let until = at + venue.turn(p.size);
            let party_events = p.decide(&PartyCommand::Seat {
                tables: tables.clone(),
                from: at,
                until,
            })?;
            let schedule = store.schedule(venue.id, at, until).await?;
            if !free(&schedule, &tables, at, until, Some(p.id)) {
                return Err(CommandError::table_taken());
            }
            let mut rest = others(store, &tables, table.id).await?;
            let mut rest_events = Vec::new();
            for t in &rest {
                rest_events.push(t.decide(&seat, at)?);
            }
            step.party(&mut p, party_events);
            step.table(&mut table, events);
            for (t, e) in rest.iter_mut().zip(rest_events) {
                step.table(t, e);
                changed_others.push(t.id);
            }
            party_after = Some(p);
        }
        TableRequest::Clear => {
            let events = table.decide(&TableCommand::Clear, at)?;
            let seated = table.seated;
            step.table(&mut table, events);
            if let Some(id) = seated
                && let Some(mut p) = store.party(id).await?
            {
                let mut rest = others(store, &p.tables, table.id).await?;
                for t in rest.iter_mut().filter(|t| t.seated == Some(id)) {
                    let e = t.decide(&TableCommand::Clear, at)?;
                    step.table(t, e);
                    changed_others.push(t.id);
                }
                if let Ok(e) = p.decide(&PartyCommand::Finish { at }) {
                    step.party(&mut p, e);
                }
                party_after = Some(p);
            }
        }
        TableRequest::Bus => {
            let events = table.decide(&TableCommand::Bus, at)?;
            step.table(&mut table, events);
        }
        TableRequest::Block { reason } => {
            let events = table.decide(
                &TableCommand::Block {
                    reason: reason.clone(),
                },
                at,
            )?;
            step.table(&mut table, events);
        }
        TableRequest::Unblock => {
            let events = table.decide(&TableCommand::Unblock, at)?;
            step.table(&mut table, events);
        }
        TableRequest::Ready { party } => {
            let mut p = party_of(store, &venue, *party).await?;
            if !table.fits(p.size) {
                return Err(VenueRefusal::DoesNotFit {
                    size: p.size,
                    min: table.min_seats,
                    max: table.max_seats,
                }
                .into());
            }
            let turn_end = at + venue.turn(p.size);
            let schedule = store.schedule(venue.id, at, turn_end).await?;
            if !free(&schedule, &[table.id], at, turn_end, Some(p.id)) {
                return Err(CommandError::table_taken());
            }
            let until = at + chrono::Duration::minutes(i64::from(venue.hold_minutes));
            let channel = if p.reservation_id.is_some() {
                Channel::InApp
            } else if p.phone.is_some() {
                Channel::Sms
            } else {
                Channel::None
            };
            let party_events = p.decide(&PartyCommand::Notify {
                table: table.id,
                until,
                channel,
            })?;
            let events = table.decide(&TableCommand::Hold { party: p.id, until }, at)?;
            step.party(&mut p, party_events);
            step.table(&mut table, events);
            party_after = Some(p);
        }
    }
    if let Some(e) = step.broken.take() {
        return Err(e);
    }
    let rows = std::mem::take(&mut step.rows);
    let projections = std::mem::take(&mut step.projections);
    store.commit(rows, projections).await.map_err(|e| match e {
        StoreError::Conflict => CommandError::Contention,
        other => other.into(),
    })?;
    Ok((table, party_after, changed_others, step))
}

async fn decide_and_commit(
    store: &dyn Store,
    mut table: Table,
    msg: &Execute,
    max_retries: u32,
) -> (
    Table,
    Result<(Option<Party>, Vec<TableId>, Step), CommandError>,
) {
    let mut attempt = 0;
    loop {
        let outcome = attempt_once(store, &table, msg).await;
        // A lost race (this table's stream or another table of the combination), or a refusal
        // judged on a replica another node has moved past: judge again on the store's state.
        let retry = match &outcome {
            Err(CommandError::Contention) => true,
            Err(CommandError::VenueRefused(_) | CommandError::VersionMismatch { .. }) => {
                matches!(store.venue_table(table.id).await, Ok(Some(t)) if t.version != table.version)
            }
            _ => false,
        };
        if retry
            && attempt < max_retries
            && let Ok(Some(latest)) = store.venue_table(table.id).await
        {
            attempt += 1;
            table = latest;
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        return match outcome {
            Ok((next, party, others, step)) => (next, Ok((party, others, step))),
            Err(e) => (table, Err(e)),
        };
    }
}

impl Handler<Execute> for TableActor {
    type Result = AtomicResponse<Self, Result<TableOutcome, CommandError>>;

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) -> Self::Result {
        let store = Arc::clone(&self.store);
        let table = self.table.clone();
        let max_retries = self.max_retries;
        let work = async move { decide_and_commit(store.as_ref(), table, &msg, max_retries).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(latest, result), act, _ctx| {
                act.table = latest;
                count_outcome(&act.metrics, &result);
                let (party, others, step) = result?;
                for p in step.publish {
                    act.bus.publish(p);
                }
                Ok(TableOutcome {
                    table: act.table.clone(),
                    party,
                    others,
                })
            },
        )))
    }
}

impl TableActor {
    fn reload(&mut self) -> AtomicResponse<Self, ()> {
        let store = Arc::clone(&self.store);
        let id = self.table.id;
        AtomicResponse::new(Box::pin(
            async move { store.venue_table(id).await }
                .into_actor(self)
                .map(move |loaded, act, _ctx| match loaded {
                    Ok(Some(t)) if t.version >= act.table.version => act.table = t,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(table = %id, error = %e, "reload failed"),
                }),
        ))
    }
}

impl Handler<ApplyRemote> for TableActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyRemote, _ctx: &mut Self::Context) -> Self::Result {
        if msg.to_seq <= self.table.version {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if msg.from_seq == self.table.version + 1
            && let Ok(t) = serde_json::from_value::<Table>(msg.state)
            && t.id == self.table.id
            && t.version == msg.to_seq
        {
            self.table = t;
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        self.reload()
    }
}

impl Handler<Reload> for TableActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _msg: Reload, _ctx: &mut Self::Context) -> Self::Result {
        self.reload()
    }
}

impl Handler<GetState> for TableActor {
    type Result = MessageResult<GetState>;

    fn handle(&mut self, _msg: GetState, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.table.clone())
    }
}

impl Handler<Passivate> for TableActor {
    type Result = ();

    fn handle(&mut self, _msg: Passivate, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}
