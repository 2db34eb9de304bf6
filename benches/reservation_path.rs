//! The reservation path inside one node, per backend:
//!
//! - `book`: a booking with the inventory check (a lock per property and type, the type's
//!   rooms and live stays read inside the writing transaction) and its confirmation email
//!   written to the outbox;
//! - `book_and_assign`: the same, then a room assignment committed through the room's actor
//!   (its overlap check included);
//! - `16_bookings_one_night`: sixteen bookings at once for the same type and night, all of
//!   which fit: how the inventory lock serializes a rush;
//! - `name_300_guests`: what the front desk's day list adds to name its guests — one read of
//!   300 guests by id (`guests_by_id`), against the 300 single reads (eight at a time) it
//!   replaced.
//!
//! PostgreSQL is taken from `BELLHOP_BENCH_DATABASE_URL` (default: the local server as
//! `postgres`); a fresh database is created and dropped. Run with `cargo bench`.

use std::{sync::Arc, time::Duration};

use bellhop::{
    actors::{Actors, Booking, Request, catalog, property::create_property},
    config::{ActorConfig, DatabaseConfig},
    domain::{Agent, GuestId, NewRoom, PropertyId, RoomNumber},
    events::LocalBus,
    metrics::Metrics,
    persistence::{self, Store},
    ws::hub::Hub,
};
use chrono::NaiveDate;
use criterion::{Criterion, Throughput};

mod common;

const ROOMS: usize = 16;
/// Guests on a busy day's list (arrivals, departures and stays over of a 300-room hotel).
const DAY: usize = 300;

struct Setup {
    actors: Actors,
    store: Arc<Store>,
    pid: PropertyId,
    guest: GuestId,
    /// The next night nobody has booked yet (each iteration takes fresh nights).
    next: NaiveDate,
}

async fn setup(db: &DatabaseConfig) -> Setup {
    let store: Arc<Store> = persistence::open(db).await.expect("open store");
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
    let actors = Actors::start(
        Arc::clone(&store),
        Arc::new(LocalBus::new(hub)),
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
    actors
        .rooms
        .create_rooms(pid, specs, &agent)
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
    Setup {
        actors,
        store,
        pid,
        guest,
        next: chrono::Utc::now().date_naive() + chrono::Days::new(2),
    }
}

fn booking(s: &Setup, night: NaiveDate) -> Booking {
    Booking {
        guest_id: s.guest,
        room_type: "KING".into(),
        arrival: night,
        departure: night + chrono::Days::new(1),
        adults: 2,
        children: 0,
        tentative: false,
        waitlist: false,
        overbook: false,
        override_occupancy: false,
    }
}

fn bench_backend(
    c: &mut Criterion,
    system: &actix_rt::SystemRunner,
    name: &str,
    db: &DatabaseConfig,
) {
    let mut s = system.block_on(setup(db));
    let agent = Agent::system("bench");
    let room = RoomNumber::parse("100").expect("number");
    let mut group = c.benchmark_group(format!("reservation_path/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("book", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let night = s.next;
                    s.next = night + chrono::Days::new(1);
                    s.actors
                        .reservations
                        .book(s.pid, booking(&s, night), &agent)
                        .await
                        .expect("book");
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("book_and_assign", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let night = s.next;
                    s.next = night + chrono::Days::new(1);
                    let r = s
                        .actors
                        .reservations
                        .book(s.pid, booking(&s, night), &agent)
                        .await
                        .expect("book");
                    s.actors
                        .reservations
                        .execute(
                            r.id,
                            Request::Assign { room: room.clone() },
                            None,
                            agent.clone(),
                        )
                        .await
                        .expect("assign");
                }
                start.elapsed()
            })
        });
    });
    group.throughput(Throughput::Elements(ROOMS as u64));
    group.bench_function(format!("{ROOMS}_bookings_one_night"), |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let night = s.next;
                    s.next = night + chrono::Days::new(1);
                    let all = (0..ROOMS).map(|_| {
                        s.actors
                            .reservations
                            .book(s.pid, booking(&s, night), &agent)
                    });
                    for r in futures_util::future::join_all(all).await {
                        r.expect("every booking fits");
                    }
                }
                start.elapsed()
            })
        });
    });
    // A day's worth of guests to name.
    let agent_ref = &agent;
    let guests: Vec<GuestId> = system.block_on(async {
        let mut ids = Vec::with_capacity(DAY);
        for i in 0..DAY {
            let g = catalog::create_guest(
                s.store.as_ref(),
                s.pid,
                serde_json::from_value(serde_json::json!({"name": format!("Guest {i}")}))
                    .expect("guest"),
                agent_ref,
            )
            .await
            .expect("guest");
            ids.push(g.id);
        }
        ids
    });
    group.throughput(Throughput::Elements(DAY as u64));
    group.bench_function(format!("name_{DAY}_guests/one_read"), |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let named = s.store.guests_by_id(s.pid, &guests).await.expect("read");
                    assert_eq!(named.len(), DAY);
                }
                start.elapsed()
            })
        });
    });
    group.bench_function(format!("name_{DAY}_guests/one_read_each"), |b| {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let named: Vec<_> = futures_util::stream::iter(guests.iter().copied())
                        .map(|id| s.store.guest(id))
                        .buffer_unordered(8)
                        .try_collect()
                        .await
                        .expect("read");
                    assert_eq!(named.len(), DAY);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    system.block_on(s.actors.shutdown());
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
