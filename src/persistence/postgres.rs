//! The PostgreSQL backend: deadpool-postgres over tokio-postgres.
//!
//! Unique violations on `events_stream_seq_key` become [`StoreError::Conflict`]; other
//! integrity violations keep their constraint name; connection and pool failures become
//! [`StoreError::Unavailable`] so the API answers 503, never 500, while the database is away.
//!
//! Every call has a deadline ([`STORE_DEADLINE`]). A database whose traffic is silently
//! dropped answers nothing: no error, no close. Past the deadline the call is dropped and
//! answers `Unavailable`. Dropping a transaction before its `COMMIT` was sent means it never
//! commits: it is abandoned with its connection and the server rolls it back (see the session
//! settings below); a deadline that passes after `COMMIT` was sent leaves the outcome unknown,
//! the one case a client's retry (its idempotency key) settles. The connections a timed-out
//! call leaves behind may be stuck, so the pool's idle ones are dropped and the node recovers
//! by itself once the path heals.

use std::{error::Error, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::{
    NoTls,
    error::SqlState,
    types::{FromSql, IsNull, ToSql, Type, to_sql_checked},
};
use uuid::Uuid;

use super::{
    StoreError, migrations,
    sql::{Conn, Dialect, Row, Value},
};

/// Pool size per node. Commands are short transactions; more connections than this mostly
/// add contention on a small database server.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection before the store counts as unavailable.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one store call may take.
pub const STORE_DEADLINE: Duration = Duration::from_secs(5);

/// The PostgreSQL backend. Cheap to share: the pool is reference-counted.
pub(crate) struct Pg {
    pool: Pool,
}

impl Pg {
    /// Connects, checks the database answers, and applies pending migrations.
    pub(crate) async fn connect(url: &SecretString) -> anyhow::Result<Self> {
        // The parse error never contains the URL itself, so it is safe to report.
        let mut pg: tokio_postgres::Config = url
            .expose_secret()
            .parse()
            .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        pg.connect_timeout(POOL_TIMEOUT);
        // A peer that vanished is noticed by the socket: unacknowledged data for 5 s, or an
        // idle connection that stops answering keepalives, fails the connection (and the pool
        // drops it) instead of waiting on it for the kernel's 15 minutes or two hours.
        pg.tcp_user_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .keepalives_interval(Duration::from_secs(1))
            .keepalives_retries(3);
        // And on the server's side: no statement runs past the node's deadline, and a
        // transaction the node abandoned (its deadline passed before COMMIT) is rolled back
        // and its locks freed within seconds rather than when the server notices the socket.
        let options = format!(
            "{} -c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000",
            pg.get_options().unwrap_or_default()
        );
        pg.options(options.trim());
        if pg.get_application_name().is_none() {
            pg.application_name("bellhop");
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                // Fast: no clean-up query per checkout. We hold no session state (no advisory
                // session locks, no temp tables), so there is nothing to clean.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .context("building the PostgreSQL pool")?;
        let store = Self { pool };
        // Not within the call deadline: a migration on a large table may take its time.
        store
            .attempt(true, |c| {
                Box::pin(migrations::apply(c, migrations::POSTGRES, LEDGER))
            })
            .await
            .context("applying PostgreSQL migrations")?;
        Ok(store)
    }

    /// Runs `work` on a pooled connection (`transaction`: inside one transaction, committed
    /// if it succeeds), within the deadline.
    pub(crate) async fn run<T, F>(
        &self,
        call: &str,
        transaction: bool,
        work: F,
    ) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>> + Send,
    {
        // Bound first: the abandoned call (and the connection it holds, which goes back to the
        // pool) is dropped with this statement, before the idle connections are.
        let answer = tokio::time::timeout(STORE_DEADLINE, self.attempt(transaction, work)).await;
        answer.unwrap_or_else(|_| {
            tracing::warn!(call, limit = ?STORE_DEADLINE, "store call passed its deadline");
            // The connection that call held may be stuck on a path that drops traffic.
            let _ = self.pool.retain(|_, _| false);
            Err(StoreError::Unavailable(format!(
                "no answer from the store within {STORE_DEADLINE:?}"
            )))
        })
    }
}

impl Pg {
    async fn attempt<T, F>(&self, transaction: bool, work: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        if !transaction {
            return work(&mut PgConn::Client(&client)).await;
        }
        let tx = client.transaction().await.map_err(pg_error)?;
        let value = work(&mut PgConn::Tx(&tx)).await?;
        tx.commit().await.map_err(pg_error)?;
        Ok(value)
    }
}

/// The ledger of applied migrations.
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    bigint      PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// A pooled connection, or a transaction on one.
enum PgConn<'a> {
    Client(&'a deadpool_postgres::Client),
    Tx(&'a deadpool_postgres::Transaction<'a>),
}

impl PgConn<'_> {
    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        match self {
            PgConn::Client(c) => c.prepare_cached(sql).await,
            PgConn::Tx(t) => t.prepare_cached(sql).await,
        }
        .map_err(pg_error)
    }
}

fn refs(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[async_trait]
impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql).await?;
        let args = refs(args);
        match self {
            PgConn::Client(c) => c.execute(&stmt, &args).await,
            PgConn::Tx(t) => t.execute(&stmt, &args).await,
        }
        .map_err(pg_error)
    }

    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql).await?;
        let args = refs(args);
        let rows = match self {
            PgConn::Client(c) => c.query(&stmt, &args).await,
            PgConn::Tx(t) => t.query(&stmt, &args).await,
        }
        .map_err(pg_error)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(pg_error)
            })
            .collect()
    }

    async fn batch(&mut self, script: &str) -> Result<(), StoreError> {
        match self {
            PgConn::Client(c) => c.batch_execute(script).await,
            PgConn::Tx(t) => t.batch_execute(script).await,
        }
        .map_err(pg_error)
    }

    async fn lock(&mut self, key: &str) -> Result<(), StoreError> {
        self.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[Value::Text(key.to_owned())],
        )
        .await
        .map(drop)
    }
}

type SqlResult<T> = Result<T, Box<dyn Error + Sync + Send>>;

/// `v` into a parameter of type `ty`, refused (not mis-encoded) if the types disagree.
fn checked<T: ToSql>(v: &T, ty: &Type, out: &mut BytesMut) -> SqlResult<IsNull> {
    if !T::accepts(ty) {
        return Err(format!(
            "a {} cannot go into a {ty} parameter",
            std::any::type_name::<T>()
        )
        .into());
    }
    v.to_sql(ty, out)
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> SqlResult<IsNull> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            // Integers go in at the column's width (smallint, integer, bigint).
            Value::Int(i) if *ty == Type::INT2 => checked(&i16::try_from(*i)?, ty, out),
            Value::Int(i) if *ty == Type::INT4 => checked(&i32::try_from(*i)?, ty, out),
            Value::Int(i) => checked(i, ty, out),
            Value::Bool(b) => checked(b, ty, out),
            Value::Text(s) => checked(s, ty, out),
            Value::Uuid(u) => checked(u, ty, out),
            Value::Ts(t) => checked(t, ty, out),
            Value::Date(d) => checked(d, ty, out),
            Value::Json(j) => checked(j, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> SqlResult<Self> {
        Ok(if *ty == Type::INT2 {
            Value::Int(i16::from_sql(ty, raw)?.into())
        } else if *ty == Type::INT4 {
            Value::Int(i32::from_sql(ty, raw)?.into())
        } else if *ty == Type::INT8 {
            Value::Int(i64::from_sql(ty, raw)?)
        } else if *ty == Type::BOOL {
            Value::Bool(bool::from_sql(ty, raw)?)
        } else if *ty == Type::UUID {
            Value::Uuid(Uuid::from_sql(ty, raw)?)
        } else if *ty == Type::TIMESTAMPTZ {
            Value::Ts(DateTime::<Utc>::from_sql(ty, raw)?)
        } else if *ty == Type::DATE {
            Value::Date(NaiveDate::from_sql(ty, raw)?)
        } else if *ty == Type::JSON || *ty == Type::JSONB {
            Value::Json(serde_json::Value::from_sql(ty, raw)?)
        } else {
            Value::Text(String::from_sql(ty, raw)?)
        })
    }

    fn from_sql_null(_: &Type) -> SqlResult<Self> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn pool_error(e: PoolError) -> StoreError {
    // Whatever stops the pool from handing out a connection (timeouts, refused or failed
    // connects, even a server error such as "database does not accept connections") means
    // the store is away for now: 503, not 500.
    StoreError::Unavailable(e.to_string())
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION && db.constraint() == Some("events_stream_seq_key") {
            return StoreError::Conflict;
        }
        // Class 23: integrity constraint violations (unique, foreign key, check, exclusion).
        if code.code().starts_with("23") {
            return StoreError::Constraint(
                db.constraint()
                    .map_or_else(|| code.code().to_owned(), str::to_owned),
            );
        }
        // Class 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown).
        if ["08", "53", "57"]
            .iter()
            .any(|c| code.code().starts_with(c))
        {
            return StoreError::Unavailable(db.message().to_owned());
        }
        return StoreError::Other(anyhow::Error::new(e));
    }
    // A value that did not fit its column is a bug of ours, not an outage.
    let text = e.to_string();
    if text.starts_with("error serializing") || text.starts_with("error deserializing") {
        return StoreError::Other(anyhow::Error::new(e));
    }
    // No server error: the connection itself failed or closed.
    StoreError::Unavailable(e.to_string())
}
