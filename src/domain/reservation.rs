//! A reservation's lifecycle (DESIGN §6, reference/domain.md §3).
//!
//! `tentative → confirmed → in_house → checked_out`, with the exits `canceled` and `no_show`,
//! and `waitlisted → confirmed` when a sold-out type frees up. Every rule that depends on the
//! calendar is judged against the property's **business date** (its local date, rolled by the
//! night audit), never the server's clock, which is passed in through [`Context`].
//!
//! [`Reservation::decide`] turns a [`ReservationCommand`] into events or a
//! [`ReservationRefusal`]; [`Reservation::allowed_actions`] asks the same guards for every
//! action, so what the front desk is offered and what the server accepts cannot drift apart.
//! Whether a room is free on the requested nights is not decided here: the room's actor and the
//! store's exclusion constraint own that (nothing in a single reservation can know it).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use super::ids::{GuestId, ReservationId};
use super::{
    ids::{PropertyId, RoomId, RoomNumber},
    room::{Cleanliness, FoOccupancy, Room},
};

/// Where a reservation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Held, not yet guaranteed (an inquiry, an option).
    Tentative,
    /// Wanted a sold-out room type; promoted when one frees up.
    Waitlisted,
    /// Guaranteed; due in on the arrival date.
    Confirmed,
    /// Checked in.
    InHouse,
    CheckedOut,
    Canceled,
    NoShow,
}

impl ReservationStatus {
    /// The statuses that hold inventory (see [`Self::holds_inventory`]).
    pub const HOLDING: [Self; 3] = [Self::Tentative, Self::Confirmed, Self::InHouse];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tentative => "tentative",
            Self::Waitlisted => "waitlisted",
            Self::Confirmed => "confirmed",
            Self::InHouse => "in_house",
            Self::CheckedOut => "checked_out",
            Self::Canceled => "canceled",
            Self::NoShow => "no_show",
        }
    }

    /// Whether the reservation still holds inventory (counts against availability).
    #[must_use]
    pub fn holds_inventory(self) -> bool {
        matches!(self, Self::Tentative | Self::Confirmed | Self::InHouse)
    }

    /// Whether nothing more can happen to it.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::CheckedOut | Self::Canceled | Self::NoShow)
    }
}

/// The nights of a stay: from the arrival date up to (not including) the departure date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stay {
    pub arrival: NaiveDate,
    pub departure: NaiveDate,
}

/// The longest stay one reservation may hold.
pub const MAX_NIGHTS: i64 = 365;

impl Stay {
    pub fn new(arrival: NaiveDate, departure: NaiveDate) -> Result<Self, ReservationRefusal> {
        let nights = (departure - arrival).num_days();
        if nights < 1 {
            return Err(ReservationRefusal::InvalidStay(
                "departure must be after arrival".into(),
            ));
        }
        if nights > MAX_NIGHTS {
            return Err(ReservationRefusal::InvalidStay(format!(
                "a stay has at most {MAX_NIGHTS} nights"
            )));
        }
        Ok(Self { arrival, departure })
    }

    #[must_use]
    pub fn nights(&self) -> i64 {
        (self.departure - self.arrival).num_days()
    }

    /// Whether the night starting on `date` is part of the stay.
    #[must_use]
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.arrival <= date && date < self.departure
    }

    /// Whether two stays share a night (a departure day is free for the next arrival).
    #[must_use]
    pub fn overlaps(&self, other: &Stay) -> bool {
        self.arrival < other.departure && other.arrival < self.departure
    }
}

/// Who is coming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub adults: u8,
    #[serde(default)]
    pub children: u8,
}

impl Party {
    fn validate(self) -> Result<Self, ReservationRefusal> {
        if self.adults == 0 {
            return Err(ReservationRefusal::InvalidParty(
                "a reservation needs at least one adult".into(),
            ));
        }
        if u16::from(self.adults) + u16::from(self.children) > 20 {
            return Err(ReservationRefusal::InvalidParty(
                "at most 20 guests in one room".into(),
            ));
        }
        Ok(self)
    }

    /// Whether the party fits one room of a type that sleeps `max_occupancy`: `Ok(true)` when
    /// it fits only by a manager's override (which the caller records), `Ok(false)` when it
    /// simply fits.
    pub fn fits(
        self,
        room_type: &str,
        max_occupancy: u8,
        overriding: bool,
    ) -> Result<bool, ReservationRefusal> {
        let guests = u16::from(self.adults) + u16::from(self.children);
        if guests <= u16::from(max_occupancy) {
            return Ok(false);
        }
        if overriding {
            return Ok(true);
        }
        Err(ReservationRefusal::InvalidParty(format!(
            "a {room_type} room sleeps at most {max_occupancy} guests, not {guests} (a manager \
             may override with \"override_occupancy\": true)"
        )))
    }
}

/// The room a reservation is assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedRoom {
    pub room_id: RoomId,
    pub number: RoomNumber,
}

/// What is asked for when booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewReservation {
    pub guest_id: GuestId,
    pub room_type: String,
    pub stay: Stay,
    pub party: Party,
    /// `confirmed` (the default) or `tentative`; `waitlisted` is decided by availability.
    pub status: ReservationStatus,
    /// Sold beyond the type's inventory, on a manager's explicit decision.
    pub overbooked: bool,
    /// A party larger than the type's `max_occupancy`, on a manager's explicit decision.
    #[serde(default)]
    pub occupancy_overridden: bool,
}

/// A change to dates, room type or party, all-or-nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    #[serde(default)]
    pub arrival: Option<NaiveDate>,
    #[serde(default)]
    pub departure: Option<NaiveDate>,
    #[serde(default)]
    pub room_type: Option<String>,
    #[serde(default)]
    pub party: Option<Party>,
    /// The amended party may exceed the type's `max_occupancy` (a manager's decision).
    #[serde(default)]
    pub override_occupancy: bool,
}

/// The room as it is when a check-in is asked for (read from the room's actor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomReadiness {
    pub cleanliness: Cleanliness,
    /// Someone else is in it (front-office occupancy).
    pub occupied: bool,
    /// Out of order or out of service now.
    pub blocked: bool,
}

impl RoomReadiness {
    /// The room as a check-in judges it at `at`.
    #[must_use]
    pub fn of(room: &Room, at: DateTime<Utc>) -> Self {
        Self {
            cleanliness: room.cleanliness,
            occupied: room.fo_occupancy == FoOccupancy::Occupied,
            blocked: room
                .block
                .as_ref()
                .is_some_and(|b| b.from <= at && at < b.to),
        }
    }
}

/// What a decision needs to know besides the reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The property's business date.
    pub business_date: NaiveDate,
    /// Property setting: check-in only into an inspected room.
    pub require_inspected: bool,
}

/// What can be asked of a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReservationCommand {
    Confirm,
    /// A waitlisted reservation gets its room type (a cancellation freed one).
    Promote,
    Assign(AssignedRoom),
    Unassign,
    CheckIn(RoomReadiness),
    /// An in-house guest changes rooms.
    Move(AssignedRoom),
    CheckOut,
    Cancel {
        reason: String,
    },
    NoShow,
    Amend(Amendment),
}

/// The actions a reservation lists with `allowed_actions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReservationAction {
    Confirm,
    Promote,
    Assign,
    Unassign,
    CheckIn,
    Move,
    CheckOut,
    Cancel,
    NoShow,
    Amend,
}

impl ReservationAction {
    pub const ALL: [Self; 10] = [
        Self::Confirm,
        Self::Promote,
        Self::Assign,
        Self::Unassign,
        Self::CheckIn,
        Self::Move,
        Self::CheckOut,
        Self::Cancel,
        Self::NoShow,
        Self::Amend,
    ];
}

/// One entry of `allowed_actions`: allowed, or not with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionState {
    pub action: ReservationAction,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Facts about a reservation, appended to its stream `reservation:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReservationEvent {
    ReservationCreated {
        property_id: PropertyId,
        #[serde(flatten)]
        spec: NewReservation,
    },
    Confirmed,
    Promoted,
    RoomAssigned {
        room: AssignedRoom,
    },
    RoomUnassigned {
        room: AssignedRoom,
    },
    CheckedIn {
        room: AssignedRoom,
        business_date: NaiveDate,
    },
    RoomMoved {
        from: AssignedRoom,
        to: AssignedRoom,
        business_date: NaiveDate,
    },
    CheckedOut {
        room: AssignedRoom,
        business_date: NaiveDate,
        /// The stay as it ended (shortened for an early departure).
        stay: Stay,
    },
    Canceled {
        reason: String,
    },
    MarkedNoShow {
        business_date: NaiveDate,
    },
    Amended {
        from_stay: Stay,
        stay: Stay,
        room_type: String,
        party: Party,
    },
}

impl ReservationEvent {
    /// The `kind` column of the event log.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReservationCreated { .. } => "reservation_created",
            Self::Confirmed => "confirmed",
            Self::Promoted => "promoted",
            Self::RoomAssigned { .. } => "room_assigned",
            Self::RoomUnassigned { .. } => "room_unassigned",
            Self::CheckedIn { .. } => "checked_in",
            Self::RoomMoved { .. } => "room_moved",
            Self::CheckedOut { .. } => "checked_out",
            Self::Canceled { .. } => "canceled",
            Self::MarkedNoShow { .. } => "marked_no_show",
            Self::Amended { .. } => "amended",
        }
    }
}

/// Why a command was refused: the caller's problem (422), with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReservationRefusal {
    #[error("a {status} reservation cannot {action}")]
    WrongStatus {
        status: &'static str,
        action: &'static str,
    },
    #[error("{0}")]
    InvalidStay(String),
    #[error("{0}")]
    InvalidParty(String),
    #[error("a room type has 1 to 32 letters, digits, '_' or '-'")]
    InvalidRoomType,
    #[error("this hotel sells no room type {0}: no room has it and none is defined")]
    UnknownRoomType(String),
    #[error("check-in needs an assigned room")]
    NoRoomAssigned,
    #[error("the reservation is already in that room")]
    SameRoom,
    #[error("the room must be unassigned first, or moved")]
    AlreadyAssigned,
    #[error("check-in opens on the arrival date ({0})")]
    TooEarly(NaiveDate),
    #[error("the stay ended on {0}; check-in is no longer possible")]
    StayOver(NaiveDate),
    #[error("the room is not inspected yet (this property checks in to inspected rooms only)")]
    RoomNotInspected,
    #[error("the room is still dirty")]
    RoomDirty,
    #[error("the room is occupied")]
    RoomOccupied,
    #[error("the room is blocked (out of order or out of service)")]
    RoomBlocked,
    #[error("the arrival date has passed; mark it a no-show instead")]
    ArrivalPassed,
    #[error("a no-show can only be marked after the arrival date ({0})")]
    NotYetNoShow(NaiveDate),
    #[error("the amendment changes nothing")]
    NoChange,
    #[error("an in-house stay keeps its arrival date; only future nights change")]
    InHouseArrival,
    #[error("an in-house guest changes room type by moving rooms")]
    InHouseRoomType,
    #[error("dates in the past cannot be booked")]
    PastDates,
    #[error("a cancellation needs a reason of 1 to 500 characters")]
    InvalidReason,
}

impl ReservationRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongStatus { .. } => "illegal_transition",
            Self::InvalidStay(_) => "invalid_stay",
            Self::InvalidParty(_) => "invalid_party",
            Self::InvalidRoomType | Self::UnknownRoomType(_) => "invalid_room_type",
            Self::NoRoomAssigned => "no_room_assigned",
            Self::SameRoom => "same_room",
            Self::AlreadyAssigned => "already_assigned",
            Self::TooEarly(_) => "too_early",
            Self::StayOver(_) => "stay_over",
            Self::RoomNotInspected => "room_not_inspected",
            Self::RoomDirty => "room_dirty",
            Self::RoomOccupied => "room_occupied",
            Self::RoomBlocked => "room_blocked",
            Self::ArrivalPassed => "arrival_passed",
            Self::NotYetNoShow(_) => "not_yet_no_show",
            Self::NoChange => "no_change",
            Self::InHouseArrival => "in_house_arrival",
            Self::InHouseRoomType => "in_house_room_type",
            Self::PastDates => "past_dates",
            Self::InvalidReason => "invalid_reason",
        }
    }
}

/// A room type code: what a property sells ("KING", "twin-sea").
pub fn validate_room_type(s: &str) -> Result<(), ReservationRefusal> {
    let ok = (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ReservationRefusal::InvalidRoomType)
    }
}

/// The state of one reservation. `version` is the seq of the last event applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub property_id: PropertyId,
    pub guest_id: GuestId,
    pub status: ReservationStatus,
    pub room_type: String,
    pub stay: Stay,
    pub party: Party,
    pub room: Option<AssignedRoom>,
    pub overbooked: bool,
    pub version: u64,
    /// When it was booked: the waitlist is served in this order.
    pub created_at: DateTime<Utc>,
}

impl Reservation {
    /// Validates a booking; the first event of the new stream and the reservation (version 1).
    pub fn create(
        id: ReservationId,
        property_id: PropertyId,
        spec: NewReservation,
        business_date: NaiveDate,
        at: DateTime<Utc>,
    ) -> Result<(Reservation, ReservationEvent), ReservationRefusal> {
        validate_room_type(&spec.room_type)?;
        Stay::new(spec.stay.arrival, spec.stay.departure)?;
        spec.party.validate()?;
        if spec.stay.arrival < business_date {
            return Err(ReservationRefusal::PastDates);
        }
        if !matches!(
            spec.status,
            ReservationStatus::Tentative
                | ReservationStatus::Confirmed
                | ReservationStatus::Waitlisted
        ) {
            return Err(ReservationRefusal::WrongStatus {
                status: spec.status.as_str(),
                action: "be booked",
            });
        }
        let reservation = Reservation {
            id,
            property_id,
            guest_id: spec.guest_id,
            status: spec.status,
            room_type: spec.room_type.clone(),
            stay: spec.stay,
            party: spec.party,
            room: None,
            overbooked: spec.overbooked,
            version: 1,
            created_at: at,
        };
        Ok((
            reservation,
            ReservationEvent::ReservationCreated { property_id, spec },
        ))
    }

    fn wrong(&self, action: &'static str) -> ReservationRefusal {
        ReservationRefusal::WrongStatus {
            status: self.status.as_str(),
            action,
        }
    }

    /// The guard of `action` alone (no command arguments): what `allowed_actions` reports and
    /// what `decide` checks first.
    pub fn guard(
        &self,
        action: ReservationAction,
        ctx: &Context,
    ) -> Result<(), ReservationRefusal> {
        use ReservationStatus as S;
        let today = ctx.business_date;
        match action {
            ReservationAction::Confirm => match self.status {
                S::Tentative => Ok(()),
                _ => Err(self.wrong("be confirmed")),
            },
            ReservationAction::Promote => match self.status {
                S::Waitlisted => Ok(()),
                _ => Err(self.wrong("be promoted from the waitlist")),
            },
            ReservationAction::Assign => match self.status {
                S::Tentative | S::Confirmed if self.room.is_some() => {
                    Err(ReservationRefusal::AlreadyAssigned)
                }
                S::Tentative | S::Confirmed => Ok(()),
                _ => Err(self.wrong("be assigned a room")),
            },
            ReservationAction::Unassign => match self.status {
                S::Tentative | S::Confirmed if self.room.is_none() => {
                    Err(ReservationRefusal::NoRoomAssigned)
                }
                S::Tentative | S::Confirmed => Ok(()),
                _ => Err(self.wrong("have its room unassigned")),
            },
            ReservationAction::CheckIn => {
                if self.status != S::Confirmed {
                    return Err(self.wrong("check in"));
                }
                if today < self.stay.arrival {
                    return Err(ReservationRefusal::TooEarly(self.stay.arrival));
                }
                // A late arrival (not yet marked no-show) may still check in for the nights left.
                if today >= self.stay.departure {
                    return Err(ReservationRefusal::StayOver(self.stay.departure));
                }
                if self.room.is_none() {
                    return Err(ReservationRefusal::NoRoomAssigned);
                }
                Ok(())
            }
            ReservationAction::Move => match self.status {
                S::InHouse => Ok(()),
                _ => Err(self.wrong("move rooms")),
            },
            ReservationAction::CheckOut => match self.status {
                S::InHouse => Ok(()),
                _ => Err(self.wrong("check out")),
            },
            // Cancel until the arrival date (a same-day cancellation is still a cancellation);
            // after it, the stay was missed: that is a no-show.
            ReservationAction::Cancel => match self.status {
                S::Tentative | S::Confirmed | S::Waitlisted if today > self.stay.arrival => {
                    Err(ReservationRefusal::ArrivalPassed)
                }
                S::Tentative | S::Confirmed | S::Waitlisted => Ok(()),
                _ => Err(self.wrong("be canceled")),
            },
            ReservationAction::NoShow => match self.status {
                S::Confirmed | S::Tentative if today > self.stay.arrival => Ok(()),
                S::Confirmed | S::Tentative => {
                    Err(ReservationRefusal::NotYetNoShow(self.stay.arrival))
                }
                _ => Err(self.wrong("be marked a no-show")),
            },
            ReservationAction::Amend => match self.status {
                S::Tentative | S::Confirmed | S::Waitlisted | S::InHouse => Ok(()),
                _ => Err(self.wrong("be amended")),
            },
        }
    }

    /// `guard`, and for a check-in the assigned room's readiness when it is known: the one
    /// check `allowed_actions` and `decide` share.
    fn guard_with_room(
        &self,
        action: ReservationAction,
        ctx: &Context,
        room: Option<&RoomReadiness>,
    ) -> Result<(), ReservationRefusal> {
        self.guard(action, ctx)?;
        match (action, room) {
            (ReservationAction::CheckIn, Some(room)) => {
                if self.room.is_none() {
                    return Err(ReservationRefusal::NoRoomAssigned);
                }
                Self::ready(room, ctx)
            }
            _ => Ok(()),
        }
    }

    /// Every action with whether it is allowed now, and why not. `room`: the assigned room as
    /// it is now, so a check-in into a dirty room is listed as refused with `room_dirty`, as
    /// the check-in itself would be (`None` judges the reservation alone).
    #[must_use]
    pub fn allowed_actions(&self, ctx: &Context, room: Option<&RoomReadiness>) -> Vec<ActionState> {
        ReservationAction::ALL
            .iter()
            .map(|&action| match self.guard_with_room(action, ctx, room) {
                Ok(()) => ActionState {
                    action,
                    allowed: true,
                    code: None,
                    reason: None,
                },
                Err(why) => ActionState {
                    action,
                    allowed: false,
                    code: Some(why.code()),
                    reason: Some(why.to_string()),
                },
            })
            .collect()
    }

    /// Validates `cmd` against this state and returns the events it causes.
    pub fn decide(
        &self,
        cmd: &ReservationCommand,
        ctx: &Context,
    ) -> Result<Vec<ReservationEvent>, ReservationRefusal> {
        use ReservationCommand as C;
        let today = ctx.business_date;
        match cmd {
            C::Confirm => {
                self.guard(ReservationAction::Confirm, ctx)?;
                Ok(vec![ReservationEvent::Confirmed])
            }
            C::Promote => {
                self.guard(ReservationAction::Promote, ctx)?;
                Ok(vec![ReservationEvent::Promoted])
            }
            C::Assign(room) => {
                self.guard(ReservationAction::Assign, ctx)?;
                Ok(vec![ReservationEvent::RoomAssigned { room: room.clone() }])
            }
            C::Unassign => {
                self.guard(ReservationAction::Unassign, ctx)?;
                let room = self
                    .room
                    .clone()
                    .ok_or(ReservationRefusal::NoRoomAssigned)?;
                Ok(vec![ReservationEvent::RoomUnassigned { room }])
            }
            C::CheckIn(readiness) => {
                self.guard_with_room(ReservationAction::CheckIn, ctx, Some(readiness))?;
                let room = self
                    .room
                    .clone()
                    .ok_or(ReservationRefusal::NoRoomAssigned)?;
                Ok(vec![ReservationEvent::CheckedIn {
                    room,
                    business_date: today,
                }])
            }
            C::Move(to) => {
                self.guard(ReservationAction::Move, ctx)?;
                let from = self
                    .room
                    .clone()
                    .ok_or(ReservationRefusal::NoRoomAssigned)?;
                if from.room_id == to.room_id {
                    return Err(ReservationRefusal::SameRoom);
                }
                Ok(vec![ReservationEvent::RoomMoved {
                    from,
                    to: to.clone(),
                    business_date: today,
                }])
            }
            C::CheckOut => {
                self.guard(ReservationAction::CheckOut, ctx)?;
                let room = self
                    .room
                    .clone()
                    .ok_or(ReservationRefusal::NoRoomAssigned)?;
                // An early departure frees the nights not used; a late one (the audit has not
                // run) ends the stay as booked.
                let departure = today
                    .max(self.stay.arrival + chrono::Days::new(1))
                    .min(self.stay.departure);
                Ok(vec![ReservationEvent::CheckedOut {
                    room,
                    business_date: today,
                    stay: Stay {
                        arrival: self.stay.arrival,
                        departure,
                    },
                }])
            }
            C::Cancel { reason } => {
                self.guard(ReservationAction::Cancel, ctx)?;
                let reason = reason.trim();
                if reason.is_empty() || reason.chars().count() > 500 {
                    return Err(ReservationRefusal::InvalidReason);
                }
                Ok(vec![ReservationEvent::Canceled {
                    reason: reason.to_owned(),
                }])
            }
            C::NoShow => {
                self.guard(ReservationAction::NoShow, ctx)?;
                Ok(vec![ReservationEvent::MarkedNoShow {
                    business_date: today,
                }])
            }
            C::Amend(change) => {
                self.guard(ReservationAction::Amend, ctx)?;
                self.decide_amend(change, ctx).map(|e| vec![e])
            }
        }
    }

    fn ready(room: &RoomReadiness, ctx: &Context) -> Result<(), ReservationRefusal> {
        if room.blocked {
            return Err(ReservationRefusal::RoomBlocked);
        }
        if room.occupied {
            return Err(ReservationRefusal::RoomOccupied);
        }
        match room.cleanliness {
            Cleanliness::Inspected => Ok(()),
            _ if ctx.require_inspected => Err(ReservationRefusal::RoomNotInspected),
            Cleanliness::Clean => Ok(()),
            Cleanliness::Dirty | Cleanliness::Pickup => Err(ReservationRefusal::RoomDirty),
        }
    }

    fn decide_amend(
        &self,
        change: &Amendment,
        ctx: &Context,
    ) -> Result<ReservationEvent, ReservationRefusal> {
        let today = ctx.business_date;
        let in_house = self.status == ReservationStatus::InHouse;
        let arrival = change.arrival.unwrap_or(self.stay.arrival);
        let departure = change.departure.unwrap_or(self.stay.departure);
        let stay = Stay::new(arrival, departure)?;
        let room_type = change
            .room_type
            .clone()
            .unwrap_or_else(|| self.room_type.clone());
        validate_room_type(&room_type)?;
        let party = change.party.unwrap_or(self.party).validate()?;
        if in_house {
            if stay.arrival != self.stay.arrival {
                return Err(ReservationRefusal::InHouseArrival);
            }
            if room_type != self.room_type {
                return Err(ReservationRefusal::InHouseRoomType);
            }
            // Only future nights: tonight stays booked.
            if stay.departure <= today {
                return Err(ReservationRefusal::InvalidStay(
                    "an in-house stay ends after today at the earliest".into(),
                ));
            }
        } else if stay.arrival < today {
            return Err(ReservationRefusal::PastDates);
        }
        if stay == self.stay && room_type == self.room_type && party == self.party {
            return Err(ReservationRefusal::NoChange);
        }
        Ok(ReservationEvent::Amended {
            from_stay: self.stay,
            stay,
            room_type,
            party,
        })
    }

    /// Folds one event into the state and advances the version.
    pub fn apply(&mut self, event: &ReservationEvent) {
        use ReservationEvent as E;
        match event {
            E::ReservationCreated { .. } => {}
            E::Confirmed | E::Promoted => self.status = ReservationStatus::Confirmed,
            E::RoomAssigned { room } => self.room = Some(room.clone()),
            E::RoomUnassigned { .. } => self.room = None,
            E::CheckedIn { room, .. } => {
                self.status = ReservationStatus::InHouse;
                self.room = Some(room.clone());
            }
            E::RoomMoved { to, .. } => self.room = Some(to.clone()),
            E::CheckedOut { stay, .. } => {
                self.status = ReservationStatus::CheckedOut;
                self.stay = *stay;
            }
            E::Canceled { .. } => self.status = ReservationStatus::Canceled,
            E::MarkedNoShow { .. } => self.status = ReservationStatus::NoShow,
            E::Amended {
                stay,
                room_type,
                party,
                ..
            } => {
                // A room type change leaves the old type's room behind.
                if *room_type != self.room_type {
                    self.room = None;
                }
                self.stay = *stay;
                self.room_type.clone_from(room_type);
                self.party = *party;
            }
        }
        self.version += 1;
    }
}

#[cfg(test)]
mod tests;
