//! Unit tests of the venue state machine.
use super::*;

fn at(s: &str) -> DateTime<Utc> {
    format!("2026-11-22T{s}:00Z").parse().unwrap()
}

fn venue() -> Venue {
    Venue {
        id: VenueId::new(),
        property_id: PropertyId::new(),
        name: "Brasserie".into(),
        kind: VenueKind::Restaurant,
        sections: vec!["Terrace".into()],
        turn_times: Venue::default_turn_times(),
        pacing: Some(20),
        hold_minutes: 10,
        combinations: Vec::new(),
        version: 1,
        created_at: at("10:00"),
    }
}

fn table(v: &Venue, name: &str, min: u16, max: u16) -> Table {
    Table::create(
        TableId::new(),
        v,
        NewTable {
            name: name.into(),
            section: None,
            min_seats: min,
            max_seats: max,
            x: 0.0,
            y: 0.0,
            shape: Shape::Square,
        },
    )
    .unwrap()
    .0
}

fn run(t: &mut Table, c: TableCommand, now: DateTime<Utc>) -> Result<(), VenueRefusal> {
    for e in t.decide(&c, now)? {
        t.apply(&e);
    }
    Ok(())
}

#[test]
fn a_table_goes_around_the_service() {
    let v = venue();
    let mut t = table(&v, "T1", 2, 4);
    let (p, q) = (PartyId::new(), PartyId::new());
    let now = at("19:00");
    assert_eq!(t.state(now), TableState::Available);
    run(
        &mut t,
        TableCommand::Hold {
            party: p,
            until: at("19:10"),
        },
        now,
    )
    .unwrap();
    assert_eq!(t.state(now), TableState::Reserved);
    assert_eq!(
        run(&mut t, TableCommand::Seat { party: q }, now),
        Err(VenueRefusal::TableHeld),
        "held for the party that was told"
    );
    assert_eq!(
        t.state(at("19:11")),
        TableState::Available,
        "the hold lapses"
    );
    run(&mut t, TableCommand::Seat { party: p }, now).unwrap();
    assert_eq!(t.state(now), TableState::Occupied);
    assert_eq!(
        run(&mut t, TableCommand::Seat { party: q }, now),
        Err(VenueRefusal::TableOccupied)
    );
    assert_eq!(
        run(
            &mut t,
            TableCommand::Block {
                reason: "leak".into()
            },
            now
        ),
        Err(VenueRefusal::TableOccupied)
    );
    assert_eq!(
        run(&mut t, TableCommand::Bus, now),
        Err(VenueRefusal::NotDirty)
    );
    run(&mut t, TableCommand::Clear, now).unwrap();
    assert_eq!(t.state(now), TableState::NeedsBussing);
    assert_eq!(
        run(&mut t, TableCommand::Seat { party: q }, now),
        Err(VenueRefusal::NeedsBussing)
    );
    assert_eq!(
        run(&mut t, TableCommand::Clear, now),
        Err(VenueRefusal::NotOccupied)
    );
    run(&mut t, TableCommand::Bus, now).unwrap();
    assert_eq!(t.state(now), TableState::Available);
    run(
        &mut t,
        TableCommand::Block {
            reason: "wobbly leg".into(),
        },
        now,
    )
    .unwrap();
    assert_eq!(t.state(now), TableState::Blocked);
    assert_eq!(
        run(&mut t, TableCommand::Seat { party: q }, now),
        Err(VenueRefusal::TableBlocked)
    );
    run(&mut t, TableCommand::Unblock, now).unwrap();
    assert_eq!(
        run(&mut t, TableCommand::Unblock, now),
        Err(VenueRefusal::NotBlocked)
    );
    assert_eq!(t.version, 7);
}

#[test]
fn a_party_goes_from_booking_to_finished_and_exits_only_where_allowed() {
    let v = venue();
    let spec = |kind| NewParty {
        kind,
        name: "Lovelace".into(),
        phone: Some("+44 20 7946 0000".into()),
        size: 2,
        tables: vec![TableId::new()],
        starts_at: at("19:00"),
        ends_at: at("20:30"),
        quoted_minutes: None,
        reservation_id: None,
    };
    let run = |p: &mut Party, c: PartyCommand| -> Result<(), VenueRefusal> {
        for e in p.decide(&c)? {
            p.apply(&e);
        }
        Ok(())
    };
    let (mut p, _) =
        Party::create(PartyId::new(), &v, spec(PartyKind::Booking), at("12:00")).unwrap();
    assert_eq!(p.status, PartyStatus::Booked);
    assert_eq!(
        run(&mut p, PartyCommand::NoShow { now: at("18:59") }),
        Err(VenueRefusal::NoShowTooEarly)
    );
    run(&mut p, PartyCommand::Arrive).unwrap();
    assert_eq!(
        run(
            &mut p,
            PartyCommand::Pay {
                charge_to_room: false
            }
        )
        .unwrap_err()
        .code(),
        "illegal_transition"
    );
    let t = p.tables.clone();
    run(
        &mut p,
        PartyCommand::Seat {
            tables: t,
            from: at("19:05"),
            until: at("20:35"),
        },
    )
    .unwrap();
    assert_eq!(
        run(
            &mut p,
            PartyCommand::Pay {
                charge_to_room: true
            }
        ),
        Err(VenueRefusal::NoRoomToCharge),
        "not a hotel guest"
    );
    run(
        &mut p,
        PartyCommand::Pay {
            charge_to_room: false,
        },
    )
    .unwrap();
    run(&mut p, PartyCommand::Finish { at: at("20:10") }).unwrap();
    assert_eq!((p.status, p.ends_at), (PartyStatus::Finished, at("20:10")));
    assert_eq!(
        run(&mut p, PartyCommand::Cancel).unwrap_err().code(),
        "illegal_transition"
    );

    let (mut w, _) =
        Party::create(PartyId::new(), &v, spec(PartyKind::Waitlist), at("19:00")).unwrap();
    assert_eq!(w.status, PartyStatus::Quoted);
    assert!(run(&mut w, PartyCommand::Arrive).is_err());
    let table = TableId::new();
    run(
        &mut w,
        PartyCommand::Notify {
            table,
            until: at("19:10"),
            channel: Channel::Sms,
        },
    )
    .unwrap();
    assert_eq!(
        (w.status, w.hold),
        (PartyStatus::Notified, Some((table, at("19:10"))))
    );
    run(&mut w, PartyCommand::Remove).unwrap();
    assert!(!w.status.holds_tables());
    assert_eq!(
        validate_party(0, "x", None).unwrap_err().code(),
        "validation_failed"
    );
    assert!(validate_party(2, "x", Some("call me")).is_err());
}

#[test]
fn events_are_tagged_with_their_kind() {
    let p = PartyId::new();
    for e in [
        TableEvent::PartySeated { party: p },
        TableEvent::Cleared { party: p },
        TableEvent::Bussed,
        TableEvent::Blocked { reason: "x".into() },
        TableEvent::Unblocked,
        TableEvent::Held {
            party: p,
            until: at("19:00"),
        },
    ] {
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], e.kind());
    }
    for e in [
        PartyEvent::Arrived,
        PartyEvent::Seated {
            tables: vec![],
            from: at("19:00"),
            until: at("20:00"),
        },
        PartyEvent::Paid {
            charged_to_room: None,
        },
        PartyEvent::Finished { at: at("20:00") },
        PartyEvent::Canceled,
        PartyEvent::MarkedNoShow,
        PartyEvent::Notified {
            table: TableId::new(),
            until: at("19:00"),
            channel: Channel::None,
        },
        PartyEvent::Removed,
    ] {
        assert_eq!(serde_json::to_value(&e).unwrap()["kind"], e.kind());
    }
}

#[test]
fn candidates_try_the_smallest_single_table_then_combinations() {
    let mut v = venue();
    let small = table(&v, "T2", 1, 2);
    let four = table(&v, "T4", 2, 4);
    let six = table(&v, "T6", 4, 6);
    let mut blocked = table(&v, "T5", 2, 6);
    blocked.blocked = Some("broken".into());
    v.combinations = vec![Combination {
        tables: vec![four.id, six.id],
        min_seats: 6,
        max_seats: 10,
    }];
    let all = [six.clone(), small.clone(), four.clone(), blocked.clone()];
    assert_eq!(candidates(&v, &all, 2), vec![vec![small.id], vec![four.id]]);
    assert_eq!(candidates(&v, &all, 5), vec![vec![six.id]]);
    assert_eq!(
        candidates(&v, &all, 6),
        vec![vec![six.id], vec![four.id, six.id]]
    );
    assert_eq!(candidates(&v, &all, 9), vec![vec![four.id, six.id]]);
    assert!(candidates(&v, &all, 11).is_empty());
}

#[test]
fn schedules_never_overlap_and_quotes_wait_for_the_first_free_turn() {
    let (a, b) = (TableId::new(), TableId::new());
    let (p, q) = (PartyId::new(), PartyId::new());
    let schedule = [
        Slot {
            table: a,
            party: p,
            starts_at: at("19:00"),
            ends_at: at("20:30"),
        },
        Slot {
            table: a,
            party: q,
            starts_at: at("21:00"),
            ends_at: at("22:30"),
        },
    ];
    assert!(!free(&schedule, &[a], at("20:00"), at("21:30"), None));
    assert!(
        free(&schedule, &[a], at("20:30"), at("21:00"), None),
        "end to end"
    );
    assert!(free(&schedule, &[b], at("19:00"), at("23:00"), None));
    assert!(
        free(&schedule, &[a], at("19:30"), at("20:00"), Some(p)),
        "its own slot"
    );
    assert!(
        !free(&schedule, &[b, a], at("22:00"), at("23:00"), None),
        "any table of a combination"
    );
    let turn = Duration::minutes(90);
    assert_eq!(
        earliest_free(&schedule, &[a], at("19:15"), turn),
        at("22:30"),
        "20:30 leaves only 30 minutes"
    );
    assert_eq!(
        earliest_free(&schedule, &[b], at("19:15"), turn),
        at("19:15")
    );
    assert_eq!(quote_minutes(at("19:15"), at("19:31")), 20);
    assert_eq!(quote_minutes(at("19:15"), at("19:15")), 0);
    let v = venue();
    assert_eq!(v.turn(2), Duration::minutes(90));
    assert_eq!(v.turn(3), Duration::minutes(120));
    assert_eq!(v.turn(40), Duration::minutes(180));
    assert_eq!(
        pacing_slot(at("19:07") + Duration::seconds(30)),
        (at("19:00"), at("19:15"))
    );
    let mut bad = venue();
    bad.turn_times = vec![
        TurnTime {
            max_party: 4,
            minutes: 90,
        },
        TurnTime {
            max_party: 2,
            minutes: 60,
        },
    ];
    assert!(bad.validate().is_err());
}
