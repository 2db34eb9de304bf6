//! Restaurants and bars on this node: venues and their floor plans, bookings (a single table
//! first, then a combination), walk-ins, the waitlist with quoted waits, and the actors of the
//! tables.
//!
//! Whatever gives a party a table runs on the table's actor (see [`super::table`]). What
//! concerns only the party — arriving, paying, canceling, leaving the waitlist — runs on the
//! party's own actor (see [`super::party`]; its use cases in `parties.rs`).

mod parties;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    CommandError, Conversations, backoff,
    entity::row,
    registry::{Registry, Replicas, Shared},
    table::{TableHandle, TableOutcome, TableRequest, party_publication},
};
use crate::{
    domain::{
        Agent, ConversationId, PartyId, PropertyId, ReservationId, ReservationStatus, TableId,
        VenueId,
        chat::{Author, MessageKind},
        venue::{
            Combination, NewParty, NewTable, Party, PartyCommand, PartyKind, Table, TableState,
            TurnTime, Venue, VenueKind, VenueRefusal, candidates, earliest_free, free,
            quote_minutes, validate_party,
        },
    },
    events::{Published, PublishedEvent},
    persistence::{self, NewEvent, Projection, StoreError},
};

/// Tables one request may add.
pub const MAX_TABLES_PER_REQUEST: usize = 200;

/// A new venue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVenue {
    pub name: String,
    pub kind: VenueKind,
    #[serde(default)]
    pub sections: Vec<String>,
    #[serde(default)]
    pub turn_times: Option<Vec<TurnTime>>,
    #[serde(default)]
    pub pacing: Option<u32>,
    #[serde(default)]
    pub hold_minutes: Option<u32>,
}

/// Changes to a venue's settings (what is left out stays).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSettings {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub sections: Option<Vec<String>>,
    #[serde(default)]
    pub turn_times: Option<Vec<TurnTime>>,
    /// `0` turns pacing off.
    #[serde(default)]
    pub pacing: Option<u32>,
    #[serde(default)]
    pub hold_minutes: Option<u32>,
    #[serde(default)]
    pub combinations: Option<Vec<Combination>>,
}

/// The events of a venue's stream `venue:<id>`: its settings as they became.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum VenueEvent<'a> {
    VenueCreated { venue: &'a Venue },
    VenueUpdated { venue: &'a Venue },
}

/// A table booking.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    pub party_size: u16,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// When the party comes.
    pub at: DateTime<Utc>,
    /// A hotel guest's stay (their bill may then be charged to the room).
    #[serde(default)]
    pub reservation_id: Option<ReservationId>,
}

/// A party that walked in.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkInRequest {
    pub party_size: u16,
    #[serde(default)]
    pub name: Option<String>,
    /// The host's choice; otherwise the best free table.
    #[serde(default)]
    pub table: Option<TableId>,
    #[serde(default)]
    pub reservation_id: Option<ReservationId>,
}

/// A party that waits for a table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistRequest {
    pub party_size: u16,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub reservation_id: Option<ReservationId>,
}

/// Finds or activates table actors, and runs venues. Cheap to clone.
#[derive(Clone)]
pub struct Venues {
    tables: Registry<Table>,
    parties: Registry<Party>,
    conversations: Conversations,
}

impl Venues {
    pub(crate) fn start(shared: Arc<Shared>, conversations: Conversations) -> Self {
        Self {
            parties: Registry::start(Arc::clone(&shared), ()),
            tables: Registry::start(shared, ()),
            conversations,
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        self.tables.shared()
    }

    fn store(&self) -> &Arc<persistence::Store> {
        &self.shared().store
    }

    pub async fn venue(&self, id: VenueId) -> Result<Venue, CommandError> {
        self.store()
            .venue(id)
            .await?
            .ok_or(CommandError::VenueNotFound)
    }

    /// Opens a venue (no tables yet).
    pub async fn create_venue(
        &self,
        property: PropertyId,
        new: NewVenue,
        agent: &Agent,
    ) -> Result<Venue, CommandError> {
        crate::actors::property::existing(self.store(), property).await?;
        let at = persistence::now();
        let venue = Venue {
            id: VenueId::new(),
            property_id: property,
            name: new.name.trim().to_owned(),
            kind: new.kind,
            sections: new.sections,
            turn_times: new.turn_times.unwrap_or_else(Venue::default_turn_times),
            pacing: new.pacing,
            hold_minutes: new.hold_minutes.unwrap_or(10),
            combinations: Vec::new(),
            version: 1,
            created_at: at,
        };
        venue.validate()?;
        let row = venue_row(
            &venue,
            &VenueEvent::VenueCreated { venue: &venue },
            agent,
            at,
        )?;
        self.store()
            .commit(vec![row], vec![Projection::UpsertVenue(venue.clone())])
            .await?;
        Ok(venue)
    }

    /// Changes a venue's settings (combinations must join tables of the venue).
    pub async fn update_venue(
        &self,
        id: VenueId,
        settings: VenueSettings,
        expected_version: Option<u64>,
        agent: &Agent,
    ) -> Result<Venue, CommandError> {
        for attempt in 0..=self.shared().config.max_conflict_retries {
            let mut venue = self.venue(id).await?;
            if let Some(expected) = expected_version
                && expected != venue.version
            {
                return Err(CommandError::VersionMismatch {
                    expected,
                    actual: venue.version,
                });
            }
            let s = settings.clone();
            if let Some(name) = s.name {
                venue.name = name.trim().to_owned();
            }
            if let Some(sections) = s.sections {
                venue.sections = sections;
            }
            if let Some(t) = s.turn_times {
                venue.turn_times = t;
            }
            if let Some(p) = s.pacing {
                venue.pacing = (p > 0).then_some(p);
            }
            if let Some(h) = s.hold_minutes {
                venue.hold_minutes = h;
            }
            if let Some(c) = s.combinations {
                let tables = self.store().venue_tables(id).await?;
                if c.iter()
                    .flat_map(|c| &c.tables)
                    .any(|t| !tables.iter().any(|x| x.id == *t))
                {
                    return Err(VenueRefusal::Invalid(
                        "a combination names a table that is not in this venue".into(),
                    )
                    .into());
                }
                venue.combinations = c;
            }
            venue.validate()?;
            venue.version += 1;
            let at = persistence::now();
            let row = venue_row(
                &venue,
                &VenueEvent::VenueUpdated { venue: &venue },
                agent,
                at,
            )?;
            match self
                .store()
                .commit(vec![row], vec![Projection::UpsertVenue(venue.clone())])
                .await
            {
                Ok(()) => return Ok(venue),
                Err(StoreError::Conflict) => tokio::time::sleep(backoff(attempt + 1)).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Contention)
    }

    /// Adds tables to a venue's floor plan.
    pub async fn add_tables(
        &self,
        id: VenueId,
        specs: Vec<NewTable>,
        agent: &Agent,
    ) -> Result<Vec<Table>, CommandError> {
        if specs.is_empty() || specs.len() > MAX_TABLES_PER_REQUEST {
            return Err(CommandError::Invalid(format!(
                "give 1 to {MAX_TABLES_PER_REQUEST} tables"
            )));
        }
        let venue = self.venue(id).await?;
        let at = persistence::now();
        let (mut rows, mut projections, mut tables, mut publish) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for spec in specs {
            let (table, event) = Table::create(TableId::new(), &venue, spec)?;
            if tables.iter().any(|t: &Table| t.name == table.name) {
                return Err(CommandError::Invalid(format!(
                    "table {} appears twice in the request",
                    table.name
                )));
            }
            rows.push(row(&table, &event, agent, at)?);
            projections.push(Projection::UpsertTable(table.clone()));
            publish.push(Published {
                topics: vec![crate::events::topics::tables_topic(venue.id)],
                stream: table.id.stream(),
                from_seq: 1,
                to_seq: 1,
                events: vec![PublishedEvent::new(
                    1,
                    &event,
                    agent,
                    at,
                    crate::views::table_view(&table, at),
                )],
            });
            tables.push(table);
        }
        self.store().commit(rows, projections).await?;
        for p in publish {
            self.shared().bus.publish(p);
        }
        Ok(tables)
    }

    /// The actor of a table, activating it from the store if needed.
    pub async fn table(&self, id: TableId) -> Result<TableHandle, CommandError> {
        let store = self.store();
        self.tables
            .get(&id, async {
                Ok::<_, CommandError>(store.venue_table(id).await?)
            })
            .await?
            .ok_or(CommandError::TableNotFound)
    }

    /// Runs a request on a table. Tables of the same combination that changed with it reload
    /// here; a waiting hotel guest told "table ready" hears it in their stay's chat.
    pub async fn table_action(
        &self,
        id: TableId,
        request: TableRequest,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<TableOutcome, CommandError> {
        let ready = matches!(request, TableRequest::Ready { .. });
        let outcome = self
            .table(id)
            .await?
            .execute(request, expected_version, agent)
            .await?;
        for other in &outcome.others {
            self.tables.reload(other);
        }
        if ready && let Some(p) = &outcome.party {
            self.tell_ready(p, &outcome.table).await;
        }
        Ok(outcome)
    }

    async fn tell_ready(&self, party: &Party, table: &Table) {
        let (Some(rid), Some((_, until))) = (party.reservation_id, party.hold) else {
            return;
        };
        let (venue, property) = match (
            self.store().venue(party.venue_id).await,
            self.store().property(party.property_id).await,
        ) {
            (Ok(Some(v)), Ok(Some(p))) => (v, p),
            _ => return,
        };
        let local = until.with_timezone(&property.tz()).format("%H:%M");
        let text = format!(
            "Your table at {} is ready (table {}). We hold it for you until {local}.",
            venue.name, table.name
        );
        let sent = self
            .conversations
            .send(
                ConversationId(rid.0),
                Author::System,
                MessageKind::System,
                text,
                Some(&format!("{}:ready:{}", party.id.stream(), party.version)),
                Agent::system("restaurant"),
            )
            .await;
        if let Err(e) = sent {
            tracing::warn!(party = %party.id, error = %e, "telling a hotel guest their table is ready failed");
        }
    }

    /// The registry as the node sees every registry (remote batches, reloads, shutdown).
    pub(crate) fn replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.tables.clone())
    }

    /// The parties' registry, likewise.
    pub(crate) fn party_replicas(&self) -> Box<dyn Replicas> {
        Box::new(self.parties.clone())
    }
}

/// `candidates` (best first) with equally good ones in random order: single tables before
/// combinations and fewer seats before more stay first, but parties booking the same time
/// at once spread over the tables that are alike instead of all asking for the first.
fn spread(candidates: Vec<Vec<TableId>>, tables: &[Table]) -> Vec<Vec<TableId>> {
    use std::hash::BuildHasher as _;
    let seats = |c: &Vec<TableId>| -> u32 {
        c.iter()
            .filter_map(|id| tables.iter().find(|t| t.id == *id))
            .map(|t| u32::from(t.max_seats))
            .sum()
    };
    let random = std::collections::hash_map::RandomState::new();
    let mut keyed: Vec<_> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| ((c.len() > 1, seats(&c), random.hash_one(i)), c))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, c)| c).collect()
}

fn no_table() -> CommandError {
    CommandError::Conflict {
        code: "no_table_available",
        message: "no table or combination that fits the party is free for its turn time".into(),
    }
}

fn venue_row(
    venue: &Venue,
    event: &VenueEvent<'_>,
    agent: &Agent,
    at: DateTime<Utc>,
) -> Result<NewEvent, CommandError> {
    let kind = match event {
        VenueEvent::VenueCreated { .. } => "venue_created",
        VenueEvent::VenueUpdated { .. } => "venue_updated",
    };
    Ok(NewEvent {
        stream: venue.id.stream(),
        seq: venue.version,
        property_id: Some(venue.property_id),
        kind: kind.into(),
        payload: crate::actors::event_payload(event)?,
        actor: agent.clone(),
        at,
    })
}
