//! Availability by room type and night (DESIGN §6, issue: reservations).
//!
//! For each night and room type: the rooms of that type, less those out of order that night
//! (out-of-service rooms stay in inventory: they are repaired within the day), less the
//! reservations of that type that hold inventory that night (tentative, confirmed, in house —
//! assigned to a room or not). A negative figure is an overbooking a manager decided.
//!
//! Pure: the caller passes the property's rooms and the reservations that touch the range, and
//! how a night maps to instants (the property's time zone), so this can be tested without a
//! clock or a store.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{
    reservation::{Reservation, Stay},
    room::{BlockKind, Room},
};

/// The longest range one availability query may ask for.
pub const MAX_RANGE_NIGHTS: i64 = 366;

/// One room type on one night.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Night {
    pub date: NaiveDate,
    pub room_type: String,
    /// Rooms of this type.
    pub rooms: u32,
    /// Of them, out of order during this night.
    pub out_of_order: u32,
    /// Reservations of this type holding inventory this night.
    pub sold: u32,
    /// `rooms - out_of_order - sold`; below zero when overbooked.
    pub available: i64,
}

/// Availability for every night of `[from, to)` and every room type (or only `room_type`),
/// by date then type. `night` gives the instants a night spans in the property's time zone
/// (`Property::night`: noon to noon).
pub fn nights(
    rooms: &[Room],
    reservations: &[Reservation],
    from: NaiveDate,
    to: NaiveDate,
    room_type: Option<&str>,
    night: impl Fn(NaiveDate) -> (DateTime<Utc>, DateTime<Utc>),
) -> Result<Vec<Night>, String> {
    let span = (to - from).num_days();
    if span < 1 {
        return Err("`to` must be after `from`".into());
    }
    if span > MAX_RANGE_NIGHTS {
        return Err(format!(
            "at most {MAX_RANGE_NIGHTS} nights per availability query"
        ));
    }
    let wanted = |t: &str| room_type.is_none_or(|w| w == t);
    let mut by_type: BTreeMap<&str, Vec<&Room>> = BTreeMap::new();
    for room in rooms.iter().filter(|r| wanted(&r.room_type)) {
        by_type.entry(&room.room_type).or_default().push(room);
    }
    // A type that is sold but has no rooms (yet) still shows, as overbooked.
    for r in reservations.iter().filter(|r| wanted(&r.room_type)) {
        by_type.entry(&r.room_type).or_default();
    }
    let mut out = Vec::with_capacity(by_type.len() * span as usize);
    for date in from.iter_days().take(span as usize) {
        let (start, end) = night(date);
        for (&t, rooms) in &by_type {
            let out_of_order = rooms
                .iter()
                .filter(|r| {
                    r.block.as_ref().is_some_and(|b| {
                        b.kind == BlockKind::OutOfOrder && b.from < end && start < b.to
                    })
                })
                .count() as u32;
            let sold = reservations
                .iter()
                .filter(|r| r.room_type == t && r.status.holds_inventory() && r.stay.covers(date))
                .count() as u32;
            out.push(Night {
                date,
                room_type: t.to_owned(),
                rooms: rooms.len() as u32,
                out_of_order,
                sold,
                available: i64::from(rooms.len() as u32)
                    - i64::from(out_of_order)
                    - i64::from(sold),
            });
        }
    }
    Ok(out)
}

/// Whether one more stay of `room_type` fits every night of `stay` (nights of that type only).
#[must_use]
pub fn fits(nights: &[Night], room_type: &str, stay: &Stay) -> bool {
    let mut covered = 0;
    for n in nights.iter().filter(|n| n.room_type == room_type) {
        if stay.covers(n.date) {
            covered += 1;
            if n.available < 1 {
                return false;
            }
        }
    }
    // A night missing from the answer (a type with no rooms) does not fit.
    covered == stay.nights()
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone as _};

    use super::*;
    use crate::domain::{
        GuestId, PropertyId, ReservationId, RoomId, RoomNumber,
        reservation::{Party, ReservationStatus},
        room::{Block, Cleanliness, NewRoom},
    };

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Nights in UTC: from midnight to midnight.
    fn utc(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap());
        (start, start + Duration::days(1))
    }

    fn room(number: &str, room_type: &str) -> Room {
        let spec = NewRoom {
            number: RoomNumber::parse(number).unwrap(),
            floor: 1,
            room_type: room_type.into(),
            cleanliness: Some(Cleanliness::Clean),
        };
        Room::create(RoomId::new(), PropertyId::new(), &spec, Utc::now()).0
    }

    fn booking(
        room_type: &str,
        arrival: &str,
        departure: &str,
        status: ReservationStatus,
    ) -> Reservation {
        Reservation {
            id: ReservationId::new(),
            property_id: PropertyId::new(),
            guest_id: GuestId::new(),
            status,
            room_type: room_type.into(),
            stay: Stay::new(d(arrival), d(departure)).unwrap(),
            party: Party {
                adults: 1,
                children: 0,
            },
            room: None,
            overbooked: false,
            version: 1,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn rooms_less_out_of_order_less_sold_per_night() {
        let mut broken = room("103", "KING");
        broken.block = Some(Block {
            kind: BlockKind::OutOfOrder,
            from: utc(d("2026-12-02")).0 + Duration::hours(10),
            to: utc(d("2026-12-03")).0 + Duration::hours(9),
            reason: "leak".into(),
            return_status: Cleanliness::Dirty,
        });
        let mut repair = room("104", "KING");
        repair.block = Some(Block {
            kind: BlockKind::OutOfService,
            ..broken.block.clone().unwrap()
        });
        let rooms = [
            room("101", "KING"),
            room("102", "KING"),
            broken,
            repair,
            room("201", "TWIN"),
        ];
        let reservations = [
            booking(
                "KING",
                "2026-12-01",
                "2026-12-03",
                ReservationStatus::Confirmed,
            ),
            booking(
                "KING",
                "2026-12-02",
                "2026-12-04",
                ReservationStatus::Tentative,
            ),
            // These hold nothing.
            booking(
                "KING",
                "2026-12-01",
                "2026-12-04",
                ReservationStatus::Canceled,
            ),
            booking(
                "KING",
                "2026-12-01",
                "2026-12-04",
                ReservationStatus::Waitlisted,
            ),
        ];
        let n = nights(
            &rooms,
            &reservations,
            d("2026-12-01"),
            d("2026-12-04"),
            Some("KING"),
            utc,
        )
        .unwrap();
        let summary: Vec<(u32, u32, u32, i64)> = n
            .iter()
            .map(|n| (n.rooms, n.out_of_order, n.sold, n.available))
            .collect();
        assert_eq!(
            summary,
            [(4, 0, 1, 3), (4, 1, 2, 1), (4, 1, 1, 2)],
            "the block spans the nights of the 2nd and the 3rd (until 09:00)"
        );
        assert!(fits(
            &n,
            "KING",
            &Stay::new(d("2026-12-01"), d("2026-12-04")).unwrap()
        ));
        let all = nights(
            &rooms,
            &reservations,
            d("2026-12-01"),
            d("2026-12-02"),
            None,
            utc,
        )
        .unwrap();
        let types: Vec<&str> = all.iter().map(|n| n.room_type.as_str()).collect();
        assert_eq!(types, ["KING", "TWIN"]);
    }

    #[test]
    fn a_sold_out_night_does_not_fit_and_an_overbooking_shows_negative() {
        let rooms = [room("101", "KING")];
        let reservations = [
            booking(
                "KING",
                "2026-12-02",
                "2026-12-03",
                ReservationStatus::Confirmed,
            ),
            booking(
                "KING",
                "2026-12-02",
                "2026-12-03",
                ReservationStatus::InHouse,
            ),
        ];
        let n = nights(
            &rooms,
            &reservations,
            d("2026-12-01"),
            d("2026-12-04"),
            None,
            utc,
        )
        .unwrap();
        assert_eq!(n[1].available, -1);
        assert!(!fits(
            &n,
            "KING",
            &Stay::new(d("2026-12-01"), d("2026-12-03")).unwrap()
        ));
        assert!(fits(
            &n,
            "KING",
            &Stay::new(d("2026-12-03"), d("2026-12-04")).unwrap()
        ));
        // Outside the range asked, or a type without rooms, never fits.
        assert!(!fits(
            &n,
            "KING",
            &Stay::new(d("2026-12-03"), d("2026-12-05")).unwrap()
        ));
        assert!(!fits(
            &n,
            "SUITE",
            &Stay::new(d("2026-12-01"), d("2026-12-02")).unwrap()
        ));
    }

    #[test]
    fn ranges_are_checked() {
        assert!(nights(&[], &[], d("2026-12-02"), d("2026-12-02"), None, utc).is_err());
        assert!(nights(&[], &[], d("2026-01-01"), d("2027-01-03"), None, utc).is_err());
        assert!(
            nights(&[], &[], d("2026-01-01"), d("2026-01-02"), None, utc)
                .unwrap()
                .is_empty()
        );
    }
}
