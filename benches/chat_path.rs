//! The guest chat path inside one node, per backend:
//!
//! - `send`: a staff reply through the conversation's actor (idempotency key checked and
//!   remembered, the message event and the conversation's projection in one transaction);
//! - `send_and_read`: the same, then the guest's read mark (a second event);
//! - `snapshot_50`: what subscribing to `chat:<cid>` reads — the conversation and its latest
//!   50 messages — once the conversation holds a few hundred.
//!
//! PostgreSQL is taken from `BELLHOP_BENCH_DATABASE_URL` (default: the local server as
//! `postgres`); a fresh database is created and dropped. Run with `cargo bench`.

use std::{sync::Arc, time::Duration};

use bellhop::{
    actors::{Actors, Booking, catalog, property::create_property},
    config::{ActorConfig, DatabaseConfig},
    domain::{
        Agent, ConversationId, NewRoom, RoomNumber,
        chat::{Author, MessageKind, Side},
    },
    events::LocalBus,
    metrics::Metrics,
    persistence::{self, Store},
    ws::{hub::Hub, snapshots},
};
use criterion::{Criterion, Throughput};

mod common;

struct Setup {
    actors: Actors,
    cid: ConversationId,
    staff: uuid::Uuid,
    sent: u64,
}

async fn setup(db: &DatabaseConfig) -> Setup {
    let store: Arc<Store> = persistence::open(db).await.expect("open store");
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
    let config = ActorConfig {
        // The bench measures the path, not the per-sender limit.
        chat_burst: u32::MAX,
        ..ActorConfig::default()
    };
    let actors = Actors::start(
        Arc::clone(&store),
        Arc::new(LocalBus::new(hub)),
        metrics,
        config,
    );
    let agent = Agent::system("bench");
    let pid = create_property(store.as_ref(), "Bench", "UTC", &agent)
        .await
        .expect("property")
        .id;
    let room = NewRoom {
        number: RoomNumber::parse("101").expect("number"),
        floor: 1,
        room_type: "KING".into(),
        cleanliness: None,
    };
    actors
        .rooms
        .create_rooms(pid, vec![room], &agent)
        .await
        .expect("rooms");
    let guest = catalog::create_guest(
        store.as_ref(),
        pid,
        serde_json::from_value(serde_json::json!({"name": "Bench", "email": "bench@example.org"}))
            .expect("guest"),
        &agent,
    )
    .await
    .expect("guest")
    .id;
    let night = chrono::Utc::now().date_naive() + chrono::Days::new(2);
    let r = actors
        .reservations
        .book(
            pid,
            Booking {
                guest_id: guest,
                room_type: "KING".into(),
                arrival: night,
                departure: night + chrono::Days::new(1),
                adults: 1,
                children: 0,
                tentative: false,
                waitlist: false,
                overbook: false,
                override_occupancy: false,
            },
            &agent,
        )
        .await
        .expect("book");
    Setup {
        actors,
        cid: ConversationId(r.id.0),
        staff: uuid::Uuid::new_v4(),
        sent: 0,
    }
}

async fn send(s: &mut Setup) -> u64 {
    s.sent += 1;
    s.actors
        .conversations
        .send(
            s.cid,
            Author::Staff { user_id: s.staff },
            MessageKind::Text,
            format!("Your table is ready ({})", s.sent),
            Some(&format!("bench-{}", s.sent)),
            Agent::user(s.staff),
        )
        .await
        .expect("send")
        .seq
}

fn bench_backend(
    c: &mut Criterion,
    system: &actix_rt::SystemRunner,
    name: &str,
    db: &DatabaseConfig,
) {
    let mut s = system.block_on(setup(db));
    let guest = Agent::guest(s.cid.0);
    let mut group = c.benchmark_group(format!("chat_path/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("send", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    send(&mut s).await;
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("send_and_read", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let seq = send(&mut s).await;
                    s.actors
                        .conversations
                        .mark(s.cid, Side::Guest, seq, true, guest.clone())
                        .await
                        .expect("read")
                        .expect("a new mark");
                }
                start.elapsed()
            })
        });
    });
    let store = Arc::clone(s.actors.store());
    group.bench_function("snapshot_50", |b| {
        b.iter(|| {
            system.block_on(async {
                snapshots::chat_snapshot(store.as_ref(), s.cid, Side::Guest)
                    .await
                    .expect("read")
                    .expect("exists")
            })
        });
    });
    group.finish();
    system.block_on(s.actors.shutdown());
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let system = actix_rt::System::new();
    common::on_both_backends(&mut c, &system, bench_backend);
    c.final_summary();
}
