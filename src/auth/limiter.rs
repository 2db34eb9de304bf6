//! Login brute-force limits, per account and per client address.
//!
//! Failures are counted in a fixed window per key; once a key reaches its limit, logins for it
//! are refused (429 with `Retry-After`) until the window ends. A successful login clears the
//! account's count (not the address's). With `REDIS_URL` the counters live in Redis, so every
//! node enforces the same limit; if Redis is unreachable the node falls back to its own
//! counters rather than letting every attempt through.
//!
//! Redis sits on the login's path, so it gets a short deadline ([`REDIS_DEADLINE`]): with
//! Redis gone, a login waited for the connection manager's reconnects and took 9.5–19 s.
//! After a failed or late call the node leaves Redis alone for [`REDIS_BACKOFF`] and counts
//! locally, so only one login in that time pays the deadline. The node always counts its own
//! failures too, so the limit holds across the moment Redis goes away.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use redis::aio::ConnectionManager;

/// How long a login waits for Redis before counting locally.
pub const REDIS_DEADLINE: Duration = Duration::from_millis(300);

/// How long the node counts locally after Redis failed or was late.
pub const REDIS_BACKOFF: Duration = Duration::from_secs(2);

pub use crate::config::LimitPolicy;

/// Counts failed logins.
pub struct LoginLimiter {
    policy: LimitPolicy,
    local: Mutex<HashMap<String, (u32, Instant)>>,
    redis: Option<(ConnectionManager, String)>,
    /// Redis is left alone until then (it failed or was late).
    redis_away_until: Mutex<Option<Instant>>,
}

impl LoginLimiter {
    /// `redis`: a connection and the key prefix of this deployment (or test).
    #[must_use]
    pub fn new(policy: LimitPolicy, redis: Option<(ConnectionManager, String)>) -> Self {
        Self {
            policy,
            local: Mutex::new(HashMap::new()),
            redis,
            redis_away_until: Mutex::new(None),
        }
    }

    /// Runs a Redis call within [`REDIS_DEADLINE`], unless Redis is being left alone; `None`
    /// when the caller should count locally.
    async fn shared<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        {
            let mut away = self
                .redis_away_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match *away {
                Some(until) if Instant::now() < until => return None,
                Some(_) => *away = None,
                None => {}
            }
        }
        let why = match tokio::time::timeout(REDIS_DEADLINE, call).await {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {REDIS_DEADLINE:?}"),
        };
        tracing::warn!(error = %why, "login limiter: Redis unavailable, counting locally");
        *self
            .redis_away_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + REDIS_BACKOFF);
        None
    }

    fn keys(&self, account: &str, address: &str) -> [(String, u32); 2] {
        let prefix = self.redis.as_ref().map_or("", |(_, p)| p.as_str());
        [
            (
                format!("{prefix}login:acct:{account}"),
                self.policy.per_account,
            ),
            (
                format!("{prefix}login:addr:{address}"),
                self.policy.per_address,
            ),
        ]
    }

    /// `Err(retry_after)` when either key is over its limit (in Redis, or in this node's own
    /// count).
    pub async fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let keys = self.keys(account, address);
        if let Some((conn, _)) = &self.redis
            && let Some(Err(retry)) = self.shared(redis_check(conn.clone(), &keys)).await
        {
            return Err(retry);
        }
        let now = Instant::now();
        let local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, limit) in &keys {
            if let Some((count, start)) = local.get(key) {
                let age = now.duration_since(*start);
                if age < self.policy.window && *count >= *limit {
                    return Err(self.policy.window - age);
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt against both keys, in Redis and in this node's own count.
    pub async fn failed(&self, account: &str, address: &str) {
        let keys = self.keys(account, address);
        if let Some((conn, _)) = &self.redis {
            let window = u64::try_from(self.policy.window.as_millis()).unwrap_or(u64::MAX);
            let mut pipe = redis::pipe();
            for (key, _) in &keys {
                pipe.cmd("INCR").arg(key).ignore();
                pipe.cmd("PEXPIRE").arg(key).arg(window).arg("NX").ignore();
            }
            let mut conn = conn.clone();
            let _ = self
                .shared(async move { pipe.atomic().query_async::<()>(&mut conn).await })
                .await;
        }
        let now = Instant::now();
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        local.retain(|_, (_, start)| now.duration_since(*start) < self.policy.window);
        for (key, _) in keys {
            let entry = local.entry(key).or_insert((0, now));
            entry.0 += 1;
        }
    }

    /// A successful login clears the account's failures.
    pub async fn succeeded(&self, account: &str) {
        let [(key, _), _] = self.keys(account, "");
        if let Some((conn, _)) = &self.redis {
            let mut conn = conn.clone();
            let del = redis::cmd("DEL").arg(&key).to_owned();
            let _ = self
                .shared(async move { del.query_async::<()>(&mut conn).await })
                .await;
        }
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
    }
}

async fn redis_check(
    mut conn: ConnectionManager,
    keys: &[(String, u32); 2],
) -> redis::RedisResult<Result<(), Duration>> {
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    let counts: Vec<Option<u32>> = redis::cmd("MGET")
        .arg(&names)
        .query_async(&mut conn)
        .await?;
    for ((key, limit), count) in keys.iter().zip(counts) {
        if count.unwrap_or(0) >= *limit {
            let ttl_ms: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await?;
            let ttl = u64::try_from(ttl_ms).unwrap_or(1000).max(1000);
            return Ok(Err(Duration::from_millis(ttl)));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_account_and_the_address_are_limited_separately() {
        let l = LoginLimiter::new(
            LimitPolicy {
                per_account: 3,
                per_address: 5,
                window: Duration::from_secs(60),
            },
            None,
        );
        for _ in 0..3 {
            assert!(l.check("a@x", "1.1.1.1").await.is_ok());
            l.failed("a@x", "1.1.1.1").await;
        }
        let retry = l.check("a@x", "2.2.2.2").await.unwrap_err();
        assert!(retry > Duration::from_secs(50));
        // Another account from the same address still may, until the address is spent.
        assert!(l.check("b@x", "1.1.1.1").await.is_ok());
        l.failed("b@x", "1.1.1.1").await;
        l.failed("b@x", "1.1.1.1").await;
        assert!(
            l.check("c@x", "1.1.1.1").await.is_err(),
            "address limit reached"
        );
        assert!(l.check("c@x", "3.3.3.3").await.is_ok());
        // Success clears the account, not the address.
        l.succeeded("a@x").await;
        assert!(l.check("a@x", "4.4.4.4").await.is_ok());
        assert!(l.check("a@x", "1.1.1.1").await.is_err());
    }
}
