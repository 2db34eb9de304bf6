//! The store contract: every backend must behave exactly like this.

mod ops;

use std::sync::Arc;

use bellhop::{
    domain::{Agent, NewRoom, Property, PropertyId, Room, RoomId, RoomNumber},
    persistence::{self, NewEvent, Projection, Store, StoreError},
};
use serde_json::json;

use crate::{
    both,
    helpers::{Backend, TestDb},
};

async fn store(backend: Backend) -> (Arc<Store>, TestDb) {
    let db = TestDb::new(backend).await;
    let store = persistence::open(&db.config).await.expect("open store");
    (store, db)
}

fn property() -> Property {
    Property {
        id: PropertyId::new(),
        name: "Contract".into(),
        timezone: "UTC".into(),
        created_at: persistence::now(),
        business_date: None,
        require_inspected: false,
        stayover_every_days: 1,
    }
}

fn event(stream: &str, seq: u64, pid: PropertyId) -> NewEvent {
    NewEvent {
        stream: stream.into(),
        seq,
        property_id: Some(pid),
        kind: "test_event".into(),
        payload: json!({ "n": seq }),
        actor: Agent::system("contract"),
        at: persistence::now(),
    }
}

fn new_room(pid: PropertyId, number: &str) -> Room {
    let spec = NewRoom {
        number: RoomNumber::parse(number).unwrap(),
        floor: 2,
        room_type: "TWIN".into(),
        cleanliness: None,
    };
    Room::create(RoomId::new(), pid, &spec, persistence::now()).0
}

async fn with_property(store: &Store) -> Property {
    let p = property();
    store
        .commit(
            vec![event(&p.id.stream(), 1, p.id)],
            vec![Projection::InsertProperty(p.clone())],
        )
        .await
        .unwrap();
    p
}

both!(properties_are_stored_and_listed, |b| async move {
    let (store, _db) = store(b).await;
    assert!(store.properties().await.unwrap().is_empty());
    let p = with_property(store.as_ref()).await;
    assert_eq!(store.property(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(store.properties().await.unwrap(), vec![p]);
    assert_eq!(store.property(PropertyId::new()).await.unwrap(), None);
    store.ping().await.unwrap();
});

both!(
    events_and_projections_commit_together_and_read_back,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let room = new_room(p.id, "201");
        let stream = room.id.stream();
        store
            .commit(
                vec![event(&stream, 1, p.id)],
                vec![Projection::UpsertRoom(room.clone())],
            )
            .await
            .unwrap();
        assert_eq!(
            store.room(p.id, &room.number).await.unwrap(),
            Some(room.clone())
        );
        assert_eq!(store.room_by_id(room.id).await.unwrap(), Some(room.clone()));
        assert_eq!(store.rooms(p.id).await.unwrap(), vec![room.clone()]);

        let mut next = room.clone();
        next.version = 3;
        next.rush = true;
        store
            .commit(
                vec![event(&stream, 2, p.id), event(&stream, 3, p.id)],
                vec![Projection::UpsertRoom(next.clone())],
            )
            .await
            .unwrap();
        assert_eq!(store.room_by_id(room.id).await.unwrap(), Some(next));

        let all = store.read_stream(&stream, 0, 100).await.unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(all[1].payload, json!({ "n": 2 }));
        assert_eq!(all[1].actor, "system:contract");
        assert_eq!(all[1].kind, "test_event");
        let after = store.read_stream(&stream, 1, 1).await.unwrap();
        assert_eq!(after.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
        assert!(
            store
                .read_stream("room:nothing", 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

both!(
    a_taken_seq_is_a_conflict_and_writes_nothing,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let room = new_room(p.id, "202");
        let stream = room.id.stream();
        store
            .commit(
                vec![event(&stream, 1, p.id)],
                vec![Projection::UpsertRoom(room.clone())],
            )
            .await
            .unwrap();
        // A second writer, one event ahead of the first, and one at a taken seq: the whole batch
        // must fail and leave neither the log nor the projection touched.
        let mut stale = room.clone();
        stale.version = 2;
        stale.rush = true;
        let other_stream = new_room(p.id, "203").id.stream();
        let err = store
            .commit(
                vec![event(&other_stream, 1, p.id), event(&stream, 1, p.id)],
                vec![Projection::UpsertRoom(stale)],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict), "{err:?}");
        assert_eq!(store.room_by_id(room.id).await.unwrap(), Some(room));
        assert!(
            store
                .read_stream(&other_stream, 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.read_stream(&stream, 0, 10).await.unwrap().len(), 1);
    }
);

both!(a_taken_room_number_is_a_named_constraint, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let first = new_room(p.id, "301");
    store
        .commit(
            vec![event(&first.id.stream(), 1, p.id)],
            vec![Projection::UpsertRoom(first)],
        )
        .await
        .unwrap();
    let twin = new_room(p.id, "301");
    let err = store
        .commit(
            vec![event(&twin.id.stream(), 1, p.id)],
            vec![Projection::UpsertRoom(twin.clone())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Constraint(c) if c == "rooms_property_number_key"),
        "{err:?}"
    );
    assert!(
        store
            .read_stream(&twin.id.stream(), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The same number in another property is fine.
    let q = with_property(store.as_ref()).await;
    let elsewhere = new_room(q.id, "301");
    store
        .commit(
            vec![event(&elsewhere.id.stream(), 1, q.id)],
            vec![Projection::UpsertRoom(elsewhere)],
        )
        .await
        .unwrap();
});

both!(a_projection_never_goes_back_in_version, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let mut room = new_room(p.id, "401");
    let stream = room.id.stream();
    room.version = 2;
    store
        .commit(
            vec![event(&stream, 1, p.id), event(&stream, 2, p.id)],
            vec![Projection::UpsertRoom(room.clone())],
        )
        .await
        .unwrap();
    let mut older = room.clone();
    older.version = 2;
    older.rush = true;
    let err = store
        .commit(
            vec![event(&stream, 3, p.id)],
            vec![Projection::UpsertRoom(older)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(store.read_stream(&stream, 0, 10).await.unwrap().len(), 2);
});

both!(rooms_are_listed_by_floor_then_number, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let mut rooms = Vec::new();
    for (floor, number) in [(2, "210"), (1, "1010"), (1, "102"), (2, "209")] {
        let mut r = new_room(p.id, number);
        r.floor = floor;
        rooms.push(r);
    }
    let events = rooms
        .iter()
        .map(|r| event(&r.id.stream(), 1, p.id))
        .collect();
    store
        .commit(
            events,
            rooms.into_iter().map(Projection::UpsertRoom).collect(),
        )
        .await
        .unwrap();
    let numbers: Vec<String> = store
        .rooms(p.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.number.to_string())
        .collect();
    assert_eq!(numbers, ["102", "1010", "209", "210"]);
});

both!(
    reopening_the_store_keeps_everything_and_migrates_once,
    |b| async move {
        let db = TestDb::new(b).await;
        let first = persistence::open(&db.config).await.unwrap();
        let p = with_property(first.as_ref()).await;
        drop(first);
        let second = persistence::open(&db.config).await.unwrap();
        assert_eq!(second.property(p.id).await.unwrap(), Some(p));
    }
);

// ---- Guests, room types, reservations ----------------------------------------------------

use bellhop::domain::{
    Guest, GuestId, Reservation, ReservationId, ReservationStatus, RoomType, Stay,
    reservation::{AssignedRoom, Party},
};

fn date(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

async fn with_guest(store: &Store, pid: PropertyId) -> Guest {
    let g = Guest {
        id: GuestId::new(),
        property_id: pid,
        name: "Grace Hopper".into(),
        email: Some("grace@example.org".into()),
        phone: None,
        preferences: vec!["quiet room".into()],
        created_at: persistence::now(),
    };
    store
        .commit(
            vec![event(&format!("guest:{}", g.id), 1, pid)],
            vec![Projection::InsertGuest(g.clone())],
        )
        .await
        .unwrap();
    g
}

async fn with_room(store: &Store, pid: PropertyId, number: &str) -> Room {
    let room = new_room(pid, number);
    store
        .commit(
            vec![event(&room.id.stream(), 1, pid)],
            vec![Projection::UpsertRoom(room.clone())],
        )
        .await
        .unwrap();
    room
}

fn stay_in(
    pid: PropertyId,
    guest: &Guest,
    room: Option<&Room>,
    arrival: &str,
    departure: &str,
) -> Reservation {
    Reservation {
        id: ReservationId::new(),
        property_id: pid,
        guest_id: guest.id,
        status: ReservationStatus::Confirmed,
        room_type: "TWIN".into(),
        stay: Stay::new(date(arrival), date(departure)).unwrap(),
        party: Party {
            adults: 2,
            children: 1,
        },
        room: room.map(|r| AssignedRoom {
            room_id: r.id,
            number: r.number.clone(),
        }),
        overbooked: false,
        version: 1,
        created_at: bellhop::persistence::now(),
    }
}

/// Writes a reservation's state with its next event, as the reservation actor will.
async fn write(store: &Store, r: &Reservation) -> Result<(), StoreError> {
    store
        .commit(
            vec![event(&r.id.stream(), r.version, r.property_id)],
            vec![Projection::UpsertReservation {
                reservation: r.clone(),
                at: persistence::now(),
            }],
        )
        .await
}

both!(
    guests_room_types_and_reservations_read_back,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let guest = with_guest(store.as_ref(), p.id).await;
        assert_eq!(store.guest(guest.id).await.unwrap(), Some(guest.clone()));
        assert_eq!(store.guest(GuestId::new()).await.unwrap(), None);
        // Many by id, in one read: only this property's, unknown ids left out.
        let second = with_guest(store.as_ref(), p.id).await;
        let elsewhere = with_property(store.as_ref()).await;
        let stranger = with_guest(store.as_ref(), elsewhere.id).await;
        let mut named = store
            .guests_by_id(p.id, &[guest.id, second.id, stranger.id, GuestId::new()])
            .await
            .unwrap();
        named.sort_by_key(|g| g.id.0);
        let mut want = vec![guest.clone(), second.clone()];
        want.sort_by_key(|g| g.id.0);
        assert_eq!(named, want);
        assert!(store.guests_by_id(p.id, &[]).await.unwrap().is_empty());
        // A second write of a code replaces its name and occupancy.
        for (seq, code, name) in [
            (1, "TWIN", "Twin room"),
            (1, "KING", "King room"),
            (2, "KING", "King"),
        ] {
            let t = RoomType {
                property_id: p.id,
                code: code.into(),
                name: name.into(),
                max_occupancy: 2,
            };
            store
                .commit(
                    vec![event(&format!("room_type:{}:{code}", p.id), seq, p.id)],
                    vec![Projection::UpsertRoomType(t)],
                )
                .await
                .unwrap();
        }
        let types = store.room_types(p.id).await.unwrap();
        let names: Vec<(&str, &str)> = types
            .iter()
            .map(|t| (t.code.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(names, [("KING", "King"), ("TWIN", "Twin room")]);
        let room = with_room(store.as_ref(), p.id, "101").await;
        let mut r = stay_in(p.id, &guest, Some(&room), "2026-12-01", "2026-12-04");
        write(store.as_ref(), &r).await.unwrap();
        assert_eq!(store.reservation(r.id).await.unwrap(), Some(r.clone()));
        r.status = ReservationStatus::InHouse;
        r.version = 2;
        write(store.as_ref(), &r).await.unwrap();
        assert_eq!(store.reservation(r.id).await.unwrap(), Some(r.clone()));
        // Listed when the stay shares a night with the range, never on its departure day.
        let listed = |from: &str, to: &str| {
            let store = Arc::clone(&store);
            let (from, to) = (date(from), date(to));
            async move {
                store
                    .reservations_between(p.id, from, to)
                    .await
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(listed("2026-11-30", "2026-12-01").await, 0);
        assert_eq!(listed("2026-12-03", "2026-12-04").await, 1);
        assert_eq!(listed("2026-12-04", "2026-12-10").await, 0);
    }
);

both!(
    one_room_never_holds_two_live_stays_that_share_a_night,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let guest = with_guest(store.as_ref(), p.id).await;
        let room = with_room(store.as_ref(), p.id, "101").await;
        let first = stay_in(p.id, &guest, Some(&room), "2026-12-01", "2026-12-04");
        write(store.as_ref(), &first).await.unwrap();
        let overlapping = stay_in(p.id, &guest, Some(&room), "2026-12-03", "2026-12-05");
        match write(store.as_ref(), &overlapping).await {
            Err(StoreError::Constraint(c)) => assert_eq!(c, "reservations_room_no_overlap"),
            other => panic!("expected the overlap constraint, got {other:?}"),
        }
        // Nothing of the refused write remains: no projection row and no event.
        assert_eq!(store.reservation(overlapping.id).await.unwrap(), None);
        assert!(
            store
                .read_stream(&overlapping.id.stream(), 0, 10)
                .await
                .unwrap()
                .is_empty()
        );
        // The departure day is free for the next arrival; unassigned stays never conflict.
        let next = stay_in(p.id, &guest, Some(&room), "2026-12-04", "2026-12-06");
        write(store.as_ref(), &next).await.unwrap();
        write(
            store.as_ref(),
            &stay_in(p.id, &guest, None, "2026-12-01", "2026-12-05"),
        )
        .await
        .unwrap();
        // An update that would overlap is refused too.
        let mut moved = next.clone();
        moved.stay = Stay::new(date("2026-12-03"), date("2026-12-06")).unwrap();
        moved.version = 2;
        assert!(matches!(
            write(store.as_ref(), &moved).await,
            Err(StoreError::Constraint(_))
        ));
        // A canceled stay frees its nights.
        let mut canceled = first.clone();
        canceled.status = ReservationStatus::Canceled;
        canceled.version = 2;
        write(store.as_ref(), &canceled).await.unwrap();
        let mut retry = overlapping.clone();
        retry.stay = Stay::new(date("2026-12-02"), date("2026-12-04")).unwrap();
        write(store.as_ref(), &retry).await.unwrap();
    }
);

both!(
    concurrent_conflicting_assignments_leave_exactly_one,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let guest = with_guest(store.as_ref(), p.id).await;
        let room = with_room(store.as_ref(), p.id, "101").await;
        // 40 different reservations want room 101 on nights that all share 2026-12-03.
        let tasks: Vec<_> = (0..40u32)
            .map(|i| {
                let store = Arc::clone(&store);
                let arrival = date("2026-12-01") + chrono::Days::new(u64::from(i % 3));
                let r = Reservation {
                    stay: Stay::new(
                        arrival,
                        date("2026-12-04") + chrono::Days::new(u64::from(i % 2)),
                    )
                    .unwrap(),
                    ..stay_in(p.id, &guest, Some(&room), "2026-12-01", "2026-12-04")
                };
                tokio::spawn(async move { write(store.as_ref(), &r).await })
            })
            .collect();
        let (mut won, mut refused) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Constraint(c)) if c == "reservations_room_no_overlap" => {
                    refused += 1;
                }
                // PostgreSQL may also report a conflict among concurrent inserts as a
                // serialization failure; either way it must not be written.
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert_eq!((won, refused), (1, 39));
        let live = store
            .reservations_between(p.id, date("2026-12-01"), date("2026-12-10"))
            .await
            .unwrap();
        assert_eq!(live.len(), 1);
    }
);

// The parts of the store the actors-level services and the task, chat and stock paths use.

use bellhop::domain::{
    chat::CannedReply,
    stock::StockItem,
    task::{NewTask, Priority, Task, TaskKind},
};

both!(a_streams_version_is_its_last_seq, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    assert_eq!(store.stream_version("nothing:here").await.unwrap(), 0);
    assert_eq!(store.stream_version(&p.id.stream()).await.unwrap(), 1);
    let stream = format!("contract:{}", p.id);
    store
        .commit(
            (1..=3).map(|s| event(&stream, s, p.id)).collect(),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(store.stream_version(&stream).await.unwrap(), 3);
    let seqs: Vec<u64> = store
        .read_stream(&stream, 1, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [2, 3]);
    // The next seq taken twice is the lost race every writer retries on.
    assert!(matches!(
        store
            .commit(vec![event(&stream, 3, p.id)], Vec::new())
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.stream_version(&stream).await.unwrap(), 3);
});

both!(
    canned_replies_are_written_listed_by_title_and_deleted,
    |b| async move {
        let (store, _db) = store(b).await;
        let p = with_property(store.as_ref()).await;
        let reply = |title: &str| CannedReply {
            id: uuid::Uuid::new_v4(),
            property_id: p.id,
            title: title.into(),
            body: "Hello {guest_name}".into(),
            updated_at: persistence::now(),
        };
        let (wifi, late) = (reply("Wi-Fi"), reply("Late check-out"));
        for r in [&wifi, &late] {
            store
                .commit(Vec::new(), vec![Projection::UpsertCannedReply(r.clone())])
                .await
                .unwrap();
        }
        assert_eq!(
            store.canned_replies(p.id).await.unwrap(),
            vec![late.clone(), wifi.clone()]
        );
        let twin = reply("Wi-Fi");
        assert!(matches!(
            store
                .commit(Vec::new(), vec![Projection::UpsertCannedReply(twin)])
                .await,
            Err(StoreError::Constraint(c)) if c == "canned_replies_title_key"
        ));
        let renamed = CannedReply {
            title: "Internet".into(),
            ..wifi.clone()
        };
        store
            .commit(
                Vec::new(),
                vec![Projection::UpsertCannedReply(renamed.clone())],
            )
            .await
            .unwrap();
        store
            .commit(
                Vec::new(),
                vec![Projection::DeleteCannedReply {
                    property_id: p.id,
                    id: late.id,
                }],
            )
            .await
            .unwrap();
        assert_eq!(store.canned_replies(p.id).await.unwrap(), vec![renamed]);
        assert!(
            store
                .canned_replies(PropertyId::new())
                .await
                .unwrap()
                .is_empty()
        );
    }
);

fn task(pid: PropertyId, kind: TaskKind, room: Option<&Room>) -> Task {
    let spec = NewTask {
        kind,
        room: room.map(|r| (r.id, r.number.clone())),
        priority: Priority::Normal,
        rush: false,
        reservation_id: None,
        inspects: None,
        arrival_today: false,
        note: None,
        due_at: None,
    };
    Task::create(
        bellhop::domain::TaskId::new(),
        pid,
        spec,
        "system:contract",
        persistence::now(),
    )
    .unwrap()
    .0
}

both!(tasks_are_read_by_id_and_by_room, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let room = with_room(store.as_ref(), p.id, "101").await;
    let clean = task(p.id, TaskKind::Departure, Some(&room));
    let repair = task(p.id, TaskKind::Maintenance, None);
    store
        .commit(
            Vec::new(),
            vec![
                Projection::UpsertTask(clean.clone()),
                Projection::UpsertTask(repair.clone()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.task(clean.id).await.unwrap(), Some(clean.clone()));
    assert_eq!(
        store.task(bellhop::domain::TaskId::new()).await.unwrap(),
        None
    );
    let filter = persistence::TaskFilter {
        property: p.id,
        open_only: true,
        assignee: None,
        room: None,
    };
    let mut all: Vec<_> = store
        .tasks(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    all.sort_by_key(|id| id.0);
    let mut want = vec![clean.id, repair.id];
    want.sort_by_key(|id| id.0);
    assert_eq!(all, want);
    let in_room = store
        .tasks(&persistence::TaskFilter {
            room: Some(room.id),
            ..filter
        })
        .await
        .unwrap();
    assert_eq!(in_room, vec![clean]);
    let elsewhere = store
        .tasks(&persistence::TaskFilter {
            property: PropertyId::new(),
            open_only: true,
            assignee: None,
            room: None,
        })
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
});

both!(stock_is_kept_per_property_by_item, |b| async move {
    let (store, _db) = store(b).await;
    let p = with_property(store.as_ref()).await;
    let item = |name: &str, count| StockItem {
        property_id: p.id,
        item: name.into(),
        count,
        low_at: 5,
        uses: std::collections::BTreeMap::from([(TaskKind::Departure, 2)]),
        version: 1,
    };
    let (towels, soap) = (item("towels", 40), item("soap", 3));
    for s in [&towels, &soap] {
        store
            .commit(Vec::new(), vec![Projection::UpsertStock(s.clone())])
            .await
            .unwrap();
    }
    assert_eq!(
        store.stock(p.id).await.unwrap(),
        vec![soap.clone(), towels.clone()]
    );
    let fewer = StockItem {
        count: 38,
        version: 2,
        ..towels
    };
    store
        .commit(Vec::new(), vec![Projection::UpsertStock(fewer.clone())])
        .await
        .unwrap();
    assert_eq!(store.stock(p.id).await.unwrap(), vec![soap, fewer]);
    assert!(store.stock(PropertyId::new()).await.unwrap().is_empty());
});
