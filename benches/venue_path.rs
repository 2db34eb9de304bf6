//! The restaurant booking path inside one node, per backend:
//!
//! - `book`: a booking for two — the venue's tables and schedule read, the table's actor
//!   checking the slot, the party and its table hold committed (the store's no-overlap
//!   constraint checked) with the pacing count under the venue's lock;
//! - `16_bookings_one_slot`: sixteen parties booking the same quarter hour at once, each
//!   finding its own table among sixteen.
//!
//! PostgreSQL is taken from `BELLHOP_BENCH_DATABASE_URL` (default: the local server as
//! `postgres`); a fresh database is created and dropped. Run with `cargo bench`.

use std::{sync::Arc, time::Duration};

use bellhop::{
    actors::{Actors, BookingRequest, NewVenue, property::create_property},
    config::{ActorConfig, DatabaseConfig},
    domain::{
        Agent, VenueId,
        venue::{NewTable, Shape, VenueKind},
    },
    events::LocalBus,
    metrics::Metrics,
    persistence::{self, Store},
    ws::hub::Hub,
};
use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput};

mod common;

const TABLES: usize = 16;

struct Setup {
    actors: Actors,
    venue: VenueId,
    /// The next quarter hour nobody has booked yet.
    next: DateTime<Utc>,
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
    let venue = actors
        .venues
        .create_venue(
            pid,
            NewVenue {
                name: "Bench".into(),
                kind: VenueKind::Restaurant,
                sections: Vec::new(),
                turn_times: None,
                pacing: Some(1000),
                hold_minutes: None,
            },
            &agent,
        )
        .await
        .expect("venue");
    let tables = (0..TABLES)
        .map(|i| NewTable {
            name: format!("T{i}"),
            section: None,
            min_seats: 1,
            max_seats: 2,
            x: 0.0,
            y: 0.0,
            shape: Shape::Square,
        })
        .collect();
    actors
        .venues
        .add_tables(venue.id, tables, &agent)
        .await
        .expect("tables");
    Setup {
        actors,
        venue: venue.id,
        next: Utc::now() + chrono::Duration::days(1),
    }
}

fn request(at: DateTime<Utc>) -> BookingRequest {
    BookingRequest {
        party_size: 2,
        name: "Bench".into(),
        phone: None,
        at,
        reservation_id: None,
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
    let mut group = c.benchmark_group(format!("venue_path/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("book", |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    // Each booking its own turn on the first table: 90 minutes apart.
                    let at = s.next;
                    s.next = at + chrono::Duration::minutes(90);
                    s.actors
                        .venues
                        .book(s.venue, request(at), &agent)
                        .await
                        .expect("book");
                }
                start.elapsed()
            })
        });
    });
    group.throughput(Throughput::Elements(TABLES as u64));
    group.bench_function(format!("{TABLES}_bookings_one_slot"), |b| {
        b.iter_custom(|iters| {
            system.block_on(async {
                let start = std::time::Instant::now();
                for _ in 0..iters {
                    let at = s.next;
                    s.next = at + chrono::Duration::minutes(90);
                    let all =
                        (0..TABLES).map(|_| s.actors.venues.book(s.venue, request(at), &agent));
                    for r in futures_util::future::join_all(all).await {
                        r.expect("every booking finds a table");
                    }
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
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let system = actix_rt::System::new();
    common::on_both_backends(&mut c, &system, bench_backend);
    c.final_summary();
}
