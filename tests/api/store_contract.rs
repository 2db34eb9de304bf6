//! The store contract: every backend must behave exactly like this.

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

async fn store(backend: Backend) -> (Arc<dyn Store>, TestDb) {
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

async fn with_property(store: &dyn Store) -> Property {
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
