//! Unit tests of the reservation state machine.
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
    let amend = |a: Amendment, today: &str| r.decide(&ReservationCommand::Amend(a), &ctx(today));
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
