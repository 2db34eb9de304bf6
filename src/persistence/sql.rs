//! The dialect layer: the store's SQL is written once, against this.
//!
//! Both backends speak the same SQL for everything Bellhop does (upserts with `ON CONFLICT`,
//! `RETURNING`, joins), so the queries live beside their aggregate (`rooms.rs`, `tasks.rs`, …)
//! and run on either. What differs is below this line, in `postgres.rs` and `sqlite.rs`:
//! placeholders (written `$n`, rewritten to `?n` for SQLite), how a value travels (PostgreSQL
//! has `uuid`, `timestamptz`, `date`, `jsonb`; SQLite keeps them as text), row locks and
//! advisory locks (PostgreSQL; SQLite's one `IMMEDIATE` writer needs neither), and how each
//! names a broken constraint.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use super::StoreError;

/// A parameter or column value, in the types the schema uses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Uuid(Uuid),
    Ts(DateTime<Utc>),
    Date(NaiveDate),
    Json(serde_json::Value),
}

macro_rules! value_from {
    ($($t:ty => $v:ident($conv:expr)),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Self {
                Value::$v($conv(x))
            }
        }
    )*};
}

value_from! {
    i64 => Int(std::convert::identity),
    i32 => Int(i64::from),
    i16 => Int(i64::from),
    u8 => Int(i64::from),
    u16 => Int(i64::from),
    u32 => Int(i64::from),
    bool => Bool(std::convert::identity),
    String => Text(std::convert::identity),
    &str => Text(str::to_owned),
    &String => Text(String::clone),
    Uuid => Uuid(std::convert::identity),
    DateTime<Utc> => Ts(std::convert::identity),
    &DateTime<Utc> => Ts(|t: &DateTime<Utc>| *t),
    NaiveDate => Date(std::convert::identity),
    &NaiveDate => Date(|d: &NaiveDate| *d),
    serde_json::Value => Json(std::convert::identity),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The parameters of one statement: `args![a, b, c]` (an array; `Vec::from` it to add more).
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::persistence::sql::Value::from($v)),*] };
}
pub(crate) use args;

/// Timestamps as fixed-width RFC 3339 text with microseconds, so they sort as text (SQLite).
pub(crate) fn ts_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn bad(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow::anyhow!("bad {what} in store: {detail}"))
}

/// A Rust value a column decodes into.
pub(crate) trait FromValue: Sized {
    fn from_value(v: Value) -> Result<Self, String>;
}

macro_rules! from_value {
    ($($t:ty: $($pat:pat => $out:expr),+;)*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<Self, String> {
                match v {
                    $($pat => $out,)+
                    #[allow(unreachable_patterns)]
                    other => Err(format!("expected {}, got {other:?}", stringify!($t))),
                }
            }
        }
    )*};
}

// PostgreSQL hands back each type as itself; SQLite keeps uuids, times, dates and JSON as
// text and booleans as integers, which decode here.
from_value! {
    Value: v => Ok(v);
    String: Value::Text(s) => Ok(s);
    i64: Value::Int(i) => Ok(i);
    bool: Value::Bool(b) => Ok(b), Value::Int(i) => Ok(i != 0);
    Uuid: Value::Uuid(u) => Ok(u), Value::Text(s) => Uuid::parse_str(&s).map_err(|e| e.to_string());
    DateTime<Utc>: Value::Ts(t) => Ok(t), Value::Text(s) => DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| e.to_string());
    NaiveDate: Value::Date(d) => Ok(d), Value::Text(s) => s.parse().map_err(|e: chrono::ParseError| e.to_string());
    serde_json::Value: Value::Json(j) => Ok(j), Value::Text(s) => serde_json::from_str(&s).map_err(|e| e.to_string());
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: Value) -> Result<Self, String> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} out of range"))
            }
        }
    )*};
}
small_ints!(i32, i16, u8, u16, u32, u64);

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row, its columns in the order the statement selects them.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Reads the columns one after the other.
    pub(crate) fn cols(self) -> Cols {
        Cols {
            values: self.0.into_iter(),
            at: 0,
        }
    }
}

/// A row's columns, taken in order.
pub(crate) struct Cols {
    values: std::vec::IntoIter<Value>,
    at: usize,
}

impl Cols {
    /// The next column, decoded.
    pub(crate) fn take<T: FromValue>(&mut self) -> Result<T, StoreError> {
        self.at += 1;
        let v = self.values.next().unwrap_or(Value::Null);
        T::from_value(v).map_err(|e| bad(&format!("column {}", self.at), e))
    }

    /// The next column: JSON (a `jsonb` or text column) decoded into `T` (NULL as JSON's
    /// `null`, so an `Option` reads it as `None`).
    pub(crate) fn json<T: DeserializeOwned>(&mut self) -> Result<T, StoreError> {
        let what = format!("column {}", self.at + 1);
        let v = self.take::<Option<serde_json::Value>>()?;
        serde_json::from_value(v.unwrap_or_default()).map_err(|e| bad(&what, e))
    }

    /// The next column: one of our enums, stored as its snake_case name.
    pub(crate) fn name<T: DeserializeOwned>(&mut self) -> Result<T, StoreError> {
        let what = format!("column {}", self.at + 1);
        from_name(self.take::<String>()?).map_err(|e| bad(&what, e))
    }
}

/// An enum's snake_case name, as the API spells it and the tables store it.
pub(crate) fn name_of<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("unit enum serializes to a string, got {other:?}"),
    }
}

pub(crate) fn from_name<T: DeserializeOwned>(s: String) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(s))
}

/// A state as stored in a JSON column.
pub(crate) fn json(v: &impl Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(v)
        .map(Value::Json)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("encoding state: {e}")))
}

/// Sequence numbers are `u64` in Rust and `bigint` in the tables.
pub(crate) fn seq(n: u64) -> Result<Value, StoreError> {
    i64::try_from(n)
        .map(Value::Int)
        .map_err(|_| StoreError::Other(anyhow::anyhow!("seq {n} out of range")))
}

/// What differs between the dialects inside otherwise shared SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// Locks the selected rows until the transaction ends (PostgreSQL); SQLite's one writer
    /// holds the whole database already.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Dialect::Postgres => "FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }

    /// As [`Self::for_update`], passing over rows another transaction holds (work queues).
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }
}

/// A connection, or a transaction on one, of either backend.
#[async_trait]
pub(crate) trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the number of rows it wrote.
    async fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, StoreError>;
    /// Runs one statement; its rows.
    async fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs a script of statements without parameters (a migration).
    async fn batch(&mut self, script: &str) -> Result<(), StoreError>;
    /// Holds `key` until the transaction ends, so writers that take it decide one after the
    /// other on every node (a PostgreSQL advisory lock; nothing for SQLite, whose `IMMEDIATE`
    /// transaction is the only writer already).
    async fn lock(&mut self, key: &str) -> Result<(), StoreError>;
}

impl dyn Conn + '_ {
    /// Runs one statement for its effect.
    pub(crate) async fn write(&mut self, sql: &str, args: &[Value]) -> Result<(), StoreError> {
        self.execute(sql, args).await.map(drop)
    }

    /// Every row `sql` selects, decoded.
    pub(crate) async fn all<T>(
        &mut self,
        sql: &str,
        args: &[Value],
        decode: fn(Cols) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.query(sql, args).await?;
        rows.into_iter().map(|r| decode(r.cols())).collect()
    }

    /// The first row `sql` selects, decoded, if any.
    pub(crate) async fn opt<T>(
        &mut self,
        sql: &str,
        args: &[Value],
        decode: fn(Cols) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let rows = self.query(sql, args).await?;
        rows.into_iter()
            .next()
            .map(|r| decode(r.cols()))
            .transpose()
    }

    /// Writes one row whose `WHERE <table>.version < EXCLUDED.version` guard must hold: a
    /// projection never goes backwards; a write that would is refused as `constraint`.
    pub(crate) async fn upsert_versioned(
        &mut self,
        sql: &str,
        args: &[Value],
        constraint: &str,
    ) -> Result<(), StoreError> {
        if self.execute(sql, args).await? == 0 {
            return Err(StoreError::Constraint(constraint.into()));
        }
        Ok(())
    }
}

/// A statement narrowed clause by clause: each `and` adds its text with `#` standing for the
/// next parameter.
pub(crate) struct Query {
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
}

impl Query {
    pub(crate) fn new(sql: impl Into<String>, first: impl Into<Value>) -> Self {
        Self {
            sql: sql.into(),
            values: vec![first.into()],
        }
    }

    pub(crate) fn and(&mut self, clause: &str, v: impl Into<Value>) {
        self.values.push(v.into());
        let n = format!("${}", self.values.len());
        self.sql.push_str(&clause.replace('#', &n));
    }
}

/// A decoder for statements that select one JSON `state` column.
pub(crate) fn state<T: DeserializeOwned>(mut c: Cols) -> Result<T, StoreError> {
    c.json()
}

/// `$first, $first+1, …` for `n` values: an `IN (…)` list.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_columns_decode_into_the_schema_types() {
        let id = Uuid::new_v4();
        let t = crate::persistence::now();
        let row = Row(vec![
            Value::Text(id.to_string()),
            Value::Text(ts_text(&t)),
            Value::Text("2026-12-02".into()),
            Value::Int(1),
            Value::Text(r#"{"a":1}"#.into()),
            Value::Null,
        ]);
        let mut c = row.cols();
        assert_eq!(c.take::<Uuid>().unwrap(), id);
        assert_eq!(c.take::<DateTime<Utc>>().unwrap(), t);
        assert_eq!(
            c.take::<NaiveDate>().unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
        );
        assert!(c.take::<bool>().unwrap());
        assert_eq!(
            c.take::<serde_json::Value>().unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(c.take::<Option<String>>().unwrap(), None);
        // Past the end reads as NULL, which a required column refuses.
        assert!(c.take::<String>().is_err());
    }

    #[test]
    fn out_of_range_integers_are_refused_not_wrapped() {
        let mut c = Row(vec![Value::Int(300), Value::Int(-1)]).cols();
        assert!(c.take::<u8>().is_err());
        assert!(c.take::<u64>().is_err());
        assert!(seq(u64::MAX).is_err());
    }

    #[test]
    fn placeholders_number_on_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
