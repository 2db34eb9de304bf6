//! Process counters, rendered in the Prometheus text format at `GET /metrics`.
//!
//! A handful of atomics is all this needs; a metrics framework would add a registry, macros
//! and a global, and we want neither globals nor indirection on the hot paths that bump these.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
};

/// Counters and gauges of one node.
#[derive(Debug, Default)]
pub struct Metrics {
    pub commands_ok: AtomicU64,
    pub commands_refused: AtomicU64,
    pub commands_failed: AtomicU64,
    /// Lost optimistic-concurrency races (another writer took the seq first).
    pub store_conflicts: AtomicU64,
    pub actor_activations: AtomicU64,
    /// Actors found dead (a handler panicked) and re-created from the store.
    pub actor_restarts: AtomicU64,
    /// Background jobs (night audit, escalation, …) that panicked and were restarted.
    pub job_restarts: AtomicU64,
    pub actor_passivations: AtomicU64,
    pub actors_live: AtomicI64,
    pub ws_sessions: AtomicI64,
    pub ws_frames_sent: AtomicU64,
    pub ws_slow_consumer_disconnects: AtomicU64,
    pub ws_error_frames: AtomicU64,
    /// Deliveries handed from the hub to session queues.
    pub hub_deliveries: AtomicU64,
    /// Batches published to Redis / failed to / received from other nodes.
    pub bus_published: AtomicU64,
    pub bus_publish_failures: AtomicU64,
    pub bus_received: AtomicU64,
    /// Times the Redis subscriber reconnected (and resynced).
    pub bus_reconnects: AtomicU64,
    /// HTTP responses by status class: 1xx..5xx.
    pub http_responses: [AtomicU64; 5],
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn record_http_status(&self, status: u16) {
        if let Some(c) = self
            .http_responses
            .get(usize::from(status / 100).wrapping_sub(1))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, &AtomicU64); 16] = [
            (
                "bellhop_job_restarts_total",
                "Background jobs that panicked and were restarted",
                &self.job_restarts,
            ),
            (
                "bellhop_bus_published_total",
                "Batches published to Redis",
                &self.bus_published,
            ),
            (
                "bellhop_bus_publish_failures_total",
                "Batches that could not be published",
                &self.bus_publish_failures,
            ),
            (
                "bellhop_bus_received_total",
                "Batches received from other nodes",
                &self.bus_received,
            ),
            (
                "bellhop_bus_reconnects_total",
                "Redis subscriber reconnects (each followed by a resync)",
                &self.bus_reconnects,
            ),
            (
                "bellhop_commands_ok_total",
                "Commands committed",
                &self.commands_ok,
            ),
            (
                "bellhop_commands_refused_total",
                "Commands refused by a domain rule or version check",
                &self.commands_refused,
            ),
            (
                "bellhop_commands_failed_total",
                "Commands that failed for infrastructure reasons",
                &self.commands_failed,
            ),
            (
                "bellhop_store_conflicts_total",
                "Optimistic-concurrency races lost and retried",
                &self.store_conflicts,
            ),
            (
                "bellhop_actor_activations_total",
                "Entity actors activated",
                &self.actor_activations,
            ),
            (
                "bellhop_actor_restarts_total",
                "Dead entity actors re-created from the store",
                &self.actor_restarts,
            ),
            (
                "bellhop_actor_passivations_total",
                "Idle entity actors stopped",
                &self.actor_passivations,
            ),
            (
                "bellhop_ws_frames_sent_total",
                "WebSocket text frames written",
                &self.ws_frames_sent,
            ),
            (
                "bellhop_ws_slow_consumer_disconnects_total",
                "Sessions closed for falling behind",
                &self.ws_slow_consumer_disconnects,
            ),
            (
                "bellhop_ws_error_frames_total",
                "Error frames answered to clients",
                &self.ws_error_frames,
            ),
            (
                "bellhop_hub_deliveries_total",
                "Deliveries queued to sessions",
                &self.hub_deliveries,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Relaxed)
            );
        }
        let gauges: [(&str, &str, &AtomicI64); 2] = [
            (
                "bellhop_actors_live",
                "Entity actors currently active",
                &self.actors_live,
            ),
            (
                "bellhop_ws_sessions",
                "Open WebSocket sessions",
                &self.ws_sessions,
            ),
        ];
        for (name, help, g) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                g.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP bellhop_http_responses_total HTTP responses by status class\n# TYPE bellhop_http_responses_total counter"
        );
        for (i, c) in self.http_responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "bellhop_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::inc(&m.commands_ok);
        m.record_http_status(404);
        m.record_http_status(999);
        let text = m.render();
        assert!(
            text.contains(
                "# TYPE bellhop_commands_ok_total counter\nbellhop_commands_ok_total 1\n"
            )
        );
        assert!(text.contains("bellhop_http_responses_total{class=\"4xx\"} 1\n"));
    }
}
