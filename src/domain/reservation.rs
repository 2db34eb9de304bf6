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
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ctx(today: &str) -> Context {
        Context {
            business_date: d(today),
            require_inspected: false,
        }
    }

    fn room(n: &str) -> AssignedRoom {
        AssignedRoom {
            room_id: RoomId::new(),
            number: RoomNumber::parse(n).unwrap(),
        }
    }

    fn ready(cleanliness: Cleanliness) -> RoomReadiness {
        RoomReadiness {
            cleanliness,
            occupied: false,
            blocked: false,
        }
    }

    /// A confirmed reservation for 2026-12-01 → 2026-12-04, booked on 2026-11-20.
    fn booked(status: ReservationStatus) -> Reservation {
        let spec = NewReservation {
            guest_id: GuestId::new(),
            room_type: "KING".into(),
            stay: Stay::new(d("2026-12-01"), d("2026-12-04")).unwrap(),
            party: Party {
                adults: 2,
                children: 0,
            },
            status,
            overbooked: false,
            occupancy_overridden: false,
        };
        Reservation::create(
            ReservationId::new(),
            PropertyId::new(),
            spec,
            d("2026-11-20"),
            chrono::Utc::now(),
        )
        .unwrap()
        .0
    }

    /// Decides and applies, like the actor does.
    fn run(
        r: &mut Reservation,
        cmd: ReservationCommand,
        today: &str,
    ) -> Result<(), ReservationRefusal> {
        for e in r.decide(&cmd, &ctx(today))? {
            r.apply(&e);
        }
        Ok(())
    }

    /// A confirmed booking, assigned room 101 and checked in on its arrival date.
    fn in_house() -> Reservation {
        let mut r = booked(ReservationStatus::Confirmed);
        run(
            &mut r,
            ReservationCommand::Assign(room("101")),
            "2026-12-01",
        )
        .unwrap();
        run(
            &mut r,
            ReservationCommand::CheckIn(ready(Cleanliness::Clean)),
            "2026-12-01",
        )
        .unwrap();
        r
    }

    #[test]
    fn a_stay_walks_the_whole_lifecycle() {
        let mut r = booked(ReservationStatus::Tentative);
        run(&mut r, ReservationCommand::Confirm, "2026-11-21").unwrap();
        assert_eq!(r.status, ReservationStatus::Confirmed);
        run(
            &mut r,
            ReservationCommand::Assign(room("101")),
            "2026-11-30",
        )
        .unwrap();
        run(
            &mut r,
            ReservationCommand::CheckIn(ready(Cleanliness::Clean)),
            "2026-12-01",
        )
        .unwrap();
        assert_eq!(r.status, ReservationStatus::InHouse);
        run(&mut r, ReservationCommand::Move(room("205")), "2026-12-02").unwrap();
        assert_eq!(r.room.as_ref().unwrap().number.as_str(), "205");
        run(&mut r, ReservationCommand::CheckOut, "2026-12-04").unwrap();
        assert_eq!(r.status, ReservationStatus::CheckedOut);
        assert_eq!(r.stay.departure, d("2026-12-04"), "left as booked");
        assert_eq!(r.version, 6);
        let allowed: Vec<_> = r
            .allowed_actions(&ctx("2026-12-04"), None)
            .into_iter()
            .filter(|a| a.allowed)
            .collect();
        assert!(
            allowed.is_empty(),
            "a checked-out stay is final: {allowed:?}"
        );
    }

    #[test]
    fn check_in_needs_the_day_a_room_and_a_ready_room() {
        let mut r = booked(ReservationStatus::Confirmed);
        let clean = ReservationCommand::CheckIn(ready(Cleanliness::Clean));
        assert_eq!(
            r.decide(&clean, &ctx("2026-12-01")),
            Err(ReservationRefusal::NoRoomAssigned)
        );
        run(
            &mut r,
            ReservationCommand::Assign(room("101")),
            "2026-11-25",
        )
        .unwrap();
        assert_eq!(
            r.decide(&clean, &ctx("2026-11-30")),
            Err(ReservationRefusal::TooEarly(d("2026-12-01")))
        );
        for (room, why) in [
            (ready(Cleanliness::Dirty), ReservationRefusal::RoomDirty),
            (ready(Cleanliness::Pickup), ReservationRefusal::RoomDirty),
            (
                RoomReadiness {
                    occupied: true,
                    ..ready(Cleanliness::Inspected)
                },
                ReservationRefusal::RoomOccupied,
            ),
            (
                RoomReadiness {
                    blocked: true,
                    ..ready(Cleanliness::Inspected)
                },
                ReservationRefusal::RoomBlocked,
            ),
        ] {
            assert_eq!(
                r.decide(&ReservationCommand::CheckIn(room), &ctx("2026-12-01")),
                Err(why)
            );
        }
        // By property setting, only inspected rooms.
        let strict = Context {
            require_inspected: true,
            ..ctx("2026-12-01")
        };
        assert_eq!(
            r.decide(&clean, &strict),
            Err(ReservationRefusal::RoomNotInspected)
        );
        assert!(
            r.decide(
                &ReservationCommand::CheckIn(ready(Cleanliness::Inspected)),
                &strict
            )
            .is_ok()
        );
        // A late arrival may still check in for the nights left, not after the stay.
        assert!(r.decide(&clean, &ctx("2026-12-03")).is_ok());
        assert_eq!(
            r.decide(&clean, &ctx("2026-12-04")),
            Err(ReservationRefusal::StayOver(d("2026-12-04")))
        );
    }

    #[test]
    fn cancel_until_arrival_and_no_show_only_after_it() {
        let r = booked(ReservationStatus::Confirmed);
        let cancel = ReservationCommand::Cancel {
            reason: "guest called".into(),
        };
        assert!(r.decide(&cancel, &ctx("2026-11-30")).is_ok());
        assert!(r.decide(&cancel, &ctx("2026-12-01")).is_ok(), "same day");
        assert_eq!(
            r.decide(&cancel, &ctx("2026-12-02")),
            Err(ReservationRefusal::ArrivalPassed)
        );
        assert_eq!(
            r.decide(&ReservationCommand::NoShow, &ctx("2026-12-01")),
            Err(ReservationRefusal::NotYetNoShow(d("2026-12-01")))
        );
        assert!(
            r.decide(&ReservationCommand::NoShow, &ctx("2026-12-02"))
                .is_ok()
        );
        assert_eq!(
            r.decide(
                &ReservationCommand::Cancel {
                    reason: "  ".into()
                },
                &ctx("2026-11-30")
            ),
            Err(ReservationRefusal::InvalidReason)
        );
        let in_house = in_house();
        assert!(matches!(
            in_house.decide(&cancel, &ctx("2026-12-01")),
            Err(ReservationRefusal::WrongStatus { .. })
        ));
    }

    #[test]
    fn the_waitlist_is_left_by_promotion() {
        let mut r = booked(ReservationStatus::Waitlisted);
        assert!(!r.status.holds_inventory());
        assert!(matches!(
            r.decide(&ReservationCommand::Confirm, &ctx("2026-11-21")),
            Err(ReservationRefusal::WrongStatus { .. })
        ));
        run(&mut r, ReservationCommand::Promote, "2026-11-21").unwrap();
        assert_eq!(r.status, ReservationStatus::Confirmed);
        assert!(r.status.holds_inventory());
    }

    #[test]
    fn an_early_departure_frees_the_nights_left() {
        let mut r = in_house();
        run(&mut r, ReservationCommand::CheckOut, "2026-12-02").unwrap();
        assert_eq!(r.stay, Stay::new(d("2026-12-01"), d("2026-12-02")).unwrap());
        // Leaving on the arrival day still counts the one night.
        let mut day = in_house();
        run(&mut day, ReservationCommand::CheckOut, "2026-12-01").unwrap();
        assert_eq!(day.stay.nights(), 1);
    }

    #[test]
    fn amendments_before_arrival_and_in_house_only_for_future_nights() {
        let r = booked(ReservationStatus::Confirmed);
        let amend =
            |a: Amendment, today: &str| r.decide(&ReservationCommand::Amend(a), &ctx(today));
        let longer = Amendment {
            departure: Some(d("2026-12-06")),
            ..Amendment::default()
        };
        assert!(amend(longer.clone(), "2026-11-21").is_ok());
        assert_eq!(
            amend(Amendment::default(), "2026-11-21"),
            Err(ReservationRefusal::NoChange)
        );
        assert!(matches!(
            amend(
                Amendment {
                    departure: Some(d("2026-12-01")),
                    ..Amendment::default()
                },
                "2026-11-21"
            ),
            Err(ReservationRefusal::InvalidStay(_))
        ));
        assert_eq!(
            amend(
                Amendment {
                    arrival: Some(d("2026-11-19")),
                    ..Amendment::default()
                },
                "2026-11-21"
            ),
            Err(ReservationRefusal::PastDates)
        );
        // A new room type drops the room of the old type.
        let mut typed = r.clone();
        typed.room = Some(room("101"));
        for e in typed
            .decide(
                &ReservationCommand::Amend(Amendment {
                    room_type: Some("TWIN".into()),
                    ..Amendment::default()
                }),
                &ctx("2026-11-21"),
            )
            .unwrap()
        {
            typed.apply(&e);
        }
        assert_eq!(
            (typed.room_type.as_str(), typed.room.as_ref()),
            ("TWIN", None)
        );

        let stay = in_house();
        let amend = |a: Amendment| stay.decide(&ReservationCommand::Amend(a), &ctx("2026-12-02"));
        assert!(amend(longer).is_ok());
        assert_eq!(
            amend(Amendment {
                arrival: Some(d("2026-11-30")),
                ..Amendment::default()
            }),
            Err(ReservationRefusal::InHouseArrival)
        );
        assert_eq!(
            amend(Amendment {
                room_type: Some("TWIN".into()),
                ..Amendment::default()
            }),
            Err(ReservationRefusal::InHouseRoomType)
        );
        assert!(matches!(
            amend(Amendment {
                departure: Some(d("2026-12-02")),
                ..Amendment::default()
            }),
            Err(ReservationRefusal::InvalidStay(_))
        ));
    }

    #[test]
    fn allowed_actions_agree_with_decide_and_say_why() {
        let mut r = booked(ReservationStatus::Confirmed);
        let listed = r.allowed_actions(&ctx("2026-12-01"), None);
        assert_eq!(listed.len(), ReservationAction::ALL.len());
        let check_in = listed
            .iter()
            .find(|a| a.action == ReservationAction::CheckIn)
            .unwrap();
        assert!(!check_in.allowed);
        assert_eq!(check_in.code, Some("no_room_assigned"));
        assert!(
            check_in
                .reason
                .as_deref()
                .unwrap()
                .contains("assigned room")
        );
        run(
            &mut r,
            ReservationCommand::Assign(room("101")),
            "2026-12-01",
        )
        .unwrap();
        let allowed: Vec<ReservationAction> = r
            .allowed_actions(&ctx("2026-12-01"), Some(&ready(Cleanliness::Clean)))
            .into_iter()
            .filter(|a| a.allowed)
            .map(|a| a.action)
            .collect();
        assert_eq!(
            allowed,
            [
                ReservationAction::Unassign,
                ReservationAction::CheckIn,
                ReservationAction::Cancel,
                ReservationAction::Amend
            ]
        );
        // Into a dirty room, or one not inspected where inspection is required, the list says
        // what the check-in would.
        let check_in = |room: RoomReadiness, strict: bool| {
            let mut c = ctx("2026-12-01");
            c.require_inspected = strict;
            let listed = r.allowed_actions(&c, Some(&room));
            let a = listed
                .into_iter()
                .find(|a| a.action == ReservationAction::CheckIn)
                .unwrap();
            let decided = r.decide(&ReservationCommand::CheckIn(room), &c);
            assert_eq!(a.allowed, decided.is_ok());
            a.code
        };
        assert_eq!(
            check_in(ready(Cleanliness::Dirty), false),
            Some("room_dirty")
        );
        assert_eq!(
            check_in(ready(Cleanliness::Clean), true),
            Some("room_not_inspected")
        );
        assert_eq!(check_in(ready(Cleanliness::Inspected), true), None);
    }

    #[test]
    fn bookings_are_validated() {
        let spec = |arrival: &str, departure: &str, adults: u8, room_type: &str| NewReservation {
            guest_id: GuestId::new(),
            room_type: room_type.into(),
            stay: Stay {
                arrival: d(arrival),
                departure: d(departure),
            },
            party: Party {
                adults,
                children: 0,
            },
            status: ReservationStatus::Confirmed,
            overbooked: false,
            occupancy_overridden: false,
        };
        let create = |s| {
            Reservation::create(
                ReservationId::new(),
                PropertyId::new(),
                s,
                d("2026-11-21"),
                chrono::Utc::now(),
            )
            .map(|_| ())
        };
        assert!(create(spec("2026-11-21", "2026-11-22", 1, "KING")).is_ok());
        assert_eq!(
            create(spec("2026-11-20", "2026-11-22", 1, "KING")),
            Err(ReservationRefusal::PastDates)
        );
        assert!(matches!(
            create(spec("2026-11-22", "2026-11-22", 1, "KING")),
            Err(ReservationRefusal::InvalidStay(_))
        ));
        assert!(matches!(
            create(spec("2026-11-22", "2028-11-22", 1, "KING")),
            Err(ReservationRefusal::InvalidStay(_))
        ));
        assert!(matches!(
            create(spec("2026-11-22", "2026-11-23", 0, "KING")),
            Err(ReservationRefusal::InvalidParty(_))
        ));
        assert_eq!(
            create(spec("2026-11-22", "2026-11-23", 1, "king size")),
            Err(ReservationRefusal::InvalidRoomType)
        );
    }

    #[test]
    fn stays_share_no_night_across_a_departure_day() {
        let a = Stay::new(d("2026-12-01"), d("2026-12-04")).unwrap();
        let b = Stay::new(d("2026-12-04"), d("2026-12-06")).unwrap();
        let c = Stay::new(d("2026-12-03"), d("2026-12-05")).unwrap();
        assert!(!a.overlaps(&b) && !b.overlaps(&a));
        assert!(a.overlaps(&c) && c.overlaps(&b));
        assert!(a.covers(d("2026-12-03")) && !a.covers(d("2026-12-04")));
    }

    #[test]
    fn events_round_trip_through_json_with_their_kind() {
        let r = booked(ReservationStatus::Confirmed);
        let e = r
            .decide(&ReservationCommand::Assign(room("101")), &ctx("2026-11-21"))
            .unwrap()
            .remove(0);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], e.kind());
        assert_eq!(serde_json::from_value::<ReservationEvent>(v).unwrap(), e);
        let spec = NewReservation {
            guest_id: r.guest_id,
            room_type: r.room_type.clone(),
            stay: r.stay,
            party: r.party,
            status: ReservationStatus::Tentative,
            overbooked: true,
            occupancy_overridden: false,
        };
        let (_, created) = Reservation::create(
            r.id,
            r.property_id,
            spec,
            d("2026-11-21"),
            chrono::Utc::now(),
        )
        .unwrap();
        let v = serde_json::to_value(&created).unwrap();
        assert_eq!(v["kind"], "reservation_created");
        assert_eq!(v["status"], "tentative");
        assert_eq!(v["stay"]["arrival"], "2026-12-01");
        assert_eq!(
            serde_json::from_value::<ReservationEvent>(v).unwrap(),
            created
        );
    }
}
