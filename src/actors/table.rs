//! The table aggregate: one restaurant table's state on the generic
//! [`EntityActor`](super::entity), and every command that seats, books or holds it.
//!
//! Everything that puts a party at a table goes through the table's actor: a booking (the
//! first table of its combination), a walk-in, seating a waiting party, "table ready". The
//! actor reads the venue's schedule and commits the party's events with its own in one
//! transaction, so within a node no two commands can give one table the same time; between
//! nodes the store's `party_tables_no_overlap` constraint decides.

use chrono::{DateTime, Utc};

use super::{
    CommandError,
    entity::{Aggregate, Attempt, Ctx, Done, Handle, Streamed, row, streamed},
};
use crate::{
    domain::{
        Agent, PartyId, TableId,
        venue::{
            Channel, Party, PartyCommand, PartyEvent, Table, TableCommand, TableEvent, Venue,
            VenueRefusal, free,
        },
    },
    events::{Published, PublishedEvent, topics::tables_topic},
    persistence::{self, NewEvent, Projection, Store, StoreError},
    views::table_view,
};

/// A cloneable handle to an active table. Obtain one from [`Venues`](crate::actors::Venues).
pub type TableHandle = Handle<Table>;

/// What a table is asked to do.
#[derive(Clone, Debug)]
pub enum TableRequest {
    /// Book a new party on its tables (this table is the first of them) for its time. With
    /// `pacing`, the venue's covers per quarter hour are checked in the same transaction.
    Book {
        party: Box<Party>,
        event: Box<PartyEvent>,
        pacing: Option<u32>,
    },
    /// A new walk-in party sits down here now.
    WalkIn {
        party: Box<Party>,
        event: Box<PartyEvent>,
    },
    /// An existing party (booked or waiting) sits down here now.
    Seat {
        party: PartyId,
    },
    /// The party left: the table (and the rest of its combination) needs bussing.
    Clear,
    Bus,
    Block {
        reason: String,
    },
    Unblock,
    /// Hold the table for a waiting party and tell them it is ready.
    Ready {
        party: PartyId,
    },
}

/// What a request led to.
#[derive(Clone, Debug)]
pub struct TableOutcome {
    /// This table after it.
    pub table: Table,
    /// The party it concerned, after it.
    pub party: Option<Party>,
    /// Other tables of the party's combination that changed with it (their actors reload).
    pub others: Vec<TableId>,
}

streamed!(Table, TableEvent, |table, event, _at| table.apply(event));

// A party is written by the tables it sits at, on its own stream. A new party is made at
// version 1 by `Party::new`; its creation is not applied again.
streamed!(Party, PartyEvent, |party, event, _at| {
    if !matches!(event, PartyEvent::PartyCreated { .. }) {
        party.apply(event);
    }
});

impl Aggregate for Table {
    type Key = TableId;
    type Command = TableRequest;
    type Output = TableOutcome;
    type Deps = ();
    const KIND: &'static str = "table";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.venue_table(self.id).await
    }

    async fn attempt(&self, request: &TableRequest, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        attempt(ctx.store, self, request, ctx.agent).await
    }

    fn key_of(msg: &Published) -> Option<TableId> {
        msg.stream.strip_prefix("table:")?.parse().ok()
    }

    // No live topic: table replicas are kept right by optimistic concurrency (a command on a
    // stale one conflicts, reloads and is judged again).
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

    /// Appends the row of `event`, already applied to `entity`.
    fn row<S: Streamed>(&mut self, entity: &S, event: &S::Event) {
        match row(entity, event, &self.agent, self.at) {
            Ok(r) => self.rows.push(r),
            Err(e) => {
                self.broken.get_or_insert(e);
            }
        }
    }

    /// Applies `events` to `t`, with their rows, projection and publication.
    fn table(&mut self, t: &mut Table, events: Vec<TableEvent>) {
        let mut published = Vec::with_capacity(events.len());
        for e in events {
            t.apply(&e);
            self.row(&*t, &e);
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
            p.apply_event(&e, self.at);
            self.row(&*p, &e);
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
    store: &Store,
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
    store: &Store,
    venue: &Venue,
    id: crate::domain::PartyId,
) -> Result<Party, CommandError> {
    store
        .party(id)
        .await?
        .filter(|p| p.venue_id == venue.id)
        .ok_or(CommandError::PartyNotFound)
}

async fn attempt(
    store: &Store,
    current: &Table,
    request: &TableRequest,
    agent: &Agent,
) -> Result<Done<Table>, CommandError> {
    let at = persistence::now();
    let venue = store
        .venue(current.venue_id)
        .await?
        .ok_or(CommandError::VenueNotFound)?;
    let mut step = Step::new(agent, at);
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
    match request {
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
    store.commit(step.rows, step.projections).await?;
    Ok(Done {
        state: table.clone(),
        publish: step.publish,
        output: TableOutcome {
            table,
            party: party_after,
            others: changed_others,
        },
        react: Vec::new(),
    })
}
