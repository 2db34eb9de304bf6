//! The command path, end to end inside one node: a status change goes to the room actor,
//! commits to the store (events + projection in one transaction), and fans out through the
//! hub to a subscribed board session. Reported as commands per second, per backend:
//!
//! - `serial`: one room, one command at a time (latency-bound: one commit per command);
//! - `16_rooms`: 16 rooms changed concurrently (what a busy front desk and housekeeping
//!   produce together).
//!
//! PostgreSQL is taken from `BELLHOP_BENCH_DATABASE_URL` (default: the local server as
//! `postgres`); a fresh database is created and dropped. Run with `cargo bench`.

use std::{sync::Arc, time::Duration};

use bellhop::{
    actors::{Actors, RoomHandle, property::create_property},
    config::{ActorConfig, DatabaseConfig},
    domain::{Agent, NewRoom, RoomCommand, RoomNumber, StatusChange},
    events::{LocalBus, topics::rooms_topic},
    metrics::Metrics,
    persistence::{self, Store},
    ws::{hub::Hub, outbox::Outbox},
};
use criterion::{Criterion, Throughput};

mod common;

const ROOMS: usize = 16;

struct Setup {
    rooms: Vec<RoomHandle>,
    registry: Actors,
    /// Current rush flag per room, so every command is a legal toggle.
    rush: Vec<bool>,
}

async fn setup(db: &DatabaseConfig) -> Setup {
    let store: Arc<Store> = persistence::open(db).await.expect("open store");
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
    let registry = Actors::start(
        Arc::clone(&store),
        Arc::new(LocalBus::new(hub.clone())),
        metrics,
        ActorConfig::default(),
    );
    let agent = Agent::system("bench");
    let pid = create_property(store.as_ref(), "Bench", "UTC", &agent)
        .await
        .expect("property")
        .id;
    let specs = (0..ROOMS)
        .map(|i| NewRoom {
            number: RoomNumber::parse(&format!("{}", 100 + i)).expect("number"),
            floor: 1,
            room_type: "KING".into(),
            cleanliness: None,
        })
        .collect();
    registry
        .rooms
        .create_rooms(pid, specs, &agent)
        .await
        .expect("rooms");
    // A board subscriber that drains its queue, as a live front-desk screen would.
    let outbox = Arc::new(Outbox::new(4096));
    hub.subscribe(&rooms_topic(pid), hub.session_id(), Arc::clone(&outbox));
    actix_rt::spawn(async move {
        loop {
            std::future::poll_fn(|cx| outbox.poll(cx, true)).await;
            while outbox.pop().is_some() {}
        }
    });
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let n = RoomNumber::parse(&format!("{}", 100 + i)).expect("number");
        rooms.push(registry.rooms.room(pid, &n).await.expect("room"));
    }
    Setup {
        rooms,
        registry,
        rush: vec![false; ROOMS],
    }
}

async fn toggle(room: &RoomHandle, rush: &mut bool) {
    *rush = !*rush;
    room.execute(
        RoomCommand::ChangeStatus(StatusChange {
            rush: Some(*rush),
            ..StatusChange::default()
        }),
        None,
        Agent::system("bench"),
    )
    .await
    .expect("command");
}

fn bench_backend(
    c: &mut Criterion,
    system: &actix_rt::SystemRunner,
    name: &str,
    db: &DatabaseConfig,
) {
    let mut s = system.block_on(setup(db));
    let mut group = c.benchmark_group(format!("command_path/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("serial", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    toggle(&s.rooms[0], &mut s.rush[0]).await;
                }
                start.elapsed()
            })
        });
    });
    group.throughput(Throughput::Elements(ROOMS as u64));
    group.bench_function(format!("{ROOMS}_rooms"), |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let all = s
                        .rooms
                        .iter()
                        .zip(s.rush.iter_mut())
                        .map(|(room, rush)| toggle(room, rush));
                    futures_util::future::join_all(all).await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    system.block_on(s.registry.shutdown());
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let system = actix_rt::System::new();
    common::on_both_backends(&mut c, &system, bench_backend);
    c.final_summary();
}
