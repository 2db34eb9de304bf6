//! Topic snapshots, read once and shared by every session subscribing at about the same time.
//!
//! When a front desk's screens reconnect together (a node restarted, the Wi-Fi came back),
//! thousands of sessions subscribe to the same board within a second. Reading and encoding the
//! board once per session would put thousands of identical queries on the store and keep a
//! copy of the versions in every session. Instead, concurrent subscribers join one read
//! ("single flight"), share its encoded JSON and its version map behind an `Arc`.
//!
//! Sharing must not weaken the subscribe rule (listen first, then read): a session may only
//! take a snapshot whose read **began after** it registered with the hub. So a session joins a
//! read only while that read has not begun; otherwise it queues a new one. Reads of one topic
//! take turns: while one runs, everyone who subscribes meanwhile joins the next, which begins
//! when the running one ends. A lone subscriber never waits; a crowd costs one read per turn.
//! Reads run as their own tasks, so a read whose sessions all went away still finishes and
//! hands the turn on.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering::SeqCst},
    },
    time::Instant,
};

use actix_web::web::Bytes;
use futures_util::{
    FutureExt as _,
    future::{BoxFuture, Shared},
};
use serde_json::json;

use super::protocol::Topic;
use crate::{
    domain::{
        ConversationId,
        chat::{ChatEvent, Conversation, Side},
    },
    persistence::{Store, StoreError, StoredEvent},
    views::RoomView,
};

/// One read of a topic: the JSON clients receive, and the version of each stream in it.
#[derive(Debug)]
pub struct Snapshot {
    /// Encoded once; every `subscribed`/`reset` frame embeds these bytes.
    pub json: Bytes,
    /// Stream → version at the time of the read (duplicates are checked against it).
    pub versions: HashMap<Box<str>, u64>,
    /// When the read started.
    pub read_at: Instant,
}

type Outcome = Result<Option<Arc<Snapshot>>, Arc<StoreError>>;

/// The latest read of a topic, and whether it has begun (guarded by the `topics` lock, so
/// joining and beginning cannot interleave).
struct Flight {
    begun: Arc<AtomicBool>,
    read: Shared<BoxFuture<'static, Outcome>>,
}

#[derive(Default)]
struct TopicReads {
    /// Held by the running read of this topic.
    turn: Arc<tokio::sync::Mutex<()>>,
    latest: Option<Flight>,
}

/// The per-node snapshot reader.
pub struct Snapshots {
    store: Arc<Store>,
    /// One entry per topic ever read: bounded by the rooms and properties of the deployment.
    topics: Arc<Mutex<HashMap<String, TopicReads>>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots").finish_non_exhaustive()
    }
}

impl Snapshots {
    #[must_use]
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            topics: Arc::default(),
        }
    }

    /// A snapshot of `topic` whose read begins after this call; `None` if the topic's
    /// property or room does not exist. Call it **after** registering with the hub.
    pub async fn read(&self, topic: &Topic) -> Outcome {
        let name = topic.name();
        let read = {
            let mut topics = lock(&self.topics);
            let reads = topics.entry(name.clone()).or_default();
            match &reads.latest {
                Some(f) if !f.begun.load(SeqCst) => f.read.clone(),
                _ => {
                    let begun = Arc::new(AtomicBool::new(false));
                    let task = tokio::spawn(run(
                        Arc::clone(&self.store),
                        topic.clone(),
                        Arc::clone(&self.topics),
                        Arc::clone(&reads.turn),
                        Arc::clone(&begun),
                    ));
                    let read = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Arc::new(StoreError::Other(anyhow::anyhow!(
                                "snapshot read task failed: {e}"
                            ))))
                        })
                    }
                    .boxed()
                    .shared();
                    reads.latest = Some(Flight {
                        begun,
                        read: read.clone(),
                    });
                    read
                }
            }
        };
        read.await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One read: wait for the topic's turn, close the flight to newcomers, read.
async fn run(
    store: Arc<Store>,
    topic: Topic,
    topics: Arc<Mutex<HashMap<String, TopicReads>>>,
    turn: Arc<tokio::sync::Mutex<()>>,
    begun: Arc<AtomicBool>,
) -> Outcome {
    let _turn = turn.lock().await;
    {
        let _topics = lock(&topics);
        begun.store(true, SeqCst);
    }
    read(&store, &topic).await.map_err(Arc::new)
}
async fn read(store: &Store, topic: &Topic) -> Result<Option<Arc<Snapshot>>, StoreError> {
    let read_at = Instant::now();
    let (value, versions): (_, HashMap<Box<str>, u64>) = match topic {
        Topic::Rooms(pid) => {
            let Some(property) = store.property(*pid).await? else {
                return Ok(None);
            };
            let rooms = store.rooms(*pid).await?;
            let versions = rooms
                .iter()
                .map(|r| (r.id.stream().into_boxed_str(), r.version))
                .collect();
            let views: Vec<_> = rooms.iter().map(RoomView::of).collect();
            (json!({ "property": property, "rooms": views }), versions)
        }
        Topic::Reservations(pid) => {
            let Some(property) = store.property(*pid).await? else {
                return Ok(None);
            };
            // The front desk's day: whoever slept here last night or sleeps here tonight.
            let now = crate::persistence::now();
            let day = property.day(now);
            let today = day.business_date;
            let filter = crate::persistence::ReservationFilter {
                nights: Some((today - chrono::Days::new(1), today + chrono::Days::new(1))),
                ..crate::persistence::ReservationFilter::property(*pid)
            };
            let (found, rooms) = tokio::try_join!(store.reservations(&filter), store.rooms(*pid))?;
            let versions = found
                .iter()
                .map(|r| (r.id.stream().into_boxed_str(), r.version))
                .collect();
            let views: Vec<_> = found
                .iter()
                .map(|r| {
                    let room = readiness(r, &rooms, now);
                    crate::views::reservation_view(r, Some((&day, room.as_ref())))
                })
                .collect();
            (
                json!({ "business_date": today, "reservations": views }),
                versions,
            )
        }
        Topic::Reservation(rid) => {
            let Some(r) = store.reservation(*rid).await? else {
                return Ok(None);
            };
            let Some(property) = store.property(r.property_id).await? else {
                return Ok(None);
            };
            let now = crate::persistence::now();
            let rooms = match &r.room {
                Some(a) => store.room_by_id(a.room_id).await?.into_iter().collect(),
                None => Vec::new(),
            };
            let room = readiness(&r, &rooms, now);
            let view =
                crate::views::reservation_view(&r, Some((&property.day(now), room.as_ref())));
            let versions = HashMap::from([(r.id.stream().into_boxed_str(), r.version)]);
            (json!({ "reservation": view }), versions)
        }
        Topic::Availability(pid) => {
            let Some(property) = store.property(*pid).await? else {
                return Ok(None);
            };
            // The next four weeks; further nights are a query away.
            let from = property.business_date(crate::persistence::now());
            let to = from + chrono::Days::new(28);
            let (rooms, sold) = tokio::try_join!(
                store.rooms(*pid),
                store.reservations_between(*pid, from, to)
            )?;
            let nights = crate::domain::availability::nights(&rooms, &sold, from, to, None, |d| {
                property.night(d)
            })
            .map_err(|e| StoreError::Other(anyhow::anyhow!("availability: {e}")))?;
            (
                json!({ "from": from, "to": to, "nights": nights }),
                HashMap::new(),
            )
        }
        Topic::Tasks(pid) => {
            if store.property(*pid).await?.is_none() {
                return Ok(None);
            }
            task_snapshot(store, *pid, None).await?
        }
        Topic::UserTasks(user) => {
            let Some(property) = store.user(*user).await?.and_then(|u| u.property_id) else {
                return Ok(None);
            };
            task_snapshot(store, property, Some(*user)).await?
        }
        Topic::Inbox(pid) => {
            if store.property(*pid).await?.is_none() {
                return Ok(None);
            }
            // Archived conversations and untouched ones are not in the inbox.
            let mut all = store.conversations(*pid, None).await?;
            all.sort_by(|a, b| {
                let at = |c: &Conversation| c.last_message.as_ref().map(|m| m.at);
                at(b).cmp(&at(a)).then(b.updated_at.cmp(&a.updated_at))
            });
            let versions = all
                .iter()
                .map(|c| (c.id.stream().into_boxed_str(), c.version))
                .collect();
            let views: Vec<_> = all.iter().map(Conversation::staff_view).collect();
            (json!({ "conversations": views }), versions)
        }
        Topic::Tables(vid) => match floor_plan(store, *vid).await? {
            Some(read) => read,
            None => return Ok(None),
        },
        // A chat subscription reads its own snapshot: it depends on the side (see `session`).
        Topic::Chat(_) => return Ok(None),
        Topic::Room(pid, number) => {
            let Some(room) = store.room(*pid, number).await? else {
                return Ok(None);
            };
            let versions = HashMap::from([(room.id.stream().into_boxed_str(), room.version)]);
            (json!({ "room": RoomView::of(&room) }), versions)
        }
    };
    let json = Bytes::from(
        serde_json::to_vec(&value)
            .map_err(|e| StoreError::Other(anyhow::anyhow!("encoding a snapshot: {e}")))?,
    );
    Ok(Some(Arc::new(Snapshot {
        json,
        versions,
        read_at,
    })))
}

/// The latest messages a chat snapshot carries; older ones are a `GET …/messages` away.
pub const CHAT_SNAPSHOT_MESSAGES: usize = 50;
/// A resume that missed more events than this answers `reset` (then the client pages).
pub const CHAT_RECOVERY_LIMIT: usize = 1000;

/// A conversation as the store has it now, and its events after `after` up to that state
/// (at most `limit`; `true` if more follow).
pub async fn chat_events(
    store: &Store,
    cid: ConversationId,
    after: u64,
    limit: usize,
) -> Result<Option<(Conversation, Vec<StoredEvent>, bool)>, StoreError> {
    let Some(c) = store.conversation(cid).await? else {
        return Ok(None);
    };
    let mut events = store.read_stream(&cid.stream(), after, limit + 1).await?;
    events.retain(|e| e.seq <= c.version);
    let more = events.len() > limit;
    events.truncate(limit);
    Ok(Some((c, events, more)))
}

/// The messages among `events` that `side` may see, as it sees them.
#[must_use]
pub fn chat_messages(
    events: &[StoredEvent],
    c: &Conversation,
    side: Side,
) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter_map(|e| match serde_json::from_value(e.payload.clone()) {
            Ok(ChatEvent::MessageSent { message }) if message.visible_to(side) => {
                Some(crate::views::chat_message(&message, c, side))
            }
            _ => None,
        })
        .collect()
}

/// What a chat subscriber starts from: the conversation as `side` sees it and its latest
/// messages; and the version it was read at (live events up to it are already in it).
pub async fn chat_snapshot(
    store: &Store,
    cid: ConversationId,
    side: Side,
) -> Result<Option<(Bytes, u64)>, StoreError> {
    let Some(c) = store.conversation(cid).await? else {
        return Ok(None);
    };
    // Messages are most of a conversation's events; read a margin for marks in between.
    let window = 4 * CHAT_SNAPSHOT_MESSAGES;
    let after = c.version.saturating_sub(window as u64);
    let (c, events, _) =
        chat_events(store, cid, after, window)
            .await?
            .unwrap_or((c, Vec::new(), false));
    let mut messages = chat_messages(&events, &c, side);
    let cut = messages.len().saturating_sub(CHAT_SNAPSHOT_MESSAGES);
    messages.drain(..cut);
    let value = json!({
        "conversation": c.view(side),
        "messages": messages,
        "has_more": after > 0 || cut > 0,
    });
    let json = serde_json::to_vec(&value)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("encoding a snapshot: {e}")))?;
    Ok(Some((Bytes::from(json), c.version)))
}

/// A venue's floor plan now: the venue, its tables with their state, and the parties of the
/// day (from six hours ago to a day ahead, and everyone seated or waiting), with the version
/// of every table and party stream.
pub async fn floor_plan(
    store: &Store,
    vid: crate::domain::VenueId,
) -> Result<Option<(serde_json::Value, HashMap<Box<str>, u64>)>, StoreError> {
    let Some(venue) = store.venue(vid).await? else {
        return Ok(None);
    };
    let now = crate::persistence::now();
    let (tables, parties) = tokio::try_join!(
        store.venue_tables(vid),
        store.parties(
            vid,
            now - chrono::Duration::hours(6),
            now + chrono::Duration::hours(24)
        )
    )?;
    let versions = tables
        .iter()
        .map(|t| (t.id.stream().into_boxed_str(), t.version))
        .chain(
            parties
                .iter()
                .map(|p| (p.id.stream().into_boxed_str(), p.version)),
        )
        .collect();
    let tables: Vec<_> = tables
        .iter()
        .map(|t| crate::views::table_view(t, now))
        .collect();
    Ok(Some((
        json!({ "venue": venue, "tables": tables, "parties": parties }),
        versions,
    )))
}

/// Open tasks of a property (or of one assignee), in queue order, with their versions.
async fn task_snapshot(
    store: &Store,
    property: crate::domain::PropertyId,
    assignee: Option<uuid::Uuid>,
) -> Result<(serde_json::Value, HashMap<Box<str>, u64>), StoreError> {
    let mut tasks = store
        .tasks(&crate::persistence::TaskFilter {
            property,
            open_only: true,
            assignee,
            room: None,
        })
        .await?;
    crate::domain::task::order_queue(&mut tasks);
    let versions = tasks
        .iter()
        .map(|t| (t.id.stream().into_boxed_str(), t.version))
        .collect();
    Ok((json!({ "tasks": tasks }), versions))
}

/// The readiness of a confirmed reservation's assigned room among `rooms`, as a check-in would
/// judge it (for its `allowed_actions`).
fn readiness(
    r: &crate::domain::Reservation,
    rooms: &[crate::domain::Room],
    now: chrono::DateTime<chrono::Utc>,
) -> Option<crate::domain::reservation::RoomReadiness> {
    let assigned = r
        .room
        .as_ref()
        .filter(|_| r.status == crate::domain::ReservationStatus::Confirmed)?;
    let room = rooms.iter().find(|room| room.id == assigned.room_id)?;
    Some(crate::domain::reservation::RoomReadiness::of(room, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Agent, PropertyId};

    async fn fixture() -> (Snapshots, PropertyId, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<Store> = Arc::new(
            crate::persistence::Store::open_sqlite(&dir.path().join("t.db"))
                .await
                .unwrap(),
        );
        let pid = crate::actors::property::create_property(
            store.as_ref(),
            "T",
            "UTC",
            &Agent::system("test"),
        )
        .await
        .unwrap()
        .id;
        (Snapshots::new(store), pid, dir)
    }

    #[tokio::test]
    async fn subscribers_waiting_for_a_turn_share_one_read() {
        let (snapshots, pid, _dir) = fixture().await;
        let topic = Topic::Rooms(pid);
        // A read of this topic is running: everyone arriving now queues for the next turn.
        let turn = {
            let mut topics = lock(&snapshots.topics);
            Arc::clone(&topics.entry(topic.name()).or_default().turn)
        };
        let running = turn.lock().await;
        let readers: Vec<_> = (0..10).map(|_| snapshots.read(&topic)).collect();
        let all = futures_util::future::join_all(readers);
        let release = async {
            tokio::task::yield_now().await;
            drop(running);
        };
        let (all, ()) = tokio::join!(all, release);
        let all: Vec<Arc<Snapshot>> = all.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert!(
            all.iter().all(|s| Arc::ptr_eq(s, &all[0])),
            "one read, shared"
        );
        let v: serde_json::Value = serde_json::from_slice(&all[0].json).unwrap();
        assert_eq!(v["property"]["id"], pid.to_string());
    }

    #[tokio::test]
    async fn a_read_that_began_is_never_joined() {
        let (snapshots, pid, _dir) = fixture().await;
        let topic = Topic::Rooms(pid);
        let first = snapshots.read(&topic).await.unwrap().unwrap();
        // The first read began (and ended) before this caller arrived: it must get its own.
        let second = snapshots.read(&topic).await.unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(second.read_at >= first.read_at);
    }

    #[tokio::test]
    async fn an_unknown_topic_reads_as_none() {
        let (snapshots, _pid, _dir) = fixture().await;
        let none = snapshots.read(&Topic::Rooms(PropertyId::new())).await;
        assert!(none.unwrap().is_none());
    }
}
