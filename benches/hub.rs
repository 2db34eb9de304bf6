//! The hub alone: one committed event fanned out to 1k and 10k local subscribers.
//!
//! Measures `Hub::dispatch` — encoding the frame once (JSON and WebSocket framing) and a push
//! of the shared bytes into each session's bounded outbox — plus the receivers draining their
//! outboxes, so every iteration starts from empty queues. No sockets: this is the part of fan-out the hub owns.
//! Run with `cargo bench --bench hub`.

use std::sync::Arc;

use bellhop::{
    events::{Published, PublishedEvent},
    ws::{hub::Hub, outbox::Outbox},
};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde_json::json;

/// A room board event as the room actor publishes it (a status change with the room's state).
fn event(seq: u64) -> Published {
    Published {
        topics: vec!["rooms:00000000-0000-4000-8000-000000000001".into()],
        stream: "room:00000000-0000-4000-8000-000000000001:101".into(),
        from_seq: seq,
        to_seq: seq,
        events: vec![PublishedEvent {
            seq,
            event: json!({
                "kind": "status_changed",
                "cleanliness": "clean",
                "actor": "user:6f1c2a9e-0d7b-4c1e-9a55-3b1f0e9d2c11",
                "at": "2026-11-22T10:15:00.000000Z",
            }),
            state: json!({
                "number": "101", "floor": 1, "room_type": "KING", "version": seq,
                "cleanliness": "clean", "hk_occupancy": "vacant", "fo_occupancy": "vacant",
                "discrepancy": null, "block": null, "service": "none", "rush": false,
            }),
        }],
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("hub_fan_out");
    for n in [1_000usize, 10_000] {
        let hub = Hub::new(Arc::default());
        let mut queues: Vec<Arc<Outbox>> = Vec::with_capacity(n);
        for session in 0..n as u64 {
            // The server's default queue size.
            let outbox = Arc::new(Outbox::new(256));
            hub.subscribe(
                "rooms:00000000-0000-4000-8000-000000000001",
                session,
                Arc::clone(&outbox),
            );
            queues.push(outbox);
        }
        let mut seq = 0;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("one_event", n), |b| {
            b.iter(|| {
                seq += 1;
                hub.dispatch(&event(seq));
                for q in &queues {
                    let d = q.pop().expect("every subscriber got the event");
                    std::hint::black_box(d);
                }
            });
        });
    }
    group.finish();
    c.final_summary();
}
