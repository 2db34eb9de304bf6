//! Stream and topic naming: what the entity actors publish on and what sessions subscribe
//! to. It lives below both the actors and the WebSocket layer so neither names the other's
//! strings: an actor says "`rooms_topic(pid)`", a session parses `Topic`, and both agree.

use crate::domain::{ConversationId, PropertyId, ReservationId, RoomNumber};

/// A topic a session can subscribe to. Other names from DESIGN §4 (chat, floor plans, …)
/// arrive with their features; until then they answer `unknown_topic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `rooms:<pid>`: the room board of a property.
    Rooms(PropertyId),
    /// `room:<pid>:<number>`: one room.
    Room(PropertyId, RoomNumber),
    /// `reservations:<pid>`: the front desk's day (arrivals, departures, in house) and every
    /// reservation change of the property.
    Reservations(PropertyId),
    /// `reservation:<rid>`: one reservation.
    Reservation(ReservationId),
    /// `availability:<pid>`: availability by type and night; every change that moves inventory
    /// arrives as the reservation's or room's event (refetch the nights it names).
    Availability(PropertyId),
    /// `tasks:<pid>`: the housekeeping supervisor's board, every open task.
    Tasks(PropertyId),
    /// `tasks:user:<uid>`: one person's queue, in order.
    UserTasks(uuid::Uuid),
    /// `chat:<cid>`: a conversation's events, resumed exactly by `since` seq. Staff and the
    /// guest subscribe by the same name but listen on different hub topics (see
    /// [`GUEST_SIDE`]): the guest's never carries internal notes or the inbox's workings.
    Chat(ConversationId),
    /// `inbox:<pid>`: the staff inbox, every conversation of the property.
    Inbox(PropertyId),
    /// `tables:<venue_id>`: a venue's floor plan — its tables with their state, and the day's
    /// parties — for host stands and servers.
    Tables(crate::domain::VenueId),
}

/// Marks the guest's side of a `chat:<cid>` topic in the hub and on the bus. Clients never
/// see or name it: frames carry the public name.
pub const GUEST_SIDE: &str = "#guest";

/// The name clients know a hub topic by.
#[must_use]
pub fn public_name(topic: &str) -> &str {
    topic.strip_suffix(GUEST_SIDE).unwrap_or(topic)
}

impl Topic {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.splitn(3, ':');
        let kind = parts.next().unwrap_or_default();
        let pid = parts.next();
        let rest = parts.next();
        let parse_pid = |p: Option<&str>| -> Result<PropertyId, String> {
            p.and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("topic {s:?}: expected a property id after '{kind}:'"))
        };
        match (kind, rest) {
            ("rooms", None) => Ok(Self::Rooms(parse_pid(pid)?)),
            ("reservations", None) => Ok(Self::Reservations(parse_pid(pid)?)),
            ("availability", None) => Ok(Self::Availability(parse_pid(pid)?)),
            ("tasks", None) => Ok(Self::Tasks(parse_pid(pid)?)),
            ("tasks", Some(user)) if pid == Some("user") => user
                .parse()
                .map(Self::UserTasks)
                .map_err(|_| format!("topic {s:?}: expected a user id after 'tasks:user:'")),
            ("inbox", None) => Ok(Self::Inbox(parse_pid(pid)?)),
            ("tables", None) => pid
                .and_then(|v| v.parse().ok())
                .map(Self::Tables)
                .ok_or_else(|| format!("topic {s:?}: expected a venue id")),
            ("chat", None) => pid
                .and_then(|c| c.parse().ok())
                .map(Self::Chat)
                .ok_or_else(|| format!("topic {s:?}: expected a conversation id")),
            ("reservation", None) => pid
                .and_then(|r| r.parse().ok())
                .map(Self::Reservation)
                .ok_or_else(|| format!("topic {s:?}: expected a reservation id")),
            ("room", Some(number)) => Ok(Self::Room(
                parse_pid(pid)?,
                RoomNumber::parse(number).map_err(|e| format!("topic {s:?}: {e}"))?,
            )),
            _ => Err(format!("unknown topic {s:?}")),
        }
    }

    /// The canonical name (what the hub and the bus key on).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Rooms(pid) => rooms_topic(*pid),
            Self::Room(pid, n) => room_topic(*pid, n),
            Self::Reservations(pid) => reservations_topic(*pid),
            Self::Reservation(rid) => reservation_topic(rid),
            Self::Availability(pid) => availability_topic(*pid),
            Self::Tasks(pid) => tasks_topic(*pid),
            Self::UserTasks(user) => user_tasks_topic(*user),
            Self::Chat(cid) => chat_topic(*cid),
            Self::Inbox(pid) => inbox_topic(*pid),
            Self::Tables(vid) => tables_topic(*vid),
        }
    }
}

#[must_use]
pub fn rooms_topic(pid: PropertyId) -> String {
    format!("rooms:{pid}")
}

#[must_use]
pub fn reservations_topic(pid: PropertyId) -> String {
    format!("reservations:{pid}")
}

#[must_use]
pub fn reservation_topic(rid: &ReservationId) -> String {
    format!("reservation:{rid}")
}

#[must_use]
pub fn availability_topic(pid: PropertyId) -> String {
    format!("availability:{pid}")
}

#[must_use]
pub fn tasks_topic(pid: PropertyId) -> String {
    format!("tasks:{pid}")
}

#[must_use]
pub fn user_tasks_topic(user: uuid::Uuid) -> String {
    format!("tasks:user:{user}")
}

#[must_use]
pub fn chat_topic(cid: ConversationId) -> String {
    format!("chat:{cid}")
}

/// The hub topic of the guest's side of `chat:<cid>`.
#[must_use]
pub fn guest_chat_topic(cid: ConversationId) -> String {
    format!("chat:{cid}{GUEST_SIDE}")
}

#[must_use]
pub fn tables_topic(venue: crate::domain::VenueId) -> String {
    format!("tables:{venue}")
}

#[must_use]
pub fn inbox_topic(pid: PropertyId) -> String {
    format!("inbox:{pid}")
}

#[must_use]
pub fn room_topic(pid: PropertyId, number: &RoomNumber) -> String {
    format!("room:{pid}:{number}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_print_canonically() {
        let pid = PropertyId::new();
        let t = Topic::parse(&format!("rooms:{pid}")).unwrap();
        assert_eq!(t, Topic::Rooms(pid));
        assert_eq!(t.name(), format!("rooms:{pid}"));
        let t = Topic::parse(&format!("room:{pid}:101")).unwrap();
        assert_eq!(t.name(), format!("room:{pid}:101"));
    }

    #[test]
    fn bad_topics_are_refused() {
        let pid = PropertyId::new();
        for bad in [
            "rooms".to_owned(),
            "rooms:not-a-uuid".to_owned(),
            format!("rooms:{pid}:extra"),
            format!("room:{pid}"),
            format!("room:{pid}:1:2"),
            format!("chat:{pid}:x"),
            format!("chat:{pid}{GUEST_SIDE}"),
            "chat:nope".to_owned(),
            String::new(),
        ] {
            assert!(Topic::parse(&bad).is_err(), "{bad}");
        }
    }
}
