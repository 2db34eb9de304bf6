//! A room's status, as facets rather than one enum (DESIGN §6, reference/domain.md §1–§2).
//!
//! Hotels track several independent things about a room: how clean it is, whether
//! housekeeping saw someone living in it, whether it is blocked for maintenance, whether the
//! guest asked not to be disturbed, and whether it is wanted urgently. Folding these into one
//! status ("OCI", "VD", …) loses information and makes transitions ambiguous, so each facet
//! has its own small state machine here.
//!
//! [`Room::decide`] validates a [`RoomCommand`] against the current state and returns the
//! events it causes (or a [`RoomRefusal`]); [`Room::apply`] folds an event into the state.
//! Nothing here does I/O or reads the clock: `now` is passed in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{PropertyId, ReservationId, RoomId, RoomNumber};

/// How clean the room is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanliness {
    /// Needs a full clean.
    Dirty,
    /// Needs a light touch-up (occupied only briefly).
    Pickup,
    /// Cleaned, not yet inspected.
    Clean,
    /// Cleaned and passed by a supervisor: ready to sell.
    Inspected,
}

impl Cleanliness {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dirty => "dirty",
            Self::Pickup => "pickup",
            Self::Clean => "clean",
            Self::Inspected => "inspected",
        }
    }

    /// Whether housekeeping may move a room from `self` to `to`.
    ///
    /// Inspection only follows a clean (a dirty room cannot be "inspected" clean), and an
    /// inspected room only loses its status by being used (dirty, pickup): a failed
    /// inspection sends it back to dirty.
    #[must_use]
    pub fn can_become(self, to: Self) -> bool {
        use Cleanliness::*;
        matches!(
            (self, to),
            (Dirty, Clean)
                | (Pickup, Clean)
                | (Pickup, Dirty)
                | (Clean, Inspected)
                | (Clean, Dirty)
                | (Clean, Pickup)
                | (Inspected, Dirty)
                | (Inspected, Pickup)
        )
    }
}

/// Occupancy as housekeeping reports it after looking into the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HkOccupancy {
    Vacant,
    Occupied,
    Unknown,
}

/// Occupancy as the front office knows it, derived from stays (checked-in reservations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoOccupancy {
    Vacant,
    Occupied,
}

/// A disagreement between the front office and housekeeping (OPERA's terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discrepancy {
    None,
    /// Front office says occupied, housekeeping found it vacant (guest may have left).
    Skip,
    /// Front office says vacant, housekeeping found it occupied (someone sleeps there).
    Sleep,
}

/// What the guest asked of housekeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceFlag {
    None,
    /// Do not disturb.
    Dnd,
    MakeUpRoom,
    /// The guest refused service today.
    Refused,
}

/// The two kinds of maintenance block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Removed from inventory: cannot be sold for the period.
    OutOfOrder,
    /// Stays in inventory but should not be given to a guest (a small repair).
    OutOfService,
}

/// A maintenance block with its time range and the status the room returns to afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub kind: BlockKind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    pub return_status: Cleanliness,
}

impl Block {
    /// Whether the block is in force at `now` (`[from, to)`).
    #[must_use]
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.from <= now && now < self.to
    }
}

/// A block as requested by a caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBlock {
    pub kind: BlockKind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    /// Defaults to `dirty`: after a repair the room needs cleaning.
    #[serde(default)]
    pub return_status: Option<Cleanliness>,
}

/// A room to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRoom {
    pub number: RoomNumber,
    pub floor: i16,
    pub room_type: String,
    /// Defaults to `dirty`: a room nobody has looked at is not sold as clean.
    #[serde(default)]
    pub cleanliness: Option<Cleanliness>,
}

impl NewRoom {
    /// Validates what the number's parser does not cover.
    pub fn validate(&self) -> Result<(), String> {
        if !(-5..=300).contains(&self.floor) {
            return Err(format!(
                "room {}: floor must be between -5 and 300",
                self.number
            ));
        }
        let t = &self.room_type;
        if t.is_empty()
            || t.len() > 32
            || !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "room {}: room_type is 1 to 32 letters, digits, '_' or '-'",
                self.number
            ));
        }
        Ok(())
    }
}

/// A change to one or more status facets, applied all-or-nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    #[serde(default)]
    pub cleanliness: Option<Cleanliness>,
    #[serde(default)]
    pub hk_occupancy: Option<HkOccupancy>,
    #[serde(default)]
    pub service: Option<ServiceFlag>,
    #[serde(default)]
    pub rush: Option<bool>,
}

/// What can be asked of a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomCommand {
    ChangeStatus(StatusChange),
    PlaceBlock(NewBlock),
    ReleaseBlock {
        return_status: Option<Cleanliness>,
    },
    /// A guest checks in (or moves in): the room becomes occupied for the front office.
    /// Refused unless the room is free and ready (clean, or inspected when required).
    Occupy {
        reservation: ReservationId,
        require_inspected: bool,
    },
    /// The guest left (check-out or a move away): vacant for the front office, and dirty.
    Vacate {
        reservation: ReservationId,
    },
}

/// Facts about a room, appended to its stream `room:<id>`. The serialized form (tagged by
/// `kind`) is what the event log stores and what WebSocket clients receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomEvent {
    RoomCreated {
        property_id: PropertyId,
        number: RoomNumber,
        floor: i16,
        room_type: String,
        cleanliness: Cleanliness,
    },
    CleanlinessChanged {
        from: Cleanliness,
        to: Cleanliness,
    },
    HkOccupancyReported {
        from: HkOccupancy,
        to: HkOccupancy,
    },
    BlockPlaced {
        block: Block,
    },
    BlockReleased {
        block_kind: BlockKind,
        return_status: Cleanliness,
    },
    ServiceFlagChanged {
        from: ServiceFlag,
        to: ServiceFlag,
    },
    RushChanged {
        rush: bool,
    },
    /// Front-office occupancy from a check-in or a move in.
    GuestCheckedIn {
        reservation: ReservationId,
    },
    /// Front-office occupancy ended (check-out or a move away).
    GuestCheckedOut {
        reservation: ReservationId,
    },
}

impl RoomEvent {
    /// The `kind` column of the event log.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RoomCreated { .. } => "room_created",
            Self::CleanlinessChanged { .. } => "cleanliness_changed",
            Self::HkOccupancyReported { .. } => "hk_occupancy_reported",
            Self::BlockPlaced { .. } => "block_placed",
            Self::BlockReleased { .. } => "block_released",
            Self::ServiceFlagChanged { .. } => "service_flag_changed",
            Self::RushChanged { .. } => "rush_changed",
            Self::GuestCheckedIn { .. } => "guest_checked_in",
            Self::GuestCheckedOut { .. } => "guest_checked_out",
        }
    }
}

/// Why a command was refused. Every variant is the caller's problem (HTTP 422), never ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomRefusal {
    #[error("a room cannot go from {from} to {to}")]
    IllegalCleanliness {
        from: &'static str,
        to: &'static str,
    },
    #[error("nothing to change: the room already has that status")]
    NoChange,
    #[error("the status change names no facet to change")]
    EmptyChange,
    #[error("{0}")]
    InvalidBlock(String),
    #[error("the room already has a {0:?} block; release it first")]
    AlreadyBlocked(BlockKind),
    #[error("the room has no block to release")]
    NotBlocked,
    #[error("an occupied room cannot be blocked")]
    Occupied,
    #[error("a service flag needs an occupied room")]
    ServiceNeedsOccupancy,
    #[error("an inspected room needs no rush")]
    RushNotNeeded,
    #[error("the room is blocked (out of order or out of service)")]
    Blocked,
    #[error("the room is {0}, not ready for a guest")]
    NotReady(&'static str),
    #[error("the room is not occupied")]
    NotOccupied,
    #[error("a guest's stay is assigned to this room during the block; move or unassign it first")]
    StayAssigned,
}

impl RoomRefusal {
    /// The stable error code for clients.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::IllegalCleanliness { .. } => "illegal_transition",
            Self::NoChange => "no_change",
            Self::EmptyChange => "empty_change",
            Self::InvalidBlock(_) => "invalid_block",
            Self::AlreadyBlocked(_) => "already_blocked",
            Self::NotBlocked => "not_blocked",
            Self::Occupied => "room_occupied",
            Self::ServiceNeedsOccupancy => "service_needs_occupancy",
            Self::RushNotNeeded => "rush_not_needed",
            Self::Blocked => "room_blocked",
            Self::NotReady(_) => "room_not_ready",
            Self::NotOccupied => "room_not_occupied",
            Self::StayAssigned => "stay_assigned",
        }
    }
}

/// The state of one room. `version` is the seq of the last event applied to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub property_id: PropertyId,
    pub number: RoomNumber,
    pub floor: i16,
    pub room_type: String,
    pub cleanliness: Cleanliness,
    pub hk_occupancy: HkOccupancy,
    pub fo_occupancy: FoOccupancy,
    pub block: Option<Block>,
    pub service: ServiceFlag,
    pub rush: bool,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

impl Room {
    /// The first event of a new room's stream, and the room it creates (version 1).
    #[must_use]
    pub fn create(
        id: RoomId,
        property_id: PropertyId,
        spec: &NewRoom,
        now: DateTime<Utc>,
    ) -> (Room, RoomEvent) {
        let event = RoomEvent::RoomCreated {
            property_id,
            number: spec.number.clone(),
            floor: spec.floor,
            room_type: spec.room_type.clone(),
            cleanliness: spec.cleanliness.unwrap_or(Cleanliness::Dirty),
        };
        let room = Room::from_created(id, &event, now).expect("RoomCreated builds a room");
        (room, event)
    }

    /// Builds the initial state from a `room_created` event.
    #[must_use]
    pub fn from_created(id: RoomId, event: &RoomEvent, at: DateTime<Utc>) -> Option<Room> {
        match event {
            RoomEvent::RoomCreated {
                property_id,
                number,
                floor,
                room_type,
                cleanliness,
            } => Some(Room {
                id,
                property_id: *property_id,
                number: number.clone(),
                floor: *floor,
                room_type: room_type.clone(),
                cleanliness: *cleanliness,
                hk_occupancy: HkOccupancy::Vacant,
                fo_occupancy: FoOccupancy::Vacant,
                block: None,
                service: ServiceFlag::None,
                rush: false,
                version: 1,
                updated_at: at,
            }),
            _ => None,
        }
    }

    /// Front office vs housekeeping, as of housekeeping's report since the front office's
    /// last change (a check-in or check-out makes the earlier report stale: `unknown`), so a
    /// discrepancy is only ever claimed on a report newer than the change it contradicts.
    #[must_use]
    pub fn discrepancy(&self) -> Discrepancy {
        match (self.fo_occupancy, self.hk_occupancy) {
            (FoOccupancy::Occupied, HkOccupancy::Vacant) => Discrepancy::Skip,
            (FoOccupancy::Vacant, HkOccupancy::Occupied) => Discrepancy::Sleep,
            _ => Discrepancy::None,
        }
    }

    /// Whether anyone is (or seems to be) living in the room.
    fn looks_occupied(&self) -> bool {
        self.fo_occupancy == FoOccupancy::Occupied || self.hk_occupancy == HkOccupancy::Occupied
    }

    /// Validates `cmd` against this state and returns the events it causes, in order.
    pub fn decide(
        &self,
        cmd: &RoomCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoomEvent>, RoomRefusal> {
        match cmd {
            RoomCommand::ChangeStatus(change) => self.decide_status(change),
            RoomCommand::PlaceBlock(block) => self.decide_block(block, now),
            RoomCommand::ReleaseBlock { return_status } => {
                let block = self.block.as_ref().ok_or(RoomRefusal::NotBlocked)?;
                Ok(vec![RoomEvent::BlockReleased {
                    block_kind: block.kind,
                    return_status: return_status.unwrap_or(block.return_status),
                }])
            }
            RoomCommand::Occupy {
                reservation,
                require_inspected,
            } => {
                if self
                    .block
                    .as_ref()
                    .is_some_and(|b| b.from <= now && now < b.to)
                {
                    return Err(RoomRefusal::Blocked);
                }
                if self.fo_occupancy == FoOccupancy::Occupied {
                    return Err(RoomRefusal::Occupied);
                }
                let ready = match self.cleanliness {
                    Cleanliness::Inspected => true,
                    Cleanliness::Clean => !require_inspected,
                    Cleanliness::Dirty | Cleanliness::Pickup => false,
                };
                if !ready {
                    return Err(RoomRefusal::NotReady(self.cleanliness.as_str()));
                }
                Ok(vec![RoomEvent::GuestCheckedIn {
                    reservation: *reservation,
                }])
            }
            RoomCommand::Vacate { reservation } => {
                if self.fo_occupancy == FoOccupancy::Vacant {
                    return Err(RoomRefusal::NotOccupied);
                }
                let mut events = vec![RoomEvent::GuestCheckedOut {
                    reservation: *reservation,
                }];
                // A departure leaves a room to be cleaned, whatever it looked like before.
                if self.cleanliness != Cleanliness::Dirty {
                    events.push(RoomEvent::CleanlinessChanged {
                        from: self.cleanliness,
                        to: Cleanliness::Dirty,
                    });
                }
                // The guest left: a DND or make-up request was theirs (housekeeping's earlier
                // report of someone inside is stale from now on).
                if self.service != ServiceFlag::None {
                    events.push(RoomEvent::ServiceFlagChanged {
                        from: self.service,
                        to: ServiceFlag::None,
                    });
                }
                Ok(events)
            }
        }
    }

    fn decide_status(&self, change: &StatusChange) -> Result<Vec<RoomEvent>, RoomRefusal> {
        if change == &StatusChange::default() {
            return Err(RoomRefusal::EmptyChange);
        }
        // Decide facet by facet against the state as it will be after the earlier facets, so
        // "report occupied + set DND" in one request is judged as a whole.
        let mut next = self.clone();
        let mut events = Vec::new();
        if let Some(occ) = change.hk_occupancy {
            if occ == next.hk_occupancy {
                return Err(RoomRefusal::NoChange);
            }
            events.push(RoomEvent::HkOccupancyReported {
                from: next.hk_occupancy,
                to: occ,
            });
            next.hk_occupancy = occ;
        }
        if let Some(to) = change.cleanliness {
            let from = next.cleanliness;
            if from == to {
                return Err(RoomRefusal::NoChange);
            }
            if !from.can_become(to) {
                return Err(RoomRefusal::IllegalCleanliness {
                    from: from.as_str(),
                    to: to.as_str(),
                });
            }
            events.push(RoomEvent::CleanlinessChanged { from, to });
            next.cleanliness = to;
        }
        if let Some(flag) = change.service {
            if flag == next.service {
                return Err(RoomRefusal::NoChange);
            }
            if flag != ServiceFlag::None && !next.looks_occupied() {
                return Err(RoomRefusal::ServiceNeedsOccupancy);
            }
            events.push(RoomEvent::ServiceFlagChanged {
                from: next.service,
                to: flag,
            });
            next.service = flag;
        }
        if let Some(rush) = change.rush {
            if rush == next.rush {
                return Err(RoomRefusal::NoChange);
            }
            if rush && next.cleanliness == Cleanliness::Inspected {
                return Err(RoomRefusal::RushNotNeeded);
            }
            events.push(RoomEvent::RushChanged { rush });
            next.rush = rush;
        }
        // A rush exists to get a room ready; once it is inspected the rush is over.
        if next.rush && next.cleanliness == Cleanliness::Inspected {
            events.push(RoomEvent::RushChanged { rush: false });
        }
        // Once the room is vacant by both accounts there is nobody whose request to honour.
        if next.service != ServiceFlag::None && !next.looks_occupied() && change.service.is_none() {
            events.push(RoomEvent::ServiceFlagChanged {
                from: next.service,
                to: ServiceFlag::None,
            });
        }
        Ok(events)
    }

    fn decide_block(
        &self,
        block: &NewBlock,
        now: DateTime<Utc>,
    ) -> Result<Vec<RoomEvent>, RoomRefusal> {
        if let Some(existing) = &self.block {
            return Err(RoomRefusal::AlreadyBlocked(existing.kind));
        }
        if block.to <= block.from {
            return Err(RoomRefusal::InvalidBlock(
                "a block must end after it starts".into(),
            ));
        }
        if block.to <= now {
            return Err(RoomRefusal::InvalidBlock(
                "a block must not end in the past".into(),
            ));
        }
        let reason = block.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(RoomRefusal::InvalidBlock(
                "a block needs a reason of 1 to 500 characters".into(),
            ));
        }
        if self.fo_occupancy == FoOccupancy::Occupied {
            return Err(RoomRefusal::Occupied);
        }
        Ok(vec![RoomEvent::BlockPlaced {
            block: Block {
                kind: block.kind,
                from: block.from,
                to: block.to,
                reason: reason.to_owned(),
                return_status: block.return_status.unwrap_or(Cleanliness::Dirty),
            },
        }])
    }

    /// Folds one event into the state and advances the version.
    pub fn apply(&mut self, event: &RoomEvent, at: DateTime<Utc>) {
        match event {
            RoomEvent::RoomCreated { .. } => {}
            RoomEvent::CleanlinessChanged { to, .. } => self.cleanliness = *to,
            RoomEvent::HkOccupancyReported { to, .. } => self.hk_occupancy = *to,
            RoomEvent::BlockPlaced { block } => self.block = Some(block.clone()),
            RoomEvent::BlockReleased { return_status, .. } => {
                self.block = None;
                self.cleanliness = *return_status;
            }
            RoomEvent::ServiceFlagChanged { to, .. } => self.service = *to,
            RoomEvent::RushChanged { rush } => self.rush = *rush,
            // A front-office change makes housekeeping's last look stale: unknown until they
            // report again, so no discrepancy is claimed on old information.
            RoomEvent::GuestCheckedIn { .. } => {
                self.fo_occupancy = FoOccupancy::Occupied;
                self.hk_occupancy = HkOccupancy::Unknown;
            }
            RoomEvent::GuestCheckedOut { .. } => {
                self.fo_occupancy = FoOccupancy::Vacant;
                self.hk_occupancy = HkOccupancy::Unknown;
            }
        }
        self.version += 1;
        self.updated_at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn room(cleanliness: Cleanliness) -> Room {
        let spec = NewRoom {
            number: RoomNumber::parse("101").unwrap(),
            floor: 1,
            room_type: "KING".into(),
            cleanliness: Some(cleanliness),
        };
        Room::create(RoomId::new(), PropertyId::new(), &spec, now()).0
    }

    fn status(change: StatusChange) -> RoomCommand {
        RoomCommand::ChangeStatus(change)
    }

    fn clean_to(c: Cleanliness) -> RoomCommand {
        status(StatusChange {
            cleanliness: Some(c),
            ..Default::default()
        })
    }

    /// Decides and applies, as the actor does.
    fn run(room: &mut Room, cmd: &RoomCommand) -> Result<Vec<RoomEvent>, RoomRefusal> {
        let events = room.decide(cmd, now())?;
        for e in &events {
            room.apply(e, now());
        }
        Ok(events)
    }

    #[test]
    fn a_new_room_is_dirty_vacant_unblocked_at_version_1() {
        let spec = NewRoom {
            number: RoomNumber::parse("101").unwrap(),
            floor: 1,
            room_type: "KING".into(),
            cleanliness: None,
        };
        let (r, e) = Room::create(RoomId::new(), PropertyId::new(), &spec, now());
        assert_eq!(e.kind(), "room_created");
        assert_eq!(r.cleanliness, Cleanliness::Dirty);
        assert_eq!(r.hk_occupancy, HkOccupancy::Vacant);
        assert_eq!(r.fo_occupancy, FoOccupancy::Vacant);
        assert_eq!(r.block, None);
        assert_eq!(r.service, ServiceFlag::None);
        assert!(!r.rush);
        assert_eq!(r.version, 1);
    }

    #[test]
    fn every_cleanliness_pair_is_allowed_or_refused_as_the_table_says() {
        use Cleanliness::*;
        let all = [Dirty, Pickup, Clean, Inspected];
        let allowed = [
            (Dirty, Clean),
            (Pickup, Clean),
            (Pickup, Dirty),
            (Clean, Inspected),
            (Clean, Dirty),
            (Clean, Pickup),
            (Inspected, Dirty),
            (Inspected, Pickup),
        ];
        for from in all {
            for to in all {
                let mut r = room(from);
                let result = run(&mut r, &clean_to(to));
                if from == to {
                    assert_eq!(result, Err(RoomRefusal::NoChange), "{from:?}->{to:?}");
                    assert_eq!(r.version, 1);
                } else if allowed.contains(&(from, to)) {
                    assert_eq!(
                        result,
                        Ok(vec![RoomEvent::CleanlinessChanged { from, to }]),
                        "{from:?}->{to:?}"
                    );
                    assert_eq!(r.cleanliness, to);
                    assert_eq!(r.version, 2);
                } else {
                    let err = result.unwrap_err();
                    assert_eq!(err.code(), "illegal_transition", "{from:?}->{to:?}");
                    assert_eq!(r.cleanliness, from, "refusal leaves the state alone");
                    assert_eq!(r.version, 1);
                }
            }
        }
    }

    #[test]
    fn an_empty_status_change_is_refused() {
        let r = room(Cleanliness::Dirty);
        assert_eq!(
            r.decide(&status(StatusChange::default()), now()),
            Err(RoomRefusal::EmptyChange)
        );
    }

    #[test]
    fn housekeeping_occupancy_reports_and_discrepancies() {
        let mut r = room(Cleanliness::Dirty);
        assert_eq!(r.discrepancy(), Discrepancy::None);
        let report = |o| {
            status(StatusChange {
                hk_occupancy: Some(o),
                ..Default::default()
            })
        };
        run(&mut r, &report(HkOccupancy::Occupied)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::Sleep);
        run(&mut r, &report(HkOccupancy::Unknown)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::None);
        assert_eq!(
            run(&mut r, &report(HkOccupancy::Unknown)),
            Err(RoomRefusal::NoChange)
        );
        r.fo_occupancy = FoOccupancy::Occupied;
        run(&mut r, &report(HkOccupancy::Vacant)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::Skip);
    }

    #[test]
    fn service_flags_need_someone_in_the_room() {
        let mut r = room(Cleanliness::Clean);
        let flag = |f| {
            status(StatusChange {
                service: Some(f),
                ..Default::default()
            })
        };
        for f in [
            ServiceFlag::Dnd,
            ServiceFlag::MakeUpRoom,
            ServiceFlag::Refused,
        ] {
            assert_eq!(
                r.decide(&flag(f), now()),
                Err(RoomRefusal::ServiceNeedsOccupancy)
            );
        }
        // Reported occupied and DND in one request: judged as a whole.
        let events = run(
            &mut r,
            &status(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                service: Some(ServiceFlag::Dnd),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(r.service, ServiceFlag::Dnd);
        assert_eq!(r.version, 3);
        run(&mut r, &flag(ServiceFlag::MakeUpRoom)).unwrap();
        run(&mut r, &flag(ServiceFlag::Refused)).unwrap();
        run(&mut r, &flag(ServiceFlag::None)).unwrap();
        assert_eq!(
            run(&mut r, &flag(ServiceFlag::None)),
            Err(RoomRefusal::NoChange)
        );
    }

    #[test]
    fn a_room_reported_vacant_drops_its_service_flag() {
        let mut r = room(Cleanliness::Clean);
        r.hk_occupancy = HkOccupancy::Occupied;
        r.service = ServiceFlag::Dnd;
        let events = run(
            &mut r,
            &status(StatusChange {
                hk_occupancy: Some(HkOccupancy::Vacant),
                ..Default::default()
            }),
        )
        .unwrap();
        assert_eq!(
            events.last(),
            Some(&RoomEvent::ServiceFlagChanged {
                from: ServiceFlag::Dnd,
                to: ServiceFlag::None
            })
        );
        assert_eq!(r.service, ServiceFlag::None);
    }

    #[test]
    fn rush_is_set_cleared_and_ends_when_the_room_is_inspected() {
        let mut r = room(Cleanliness::Dirty);
        let rush = |on| {
            status(StatusChange {
                rush: Some(on),
                ..Default::default()
            })
        };
        run(&mut r, &rush(true)).unwrap();
        assert!(r.rush);
        assert_eq!(run(&mut r, &rush(true)), Err(RoomRefusal::NoChange));
        run(&mut r, &clean_to(Cleanliness::Clean)).unwrap();
        assert!(r.rush, "clean but not inspected: still wanted");
        let events = run(&mut r, &clean_to(Cleanliness::Inspected)).unwrap();
        assert_eq!(
            events,
            vec![
                RoomEvent::CleanlinessChanged {
                    from: Cleanliness::Clean,
                    to: Cleanliness::Inspected
                },
                RoomEvent::RushChanged { rush: false }
            ]
        );
        assert!(!r.rush);
        assert_eq!(run(&mut r, &rush(true)), Err(RoomRefusal::RushNotNeeded));
        assert_eq!(run(&mut r, &rush(false)), Err(RoomRefusal::NoChange));
    }

    #[test]
    fn a_multi_facet_change_is_all_or_nothing() {
        let mut r = room(Cleanliness::Dirty);
        let before = r.clone();
        // Occupancy would be fine, the cleanliness jump is not: nothing happens.
        let result = run(
            &mut r,
            &status(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                cleanliness: Some(Cleanliness::Inspected),
                ..Default::default()
            }),
        );
        assert_eq!(result.unwrap_err().code(), "illegal_transition");
        assert_eq!(r, before);
    }

    fn block(kind: BlockKind) -> NewBlock {
        NewBlock {
            kind,
            from: now(),
            to: now() + Duration::days(2),
            reason: "leaking shower".into(),
            return_status: None,
        }
    }

    #[test]
    fn blocks_are_placed_and_released_with_their_return_status() {
        for kind in [BlockKind::OutOfOrder, BlockKind::OutOfService] {
            let mut r = room(Cleanliness::Inspected);
            let mut b = block(kind);
            b.return_status = Some(Cleanliness::Clean);
            run(&mut r, &RoomCommand::PlaceBlock(b)).unwrap();
            let placed = r.block.clone().unwrap();
            assert_eq!(placed.kind, kind);
            assert!(placed.active_at(now()));
            assert!(!placed.active_at(now() + Duration::days(2)));
            assert_eq!(
                run(&mut r, &RoomCommand::PlaceBlock(block(kind))),
                Err(RoomRefusal::AlreadyBlocked(kind))
            );
            run(
                &mut r,
                &RoomCommand::ReleaseBlock {
                    return_status: None,
                },
            )
            .unwrap();
            assert_eq!(r.block, None);
            assert_eq!(r.cleanliness, Cleanliness::Clean);
            assert_eq!(r.version, 3);
        }
    }

    #[test]
    fn a_release_may_override_the_return_status_and_defaults_to_dirty() {
        let mut r = room(Cleanliness::Inspected);
        run(
            &mut r,
            &RoomCommand::PlaceBlock(block(BlockKind::OutOfOrder)),
        )
        .unwrap();
        assert_eq!(r.block.as_ref().unwrap().return_status, Cleanliness::Dirty);
        run(
            &mut r,
            &RoomCommand::ReleaseBlock {
                return_status: Some(Cleanliness::Inspected),
            },
        )
        .unwrap();
        assert_eq!(r.cleanliness, Cleanliness::Inspected);
    }

    #[test]
    fn releasing_an_unblocked_room_is_refused() {
        let r = room(Cleanliness::Dirty);
        assert_eq!(
            r.decide(
                &RoomCommand::ReleaseBlock {
                    return_status: None
                },
                now()
            ),
            Err(RoomRefusal::NotBlocked)
        );
    }

    #[test]
    fn bad_blocks_are_refused() {
        let r = room(Cleanliness::Dirty);
        let mut backwards = block(BlockKind::OutOfOrder);
        backwards.to = backwards.from - Duration::hours(1);
        let mut past = block(BlockKind::OutOfOrder);
        past.from = now() - Duration::days(3);
        past.to = now() - Duration::days(1);
        let mut no_reason = block(BlockKind::OutOfOrder);
        no_reason.reason = "   ".into();
        let mut long_reason = block(BlockKind::OutOfOrder);
        long_reason.reason = "x".repeat(501);
        for b in [backwards, past, no_reason, long_reason] {
            let err = r.decide(&RoomCommand::PlaceBlock(b), now()).unwrap_err();
            assert_eq!(err.code(), "invalid_block");
        }
    }

    #[test]
    fn an_occupied_room_cannot_be_blocked() {
        let mut r = room(Cleanliness::Dirty);
        r.fo_occupancy = FoOccupancy::Occupied;
        assert_eq!(
            r.decide(
                &RoomCommand::PlaceBlock(block(BlockKind::OutOfService)),
                now()
            ),
            Err(RoomRefusal::Occupied)
        );
    }

    #[test]
    fn a_future_block_is_placed_but_not_yet_active() {
        let mut r = room(Cleanliness::Dirty);
        let mut b = block(BlockKind::OutOfOrder);
        b.from = now() + Duration::days(1);
        b.to = now() + Duration::days(3);
        run(&mut r, &RoomCommand::PlaceBlock(b)).unwrap();
        assert!(!r.block.as_ref().unwrap().active_at(now()));
    }

    #[test]
    fn events_round_trip_through_json_with_their_kind() {
        let e = RoomEvent::CleanlinessChanged {
            from: Cleanliness::Dirty,
            to: Cleanliness::Clean,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "cleanliness_changed");
        assert_eq!(v["to"], "clean");
        let back: RoomEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn new_room_validation() {
        let mut spec = NewRoom {
            number: RoomNumber::parse("101").unwrap(),
            floor: 1,
            room_type: "KING".into(),
            cleanliness: None,
        };
        assert!(spec.validate().is_ok());
        spec.floor = 400;
        assert!(spec.validate().is_err());
        spec.floor = 1;
        spec.room_type = "king size".into();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn check_in_occupies_a_ready_room_and_check_out_leaves_it_dirty() {
        let rid = ReservationId::new();
        let occupy = |require_inspected| RoomCommand::Occupy {
            reservation: rid,
            require_inspected,
        };
        let mut r = room(Cleanliness::Dirty);
        assert_eq!(
            run(&mut r, &occupy(false)),
            Err(RoomRefusal::NotReady("dirty"))
        );
        let mut r = room(Cleanliness::Clean);
        assert_eq!(
            run(&mut r, &occupy(true)),
            Err(RoomRefusal::NotReady("clean"))
        );
        run(&mut r, &occupy(false)).unwrap();
        assert_eq!(r.fo_occupancy, FoOccupancy::Occupied);
        assert_eq!(run(&mut r, &occupy(false)), Err(RoomRefusal::Occupied));
        let events = run(&mut r, &RoomCommand::Vacate { reservation: rid }).unwrap();
        assert_eq!(events.len(), 2, "vacant, then dirty: {events:?}");
        assert_eq!(
            (r.fo_occupancy, r.cleanliness),
            (FoOccupancy::Vacant, Cleanliness::Dirty)
        );
        assert_eq!(
            run(&mut r, &RoomCommand::Vacate { reservation: rid }),
            Err(RoomRefusal::NotOccupied)
        );
    }

    #[test]
    fn only_a_report_newer_than_the_front_office_change_makes_a_discrepancy() {
        let rid = ReservationId::new();
        let report = |o| {
            status(StatusChange {
                hk_occupancy: Some(o),
                ..Default::default()
            })
        };
        let mut r = room(Cleanliness::Clean);
        // Housekeeping saw it vacant this morning; the guest checks in: no "skip".
        assert_eq!(r.hk_occupancy, HkOccupancy::Vacant);
        run(
            &mut r,
            &RoomCommand::Occupy {
                reservation: rid,
                require_inspected: false,
            },
        )
        .unwrap();
        assert_eq!(
            (r.hk_occupancy, r.discrepancy()),
            (HkOccupancy::Unknown, Discrepancy::None)
        );
        // A later report that contradicts the front office is one.
        run(&mut r, &report(HkOccupancy::Vacant)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::Skip);
        run(&mut r, &report(HkOccupancy::Occupied)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::None);
        // The guest checks out: their room was reported occupied, but that is no "sleep".
        run(&mut r, &RoomCommand::Vacate { reservation: rid }).unwrap();
        assert_eq!(
            (r.hk_occupancy, r.discrepancy()),
            (HkOccupancy::Unknown, Discrepancy::None)
        );
        run(&mut r, &report(HkOccupancy::Occupied)).unwrap();
        assert_eq!(r.discrepancy(), Discrepancy::Sleep);
    }
}
