//! Two nodes writing the same room through their own actors: the store's UNIQUE(stream, seq)
//! decides, the loser reloads and re-validates, nothing is lost or applied twice.

use std::sync::Arc;

use bellhop::{
    actors::{Actors, CommandError, RoomHandle, property::create_property},
    config::ActorConfig,
    domain::{
        Agent, Cleanliness, HkOccupancy, NewRoom, PropertyId, RoomCommand, RoomNumber, StatusChange,
    },
    events::LocalBus,
    metrics::Metrics,
    persistence::{self, Store},
    ws::hub::Hub,
};

use crate::helpers::{Backend, TestDb};

struct Node {
    registry: Actors,
    metrics: Arc<Metrics>,
}

async fn node(db: &TestDb) -> (Node, Arc<Store>) {
    let store = persistence::open(&db.config).await.unwrap();
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
    let registry = Actors::start(
        Arc::clone(&store),
        Arc::new(LocalBus::new(hub)),
        Arc::clone(&metrics),
        ActorConfig {
            max_conflict_retries: 20,
            ..ActorConfig::default()
        },
    );
    (Node { registry, metrics }, store)
}

async fn hotel(node: &Node, store: &Store) -> PropertyId {
    let agent = Agent::system("test");
    let pid = create_property(store, "Two nodes", "UTC", &agent)
        .await
        .unwrap()
        .id;
    let spec = NewRoom {
        number: RoomNumber::parse("101").unwrap(),
        floor: 1,
        room_type: "KING".into(),
        cleanliness: None,
    };
    node.registry
        .rooms
        .create_rooms(pid, vec![spec], &agent)
        .await
        .unwrap();
    pid
}

fn status(change: StatusChange) -> RoomCommand {
    RoomCommand::ChangeStatus(change)
}

#[actix_web::test]
async fn a_stale_node_reloads_revalidates_and_commits_the_next_seq() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, store) = node(&db).await;
    let (b, _) = node(&db).await;
    let pid = hotel(&a, store.as_ref()).await;
    let n = RoomNumber::parse("101").unwrap();
    let ra = a.registry.rooms.room(pid, &n).await.unwrap();
    let rb = b.registry.rooms.room(pid, &n).await.unwrap();
    assert_eq!(rb.state().await.unwrap().version, 1);

    let after_a = ra
        .execute(
            status(StatusChange {
                cleanliness: Some(Cleanliness::Clean),
                ..Default::default()
            }),
            None,
            Agent::system("a"),
        )
        .await
        .unwrap();
    assert_eq!(after_a.version, 2);
    // B still believes version 1; its write of seq 2 loses, it reloads and writes seq 3,
    // judged against the state that includes A's change.
    let after_b = rb
        .execute(
            status(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                ..Default::default()
            }),
            None,
            Agent::system("b"),
        )
        .await
        .unwrap();
    assert_eq!(after_b.version, 3);
    assert_eq!(
        after_b.cleanliness,
        Cleanliness::Clean,
        "A's change was not lost"
    );
    assert_eq!(
        b.metrics
            .store_conflicts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );

    // A stale command that is no longer valid is refused after the reload, not applied.
    let refused = ra
        .execute(
            status(StatusChange {
                hk_occupancy: Some(HkOccupancy::Occupied),
                ..Default::default()
            }),
            None,
            Agent::system("a"),
        )
        .await;
    assert!(refused.is_err(), "occupied is already reported");

    let log = store
        .read_stream(&after_a.id.stream(), 0, 100)
        .await
        .unwrap();
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(log[2].actor, "system:b");
    a.registry.shutdown().await;
    b.registry.shutdown().await;
}

const EACH: usize = 40;

/// Sends `EACH` commands through one node, alternating between two values of a facet (so each
/// is valid whatever the other node did); returns the values that landed, in order.
async fn flip<T: Copy + std::fmt::Debug>(
    room: &RoomHandle,
    node: &str,
    values: [T; 2],
    change: impl Fn(T) -> StatusChange,
) -> Vec<T> {
    let mut landed = Vec::new();
    for i in 0..EACH {
        let to = values[landed.len() % 2];
        match room
            .execute(status(change(to)), None, Agent::system(node))
            .await
        {
            Ok(_) => landed.push(to),
            Err(CommandError::Contention) => {}
            Err(e) => panic!("node {node}, command {i}: {e:?}"),
        }
    }
    landed
}

#[actix_web::test]
async fn concurrent_writers_on_two_nodes_leave_a_gapless_log() {
    let db = TestDb::new(Backend::Postgres).await;
    let (a, store) = node(&db).await;
    let (b, _) = node(&db).await;
    let pid = hotel(&a, store.as_ref()).await;
    let n = RoomNumber::parse("101").unwrap();
    let ra = a.registry.rooms.room(pid, &n).await.unwrap();
    let rb = b.registry.rooms.room(pid, &n).await.unwrap();

    // Node A flips cleanliness, node B flips the housekeeping report: every command is valid
    // on any state the other node can produce. Each must land exactly once, or (if it lost
    // the race more often than the retry budget) be answered `Contention` and not land at all.
    let run_a = flip(&ra, "a", [Cleanliness::Clean, Cleanliness::Dirty], |to| {
        StatusChange {
            cleanliness: Some(to),
            ..Default::default()
        }
    });
    let run_b = flip(
        &rb,
        "b",
        [HkOccupancy::Occupied, HkOccupancy::Unknown],
        |to| StatusChange {
            hk_occupancy: Some(to),
            ..Default::default()
        },
    );
    let (landed_a, landed_b) = futures_util::join!(run_a, run_b);
    assert!(
        !landed_a.is_empty() && !landed_b.is_empty(),
        "both nodes got writes in"
    );

    let room = store.room(pid, &n).await.unwrap().unwrap();
    let expected_version = 1 + (landed_a.len() + landed_b.len()) as u64;
    assert_eq!(room.version, expected_version);
    let log = store.read_stream(&room.id.stream(), 0, 1000).await.unwrap();
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=expected_version).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(
        log.iter().filter(|e| e.actor == "system:a").count(),
        landed_a.len()
    );
    assert_eq!(
        log.iter().filter(|e| e.actor == "system:b").count(),
        landed_b.len()
    );
    // The log, replayed in order, says what each node's acknowledged commands said.
    let from_log_a: Vec<Cleanliness> = log
        .iter()
        .filter(|e| e.actor == "system:a")
        .map(|e| serde_json::from_value(e.payload["to"].clone()).unwrap())
        .collect();
    assert_eq!(from_log_a, landed_a);
    assert_eq!(Some(&room.cleanliness), landed_a.last());
    assert_eq!(Some(&room.hk_occupancy), landed_b.last());
    a.registry.shutdown().await;
    b.registry.shutdown().await;
}
