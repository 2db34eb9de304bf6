//! The embedded backend: one SQLite file, for a single node (the `cargo run` default).
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool with the one connection
//! behind a mutex: SQLite allows one writer at a time anyway, and one connection keeps
//! transactions strictly serial. WAL mode with `synchronous=FULL` makes every acknowledged
//! commit survive a crash or power loss: a hotel would rather wait a millisecond than lose a
//! room status.
//!
//! The shared SQL is written against [`Conn`]'s async interface; here it runs on the blocking
//! thread that holds the connection, where every one of its awaits is ready at once (nothing
//! in this backend waits), so the work is polled to completion in place.

use std::{
    future::Future,
    path::Path,
    pin::pin,
    sync::{Arc, Mutex},
    task::{Context as TaskContext, Poll, Waker},
    time::Duration,
};

use anyhow::Context;
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use rusqlite::{
    Connection, ErrorCode,
    types::{ToSqlOutput, ValueRef},
};

use super::{
    StoreError, migrations,
    sql::{Conn, Dialect, Row, Value, ts_text},
};

/// The SQLite backend.
pub(crate) struct Lite {
    conn: Arc<Mutex<Connection>>,
}

impl Lite {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub(crate) async fn open(path: &Path) -> anyhow::Result<Self> {
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || -> anyhow::Result<Connection> {
            let conn = Connection::open(&path)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            // Every statement of the store stays prepared (the default keeps 16).
            conn.set_prepared_statement_cache_capacity(256);
            Ok(conn)
        })
        .await
        .context("SQLite open task failed")??;
        let lite = Self {
            conn: Arc::new(Mutex::new(conn)),
        };
        lite.run(true, |c| {
            Box::pin(migrations::apply(c, migrations::SQLITE, LEDGER))
        })
        .await
        .context("applying SQLite migrations")?;
        Ok(lite)
    }

    /// Runs `work` with the connection on the blocking pool (`transaction`: inside one
    /// `IMMEDIATE` transaction, committed if it succeeds).
    pub(crate) async fn run<T, F>(&self, transaction: bool, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Conn) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock poisons it; the connection is still sound once
            // the transaction the panic left open is rolled back, so carry on with it.
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let conn: &mut Connection = &mut guard;
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK").map_err(sql_error)?;
            }
            if transaction {
                // IMMEDIATE takes the write lock up front, so a transaction cannot fail
                // half-way on a lock upgrade.
                conn.execute_batch("BEGIN IMMEDIATE").map_err(sql_error)?;
            }
            let result = complete(work(&mut LiteConn { conn: &mut *conn }));
            if transaction {
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                if let Err(e) = conn.execute_batch(end) {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(sql_error(e));
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Other(anyhow::anyhow!("SQLite task failed: {e}")))?
    }
}

/// Polls work whose every await is ready at once to its end, on this thread.
fn complete<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let mut work = pin!(work);
    match work
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Other(anyhow::anyhow!(
            "SQLite work waited on something other than the connection"
        ))),
    }
}

/// The ledger of applied migrations.
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// The connection, lent to one call.
struct LiteConn<'a> {
    conn: &'a mut Connection,
}

/// The shared SQL's `$n` placeholders as SQLite's `?n` (SQLite reads `$1` as a *named*
/// parameter, numbered by first appearance, which would bind `$2 … $1` the wrong way round).
fn dialect_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(ch);
        }
    }
    out
}

#[async_trait]
impl Conn for LiteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&dialect_sql(sql))
            .map_err(sql_error)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(args))
            .map_err(sql_error)?;
        Ok(n as u64)
    }

    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&dialect_sql(sql))
            .map_err(sql_error)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(sql_error)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql_error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match r.get_ref(i).map_err(sql_error)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(StoreError::Other(anyhow::anyhow!(
                            "column {i} holds a type the schema does not use"
                        )));
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    async fn batch(&mut self, script: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(script).map_err(sql_error)
    }

    async fn lock(&mut self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Uuid(u) => ToSqlOutput::Owned(V::Text(u.to_string())),
            Value::Ts(t) => ToSqlOutput::Owned(V::Text(ts_text(t))),
            Value::Date(d) => ToSqlOutput::Owned(V::Text(d.to_string())),
            Value::Json(j) => ToSqlOutput::Owned(V::Text(j.to_string())),
        })
    }
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(err, msg) = &e {
        match err.code {
            ErrorCode::ConstraintViolation => {
                let msg = msg.as_deref().unwrap_or_default();
                // SQLite names the columns, not the constraint: map them to the names the
                // migrations give, which are also PostgreSQL's.
                if msg.contains("events.stream, events.seq") {
                    return StoreError::Conflict;
                }
                const NAMES: [(&str, &str); 7] = [
                    (
                        "rooms.property_id, rooms.number",
                        "rooms_property_number_key",
                    ),
                    ("users.email", "users_email_key"),
                    ("properties.id", "properties_pkey"),
                    (
                        "conversations.reservation_id",
                        "conversations_reservation_key",
                    ),
                    ("venue_tables.name", "venue_tables_name_key"),
                    ("canned_replies.title", "canned_replies_title_key"),
                    ("FOREIGN KEY", "foreign_key"),
                ];
                if let Some((_, name)) = NAMES.iter().find(|(columns, _)| msg.contains(columns)) {
                    return StoreError::Constraint((*name).into());
                }
                // A CHECK or a trigger's RAISE names itself, as PostgreSQL's constraint does.
                let name = msg.strip_prefix("CHECK constraint failed: ").unwrap_or(msg);
                return StoreError::Constraint(name.to_owned());
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly => return StoreError::Unavailable(e.to_string()),
            _ => {}
        }
    }
    StoreError::Other(anyhow::Error::new(e))
}

#[cfg(test)]
mod tests {
    use super::dialect_sql;

    #[test]
    fn placeholders_become_numbered_question_marks() {
        assert_eq!(
            dialect_sql("SELECT $2, $10 WHERE a = '$x' AND b = $1"),
            "SELECT ?2, ?10 WHERE a = '$x' AND b = ?1"
        );
    }
}
