//! Guest chat (DESIGN §6, reference/domain.md §6): one conversation per stay, its messages,
//! the staff inbox status, read state per side, and canned replies.
//!
//! Pure rules only; the conversation actor, the topics and the email fallback build on them.
//! A conversation is event-sourced like every entity: its stream `conversation:<id>` holds the
//! messages (each message's seq is its position in the stream) and the read and delivery
//! marks, status changes, assignments and email fallbacks between them.
//!
//! Read state is kept as marks per side ("read up to seq N"), as chat apps do: a message is
//! `read` by the other side when their mark reaches it, `delivered` when their delivery mark
//! does, else `sent`. Marks only move forward, and only when they cover a message the side
//! had not read yet, so clients can acknowledge freely without growing the log.
//!
//! Inbox status follows the conversation by itself: a guest message makes it `todo` (and
//! reopens a `done`, `waiting` or `follow_up` one), a staff reply makes it `waiting`; staff set
//! `follow_up` (with a date), `done` and `archived` by hand. Internal notes are staff-only:
//! they never reach the guest, count as nobody's unread, and change no status.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    access::{Action, Denial, Principal},
    ids::{ConversationId, PropertyId, ReservationId},
};

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
    #[must_use]
    pub fn for_side(&self, side: Side) -> bool {
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
    #[error("a canned reply needs a title of 1 to 80 characters")]
    InvalidTitle,
}

impl ChatRefusal {
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidBody => "invalid_message",
            Self::NoteByGuest => "note_by_guest",
            Self::FollowUpDate => "follow_up_date",
            Self::NoChange => "no_change",
            Self::UnknownVariable(_) => "unknown_variable",
            Self::Unclosed => "unclosed_variable",
            Self::InvalidTitle => "invalid_title",
        }
    }
}

/// Read and delivery marks of both sides: everything up to the seq is read (delivered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    pub guest: u64,
    pub staff: u64,
}

impl Marks {
    fn of(&self, side: Side) -> u64 {
        match side {
            Side::Guest => self.guest,
            Side::Staff => self.staff,
        }
    }

    fn set(&mut self, side: Side, seq: u64) {
        match side {
            Side::Guest => self.guest = seq,
            Side::Staff => self.staff = seq,
        }
    }
}

/// A message one side has not read yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// A staff member's reply (what the email fallback sends), not a system message.
    #[serde(default)]
    pub reply: bool,
}

/// The last message, for the inbox list (staff see notes too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub author: Author,
    pub kind: MessageKind,
    /// The first 80 characters.
    pub preview: String,
}

/// How many idempotency keys a conversation remembers (a retry comes within seconds; this is
/// hundreds of messages back).
const KEYS_KEPT: usize = 64;

/// Unread messages a conversation lists per side. Past this the oldest are only counted: a
/// guest who never opens the app must not make every later write of the conversation larger.
const UNREAD_KEPT: usize = 256;

/// The messages one side has not read: the latest [`UNREAD_KEPT`] listed, older ones counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub listed: Vec<Unread>,
    /// Unread messages older than every listed one.
    #[serde(default)]
    pub older: u32,
}

impl Pending {
    /// How many messages are unread.
    #[must_use]
    pub fn len(&self) -> usize {
        self.listed.len() + self.older as usize
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, u: Unread) {
        if self.listed.len() >= UNREAD_KEPT {
            self.listed.remove(0);
            self.older += 1;
        }
        self.listed.push(u);
    }

    /// Everything up to `up_to` is read. Counted older messages are covered once the oldest
    /// listed one is (a partial read among them keeps counting them: rare, and on the safe
    /// side).
    fn read(&mut self, up_to: u64) {
        if self.listed.first().is_some_and(|u| u.seq <= up_to) {
            self.older = 0;
        }
        self.listed.retain(|u| u.seq > up_to);
    }

    fn iter(&self) -> impl Iterator<Item = &Unread> {
        self.listed.iter()
    }
}

/// What happened in a conversation: the events of its stream `conversation:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    ConversationOpened {
        reservation_id: ReservationId,
        guest_name: String,
    },
    MessageSent {
        message: Message,
    },
    /// `side`'s devices have received everything up to `up_to`.
    Delivered {
        side: Side,
        up_to: u64,
    },
    /// `side` has read everything up to `up_to`.
    Read {
        side: Side,
        up_to: u64,
    },
    StatusSet {
        status: InboxStatus,
        follow_up: Option<NaiveDate>,
    },
    Assigned {
        to: Option<Uuid>,
    },
    /// The staff replies `seqs` went to the guest by email (they had not read them in time).
    EmailedGuest {
        seqs: Vec<u64>,
    },
}

impl ChatEvent {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConversationOpened { .. } => "conversation_opened",
            Self::MessageSent { .. } => "message_sent",
            Self::Delivered { .. } => "delivered",
            Self::Read { .. } => "read",
            Self::StatusSet { .. } => "status_set",
            Self::Assigned { .. } => "assigned",
            Self::EmailedGuest { .. } => "emailed_guest",
        }
    }

    /// The event as `side` receives it: the guest never learns which staff member wrote.
    #[must_use]
    pub fn to_json(&self, side: Side) -> serde_json::Value {
        let mut json = serde_json::to_value(self).unwrap_or_default();
        if side == Side::Guest
            && let Some(author) = json
                .get_mut("message")
                .and_then(|m| m.get_mut("author"))
                .and_then(serde_json::Value::as_object_mut)
        {
            author.remove("user_id");
        }
        json
    }

    /// Whether `side` may see this event: guests see the messages meant for them and the read
    /// and delivery marks, never notes nor the inbox's workings.
    #[must_use]
    pub fn visible_to(&self, side: Side) -> bool {
        match (side, self) {
            (Side::Staff, _) => true,
            (_, Self::MessageSent { message }) => message.visible_to(side),
            (_, Self::Delivered { .. } | Self::Read { .. }) => true,
            _ => false,
        }
    }
}

/// What can be asked of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatCommand {
    Send {
        author: Author,
        kind: MessageKind,
        body: String,
    },
    MarkDelivered {
        side: Side,
        up_to: u64,
    },
    MarkRead {
        side: Side,
        up_to: u64,
    },
    SetStatus {
        status: InboxStatus,
        follow_up: Option<NaiveDate>,
    },
    Assign {
        to: Option<Uuid>,
    },
    /// Email the staff replies the guest has left unread for `delay`, unless the guest is
    /// connected (`guest_present`).
    EmailGuest {
        now: DateTime<Utc>,
        delay: chrono::Duration,
        guest_present: bool,
    },
}

/// A conversation's state, folded from its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub property_id: PropertyId,
    pub reservation_id: ReservationId,
    pub guest_name: String,
    /// The seq of the last event of the stream.
    pub version: u64,
    pub status: InboxStatus,
    pub follow_up: Option<NaiveDate>,
    pub assignee: Option<Uuid>,
    pub last_message: Option<LastMessage>,
    pub read: Marks,
    pub delivered: Marks,
    /// Messages the guest has to read (staff replies and system messages).
    pub unread_guest: Pending,
    /// Guest messages staff have to read.
    pub unread_staff: Pending,
    /// The last staff reply sent by email.
    pub emailed_up_to: u64,
    /// Recent idempotency keys (`<sender>|<key>`) and the seq each stored.
    pub keys: Vec<(String, u64)>,
    pub updated_at: DateTime<Utc>,
}

impl Conversation {
    /// A reservation's conversation and its first event.
    #[must_use]
    pub fn open(
        id: ConversationId,
        property_id: PropertyId,
        reservation_id: ReservationId,
        guest_name: &str,
        at: DateTime<Utc>,
    ) -> (Self, ChatEvent) {
        let event = ChatEvent::ConversationOpened {
            reservation_id,
            guest_name: guest_name.to_owned(),
        };
        let mut c = Self {
            id,
            property_id,
            reservation_id,
            guest_name: String::new(),
            version: 0,
            status: InboxStatus::Done,
            follow_up: None,
            assignee: None,
            last_message: None,
            read: Marks::default(),
            delivered: Marks::default(),
            unread_guest: Pending::default(),
            unread_staff: Pending::default(),
            emailed_up_to: 0,
            keys: Vec::new(),
            updated_at: at,
        };
        c.apply(&event, at);
        (c, event)
    }

    fn unread(&self, side: Side) -> &Pending {
        match side {
            Side::Guest => &self.unread_guest,
            Side::Staff => &self.unread_staff,
        }
    }

    /// The seq a sender's message with this idempotency key was stored at, if it was.
    #[must_use]
    pub fn sent_with(&self, sender_key: &str) -> Option<u64> {
        self.keys
            .iter()
            .find(|(k, _)| k == sender_key)
            .map(|(_, s)| *s)
    }

    /// Remembers that the message at `seq` was sent with `sender_key` (applied with it).
    pub fn remember_key(&mut self, sender_key: String, seq: u64) {
        if self.keys.len() >= KEYS_KEPT {
            self.keys.remove(0);
        }
        self.keys.push((sender_key, seq));
    }

    /// The staff replies the guest has not read and that have not been emailed.
    fn unemailed(&self) -> impl Iterator<Item = &Unread> {
        self.unread_guest
            .iter()
            .filter(|u| u.reply && u.seq > self.emailed_up_to)
    }

    /// Since when a staff reply has waited for the guest (and for the email fallback).
    #[must_use]
    pub fn waiting_since(&self) -> Option<DateTime<Utc>> {
        self.unemailed().map(|u| u.at).next()
    }

    /// Validates a command against the state: the events it causes.
    pub fn decide(
        &self,
        command: &ChatCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<ChatEvent>, ChatRefusal> {
        let event = match command {
            ChatCommand::Send { author, kind, body } => {
                let body = body.trim();
                if body.is_empty() || body.chars().count() > MAX_MESSAGE_CHARS {
                    return Err(ChatRefusal::InvalidBody);
                }
                if *kind == MessageKind::Note && !matches!(author, Author::Staff { .. }) {
                    return Err(ChatRefusal::NoteByGuest);
                }
                ChatEvent::MessageSent {
                    message: Message {
                        seq: self.version + 1,
                        author: *author,
                        kind: *kind,
                        body: body.to_owned(),
                        at,
                    },
                }
            }
            ChatCommand::MarkDelivered { side, up_to } => {
                let from = self.delivered.of(*side).max(self.read.of(*side));
                if !self
                    .unread(*side)
                    .iter()
                    .any(|u| u.seq > from && u.seq <= *up_to)
                {
                    return Err(ChatRefusal::NoChange);
                }
                ChatEvent::Delivered {
                    side: *side,
                    up_to: (*up_to).min(self.version),
                }
            }
            ChatCommand::MarkRead { side, up_to } => {
                if !self.unread(*side).iter().any(|u| u.seq <= *up_to) {
                    return Err(ChatRefusal::NoChange);
                }
                ChatEvent::Read {
                    side: *side,
                    up_to: (*up_to).min(self.version),
                }
            }
            ChatCommand::SetStatus { status, follow_up } => {
                if *status == InboxStatus::FollowUp && follow_up.is_none() {
                    return Err(ChatRefusal::FollowUpDate);
                }
                let follow_up = (*status == InboxStatus::FollowUp)
                    .then_some(*follow_up)
                    .flatten();
                if *status == self.status && follow_up == self.follow_up {
                    return Err(ChatRefusal::NoChange);
                }
                ChatEvent::StatusSet {
                    status: *status,
                    follow_up,
                }
            }
            ChatCommand::Assign { to } => {
                if *to == self.assignee {
                    return Err(ChatRefusal::NoChange);
                }
                ChatEvent::Assigned { to: *to }
            }
            ChatCommand::EmailGuest {
                now,
                delay,
                guest_present,
            } => {
                let due = self.waiting_since().is_some_and(|t| t + *delay <= *now);
                if !due || *guest_present {
                    return Err(ChatRefusal::NoChange);
                }
                ChatEvent::EmailedGuest {
                    seqs: self.unemailed().map(|u| u.seq).collect(),
                }
            }
        };
        Ok(vec![event])
    }

    /// Applies an event (the next of the stream).
    pub fn apply(&mut self, event: &ChatEvent, at: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = at;
        match event {
            ChatEvent::ConversationOpened { guest_name, .. } => {
                self.guest_name.clone_from(guest_name);
            }
            ChatEvent::MessageSent { message } => {
                let unread = Unread {
                    seq: message.seq,
                    at: message.at,
                    reply: matches!(message.author, Author::Staff { .. })
                        && message.kind == MessageKind::Text,
                };
                if message.for_side(Side::Staff) {
                    self.unread_staff.push(unread);
                }
                if message.for_side(Side::Guest) {
                    self.unread_guest.push(unread);
                }
                match (message.author, message.kind) {
                    // A guest speaking needs an answer, whatever the status was.
                    (Author::Guest, _) => {
                        self.status = InboxStatus::Todo;
                        self.follow_up = None;
                    }
                    // A reply hands the turn to the guest.
                    (Author::Staff { .. }, MessageKind::Text) => {
                        self.status = InboxStatus::Waiting;
                        self.follow_up = None;
                    }
                    _ => {}
                }
                self.last_message = Some(LastMessage {
                    seq: message.seq,
                    at: message.at,
                    author: message.author,
                    kind: message.kind,
                    preview: message.body.chars().take(80).collect(),
                });
            }
            ChatEvent::Delivered { side, up_to } => {
                let up_to = (*up_to).max(self.delivered.of(*side));
                self.delivered.set(*side, up_to);
            }
            ChatEvent::Read { side, up_to } => {
                let up_to = (*up_to).max(self.read.of(*side));
                self.read.set(*side, up_to);
                if self.delivered.of(*side) < up_to {
                    self.delivered.set(*side, up_to);
                }
                match side {
                    Side::Guest => self.unread_guest.read(up_to),
                    Side::Staff => self.unread_staff.read(up_to),
                }
            }
            ChatEvent::StatusSet { status, follow_up } => {
                self.status = *status;
                self.follow_up = *follow_up;
            }
            ChatEvent::Assigned { to } => self.assignee = *to,
            ChatEvent::EmailedGuest { seqs } => {
                if let Some(last) = seqs.iter().max() {
                    self.emailed_up_to = self.emailed_up_to.max(*last);
                }
            }
        }
    }

    /// Where a message stands for the side it was written to: `sent`, `delivered` or `read`
    /// (notes are staff-only and have no recipient: `None`).
    #[must_use]
    pub fn delivery_of(&self, message: &Message) -> Option<&'static str> {
        if message.kind == MessageKind::Note {
            return None;
        }
        let to = if message.author == Author::Guest {
            Side::Staff
        } else {
            Side::Guest
        };
        Some(if self.read.of(to) >= message.seq {
            "read"
        } else if self.delivered.of(to) >= message.seq {
            "delivered"
        } else {
            "sent"
        })
    }

    /// What staff see of it (the inbox row): everything but the idempotency keys, with the
    /// unread counts of both sides.
    #[must_use]
    pub fn staff_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "property_id": self.property_id,
            "reservation_id": self.reservation_id,
            "guest_name": self.guest_name,
            "version": self.version,
            "status": self.status,
            "follow_up": self.follow_up,
            "assignee": self.assignee,
            "last_message": self.last_message,
            "read": self.read,
            "delivered": self.delivered,
            "unread_staff": self.unread_staff.len(),
            "unread_guest": self.unread_guest.len(),
            "waiting_since": self.waiting_since(),
            "updated_at": self.updated_at,
        })
    }

    /// What the guest sees of it: the marks and their own unread count, nothing of the inbox.
    #[must_use]
    pub fn guest_view(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "reservation_id": self.reservation_id,
            "version": self.version,
            "read": self.read,
            "delivered": self.delivered,
            "unread": self.unread_guest.len(),
        })
    }

    /// Which side `principal` takes part on, if any: the guest of this stay (by their
    /// reservation-scoped token), or staff who may chat in this property. For anyone else the
    /// permission matrix answers: another stay's guest or a role without `chat` is refused,
    /// another hotel's caller learns nothing.
    pub fn side_of(&self, principal: &Principal) -> Result<Side, Denial> {
        if let Principal::Guest {
            reservation_id,
            property,
        } = principal
            && *reservation_id == self.reservation_id.0
            && *property == self.property_id
        {
            return Ok(Side::Guest);
        }
        principal
            .authorize(Action::Chat, self.property_id)
            .map(|()| Side::Staff)
    }

    /// The view for `side`.
    #[must_use]
    pub fn view(&self, side: Side) -> serde_json::Value {
        match side {
            Side::Guest => self.guest_view(),
            Side::Staff => self.staff_view(),
        }
    }
}

/// The idempotency key of a message as remembered: per sender, so two senders' keys never
/// collide.
#[must_use]
pub fn sender_key(author: &Author, key: &str) -> String {
    match author {
        Author::Guest => format!("guest|{key}"),
        Author::Staff { user_id } => format!("staff:{user_id}|{key}"),
        Author::System => format!("system|{key}"),
    }
}

/// A canned reply of a property: a title staff pick it by, and a body with variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CannedReply {
    pub id: Uuid,
    pub property_id: PropertyId,
    pub title: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

impl CannedReply {
    /// A title of 1–80 characters and a body that renders (known variables only) within the
    /// message limit.
    pub fn validate(&self) -> Result<(), ChatRefusal> {
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > 80 {
            return Err(ChatRefusal::InvalidTitle);
        }
        let probe = BTreeMap::new();
        let rendered = render(&self.body, &probe)?;
        if self.body.trim().is_empty() || rendered.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ChatRefusal::InvalidBody);
        }
        Ok(())
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
    use crate::domain::Role;

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    fn conversation() -> Conversation {
        Conversation::open(
            ConversationId::new(),
            PropertyId::new(),
            ReservationId::new(),
            "Ada Lovelace",
            now(),
        )
        .0
    }

    /// Decides and applies; the events.
    fn run(c: &mut Conversation, command: ChatCommand) -> Result<Vec<ChatEvent>, ChatRefusal> {
        run_at(c, command, now())
    }

    fn run_at(
        c: &mut Conversation,
        command: ChatCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<ChatEvent>, ChatRefusal> {
        let events = c.decide(&command, at)?;
        for e in &events {
            c.apply(e, at);
        }
        Ok(events)
    }

    fn say(author: Author, kind: MessageKind, body: &str) -> ChatCommand {
        ChatCommand::Send {
            author,
            kind,
            body: body.into(),
        }
    }

    fn staff() -> Author {
        Author::Staff {
            user_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn the_inbox_status_follows_who_spoke_last() {
        let staff = staff();
        let mut c = conversation();
        assert_eq!((c.version, c.status), (1, InboxStatus::Done));
        run(
            &mut c,
            say(Author::Guest, MessageKind::Text, "Late check-out?"),
        )
        .unwrap();
        assert_eq!(c.status, InboxStatus::Todo);
        run(&mut c, say(staff, MessageKind::Note, "ask housekeeping")).unwrap();
        assert_eq!(c.status, InboxStatus::Todo, "a note is not an answer");
        run(&mut c, say(staff, MessageKind::Text, "Until 1 pm is fine")).unwrap();
        assert_eq!(c.status, InboxStatus::Waiting);
        let done = ChatCommand::SetStatus {
            status: InboxStatus::Done,
            follow_up: None,
        };
        run(&mut c, done.clone()).unwrap();
        assert_eq!(run(&mut c, done), Err(ChatRefusal::NoChange));
        run(
            &mut c,
            say(Author::Guest, MessageKind::Text, "One more thing"),
        )
        .unwrap();
        assert_eq!(
            c.status,
            InboxStatus::Todo,
            "done reopens on a guest message"
        );
        let day = "2026-11-23".parse().unwrap();
        let follow_up = |d| ChatCommand::SetStatus {
            status: InboxStatus::FollowUp,
            follow_up: d,
        };
        assert_eq!(run(&mut c, follow_up(None)), Err(ChatRefusal::FollowUpDate));
        run(&mut c, follow_up(Some(day))).unwrap();
        assert_eq!((c.status, c.follow_up), (InboxStatus::FollowUp, Some(day)));
        run(&mut c, say(Author::Guest, MessageKind::Text, "?")).unwrap();
        assert_eq!((c.status, c.follow_up), (InboxStatus::Todo, None));
        let who = Some(Uuid::new_v4());
        run(&mut c, ChatCommand::Assign { to: who }).unwrap();
        assert_eq!(c.assignee, who);
        assert_eq!(
            run(&mut c, ChatCommand::Assign { to: who }),
            Err(ChatRefusal::NoChange)
        );
        assert_eq!(c.last_message.as_ref().unwrap().preview, "?");
    }

    #[test]
    fn notes_stay_with_staff_and_marks_count_per_side() {
        let staff = staff();
        let mut c = conversation();
        run(&mut c, say(Author::Guest, MessageKind::Text, "Hello")).unwrap(); // 2
        run(&mut c, say(Author::Guest, MessageKind::Text, "Anyone?")).unwrap(); // 3
        let note = run(&mut c, say(staff, MessageKind::Note, "VIP")).unwrap(); // 4
        let reply = run(&mut c, say(staff, MessageKind::Text, "Hi!")).unwrap(); // 5
        assert_eq!((c.unread_staff.len(), c.unread_guest.len()), (2, 1));
        assert!(!note[0].visible_to(Side::Guest));
        assert!(reply[0].visible_to(Side::Guest));
        assert!(
            !ChatEvent::Assigned { to: None }.visible_to(Side::Guest),
            "the inbox's workings are staff-only"
        );
        assert_eq!(
            run(&mut c, say(Author::Guest, MessageKind::Note, "x")),
            Err(ChatRefusal::NoteByGuest)
        );
        let ChatEvent::MessageSent { message } = &reply[0] else {
            panic!("not a message");
        };
        assert_eq!(message.seq, 5);
        assert_eq!(c.delivery_of(message), Some("sent"));
        run(
            &mut c,
            ChatCommand::MarkDelivered {
                side: Side::Guest,
                up_to: 5,
            },
        )
        .unwrap();
        assert_eq!(c.delivery_of(message), Some("delivered"));
        assert_eq!(
            run(
                &mut c,
                ChatCommand::MarkDelivered {
                    side: Side::Guest,
                    up_to: 6
                }
            ),
            Err(ChatRefusal::NoChange),
            "nothing new reached the guest"
        );
        run(
            &mut c,
            ChatCommand::MarkRead {
                side: Side::Staff,
                up_to: 2,
            },
        )
        .unwrap();
        assert_eq!(c.unread_staff.len(), 1);
        run(
            &mut c,
            ChatCommand::MarkRead {
                side: Side::Staff,
                up_to: 99,
            },
        )
        .unwrap();
        assert_eq!(c.unread_staff.len(), 0);
        assert!(c.read.staff <= c.version, "capped at the stream");
        assert_eq!(
            run(
                &mut c,
                ChatCommand::MarkRead {
                    side: Side::Staff,
                    up_to: 99
                }
            ),
            Err(ChatRefusal::NoChange)
        );
        run(
            &mut c,
            ChatCommand::MarkRead {
                side: Side::Guest,
                up_to: 5,
            },
        )
        .unwrap();
        assert_eq!(
            (c.unread_guest.len(), c.delivery_of(message)),
            (0, Some("read"))
        );
        assert_eq!(
            run(&mut c, say(Author::Guest, MessageKind::Text, "  ")),
            Err(ChatRefusal::InvalidBody)
        );
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            run(&mut c, say(Author::Guest, MessageKind::Text, &long)),
            Err(ChatRefusal::InvalidBody)
        );
        let view = c.guest_view();
        assert!(view.get("status").is_none() && view.get("last_message").is_none());
    }

    #[test]
    fn unread_replies_are_emailed_once_after_the_delay_unless_the_guest_is_here() {
        let staff = staff();
        let mut c = conversation();
        let delay = chrono::Duration::minutes(5);
        let email = |now, guest_present| ChatCommand::EmailGuest {
            now,
            delay,
            guest_present,
        };
        assert_eq!(c.waiting_since(), None);
        run(&mut c, say(staff, MessageKind::Note, "internal")).unwrap();
        run(
            &mut c,
            say(Author::System, MessageKind::System, "Room ready"),
        )
        .unwrap();
        assert_eq!(c.waiting_since(), None, "only staff replies are emailed");
        run(&mut c, say(staff, MessageKind::Text, "Your taxi is booked")).unwrap(); // 4
        run(&mut c, say(staff, MessageKind::Text, "At 9 am")).unwrap(); // 5
        assert_eq!(c.waiting_since(), Some(now()));
        let later = now() + chrono::Duration::minutes(6);
        assert_eq!(
            run_at(
                &mut c,
                email(now() + chrono::Duration::minutes(4), false),
                later
            ),
            Err(ChatRefusal::NoChange),
            "not yet due"
        );
        assert_eq!(
            run_at(&mut c, email(later, true), later),
            Err(ChatRefusal::NoChange),
            "the guest is connected"
        );
        let sent = run_at(&mut c, email(later, false), later).unwrap();
        assert_eq!(sent, vec![ChatEvent::EmailedGuest { seqs: vec![4, 5] }]);
        assert_eq!(
            run_at(&mut c, email(later, false), later),
            Err(ChatRefusal::NoChange),
            "once"
        );
        run_at(
            &mut c,
            say(staff, MessageKind::Text, "Anything else?"),
            later,
        )
        .unwrap(); // 8
        run(
            &mut c,
            ChatCommand::MarkRead {
                side: Side::Guest,
                up_to: 8,
            },
        )
        .unwrap();
        assert_eq!(c.waiting_since(), None, "read in time: nothing to email");
    }

    #[test]
    fn only_the_stays_guest_and_the_hotels_chat_staff_take_part() {
        let c = conversation();
        let guest = |reservation_id: Uuid, property| Principal::Guest {
            reservation_id,
            property,
        };
        let staff = |role, property| Principal::Staff {
            user_id: Uuid::new_v4(),
            property: Some(property),
            role,
        };
        let (home, rid) = (c.property_id, c.reservation_id.0);
        assert_eq!(c.side_of(&guest(rid, home)), Ok(Side::Guest));
        assert_eq!(
            c.side_of(&guest(Uuid::new_v4(), home)),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            c.side_of(&guest(rid, PropertyId::new())),
            Err(Denial::NotFound)
        );
        assert_eq!(c.side_of(&staff(Role::FrontDesk, home)), Ok(Side::Staff));
        assert_eq!(
            c.side_of(&staff(Role::Housekeeper, home)),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            c.side_of(&staff(Role::Manager, PropertyId::new())),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn a_guest_who_never_reads_keeps_the_state_small_and_the_count_right() {
        let staff = staff();
        let mut c = conversation();
        for i in 0..UNREAD_KEPT + 10 {
            run(&mut c, say(staff, MessageKind::Text, &format!("m{i}"))).unwrap();
        }
        assert_eq!(c.unread_guest.listed.len(), UNREAD_KEPT);
        assert_eq!(c.unread_guest.len(), UNREAD_KEPT + 10);
        assert_eq!(c.guest_view()["unread"], UNREAD_KEPT + 10);
        let last = c.version;
        run(
            &mut c,
            ChatCommand::MarkRead {
                side: Side::Guest,
                up_to: last - 1,
            },
        )
        .unwrap();
        assert_eq!(
            c.unread_guest.len(),
            1,
            "the counted ones were older: read too"
        );
    }

    #[test]
    fn idempotency_keys_are_per_sender_and_bounded() {
        let mut c = conversation();
        let a = sender_key(&Author::Guest, "k1");
        let b = sender_key(&staff(), "k1");
        c.remember_key(a.clone(), 2);
        assert_eq!((c.sent_with(&a), c.sent_with(&b)), (Some(2), None));
        for i in 0..KEYS_KEPT {
            c.remember_key(format!("guest|{i}"), 3 + i as u64);
        }
        assert_eq!(c.keys.len(), KEYS_KEPT);
        assert_eq!(c.sent_with(&a), None, "the oldest is forgotten");
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
        let reply = |title: &str, body: &str| CannedReply {
            id: Uuid::new_v4(),
            property_id: PropertyId::new(),
            title: title.into(),
            body: body.into(),
            updated_at: now(),
        };
        assert!(
            reply("Checkout", "Checkout is at {checkout_time}")
                .validate()
                .is_ok()
        );
        assert_eq!(reply("", "x").validate(), Err(ChatRefusal::InvalidTitle));
        assert_eq!(
            reply("Oops", "{nope}").validate(),
            Err(ChatRefusal::UnknownVariable("nope".into()))
        );
    }
}
