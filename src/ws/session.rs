//! One WebSocket connection: an actix-ws session driven by a single task.
//!
//! The task `select!`s over four sources: a slow-consumer kick from the hub, the node-wide
//! pulse (heartbeat ticks and shutdown — one timer for the whole node, none per session),
//! the session's bounded outbound queue, and the client's frames. Nothing a client sends can
//! end the session except a close or a protocol violation; bad frames get `error` frames.
//!
//! Subscribing to a state topic registers with the hub **first** and reads the snapshot
//! **second**, so no committed change can fall between them. Events that were already part of
//! the snapshot (seq ≤ the snapshot version of their stream) are then skipped, for a short
//! while after the snapshot, instead of being sent twice. Sessions subscribing together share
//! one snapshot read (see `snapshots`), so a reconnecting floor of screens costs one query.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Item, ProtocolError};
use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};

use super::{
    hub::{Delivery, Mailbox, SessionId},
    protocol::{self, ClientFrame, SnapshotFrame, Topic, close},
    snapshots::Snapshot,
};
use crate::{
    auth::{AuthError, Authenticated},
    domain::{Action, Denial},
    http::{ApiError, access::bearer},
    metrics::Metrics,
    state::AppState,
};

/// How long after a snapshot deliveries are checked against its versions. A batch committed
/// before the snapshot was read is dispatched within microseconds of its commit; this only
/// bounds how long the check's memory is kept.
const SNAPSHOT_OVERLAP: Duration = Duration::from_secs(5);

/// Snapshot frames larger than this go out as continuation fragments of this size: with its
/// frame header a fragment fits the connection's initial 8 KiB write buffer, which therefore
/// never grows (measured: 35.4 → 24.2 KiB RSS per connection on a 120-room board).
const FRAGMENT: usize = 4000;

/// How long a close frame may wait behind unread frames.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// `GET /ws`: upgrades the connection and spawns the session task on this worker.
/// The credential comes as `Authorization: Bearer …` or, for browsers (which cannot set
/// headers on a WebSocket), as `?token=…`. Without a valid one there is no upgrade: 401.
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    let token = bearer(&req).or_else(|| {
        web::Query::<TokenQuery>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.into_inner().token)
    });
    let caller = match token {
        None => Err(AuthError::Missing),
        Some(t) => state.auth.authenticate(&t).await,
    }
    .map_err(ApiError::from)?;
    let (response, ws, stream) = actix_ws::handle(&req, body)?;
    let max = state.ws.max_frame_bytes;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let session = Session::new(state, ws, caller);
        session.run(stream).await;
    });
    Ok(response)
}

/// Per-subscription state.
struct Subscription {
    topic: Box<str>,
    /// The snapshot this subscription started from (shared with the sessions that subscribed
    /// together), kept for [`SNAPSHOT_OVERLAP`] to drop events it already contained.
    floor: Option<Arc<Snapshot>>,
}

impl Subscription {
    /// Whether a batch ending at `to_seq` of `stream` was already part of the snapshot.
    fn already_seen(&mut self, stream: &str, to_seq: u64) -> bool {
        self.expire_floor();
        self.floor
            .as_ref()
            .is_some_and(|s| s.versions.get(stream).is_some_and(|&v| to_seq <= v))
    }

    /// Lets go of the snapshot once no duplicate of it can still arrive.
    fn expire_floor(&mut self) {
        if self
            .floor
            .as_ref()
            .is_some_and(|s| s.read_at.elapsed() > SNAPSHOT_OVERLAP)
        {
            self.floor = None;
        }
    }
}

struct Session {
    id: SessionId,
    /// Who is connected; every subscribe is checked against it.
    caller: Authenticated,
    state: Arc<AppState>,
    ws: actix_ws::Session,
    mailbox: Mailbox,
    queue: mpsc::Receiver<Arc<Delivery>>,
    /// A handful at most (the limit is `max_subscriptions`): a vector beats a map here.
    subs: Vec<Subscription>,
    last_seen: Instant,
}

/// Why the loop ended.
enum End {
    /// The client closed or the connection broke: nothing more to send.
    Gone,
    /// We close, with this reason.
    Close(CloseReason),
}

impl Session {
    fn new(state: Arc<AppState>, ws: actix_ws::Session, caller: Authenticated) -> Self {
        let (tx, queue) = mpsc::channel(state.ws.outbound_queue);
        Self {
            id: state.hub.session_id(),
            caller,
            mailbox: Mailbox {
                tx,
                kick: Arc::new(Notify::new()),
            },
            state,
            ws,
            queue,
            subs: Vec::new(),
            last_seen: Instant::now(),
        }
    }

    async fn run(mut self, mut stream: actix_ws::AggregatedMessageStream) {
        let metrics = Arc::clone(&self.state.metrics);
        metrics
            .ws_sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut pulse = self.state.pulse.clone();
        let kick = Arc::clone(&self.mailbox.kick);
        let end = loop {
            tokio::select! {
                biased;
                () = kick.notified() => break self.slow_consumer(),
                changed = pulse.changed() => {
                    let p = *pulse.borrow_and_update();
                    if changed.is_err() || p.shutting_down {
                        break End::Close(CloseReason {
                            code: CloseCode::Away,
                            description: Some("server shutting down".into()),
                        });
                    }
                    // An idle subscription gets no delivery to expire its floor: the tick does.
                    for sub in &mut self.subs {
                        sub.expire_floor();
                    }
                    if self.last_seen.elapsed() > self.state.ws.client_timeout {
                        break End::Close(reason(close::IDLE_TIMEOUT, "no pong: idle timeout"));
                    }
                    // Checked on the node-wide tick: a token is honoured at most one ping
                    // interval past its expiry.
                    if self
                        .caller
                        .expires_at
                        .is_some_and(|exp| exp <= chrono::Utc::now().timestamp())
                    {
                        break End::Close(reason(close::TOKEN_EXPIRED, "token expired"));
                    }
                    let ping = tokio::select! {
                        biased;
                        () = kick.notified() => Err(self.slow_consumer()),
                        sent = self.ws.ping(b"") => sent.map_err(|_| End::Gone),
                    };
                    if let Err(end) = ping {
                        break end;
                    }
                }
                Some(delivery) = self.queue.recv() => {
                    if let Err(end) = self.deliver(&delivery).await {
                        break end;
                    }
                }
                msg = stream.next() => match msg {
                    None => break End::Gone,
                    Some(Ok(msg)) => {
                        self.last_seen = Instant::now();
                        // Boxed: subscribing (snapshot reads, store futures) is rare and large;
                        // inline it would size every idle session's task for it.
                        match Box::pin(self.on_client_message(msg)).await {
                            Ok(()) => {}
                            Err(end) => break end,
                        }
                    }
                    Some(Err(ProtocolError::Overflow)) => {
                        break End::Close(CloseReason {
                            code: CloseCode::Size,
                            description: Some(format!(
                                "frames are limited to {} bytes",
                                self.state.ws.max_frame_bytes
                            )),
                        });
                    }
                    Some(Err(e)) => {
                        tracing::debug!(session = self.id, error = %e, "websocket protocol error");
                        break End::Close(CloseReason {
                            code: CloseCode::Protocol,
                            description: Some("protocol error".into()),
                        });
                    }
                },
            }
        };
        for sub in &self.subs {
            self.state.hub.unsubscribe(&sub.topic, self.id);
        }
        metrics
            .ws_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let End::Close(reason) = end {
            // The close frame queues behind what the client has not read yet; give a slow
            // client a while to take it, then let the connection go without it.
            let _ = tokio::time::timeout(CLOSE_GRACE, self.ws.close(Some(reason))).await;
        }
    }

    /// Writes one delivery.
    async fn deliver(&mut self, d: &Delivery) -> Result<(), End> {
        if d.resync {
            // Boxed, like client messages in `run`: the snapshot path is the largest state of
            // this task, and an idle session should not carry its space.
            return Box::pin(self.reset(&d.topic)).await;
        }
        let Some(sub) = self.subscription(&d.topic) else {
            return Ok(()); // unsubscribed while it was queued
        };
        if sub.already_seen(&d.stream, d.to_seq) {
            return Ok(());
        }
        for frame in &*d.frames {
            self.send(frame.clone()).await?;
            Metrics::inc(&self.state.metrics.ws_frames_sent);
        }
        Ok(())
    }

    fn subscription(&mut self, topic: &str) -> Option<&mut Subscription> {
        self.subs.iter_mut().find(|s| &*s.topic == topic)
    }

    /// This node may have missed events of `name`: send a fresh snapshot with versions
    /// (`reset`) rather than let the client believe it saw everything.
    async fn reset(&mut self, name: &str) -> Result<(), End> {
        if self.subscription(name).is_none() {
            return Ok(());
        }
        let Ok(topic) = Topic::parse(name) else {
            return Ok(());
        };
        // Still registered with the hub: any snapshot read from now on is safe.
        match self.state.snapshots.read(&topic).await {
            Ok(Some(snapshot)) => {
                let frame = protocol::reset(name, snapshot.json.clone());
                if let Some(sub) = self.subscription(name) {
                    sub.floor = Some(snapshot);
                }
                self.send_snapshot(frame).await
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(session = self.id, topic = %name, error = %e, "reset snapshot failed");
                self.send_error(
                    None,
                    "unavailable",
                    "could not refresh a topic; resubscribe",
                )
                .await
            }
        }
    }

    /// Writes one frame. A write waits while the client does not read; the hub's kick for a
    /// slow consumer must still get through, so the two race.
    async fn send(&mut self, frame: bytestring::ByteString) -> Result<(), End> {
        tokio::select! {
            biased;
            () = self.mailbox.kick.notified() => Err(self.slow_consumer()),
            sent = self.ws.text(frame) => sent.map_err(|_| End::Gone),
        }
    }

    /// Writes a snapshot frame. A large one goes as continuation fragments of at most
    /// [`FRAGMENT`] bytes, yielding between them: the connection's write buffer then never
    /// grows to the whole snapshot (actix-http keeps a grown buffer for the connection's
    /// life, which for a big hotel's board would be ~40 KB per idle screen).
    async fn send_snapshot(&mut self, frame: protocol::SnapshotFrame) -> Result<(), End> {
        if frame.len() <= FRAGMENT {
            return self.send(frame.to_text()).await;
        }
        let mut items = vec![Item::FirstText(frame.head)];
        items.extend(protocol::fragments(&frame.snapshot, FRAGMENT).map(Item::Continue));
        items.push(Item::Last(Bytes::from_static(SnapshotFrame::TAIL)));
        for item in items {
            tokio::select! {
                biased;
                () = self.mailbox.kick.notified() => return Err(self.slow_consumer()),
                sent = self.ws.continuation(item) => sent.map_err(|_| End::Gone)?,
            }
            // Let the connection write this fragment before the next is queued behind it.
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    fn slow_consumer(&self) -> End {
        Metrics::inc(&self.state.metrics.ws_slow_consumer_disconnects);
        tracing::info!(session = self.id, "closing a slow consumer");
        End::Close(reason(close::SLOW_CONSUMER, "slow consumer, reconnect"))
    }

    async fn send_error(&mut self, id: Option<&Value>, code: &str, msg: &str) -> Result<(), End> {
        Metrics::inc(&self.state.metrics.ws_error_frames);
        self.send(protocol::error(id, code, msg)).await
    }

    async fn on_client_message(&mut self, msg: AggregatedMessage) -> Result<(), End> {
        match msg {
            AggregatedMessage::Text(text) => self.on_text(&text).await,
            AggregatedMessage::Binary(_) => {
                self.send_error(None, "bad_request", "frames are JSON text, not binary")
                    .await
            }
            AggregatedMessage::Ping(bytes) => self.ws.pong(&bytes).await.map_err(|_| End::Gone),
            AggregatedMessage::Pong(_) => Ok(()),
            AggregatedMessage::Close(reason) => {
                // Echo the close; actix-ws sends the close frame for us.
                Err(End::Close(reason.unwrap_or(CloseReason {
                    code: CloseCode::Normal,
                    description: None,
                })))
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let id = protocol::salvage_id(text);
                return self
                    .send_error(id.as_ref(), "bad_request", &format!("malformed frame: {e}"))
                    .await;
            }
        };
        match frame {
            ClientFrame::Ping { id } => self.send(protocol::pong(id.as_ref())).await,
            ClientFrame::Unsubscribe { topic, id } => {
                let Some(at) = self.subs.iter().position(|s| *s.topic == *topic) else {
                    return self
                        .send_error(
                            id.as_ref(),
                            "not_subscribed",
                            "not subscribed to that topic",
                        )
                        .await;
                };
                self.subs.swap_remove(at);
                self.state.hub.unsubscribe(&topic, self.id);
                self.send(protocol::unsubscribed(&topic, id.as_ref())).await
            }
            ClientFrame::Subscribe {
                topic,
                id,
                since: _,
            } => self.subscribe(&topic, id.as_ref()).await,
        }
    }

    async fn subscribe(&mut self, raw: &str, id: Option<&Value>) -> Result<(), End> {
        let topic = match Topic::parse(raw) {
            Ok(t) => t,
            Err(msg) => return self.send_error(id, "unknown_topic", &msg).await,
        };
        let name = topic.name();
        let property = match &topic {
            Topic::Rooms(pid) | Topic::Room(pid, _) => *pid,
        };
        match self.caller.principal.authorize(Action::RoomRead, property) {
            Ok(()) => {}
            // Another hotel's topic reads exactly like one that does not exist.
            Err(Denial::NotFound) => {
                return self
                    .send_error(id, "not_found", "no such property or room")
                    .await;
            }
            Err(Denial::Forbidden) => {
                return self
                    .send_error(id, "forbidden", "your role may not subscribe to this topic")
                    .await;
            }
        }
        if self.subscription(&name).is_some() {
            return self
                .send_error(id, "already_subscribed", "already subscribed to that topic")
                .await;
        }
        if self.subs.len() >= self.state.ws.max_subscriptions {
            return self
                .send_error(
                    id,
                    "too_many_subscriptions",
                    "unsubscribe from a topic first",
                )
                .await;
        }
        // Listen first (locally, and through the bus from other nodes), then read: see the
        // module docs.
        self.state
            .hub
            .subscribe(&name, self.id, self.mailbox.clone());
        self.state.bus.ready_for(&name).await;
        match self.state.snapshots.read(&topic).await {
            Ok(Some(snapshot)) => {
                let frame = protocol::subscribed(&name, id, snapshot.json.clone());
                self.subs.push(Subscription {
                    topic: name.into_boxed_str(),
                    floor: Some(snapshot),
                });
                self.send_snapshot(frame).await
            }
            Ok(None) => {
                self.state.hub.unsubscribe(&name, self.id);
                self.send_error(id, "not_found", "no such property or room")
                    .await
            }
            Err(e) => {
                self.state.hub.unsubscribe(&name, self.id);
                tracing::warn!(session = self.id, topic = %name, error = %e, "snapshot failed");
                self.send_error(id, "unavailable", "the store is unavailable; retry")
                    .await
            }
        }
    }
}

fn reason(code: u16, description: &str) -> CloseReason {
    CloseReason {
        code: CloseCode::Other(code),
        description: Some(description.into()),
    }
}
