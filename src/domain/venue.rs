//! Restaurants and bars (DESIGN §6, reference/domain.md §5): venues with their floor plan,
//! tables, and the parties that book, wait for and sit at them.
//!
//! Pure rules only. The **party** (a booking, a walk-in or a waitlist entry) and the **table**
//! are separate state machines, as the POS vendors keep them:
//!
//! - party: `booked → arrived → seated → paid → finished`, exits `canceled` and `no_show`;
//!   waitlist `quoted → notified → seated | removed`;
//! - table: `available → reserved → occupied → needs_bussing → available`, and `blocked`.
//!   `occupied` is never set by hand: a table is occupied because a party is seated at it;
//!   `reserved` means a waitlisted party was told the table is ready and it is held for them.
//!
//! A party holds its tables for its turn time (by party size, per venue). Two parties never
//! hold one table at overlapping times: the table's actor checks, and the store's constraint
//! settles what nodes race for.

use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PartyId, PropertyId, ReservationId, TableId, VenueId};

/// Pacing is counted per slot of this many minutes (covers whose booking starts in it).
pub const PACING_SLOT_MINUTES: i64 = 15;

/// The longest turn time a venue may set: no party holds a table longer, which bounds every
/// schedule lookup (a hold overlapping a time started at most this long before it).
pub const MAX_TURN_MINUTES: i64 = 600;

/// The largest party a venue seats (bookings of more go to events, not tables).
pub const MAX_PARTY: u16 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    Restaurant,
    Bar,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    #[default]
    Square,
    Round,
    Rectangle,
}

/// Parties of up to `max_party` keep their table `minutes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnTime {
    pub max_party: u16,
    pub minutes: u32,
}

/// Tables that may be pushed together for one party of `min_seats..=max_seats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Combination {
    pub tables: Vec<TableId>,
    pub min_seats: u16,
    pub max_seats: u16,
}

/// Why a venue, table or party command was refused (422, or 409 where it is a conflict of
/// state), with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VenueRefusal {
    #[error("{0}")]
    Invalid(String),
    #[error("the table is blocked")]
    TableBlocked,
    #[error("a party is seated at the table")]
    TableOccupied,
    #[error("the table needs bussing first")]
    NeedsBussing,
    #[error("the table is held for another party until its hold ends")]
    TableHeld,
    #[error("nobody is seated at the table")]
    NotOccupied,
    #[error("the table does not need bussing")]
    NotDirty,
    #[error("the table is not blocked")]
    NotBlocked,
    #[error("a party of {size} does not fit a table for {min} to {max}")]
    DoesNotFit { size: u16, min: u16, max: u16 },
    #[error("a party that is {from} cannot be {to}")]
    IllegalTransition {
        from: &'static str,
        to: &'static str,
    },
    #[error("a booking becomes a no-show only once its time has come")]
    NoShowTooEarly,
    #[error("charging to a room needs the party linked to a hotel reservation")]
    NoRoomToCharge,
}

impl VenueRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::TableBlocked => "table_blocked",
            Self::TableOccupied => "table_occupied",
            Self::NeedsBussing => "table_needs_bussing",
            Self::TableHeld => "table_held",
            Self::NotOccupied => "table_not_occupied",
            Self::NotDirty => "table_not_dirty",
            Self::NotBlocked => "table_not_blocked",
            Self::DoesNotFit { .. } => "party_does_not_fit",
            Self::IllegalTransition { .. } => "illegal_transition",
            Self::NoShowTooEarly => "no_show_too_early",
            Self::NoRoomToCharge => "no_room_to_charge",
        }
    }
}

fn invalid(msg: impl Into<String>) -> VenueRefusal {
    VenueRefusal::Invalid(msg.into())
}

/// A restaurant or bar: its sections, turn times, pacing, table combinations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: VenueId,
    pub property_id: PropertyId,
    pub name: String,
    pub kind: VenueKind,
    pub sections: Vec<String>,
    /// By `max_party`, ascending; the last one covers every larger party.
    pub turn_times: Vec<TurnTime>,
    /// At most this many covers may start in one 15-minute slot (bookings; walk-ins are the
    /// host's call).
    pub pacing: Option<u32>,
    /// How long a table told "ready" to a waiting party is held for them.
    pub hold_minutes: u32,
    pub combinations: Vec<Combination>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

impl Venue {
    /// Typical turn times: 90 minutes for two, two hours for four, longer for more.
    #[must_use]
    pub fn default_turn_times() -> Vec<TurnTime> {
        [(2, 90), (4, 120), (6, 150), (MAX_PARTY, 180)]
            .into_iter()
            .map(|(max_party, minutes)| TurnTime { max_party, minutes })
            .collect()
    }

    /// How long a party of `size` keeps its table.
    #[must_use]
    pub fn turn(&self, size: u16) -> Duration {
        let minutes = self
            .turn_times
            .iter()
            .find(|t| size <= t.max_party)
            .or(self.turn_times.last())
            .map_or(120, |t| t.minutes);
        Duration::minutes(i64::from(minutes))
    }

    /// Checks what staff configured.
    pub fn validate(&self) -> Result<(), VenueRefusal> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("a venue needs a name of 1 to 100 characters"));
        }
        if self
            .sections
            .iter()
            .any(|s| s.trim().is_empty() || s.len() > 60)
        {
            return Err(invalid("section names have 1 to 60 characters"));
        }
        if self.turn_times.is_empty()
            || self
                .turn_times
                .windows(2)
                .any(|w| w[0].max_party >= w[1].max_party)
            || self.turn_times.iter().any(|t| {
                t.minutes < 15 || i64::from(t.minutes) > MAX_TURN_MINUTES || t.max_party == 0
            })
        {
            return Err(invalid(
                "turn times go by ascending party size, 15 to 600 minutes each",
            ));
        }
        if self.pacing == Some(0) || self.hold_minutes == 0 || self.hold_minutes > 120 {
            return Err(invalid(
                "pacing is at least one cover; a table is held 1 to 120 minutes",
            ));
        }
        for c in &self.combinations {
            let mut ids = c.tables.clone();
            ids.sort();
            ids.dedup();
            if ids.len() < 2 || ids.len() != c.tables.len() || c.min_seats > c.max_seats {
                return Err(invalid(
                    "a combination joins two or more different tables, min seats ≤ max seats",
                ));
            }
        }
        Ok(())
    }
}

/// The 15-minute pacing slot `at` falls in.
#[must_use]
pub fn pacing_slot(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let slot = Duration::minutes(PACING_SLOT_MINUTES);
    let start = at.duration_trunc(slot).unwrap_or(at);
    (start, start + slot)
}

/// A table held for a waiting party until `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub party: PartyId,
    pub until: DateTime<Utc>,
}

/// What a host sees on the floor plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableState {
    Available,
    Reserved,
    Occupied,
    NeedsBussing,
    Blocked,
}

/// A table on a venue's floor plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub id: TableId,
    pub venue_id: VenueId,
    pub property_id: PropertyId,
    pub name: String,
    pub section: Option<String>,
    pub min_seats: u16,
    pub max_seats: u16,
    /// Position on the floor plan (any unit the plan uses) and shape.
    pub x: f32,
    pub y: f32,
    pub shape: Shape,
    /// Why it is blocked (out of service), if it is.
    pub blocked: Option<String>,
    pub needs_bussing: bool,
    /// The party seated here: what makes it occupied.
    pub seated: Option<PartyId>,
    pub held: Option<Hold>,
    pub version: u64,
}

/// What a table is told to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableCommand {
    Seat {
        party: PartyId,
    },
    /// The party left: the table needs bussing.
    Clear,
    Bus,
    Block {
        reason: String,
    },
    Unblock,
    Hold {
        party: PartyId,
        until: DateTime<Utc>,
    },
}

/// What happened to a table: the events of its stream `table:<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TableEvent {
    TableCreated {
        name: String,
        section: Option<String>,
        min_seats: u16,
        max_seats: u16,
        x: f32,
        y: f32,
        shape: Shape,
    },
    PartySeated {
        party: PartyId,
    },
    #[serde(rename = "table_cleared")]
    Cleared {
        party: PartyId,
    },
    #[serde(rename = "table_bussed")]
    Bussed,
    #[serde(rename = "table_blocked")]
    Blocked {
        reason: String,
    },
    #[serde(rename = "table_unblocked")]
    Unblocked,
    #[serde(rename = "table_held")]
    Held {
        party: PartyId,
        until: DateTime<Utc>,
    },
}

impl TableEvent {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TableCreated { .. } => "table_created",
            Self::PartySeated { .. } => "party_seated",
            Self::Cleared { .. } => "table_cleared",
            Self::Bussed => "table_bussed",
            Self::Blocked { .. } => "table_blocked",
            Self::Unblocked => "table_unblocked",
            Self::Held { .. } => "table_held",
        }
    }
}

/// A new table as staff describe it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTable {
    pub name: String,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default = "one")]
    pub min_seats: u16,
    pub max_seats: u16,
    #[serde(default)]
    pub x: f32,
    #[serde(default)]
    pub y: f32,
    #[serde(default)]
    pub shape: Shape,
}

fn one() -> u16 {
    1
}

impl Table {
    /// A new table of `venue` and its first event.
    pub fn create(
        id: TableId,
        venue: &Venue,
        spec: NewTable,
    ) -> Result<(Self, TableEvent), VenueRefusal> {
        let name = spec.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 20 {
            return Err(invalid("a table needs a name of 1 to 20 characters"));
        }
        if spec.min_seats == 0 || spec.min_seats > spec.max_seats || spec.max_seats > MAX_PARTY {
            return Err(invalid(format!("seats: 1 ≤ min ≤ max ≤ {MAX_PARTY}")));
        }
        if let Some(s) = &spec.section
            && !venue.sections.contains(s)
        {
            return Err(invalid(format!("the venue has no section {s:?}")));
        }
        if !(spec.x.is_finite() && spec.y.is_finite()) {
            return Err(invalid("a position is two finite numbers"));
        }
        let event = TableEvent::TableCreated {
            name: name.clone(),
            section: spec.section.clone(),
            min_seats: spec.min_seats,
            max_seats: spec.max_seats,
            x: spec.x,
            y: spec.y,
            shape: spec.shape,
        };
        let table = Self {
            id,
            venue_id: venue.id,
            property_id: venue.property_id,
            name,
            section: spec.section,
            min_seats: spec.min_seats,
            max_seats: spec.max_seats,
            x: spec.x,
            y: spec.y,
            shape: spec.shape,
            blocked: None,
            needs_bussing: false,
            seated: None,
            held: None,
            version: 1,
        };
        Ok((table, event))
    }

    /// Its state on the floor plan at `now`.
    #[must_use]
    pub fn state(&self, now: DateTime<Utc>) -> TableState {
        if self.blocked.is_some() {
            TableState::Blocked
        } else if self.seated.is_some() {
            TableState::Occupied
        } else if self.needs_bussing {
            TableState::NeedsBussing
        } else if self.held.is_some_and(|h| h.until > now) {
            TableState::Reserved
        } else {
            TableState::Available
        }
    }

    /// Whether a party of `size` fits this table alone.
    #[must_use]
    pub fn fits(&self, size: u16) -> bool {
        self.min_seats <= size && size <= self.max_seats
    }

    /// Validates a command at `now`: the events it causes.
    pub fn decide(
        &self,
        command: &TableCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<TableEvent>, VenueRefusal> {
        let event = match command {
            TableCommand::Seat { party } => {
                self.ready_for(*party, now)?;
                TableEvent::PartySeated { party: *party }
            }
            TableCommand::Clear => TableEvent::Cleared {
                party: self.seated.ok_or(VenueRefusal::NotOccupied)?,
            },
            TableCommand::Bus => {
                if !self.needs_bussing || self.seated.is_some() {
                    return Err(VenueRefusal::NotDirty);
                }
                TableEvent::Bussed
            }
            TableCommand::Block { reason } => {
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 200 {
                    return Err(invalid("a block needs a reason of 1 to 200 characters"));
                }
                if self.seated.is_some() {
                    return Err(VenueRefusal::TableOccupied);
                }
                if self.blocked.is_some() {
                    return Err(VenueRefusal::TableBlocked);
                }
                TableEvent::Blocked {
                    reason: reason.to_owned(),
                }
            }
            TableCommand::Unblock => {
                if self.blocked.is_none() {
                    return Err(VenueRefusal::NotBlocked);
                }
                TableEvent::Unblocked
            }
            TableCommand::Hold { party, until } => {
                self.ready_for(*party, now)?;
                TableEvent::Held {
                    party: *party,
                    until: *until,
                }
            }
        };
        Ok(vec![event])
    }

    /// Whether `party` can sit down (or be held for) now.
    fn ready_for(&self, party: PartyId, now: DateTime<Utc>) -> Result<(), VenueRefusal> {
        if self.blocked.is_some() {
            return Err(VenueRefusal::TableBlocked);
        }
        if self.seated.is_some() {
            return Err(VenueRefusal::TableOccupied);
        }
        if self.needs_bussing {
            return Err(VenueRefusal::NeedsBussing);
        }
        if self.held.is_some_and(|h| h.until > now && h.party != party) {
            return Err(VenueRefusal::TableHeld);
        }
        Ok(())
    }

    /// Applies an event (the next of the stream).
    pub fn apply(&mut self, event: &TableEvent) {
        self.version += 1;
        match event {
            TableEvent::TableCreated { .. } => {}
            TableEvent::PartySeated { party } => {
                self.seated = Some(*party);
                self.held = None;
            }
            TableEvent::Cleared { .. } => {
                self.seated = None;
                self.needs_bussing = true;
            }
            TableEvent::Bussed => self.needs_bussing = false,
            TableEvent::Blocked { reason } => {
                self.blocked = Some(reason.clone());
                self.held = None;
            }
            TableEvent::Unblocked => self.blocked = None,
            TableEvent::Held { party, until } => {
                self.held = Some(Hold {
                    party: *party,
                    until: *until,
                });
            }
        }
    }
}

/// How a party came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Booking,
    WalkIn,
    Waitlist,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyStatus {
    Booked,
    Arrived,
    Seated,
    Paid,
    Finished,
    Canceled,
    NoShow,
    Quoted,
    Notified,
    Removed,
}

impl PartyStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Arrived => "arrived",
            Self::Seated => "seated",
            Self::Paid => "paid",
            Self::Finished => "finished",
            Self::Canceled => "canceled",
            Self::NoShow => "no_show",
            Self::Quoted => "quoted",
            Self::Notified => "notified",
            Self::Removed => "removed",
        }
    }

    /// Whether a party in this status holds its tables for its time (the store's
    /// no-overlap constraint counts these only).
    #[must_use]
    pub fn holds_tables(self) -> bool {
        matches!(
            self,
            Self::Booked | Self::Arrived | Self::Seated | Self::Paid
        )
    }
}

/// How a waiting party was told their table is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A hotel guest: a message in their stay's conversation.
    InApp,
    /// Anyone else: recorded with the phone number, for an SMS gateway to send.
    Sms,
    /// No way to reach them: the host calls out their name.
    None,
}

/// A booking, a walk-in or a waitlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub id: PartyId,
    pub venue_id: VenueId,
    pub property_id: PropertyId,
    pub kind: PartyKind,
    pub status: PartyStatus,
    pub name: String,
    pub phone: Option<String>,
    pub size: u16,
    /// The tables it holds (or sits at); none while waiting.
    pub tables: Vec<TableId>,
    /// Its time at the tables: from the booked (or seating) time for the turn time.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The wait a waitlisted party was quoted.
    pub quoted_minutes: Option<u32>,
    pub hold: Option<(TableId, DateTime<Utc>)>,
    /// A hotel guest's stay, if the party belongs to one.
    pub reservation_id: Option<ReservationId>,
    /// The bill was charged to this stay's room (recorded; the PMS settles it).
    pub charged_to_room: Option<ReservationId>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

/// What a party is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartyCommand {
    Arrive,
    Seat {
        tables: Vec<TableId>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    Pay {
        charge_to_room: bool,
    },
    Finish {
        at: DateTime<Utc>,
    },
    Cancel,
    NoShow {
        now: DateTime<Utc>,
    },
    Notify {
        table: TableId,
        until: DateTime<Utc>,
        channel: Channel,
    },
    Remove,
}

/// What happened to a party: the events of its stream `party:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartyEvent {
    PartyCreated {
        party_kind: PartyKind,
        name: String,
        size: u16,
        tables: Vec<TableId>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        quoted_minutes: Option<u32>,
        reservation_id: Option<ReservationId>,
    },
    #[serde(rename = "party_arrived")]
    Arrived,
    #[serde(rename = "party_seated")]
    Seated {
        tables: Vec<TableId>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[serde(rename = "party_paid")]
    Paid {
        charged_to_room: Option<ReservationId>,
    },
    #[serde(rename = "party_finished")]
    Finished { at: DateTime<Utc> },
    #[serde(rename = "party_canceled")]
    Canceled,
    #[serde(rename = "party_no_show")]
    MarkedNoShow,
    #[serde(rename = "party_notified")]
    Notified {
        table: TableId,
        until: DateTime<Utc>,
        channel: Channel,
    },
    #[serde(rename = "party_removed")]
    Removed,
}

impl PartyEvent {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PartyCreated { .. } => "party_created",
            Self::Arrived => "party_arrived",
            Self::Seated { .. } => "party_seated",
            Self::Paid { .. } => "party_paid",
            Self::Finished { .. } => "party_finished",
            Self::Canceled => "party_canceled",
            Self::MarkedNoShow => "party_no_show",
            Self::Notified { .. } => "party_notified",
            Self::Removed => "party_removed",
        }
    }
}

/// A new party as the host (or a booking) describes it.
#[derive(Clone, Debug)]
pub struct NewParty {
    pub kind: PartyKind,
    pub name: String,
    pub phone: Option<String>,
    pub size: u16,
    pub tables: Vec<TableId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub quoted_minutes: Option<u32>,
    pub reservation_id: Option<ReservationId>,
}

/// Checks a party's size and contact details before anything is looked up.
pub fn validate_party(size: u16, name: &str, phone: Option<&str>) -> Result<(), VenueRefusal> {
    if size == 0 || size > MAX_PARTY {
        return Err(invalid(format!("a party has 1 to {MAX_PARTY} people")));
    }
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(invalid("a party needs a name of 1 to 100 characters"));
    }
    if phone.is_some_and(|p| {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        !(6..=20).contains(&digits)
            || p.chars()
                .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    }) {
        return Err(invalid("a phone number has 6 to 20 digits"));
    }
    Ok(())
}

impl Party {
    /// A new party and its first event.
    pub fn create(
        id: PartyId,
        venue: &Venue,
        spec: NewParty,
        at: DateTime<Utc>,
    ) -> Result<(Self, PartyEvent), VenueRefusal> {
        validate_party(spec.size, &spec.name, spec.phone.as_deref())?;
        let status = match spec.kind {
            PartyKind::Booking => PartyStatus::Booked,
            PartyKind::WalkIn => PartyStatus::Seated,
            PartyKind::Waitlist => PartyStatus::Quoted,
        };
        let event = PartyEvent::PartyCreated {
            party_kind: spec.kind,
            name: spec.name.trim().to_owned(),
            size: spec.size,
            tables: spec.tables.clone(),
            starts_at: spec.starts_at,
            ends_at: spec.ends_at,
            quoted_minutes: spec.quoted_minutes,
            reservation_id: spec.reservation_id,
        };
        let party = Self {
            id,
            venue_id: venue.id,
            property_id: venue.property_id,
            kind: spec.kind,
            status,
            name: spec.name.trim().to_owned(),
            phone: spec.phone,
            size: spec.size,
            tables: spec.tables,
            starts_at: spec.starts_at,
            ends_at: spec.ends_at,
            quoted_minutes: spec.quoted_minutes,
            hold: None,
            reservation_id: spec.reservation_id,
            charged_to_room: None,
            version: 1,
            created_at: at,
        };
        Ok((party, event))
    }

    fn illegal(&self, to: &'static str) -> VenueRefusal {
        VenueRefusal::IllegalTransition {
            from: self.status.as_str(),
            to,
        }
    }

    /// Validates a command: the events it causes.
    pub fn decide(&self, command: &PartyCommand) -> Result<Vec<PartyEvent>, VenueRefusal> {
        use PartyStatus::*;
        let event = match command {
            PartyCommand::Arrive => match self.status {
                Booked => PartyEvent::Arrived,
                _ => return Err(self.illegal("arrived")),
            },
            PartyCommand::Seat {
                tables,
                from,
                until,
            } => match self.status {
                Booked | Arrived | Quoted | Notified if !tables.is_empty() => PartyEvent::Seated {
                    tables: tables.clone(),
                    from: *from,
                    until: *until,
                },
                _ => return Err(self.illegal("seated")),
            },
            PartyCommand::Pay { charge_to_room } => match self.status {
                Seated => {
                    if *charge_to_room && self.reservation_id.is_none() {
                        return Err(VenueRefusal::NoRoomToCharge);
                    }
                    PartyEvent::Paid {
                        charged_to_room: self.reservation_id.filter(|_| *charge_to_room),
                    }
                }
                _ => return Err(self.illegal("paid")),
            },
            PartyCommand::Finish { at } => match self.status {
                Seated | Paid => PartyEvent::Finished { at: *at },
                _ => return Err(self.illegal("finished")),
            },
            PartyCommand::Cancel => match self.status {
                Booked | Arrived => PartyEvent::Canceled,
                _ => return Err(self.illegal("canceled")),
            },
            PartyCommand::NoShow { now } => match self.status {
                Booked if *now >= self.starts_at => PartyEvent::MarkedNoShow,
                Booked => return Err(VenueRefusal::NoShowTooEarly),
                _ => return Err(self.illegal("no_show")),
            },
            PartyCommand::Notify {
                table,
                until,
                channel,
            } => match self.status {
                Quoted | Notified => PartyEvent::Notified {
                    table: *table,
                    until: *until,
                    channel: *channel,
                },
                _ => return Err(self.illegal("notified")),
            },
            PartyCommand::Remove => match self.status {
                Quoted | Notified => PartyEvent::Removed,
                _ => return Err(self.illegal("removed")),
            },
        };
        Ok(vec![event])
    }

    /// Applies an event (the next of the stream).
    pub fn apply(&mut self, event: &PartyEvent) {
        self.version += 1;
        match event {
            PartyEvent::PartyCreated { .. } => {}
            PartyEvent::Arrived => self.status = PartyStatus::Arrived,
            PartyEvent::Seated {
                tables,
                from,
                until,
            } => {
                self.status = PartyStatus::Seated;
                self.tables.clone_from(tables);
                self.starts_at = *from;
                self.ends_at = *until;
                self.hold = None;
            }
            PartyEvent::Paid { charged_to_room } => {
                self.status = PartyStatus::Paid;
                self.charged_to_room = *charged_to_room;
            }
            PartyEvent::Finished { at } => {
                self.status = PartyStatus::Finished;
                // The tables are free from now, not from the end of the turn time.
                self.ends_at = (*at).max(self.starts_at);
            }
            PartyEvent::Canceled => self.status = PartyStatus::Canceled,
            PartyEvent::MarkedNoShow => self.status = PartyStatus::NoShow,
            PartyEvent::Notified { table, until, .. } => {
                self.status = PartyStatus::Notified;
                self.hold = Some((*table, *until));
            }
            PartyEvent::Removed => {
                self.status = PartyStatus::Removed;
                self.hold = None;
            }
        }
    }
}

/// The tables a party of `size` may take, best first: single tables that fit (the smallest
/// first), then combinations that fit (the smallest first). Blocked tables are left out;
/// whether a candidate is free at the time asked is the schedule's question.
#[must_use]
pub fn candidates(venue: &Venue, tables: &[Table], size: u16) -> Vec<Vec<TableId>> {
    let mut singles: Vec<&Table> = tables
        .iter()
        .filter(|t| t.blocked.is_none() && t.fits(size))
        .collect();
    singles.sort_by(|a, b| {
        (a.max_seats, a.min_seats, &a.name).cmp(&(b.max_seats, b.min_seats, &b.name))
    });
    let usable = |id: &TableId| tables.iter().any(|t| t.id == *id && t.blocked.is_none());
    let mut combos: Vec<&Combination> = venue
        .combinations
        .iter()
        .filter(|c| c.min_seats <= size && size <= c.max_seats && c.tables.iter().all(usable))
        .collect();
    combos.sort_by_key(|c| (c.max_seats, c.tables.len()));
    singles
        .into_iter()
        .map(|t| vec![t.id])
        .chain(combos.into_iter().map(|c| c.tables.clone()))
        .collect()
}

/// One party's hold on one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub table: TableId,
    pub party: PartyId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// Whether `tables` are free of every slot in `schedule` over `[from, until)` (slots of
/// `except`, the party being placed, do not count).
#[must_use]
pub fn free(
    schedule: &[Slot],
    tables: &[TableId],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    except: Option<PartyId>,
) -> bool {
    !schedule.iter().any(|s| {
        tables.contains(&s.table)
            && Some(s.party) != except
            && s.starts_at < until
            && from < s.ends_at
    })
}

/// The first time from `now` at which `tables` are free for `turn`, looking at `schedule`;
/// what a waiting party is quoted.
#[must_use]
pub fn earliest_free(
    schedule: &[Slot],
    tables: &[TableId],
    now: DateTime<Utc>,
    turn: Duration,
) -> DateTime<Utc> {
    let mut at = now;
    // Each step moves `at` to the end of a slot that overlaps: at most one step per slot.
    for _ in 0..=schedule.len() {
        let blocking = schedule
            .iter()
            .filter(|s| tables.contains(&s.table) && s.starts_at < at + turn && at < s.ends_at)
            .map(|s| s.ends_at)
            .max();
        match blocking {
            Some(end) => at = end,
            None => return at,
        }
    }
    at
}

/// A wait rounded up to the next 5 minutes, as hosts quote it.
#[must_use]
pub fn quote_minutes(now: DateTime<Utc>, free_at: DateTime<Utc>) -> u32 {
    let seconds = u64::try_from((free_at - now).num_seconds()).unwrap_or(0);
    let minutes = seconds.div_ceil(60);
    u32::try_from(minutes.div_ceil(5) * 5).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
