//! Identifiers and the "who" of every event.
//!
//! Ids are newtypes so a room id can never be passed where a property id is expected. Room
//! numbers are what staff say and type ("101", "12A"), so they are parsed once, here.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($name:ident, $doc:literal) => {
        uuid_id!(@id $name, $doc);
    };
    // An id that names an event stream, `<prefix>:<id>`.
    ($name:ident, $prefix:literal, $doc:literal) => {
        uuid_id!(@id $name, concat!($doc, " Its event stream is `", $prefix, ":<id>`."));

        impl $name {
            /// The event stream of this entity.
            #[must_use]
            pub fn stream(&self) -> String {
                format!(concat!($prefix, ":{}"), self.0)
            }
        }
    };
    (@id $name:ident, $doc:expr) => {
        #[doc = $doc]
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    PropertyId,
    "property",
    "A hotel (property) of the deployment."
);
uuid_id!(RoomId, "room", "A room, stable across renumbering.");
uuid_id!(ReservationId, "reservation", "A reservation.");
uuid_id!(
    GuestId,
    "A guest profile, shared by the guest's reservations."
);
uuid_id!(TaskId, "task", "A housekeeping or maintenance task.");
uuid_id!(
    ConversationId,
    "conversation",
    "A guest's conversation with the front desk (its messages, in seq order)."
);
uuid_id!(VenueId, "venue", "A restaurant or bar of a property.");
uuid_id!(TableId, "table", "A table of a venue.");
uuid_id!(
    PartyId,
    "party",
    "A party at a venue (a booking, a walk-in or a waitlist entry)."
);

/// A room number as staff use it: 1–16 characters, ASCII letters, digits and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomNumber(String);

impl RoomNumber {
    /// Parses a room number, refusing empty, over-long or odd input (it appears in topics and
    /// URLs, so `:` and `/` must never be part of it).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.len() > 16 {
            return Err("a room number has 1 to 16 characters".into());
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("a room number has only letters, digits and '-'".into());
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomNumber {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RoomNumber> for String {
    fn from(n: RoomNumber) -> Self {
        n.0
    }
}

impl fmt::Display for RoomNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who caused an event: recorded on every event in the log (`actor_user`).
///
/// `user:<id>`, `api_key:<id>`, `guest:<reservation>`; background work and the demo seed record
/// themselves as `system:<what>`.
///
/// An agent acting for an HTTP request that carried an `Idempotency-Key` also carries that
/// key, so the store records it with the command's events in the same transaction (see
/// `http::idempotency`). The key is not part of who the agent is: agents compare, print and
/// serialize by name alone.
#[derive(Clone, Debug)]
pub struct Agent {
    name: String,
    request_key: Option<std::sync::Arc<str>>,
}

impl PartialEq for Agent {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Agent {}

impl Serialize for Agent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Agent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from_stored)
    }
}

impl Agent {
    fn named(name: String) -> Self {
        Self {
            name,
            request_key: None,
        }
    }

    #[must_use]
    pub fn system(what: &str) -> Self {
        Self::named(format!("system:{what}"))
    }

    /// A staff member.
    #[must_use]
    pub fn user(id: Uuid) -> Self {
        Self::named(format!("user:{id}"))
    }

    /// An integration's API key.
    #[must_use]
    pub fn api_key(id: Uuid) -> Self {
        Self::named(format!("api_key:{id}"))
    }

    /// A guest, by reservation.
    #[must_use]
    pub fn guest(reservation: Uuid) -> Self {
        Self::named(format!("guest:{reservation}"))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Rebuilds an agent read back from the store.
    #[must_use]
    pub fn from_stored(s: String) -> Self {
        Self::named(s)
    }

    /// This agent acting for a request with an idempotency key.
    #[must_use]
    pub fn with_request_key(mut self, key: std::sync::Arc<str>) -> Self {
        self.request_key = Some(key);
        self
    }

    /// The idempotency key of the request this agent acts for, if it had one.
    #[must_use]
    pub fn request_key(&self) -> Option<&str> {
        self.request_key.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_numbers_accept_what_staff_type() {
        for ok in ["101", "12A", "PH-1", " 305 "] {
            assert!(RoomNumber::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(RoomNumber::parse(" 305 ").unwrap().as_str(), "305");
    }

    #[test]
    fn room_numbers_refuse_what_would_break_topics_or_urls() {
        for bad in ["", "   ", "1:2", "1/2", "12345678901234567", "zwölf"] {
            assert!(RoomNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn streams_are_named_as_the_design_says() {
        let id = RoomId(Uuid::nil());
        assert_eq!(id.stream(), "room:00000000-0000-0000-0000-000000000000");
    }
}

/// Seqs and versions as clients send them.
///
/// Both stores keep a stream's seq as a signed 64-bit integer, so no seq above `i64::MAX`
/// exists: a client naming one (`?after=`, `"seq"`, `"expected_version"`) made a mistake, and
/// is told so as a bad request rather than reaching the store with a number it cannot hold.
pub mod seq {
    use serde::{Deserialize, Deserializer, de::Error as _};

    /// The largest seq or version a stream can have.
    pub const MAX: u64 = i64::MAX as u64;

    /// `#[serde(deserialize_with = "seq::de")]`.
    pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let n = u64::deserialize(d)?;
        check(n).map_err(D::Error::custom)
    }

    /// `#[serde(default, deserialize_with = "seq::opt")]`.
    pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<u64>::deserialize(d)?
            .map(check)
            .transpose()
            .map_err(D::Error::custom)
    }

    /// `n` if a stream can hold it.
    pub fn check(n: u64) -> Result<u64, String> {
        if n <= MAX {
            Ok(n)
        } else {
            Err(format!("a seq is at most {MAX}, not {n}"))
        }
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize)]
        struct Q {
            #[serde(deserialize_with = "super::de")]
            after: u64,
            #[serde(default, deserialize_with = "super::opt")]
            expected: Option<u64>,
        }

        #[test]
        fn seqs_above_what_a_stream_holds_are_refused() {
            let q: Q = serde_json::from_str(r#"{"after":9223372036854775807}"#).unwrap();
            assert_eq!((q.after, q.expected), (super::MAX, None));
            for bad in [
                r#"{"after":9223372036854775808}"#,
                r#"{"after":1,"expected":18446744073709551615}"#,
            ] {
                let e = serde_json::from_str::<Q>(bad).err().unwrap().to_string();
                assert!(e.contains("at most 9223372036854775807"), "{e}");
            }
        }
    }
}
