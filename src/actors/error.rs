//! The one error type of commands, mapped to HTTP in `api_error` and to WS error frames.

use crate::{
    domain::{RoomRefusal, reservation::ReservationRefusal},
    persistence::StoreError,
};

/// Why a command did not happen (or, for `Unavailable`, may not have been confirmed).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("property not found")]
    PropertyNotFound,
    #[error("room not found")]
    RoomNotFound,
    #[error("reservation not found")]
    ReservationNotFound,
    #[error("guest not found")]
    GuestNotFound,
    /// A domain rule refused the command.
    #[error(transparent)]
    Refused(#[from] RoomRefusal),
    /// A reservation rule refused the command.
    #[error(transparent)]
    ReservationRefused(#[from] ReservationRefusal),
    /// A task rule refused the command.
    #[error(transparent)]
    TaskRefused(#[from] crate::domain::task::TaskRefusal),
    #[error("task not found")]
    TaskNotFound,
    /// A chat rule refused the command.
    #[error(transparent)]
    ChatRefused(#[from] crate::domain::chat::ChatRefusal),
    #[error("conversation not found")]
    ConversationNotFound,
    /// A venue, table or party rule refused the command.
    #[error(transparent)]
    VenueRefused(#[from] crate::domain::venue::VenueRefusal),
    #[error("venue not found")]
    VenueNotFound,
    #[error("table not found")]
    TableNotFound,
    #[error("party not found")]
    PartyNotFound,
    /// The sender sent too many messages too fast.
    #[error("too many messages; wait a moment")]
    RateLimited,
    /// The input itself is unacceptable (before any rule is consulted).
    #[error("{0}")]
    Invalid(String),
    /// The caller's `expected_version` is not the current version.
    #[error("expected version {expected}, but the room is at version {actual}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// A uniqueness rule of the store refused the write (e.g. a room number taken).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Lost the optimistic-concurrency race more often than the retry budget allows.
    #[error("too many concurrent changes to this entity; retry")]
    Contention,
    /// The store (or the actor) is unavailable; the command was not confirmed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Contention,
            // The two guarantees against selling what does not exist, whichever check (the
            // actor's or the store's) caught the race.
            StoreError::Constraint(c) if c == "reservations_room_no_overlap" => {
                Self::room_unavailable()
            }
            StoreError::Constraint(c) if c == "inventory_exhausted" => Self::Conflict {
                code: "sold_out",
                message: "the room type is sold out on at least one of these nights".into(),
            },
            StoreError::Constraint(c) if c == "party_tables_no_overlap" => Self::table_taken(),
            StoreError::Constraint(c) if c == "pacing_full" => Self::Conflict {
                code: "pacing_full",
                message: "the kitchen's pacing is full for that quarter hour".into(),
            },
            StoreError::Constraint(c) if c == "venue_tables_name_key" => Self::Conflict {
                code: "table_name_taken",
                message: "the venue already has a table of that name".into(),
            },
            StoreError::Constraint(c) => Self::Conflict {
                code: "conflict",
                message: format!("the change conflicts with existing data ({c})"),
            },
            StoreError::Unavailable(why) => Self::Unavailable(why),
            StoreError::Other(e) => Self::Internal(e),
        }
    }
}

impl CommandError {
    /// A rule refused the command, judged on the state the actor had: worth judging again
    /// if the store's state has moved since.
    #[must_use]
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Refused(_)
                | Self::ReservationRefused(_)
                | Self::TaskRefused(_)
                | Self::ChatRefused(_)
                | Self::VenueRefused(_)
                | Self::VersionMismatch { .. }
        )
    }

    /// Another party holds the table at an overlapping time.
    #[must_use]
    pub fn table_taken() -> Self {
        Self::Conflict {
            code: "table_taken",
            message: "another party holds the table at that time".into(),
        }
    }

    /// The room already holds a live stay on one of the nights asked for.
    #[must_use]
    pub fn room_unavailable() -> Self {
        Self::Conflict {
            code: "room_unavailable",
            message: "the room is already booked on at least one of these nights".into(),
        }
    }
}

/// An event's payload for the log. Serializing our own event types cannot fail today, but if
/// it ever did the command must fail rather than write `null` into the audit trail.
pub fn event_payload<T: serde::Serialize + ?Sized>(
    event: &T,
) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(event)
        .map_err(|e| CommandError::Internal(anyhow::anyhow!("event payload: {e}")))
}
