//! Background jobs, watched.
//!
//! The node's periodic jobs (night audit, escalations, the chat email fallback, the hub's gap
//! release, the heartbeat) run for the node's whole life. A job that panicked used to be gone
//! silently until the next restart: the night audit would simply stop. [`supervise`] runs a
//! job as its own task, and when it panics logs it, counts it in `/metrics`
//! (`bellhop_job_restarts_total`) and starts it again after a backoff that doubles up to a
//! minute. Aborting the supervisor (at shutdown) aborts the job it runs.

use std::{future::Future, sync::Arc, sync::atomic::Ordering::Relaxed, time::Duration};

use crate::metrics::Metrics;

/// The first wait before a panicked job is started again.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Aborts the job's task when the supervisor goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `job()` until it returns, restarting it after a panic (see the module docs).
pub async fn supervise<F, Fut>(name: &'static str, metrics: Arc<Metrics>, job: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    supervise_with(name, metrics, FIRST_BACKOFF, job).await;
}

async fn supervise_with<F, Fut>(
    name: &'static str,
    metrics: Arc<Metrics>,
    first_backoff: Duration,
    job: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut backoff = first_backoff;
    loop {
        let mut running = AbortOnDrop(actix_rt::spawn(job()));
        match (&mut running.0).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                metrics.job_restarts.fetch_add(1, Relaxed);
                tracing::error!(job = name, restart_in = ?backoff, "background job panicked");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            // Cancelled from outside: nothing to run any more.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[actix_rt::test]
    async fn a_panicking_job_is_counted_and_started_again() {
        let metrics = Arc::new(Metrics::default());
        let runs = Arc::new(AtomicU32::new(0));
        let r = Arc::clone(&runs);
        supervise_with(
            "test",
            Arc::clone(&metrics),
            Duration::from_millis(5),
            move || {
                let r = Arc::clone(&r);
                async move {
                    // Panics the first two times, then finishes.
                    if r.fetch_add(1, Relaxed) < 2 {
                        panic!("a bug in a job");
                    }
                }
            },
        )
        .await;
        assert_eq!(runs.load(Relaxed), 3);
        assert_eq!(metrics.job_restarts.load(Relaxed), 2);
        assert!(metrics.render().contains("bellhop_job_restarts_total 2"));
    }

    #[actix_rt::test]
    async fn aborting_the_supervisor_stops_the_job() {
        let metrics = Arc::new(Metrics::default());
        let ticks = Arc::new(AtomicU32::new(0));
        let t = Arc::clone(&ticks);
        let supervisor = actix_rt::spawn(supervise("ticker", metrics, move || {
            let t = Arc::clone(&t);
            async move {
                loop {
                    t.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
        supervisor.abort();
        let _ = supervisor.await;
        let seen = ticks.load(Relaxed);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            ticks.load(Relaxed),
            seen,
            "the job stopped with its supervisor"
        );
    }
}
