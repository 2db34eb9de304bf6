//! Guest chat (DESIGN §6, reference/domain.md §6): one conversation per stay, its messages,
//! the staff inbox status, read state per side, and canned replies.
//!
//! Pure rules only; the conversation actor, the topics and the email fallback build on them.
//!
//! Inbox status follows the conversation by itself: a guest message makes it `todo` (and
//! reopens a `done`, `waiting` or `follow_up` one), a staff reply makes it `waiting`; staff set
//! `follow_up` (with a date), `done` and `archived` by hand. Internal notes are staff-only:
//! they never reach the guest, count as nobody's unread, and change no status.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ids::{ConversationId, PropertyId, ReservationId};

/// Longest message body, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// Where a conversation stands in the staff inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    Todo,
    Waiting,
    FollowUp,
    Done,
    Archived,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Author {
    Guest,
    Staff { user_id: Uuid },
    System,
}

/// What a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    /// Staff only: never shown to the guest.
    Note,
    System,
}

/// The two sides of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Guest,
    Staff,
}

/// One message; `seq` is its position in the conversation's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub seq: u64,
    pub author: Author,
    pub kind: MessageKind,
    pub body: String,
    pub at: DateTime<Utc>,
}

impl Message {
    /// Whether `side` may see it.
    #[must_use]
    pub fn visible_to(&self, side: Side) -> bool {
        side == Side::Staff || self.kind != MessageKind::Note
    }

    /// Whether it is something `side` has to read (written by the other side, visible to it).
    fn for_side(&self, side: Side) -> bool {
        self.visible_to(side)
            && match side {
                Side::Staff => self.author == Author::Guest,
                Side::Guest => self.author != Author::Guest,
            }
    }
}

/// Why a chat command was refused (422), with a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChatRefusal {
    #[error("a message has 1 to {MAX_MESSAGE_CHARS} characters")]
    InvalidBody,
    #[error("only staff write internal notes")]
    NoteByGuest,
    #[error("a follow-up needs a date")]
    FollowUpDate,
    #[error("nothing to change")]
    NoChange,
    #[error("unknown variable {{{0}}} in the reply (known: guest_name, room, checkout_time)")]
    UnknownVariable(String),
    #[error("an unclosed {{ in the reply")]
    Unclosed,
}

impl ChatRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody => "invalid_body",
            Self::NoteByGuest => "note_by_guest",
            Self::FollowUpDate => "follow_up_date",
            Self::NoChange => "no_change",
            Self::UnknownVariable(_) => "unknown_variable",
            Self::Unclosed => "unclosed_variable",
        }
    }
}

/// A conversation's state (its messages live in the event log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub property_id: PropertyId,
    pub reservation_id: ReservationId,
    pub status: InboxStatus,
    pub follow_up: Option<NaiveDate>,
    pub assignee: Option<Uuid>,
    /// The seq of the last message.
    pub last_seq: u64,
    /// The start of the last message staff see, for the inbox list.
    pub preview: Option<String>,
    /// Up to which seq each side has read.
    pub read: BTreeMap<String, u64>,
    /// Messages each side has to read, counted when written (see [`Message::for_side`]).
    pub unread_staff: u32,
    pub unread_guest: u32,
}

impl Conversation {
    /// A new, empty conversation for a reservation.
    #[must_use]
    pub fn open(
        id: ConversationId,
        property_id: PropertyId,
        reservation_id: ReservationId,
    ) -> Self {
        Self {
            id,
            property_id,
            reservation_id,
            status: InboxStatus::Done,
            follow_up: None,
            assignee: None,
            last_seq: 0,
            preview: None,
            read: BTreeMap::new(),
            unread_staff: 0,
            unread_guest: 0,
        }
    }

    /// Validates a message and applies it: the message (with its seq) and the new state.
    pub fn send(
        &mut self,
        author: Author,
        kind: MessageKind,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Message, ChatRefusal> {
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ChatRefusal::InvalidBody);
        }
        if kind == MessageKind::Note && !matches!(author, Author::Staff { .. }) {
            return Err(ChatRefusal::NoteByGuest);
        }
        self.last_seq += 1;
        let message = Message {
            seq: self.last_seq,
            author,
            kind,
            body: body.to_owned(),
            at,
        };
        if message.for_side(Side::Staff) {
            self.unread_staff += 1;
        }
        if message.for_side(Side::Guest) {
            self.unread_guest += 1;
        }
        match (author, kind) {
            // A guest speaking needs an answer, whatever the status was.
            (Author::Guest, _) => {
                self.status = InboxStatus::Todo;
                self.follow_up = None;
            }
            // A reply hands the turn to the guest.
            (Author::Staff { .. }, MessageKind::Text) => self.status = InboxStatus::Waiting,
            _ => {}
        }
        self.preview = Some(body.chars().take(80).collect());
        Ok(message)
    }

    /// `side` has read everything up to `seq` (never backwards). `messages` are the
    /// conversation's messages after the side's previous read mark, to recount its unread.
    pub fn mark_read(
        &mut self,
        side: Side,
        seq: u64,
        messages: &[Message],
    ) -> Result<(), ChatRefusal> {
        let key = side_key(side);
        let seq = seq.min(self.last_seq);
        if self.read.get(key).is_some_and(|r| *r >= seq) {
            return Err(ChatRefusal::NoChange);
        }
        self.read.insert(key.to_owned(), seq);
        let unread = messages
            .iter()
            .filter(|m| m.seq > seq && m.for_side(side))
            .count() as u32;
        match side {
            Side::Staff => self.unread_staff = unread,
            Side::Guest => self.unread_guest = unread,
        }
        Ok(())
    }

    /// A staff member sets the inbox status by hand.
    pub fn set_status(
        &mut self,
        status: InboxStatus,
        follow_up: Option<NaiveDate>,
    ) -> Result<(), ChatRefusal> {
        if status == InboxStatus::FollowUp && follow_up.is_none() {
            return Err(ChatRefusal::FollowUpDate);
        }
        let follow_up = (status == InboxStatus::FollowUp)
            .then_some(follow_up)
            .flatten();
        if status == self.status && follow_up == self.follow_up {
            return Err(ChatRefusal::NoChange);
        }
        self.status = status;
        self.follow_up = follow_up;
        Ok(())
    }
}

fn side_key(side: Side) -> &'static str {
    match side {
        Side::Guest => "guest",
        Side::Staff => "staff",
    }
}

/// Fills a canned reply's `{guest_name}`, `{room}` and `{checkout_time}`; any other variable,
/// or an unclosed brace, is refused (a reply with a literal `{x}` sent to a guest is a bug).
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> Result<String, ChatRefusal> {
    const KNOWN: [&str; 3] = ["guest_name", "room", "checkout_time"];
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(ChatRefusal::Unclosed)?;
        let name = &after[..close];
        if !KNOWN.contains(&name) {
            return Err(ChatRefusal::UnknownVariable(name.to_owned()));
        }
        out.push_str(vars.get(name).map_or("", String::as_str));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn conversation() -> Conversation {
        Conversation::open(
            ConversationId::new(),
            PropertyId::new(),
            ReservationId::new(),
        )
    }

    #[test]
    fn the_inbox_status_follows_who_spoke_last() {
        let staff = Author::Staff {
            user_id: Uuid::new_v4(),
        };
        let mut c = conversation();
        c.send(Author::Guest, MessageKind::Text, "Late check-out?", now())
            .unwrap();
        assert_eq!(c.status, InboxStatus::Todo);
        c.send(staff, MessageKind::Note, "ask housekeeping", now())
            .unwrap();
        assert_eq!(c.status, InboxStatus::Todo, "a note is not an answer");
        c.send(staff, MessageKind::Text, "Until 1 pm is fine", now())
            .unwrap();
        assert_eq!(c.status, InboxStatus::Waiting);
        c.set_status(InboxStatus::Done, None).unwrap();
        c.send(
            Author::Guest,
            MessageKind::Text,
            "Thanks! One more thing",
            now(),
        )
        .unwrap();
        assert_eq!(
            c.status,
            InboxStatus::Todo,
            "done reopens on a guest message"
        );
        let day = "2026-11-23".parse().unwrap();
        assert_eq!(
            c.set_status(InboxStatus::FollowUp, None),
            Err(ChatRefusal::FollowUpDate)
        );
        c.set_status(InboxStatus::FollowUp, Some(day)).unwrap();
        assert_eq!(
            c.set_status(InboxStatus::FollowUp, Some(day)),
            Err(ChatRefusal::NoChange)
        );
        c.send(Author::Guest, MessageKind::Text, "?", now())
            .unwrap();
        assert_eq!((c.status, c.follow_up), (InboxStatus::Todo, None));
        assert_eq!(c.last_seq, 5);
    }

    #[test]
    fn notes_stay_with_staff_and_unread_counts_per_side() {
        let staff = Author::Staff {
            user_id: Uuid::new_v4(),
        };
        let mut c = conversation();
        let log = vec![
            c.send(Author::Guest, MessageKind::Text, "Hello", now())
                .unwrap(),
            c.send(Author::Guest, MessageKind::Text, "Anyone?", now())
                .unwrap(),
            c.send(staff, MessageKind::Note, "VIP", now()).unwrap(),
            c.send(staff, MessageKind::Text, "Hi!", now()).unwrap(),
        ];
        assert_eq!((c.unread_staff, c.unread_guest), (2, 1));
        assert!(!log[2].visible_to(Side::Guest));
        assert_eq!(
            c.send(Author::Guest, MessageKind::Note, "x", now()),
            Err(ChatRefusal::NoteByGuest)
        );
        c.mark_read(Side::Staff, 1, &log).unwrap();
        assert_eq!(c.unread_staff, 1);
        c.mark_read(Side::Staff, 99, &log).unwrap();
        assert_eq!(
            (c.unread_staff, c.read["staff"]),
            (0, 4),
            "capped at the last message"
        );
        assert_eq!(
            c.mark_read(Side::Staff, 2, &log),
            Err(ChatRefusal::NoChange)
        );
        c.mark_read(Side::Guest, 4, &log).unwrap();
        assert_eq!(c.unread_guest, 0);
        assert_eq!(
            c.send(Author::Guest, MessageKind::Text, "  ", now()),
            Err(ChatRefusal::InvalidBody)
        );
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            c.send(Author::Guest, MessageKind::Text, &long, now()),
            Err(ChatRefusal::InvalidBody)
        );
    }

    #[test]
    fn canned_replies_fill_known_variables_only() {
        let vars = BTreeMap::from([
            ("guest_name", "Ada".to_owned()),
            ("room", "101".to_owned()),
            ("checkout_time", "11:00".to_owned()),
        ]);
        assert_eq!(
            render(
                "Dear {guest_name}, room {room} checks out at {checkout_time}.",
                &vars
            )
            .unwrap(),
            "Dear Ada, room 101 checks out at 11:00."
        );
        assert_eq!(
            render("Hi {name}", &vars),
            Err(ChatRefusal::UnknownVariable("name".into()))
        );
        assert_eq!(render("Hi {guest_name", &vars), Err(ChatRefusal::Unclosed));
        assert_eq!(render("No variables", &vars).unwrap(), "No variables");
    }
}
