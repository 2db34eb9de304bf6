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
//! while after the snapshot, instead of being sent twice.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::{
    hub::{Delivery, Mailbox, SessionId},
    protocol::{self, ClientFrame, Topic, close},
};
use crate::{
    auth::{AuthError, Authenticated},
    domain::{Action, Denial},
    http::{ApiError, access::bearer},
    metrics::Metrics,
    persistence::StoreError,
    state::AppState,
    views::RoomView,
};

/// How long after a snapshot deliveries are checked against its versions. A batch committed
/// before the snapshot was read is dispatched within microseconds of its commit; this only
/// bounds how long the check's memory is kept.
const SNAPSHOT_OVERLAP: Duration = Duration::from_secs(5);

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
    /// Versions from the snapshot, kept for [`SNAPSHOT_OVERLAP`] to drop duplicates.
    floor: Option<(Instant, HashMap<String, u64>)>,
}

struct Session {
    id: SessionId,
    /// Who is connected; every subscribe is checked against it.
    caller: Authenticated,
    state: Arc<AppState>,
    ws: actix_ws::Session,
    mailbox: Mailbox,
    queue: mpsc::Receiver<Arc<Delivery>>,
    subs: HashMap<String, Subscription>,
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
            subs: HashMap::new(),
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
                        match self.on_client_message(msg).await {
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
        for topic in self.subs.keys() {
            self.state.hub.unsubscribe(topic, self.id);
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
            return self.reset(&d.topic).await;
        }
        let Some(sub) = self.subs.get_mut(&*d.topic) else {
            return Ok(()); // unsubscribed while it was queued
        };
        if let Some((since, floor)) = &mut sub.floor {
            if since.elapsed() > SNAPSHOT_OVERLAP {
                sub.floor = None;
            } else if let Some(&version) = floor.get(&*d.stream) {
                if d.to_seq <= version {
                    return Ok(()); // already in the snapshot
                }
                // Later batches of this stream are all newer: stop checking it.
                floor.remove(&*d.stream);
            }
        }
        for frame in &*d.frames {
            self.send(frame.clone()).await?;
            Metrics::inc(&self.state.metrics.ws_frames_sent);
        }
        Ok(())
    }

    /// Writes one frame. A write waits while the client does not read; the hub's kick for a
    /// slow consumer must still get through, so the two race.
    /// This node may have missed events of `name`: send a fresh snapshot with versions
    /// (`reset`) rather than let the client believe it saw everything.
    async fn reset(&mut self, name: &str) -> Result<(), End> {
        if !self.subs.contains_key(name) {
            return Ok(());
        }
        let Ok(topic) = Topic::parse(name) else {
            return Ok(());
        };
        match self.snapshot(&topic).await {
            Ok(Some((snapshot, floor))) => {
                if let Some(sub) = self.subs.get_mut(name) {
                    sub.floor = Some((Instant::now(), floor));
                }
                self.send(protocol::reset(name, &snapshot)).await
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

    async fn send(&mut self, frame: bytestring::ByteString) -> Result<(), End> {
        tokio::select! {
            biased;
            () = self.mailbox.kick.notified() => Err(self.slow_consumer()),
            sent = self.ws.text(frame) => sent.map_err(|_| End::Gone),
        }
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
                if self.subs.remove(&topic).is_none() {
                    return self
                        .send_error(
                            id.as_ref(),
                            "not_subscribed",
                            "not subscribed to that topic",
                        )
                        .await;
                }
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
        if self.subs.contains_key(&name) {
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
        match self.snapshot(&topic).await {
            Ok(Some((snapshot, floor))) => {
                self.subs.insert(
                    name.clone(),
                    Subscription {
                        floor: Some((Instant::now(), floor)),
                    },
                );
                self.send(protocol::subscribed(&name, id, &snapshot)).await
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

    /// The current state of every entity of a topic, and the version of each stream.
    async fn snapshot(
        &self,
        topic: &Topic,
    ) -> Result<Option<(Value, HashMap<String, u64>)>, StoreError> {
        let store = &self.state.store;
        match topic {
            Topic::Rooms(pid) => {
                let Some(property) = store.property(*pid).await? else {
                    return Ok(None);
                };
                let rooms = store.rooms(*pid).await?;
                let floor = rooms.iter().map(|r| (r.id.stream(), r.version)).collect();
                let views: Vec<_> = rooms.iter().map(RoomView::of).collect();
                Ok(Some((
                    json!({ "property": property, "rooms": views }),
                    floor,
                )))
            }
            Topic::Room(pid, number) => {
                let Some(room) = store.room(*pid, number).await? else {
                    return Ok(None);
                };
                let floor = HashMap::from([(room.id.stream(), room.version)]);
                Ok(Some((json!({ "room": RoomView::of(&room) }), floor)))
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
