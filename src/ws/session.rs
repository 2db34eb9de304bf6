//! One WebSocket connection, from the upgrade to the close, driven by one small task.
//!
//! `GET /ws` upgrades are taken over before routing (actix-http's upgrade hook, wired in
//! `startup`): [`upgrade`] authenticates, answers `101` and spawns the session's task on the
//! same worker; the HTTP dispatcher and its buffers are then gone. The session owns the socket
//! and does its own framing (`wire`). This replaced actix-ws, whose per-connection stack — the
//! dispatcher's fixed 8 KiB read and write buffers, its task, a channel — cost about 25 KiB per
//! idle connection and four task hops per frame on the 100k-connection run (see the README).
//!
//! The task waits on three things at once, without a timer of its own:
//! - its [`Outbox`]: deliveries from the hub, and signals from the node (heartbeat tick,
//!   shutdown, slow-consumer kick);
//! - the socket turning writable, while frames wait for it;
//! - the socket turning readable — only while nothing waits to be written, so a client that
//!   does not read its answers cannot make us buffer more of them.
//!
//! Frames the hub shares are written as they are, several per system call. A session that
//! cannot keep up stops taking deliveries; its outbox fills to the cap and the hub kicks it.
//!
//! Subscribing to a state topic registers with the hub **first** and reads the snapshot
//! **second**, so no committed change can fall between them. Events that were already part of
//! the snapshot (seq ≤ the snapshot version of their stream) are then skipped, for a short
//! while after the snapshot, instead of being sent twice. Sessions subscribing together share
//! one snapshot read (see `snapshots`), so a reconnecting floor of screens costs one query.

use std::{
    collections::VecDeque,
    future::poll_fn,
    io::{self, IoSlice},
    sync::{Arc, atomic::Ordering::Relaxed},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use actix_codec::Framed;
use actix_http::{
    Request, h1,
    ws::{CloseCode, HandshakeError, OpCode, hash_key, verify_handshake},
};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, ResponseError as _, web};
use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::{io::AsyncWriteExt as _, net::TcpStream};

mod chat;

use super::{
    hub::{Mailbox, SessionId},
    outbox::{Delivery, Outbox, signal},
    protocol::{self, ClientFrame, SnapshotFrame, Topic, close},
    snapshots::Snapshot,
    wire::{self, Incoming},
};
use crate::{
    api_error::ApiError,
    auth::bearer_of,
    auth::{AuthError, Authenticated},
    domain::{Action, Denial},
    state::AppState,
};

/// How long after a snapshot deliveries are checked against its versions. A batch committed
/// before the snapshot was read is dispatched within microseconds of its commit; this only
/// bounds how long the check's memory is kept.
const SNAPSHOT_OVERLAP: Duration = Duration::from_secs(5);

/// How long a closing connection may take to write its close frame and hear the client's.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Deliveries handled before the task looks at the socket again.
const DELIVERY_BATCH: usize = 64;

/// Buffers handed to one `writev`.
const WRITE_BATCH: usize = 32;

/// Answers waiting for the socket before the session stops handling a client's requests (a
/// client that floods pings and reads nothing would otherwise grow `out` without bound).
const ANSWERS_WAITING: usize = 64;

/// The upgrade hook: every HTTP/1.1 request asking for a protocol upgrade lands here, with the
/// connection. Only `GET /ws` with a valid credential and handshake is upgraded; anything else
/// gets the same JSON error the API answers with, and the connection closes.
///
/// The credential comes as `Authorization: Bearer …` or, for browsers (which cannot set
/// headers on a WebSocket), as `?token=…`.
pub async fn upgrade(
    state: Arc<AppState>,
    req: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error> {
    let parts = framed.into_parts();
    let mut io = parts.io;
    match accept(&state, &req).await {
        Ok((caller, key)) => {
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\
                 connection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                String::from_utf8_lossy(&key)
            );
            if io.write_all(head.as_bytes()).await.is_err() {
                return Ok(());
            }
            state.metrics.record_http_status(101);
            let Some(place) = state.ws_caps.acquire(&caller.principal) else {
                tracing::info!("refusing a socket past its credential's cap");
                let refused = async {
                    io.write_all(&wire::close(
                        CloseCode::Other(close::TOO_MANY_SOCKETS),
                        "too many sockets for this credential",
                    ))
                    .await?;
                    wire::linger(&mut io).await
                };
                let _ = tokio::time::timeout(CLOSE_GRACE, refused).await;
                return Ok(());
            };
            if let Err(e) = tune(&io, &state.ws) {
                tracing::debug!(error = %e, "could not tune a websocket socket");
            }
            // Frames a client sent right behind its handshake are already read.
            let session = Session::new(state, io, caller, parts.read_buf, place);
            // Its own task on this worker: the HTTP dispatcher's task ends here and frees its
            // buffers. Shutdown waits for sessions through the hub, not through actix-server.
            actix_rt::spawn(session.run());
        }
        Err(e) => {
            state.metrics.record_http_status(e.status_code().as_u16());
            refuse(io, &e).await;
        }
    }
    Ok(())
}

/// Checks an upgrade request; the accept key for the `101` when it may go ahead.
async fn accept(state: &AppState, req: &Request) -> Result<(Authenticated, [u8; 28]), ApiError> {
    if req.path() != "/ws" {
        return Err(ApiError::NotFound {
            code: "not_found",
            message: "no such route".into(),
        });
    }
    let caller = authenticate(state, req.headers(), req.uri().query()).await?;
    verify_handshake(req.head()).map_err(|e| ApiError::BadRequest {
        code: "bad_handshake",
        message: handshake_message(e),
    })?;
    let key = req
        .headers()
        .get(actix_http::header::SEC_WEBSOCKET_KEY)
        .map(|k| hash_key(k.as_bytes()))
        .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    Ok((caller, key))
}

fn handshake_message(e: HandshakeError) -> String {
    format!("not a WebSocket handshake: {e}")
}

/// The caller of a `/ws` request, by header or `?token=`.
async fn authenticate(
    state: &AppState,
    headers: &actix_http::header::HeaderMap,
    query: Option<&str>,
) -> Result<Authenticated, ApiError> {
    #[derive(serde::Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    let token = bearer_of(headers).or_else(|| {
        web::Query::<TokenQuery>::from_query(query.unwrap_or_default())
            .ok()
            .and_then(|q| q.into_inner().token)
    });
    Ok(match token {
        None => Err(AuthError::Missing),
        Some(t) => state.auth.authenticate(&t).await,
    }?)
}

/// `GET /ws` without `Connection: upgrade` reaches the router: it is answered like a failed
/// upgrade (401 without a credential, 400 with one).
pub async fn not_upgraded(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&state, req.headers(), Some(req.query_string())).await?;
    Err(ApiError::BadRequest {
        code: "bad_handshake",
        message: handshake_message(HandshakeError::NoConnectionUpgrade),
    })
}

/// Writes an API error as a plain HTTP/1.1 response and closes.
async fn refuse(mut io: TcpStream, e: &ApiError) {
    let response = e.error_response();
    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    for (name, value) in response.headers() {
        if let Ok(value) = value.to_str() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let _ = io.write_all(head.as_bytes()).await;
    let _ = io.write_all(&body).await;
    let _ = io.shutdown().await;
}

/// Socket options of an upgraded connection.
fn tune(io: &TcpStream, ws: &crate::config::WsConfig) -> io::Result<()> {
    // Frames are written whole; Nagle would only hold small ones back.
    io.set_nodelay(true)?;
    // A fixed send buffer instead of the kernel's autotuning (up to 4 MB): a client that stops
    // reading fills it soon, its outbox then reaches the cap and it is closed as a slow
    // consumer, instead of the kernel quietly buffering megabytes for it.
    if ws.send_buffer > 0 {
        socket2::SockRef::from(io).set_send_buffer_size(ws.send_buffer)?;
    }
    Ok(())
}

/// Per-subscription state.
struct Subscription {
    topic: Box<str>,
    /// The snapshot this subscription started from (shared with the sessions that subscribed
    /// together), kept for [`SNAPSHOT_OVERLAP`] to drop events it already contained.
    floor: Option<Arc<Snapshot>>,
    /// Set for `chat:<cid>` subscriptions.
    chat: Option<chat::ChatSub>,
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
    outbox: Mailbox,
    /// A handful at most (the limit is `max_subscriptions`): a vector beats a map here.
    subs: Vec<Subscription>,
    last_seen: Instant,
    io: TcpStream,
    /// What the client sent and we have not handled yet.
    inbound: wire::Inbound,
    /// This socket's place under its credential's cap, given back when the session ends.
    _place: crate::ws::caps::Held,
    /// Frames waiting for the socket; empty and unallocated while the client keeps up.
    out: VecDeque<Bytes>,
    /// Bytes of `out`'s first buffer already written.
    written: usize,
    /// Read before deliveries on the next wake-up: set when a whole batch of deliveries was
    /// taken and more wait, so a busy topic cannot starve a client's own requests. Otherwise
    /// deliveries go first: what was committed before a client's request was read is sent
    /// before the answer (a `ping` works as a barrier).
    read_first: bool,
    /// Frames are being gathered for one `writev` (see `on_deliveries`).
    gather: bool,
    /// `input` holds requests not handled yet because answers are waiting for the socket.
    input_waiting: bool,
}

/// What woke the task.
enum Wake {
    Signals(u8),
    /// Requests already read can be handled again (their answers went out).
    Input,
    Deliveries,
    Writable,
    Readable,
}

/// Why the session ended.
enum End {
    /// The client closed the connection or it broke: nothing more to send.
    Gone,
    /// We close (or answer the client's close) with this code and reason.
    Close(CloseCode, String),
}

fn close_with(code: u16, reason: &str) -> End {
    End::Close(CloseCode::Other(code), reason.to_owned())
}

impl Session {
    fn new(
        state: Arc<AppState>,
        io: TcpStream,
        caller: Authenticated,
        early: BytesMut,
        place: crate::ws::caps::Held,
    ) -> Self {
        // The dispatcher's 8 KiB read buffer is kept only if it holds early frames.
        let inbound = wire::Inbound::new(early, state.ws.max_frame_bytes);
        Self {
            id: state.hub.session_id(),
            caller,
            outbox: Arc::new(Outbox::new(state.ws.outbound_queue)),
            state,
            subs: Vec::new(),
            last_seen: Instant::now(),
            io,
            inbound,
            _place: place,
            out: VecDeque::new(),
            written: 0,
            read_first: false,
            gather: false,
            input_waiting: false,
        }
    }

    async fn run(mut self) {
        let metrics = Arc::clone(&self.state.metrics);
        metrics.ws_sessions.fetch_add(1, Relaxed);
        self.state.hub.register(self.id, Arc::clone(&self.outbox));
        let end = self.serve().await;
        for sub in &self.subs {
            self.state.hub.unsubscribe(&sub.topic, self.id);
            if let Some(c) = sub.chat.as_ref().filter(|c| c.side == chat::Side::Guest) {
                self.guest_present(c.cid, false);
            }
        }
        self.outbox.close();
        metrics.ws_sessions.fetch_sub(1, Relaxed);
        let (hub, id) = (Arc::clone(&self.state.hub), self.id);
        self.finish(end).await;
        // Last: a node shutting down waits for this, so close frames get out first.
        hub.deregister(id);
    }

    async fn serve(&mut self) -> End {
        if self.inbound.has_input()
            && let Err(end) = self.on_input().await
        {
            return end;
        }
        loop {
            if self.flush().is_err() {
                return End::Gone;
            }
            let step = match poll_fn(|cx| self.poll_wake(cx)).await {
                // Boxed: a tick may ask the store about the credential (rarely: API keys).
                Wake::Signals(bits) => Box::pin(self.on_signals(bits)).await,
                Wake::Deliveries => self.on_deliveries().await,
                Wake::Writable => Ok(()),
                Wake::Input => {
                    self.input_waiting = false;
                    self.on_input().await
                }
                Wake::Readable => {
                    self.read_first = false;
                    self.on_readable().await
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let idle = self.out.is_empty();
        if idle && self.input_waiting {
            return Poll::Ready(Wake::Input);
        }
        if idle && self.read_first && self.io.poll_read_ready(cx).is_ready() {
            return Poll::Ready(Wake::Readable);
        }
        if let Poll::Ready(bits) = self.outbox.poll(cx, idle) {
            return Poll::Ready(if bits == 0 {
                Wake::Deliveries
            } else {
                Wake::Signals(bits)
            });
        }
        if !idle {
            // An error shows up on the next write.
            return self.io.poll_write_ready(cx).map(|_| Wake::Writable);
        }
        self.io.poll_read_ready(cx).map(|_| Wake::Readable)
    }

    async fn on_signals(&mut self, bits: u8) -> Result<(), End> {
        if bits & signal::KICK != 0 {
            return Err(self.slow_consumer());
        }
        if bits & signal::SHUTDOWN != 0 {
            return Err(End::Close(CloseCode::Away, "server shutting down".into()));
        }
        if bits & signal::TICK != 0 {
            // An idle subscription gets no delivery to expire its floor: the tick does.
            for sub in &mut self.subs {
                sub.expire_floor();
            }
            for sub in &self.subs {
                if let Some(c) = sub.chat.as_ref().filter(|c| c.side == chat::Side::Guest) {
                    self.guest_present(c.cid, true);
                }
            }
            if self.last_seen.elapsed() > self.state.ws.client_timeout {
                return Err(close_with(close::IDLE_TIMEOUT, "no pong: idle timeout"));
            }
            // Checked on the node-wide tick: a token is honoured at most one ping interval
            // past its expiry.
            if self
                .caller
                .expires_at
                .is_some_and(|exp| exp <= chrono::Utc::now().timestamp())
            {
                return Err(close_with(close::TOKEN_EXPIRED, "token expired"));
            }
            // An API key can be revoked while its socket is open; the store knows, on every
            // node. A store outage keeps the session (it is not a revocation).
            if matches!(
                self.caller.principal,
                crate::domain::Principal::ApiKey { .. }
            ) {
                match self.state.auth.still_valid(&self.caller).await {
                    Ok(false) => {
                        return Err(close_with(close::CREDENTIAL_REVOKED, "credential revoked"));
                    }
                    Ok(true) => {}
                    Err(e) => {
                        tracing::debug!(session = self.id, error = %e, "credential check skipped");
                    }
                }
            }
            self.write(&[Bytes::from_static(wire::PING)]);
        }
        Ok(())
    }

    /// Takes deliveries while the socket keeps up; the rest wait in the outbox (where they
    /// count towards the slow-consumer cap).
    ///
    /// When several are waiting (the node is busy, or this topic is), they are gathered and
    /// go out in one `writev` at the next flush instead of one system call each: the busier
    /// the node, the fewer calls per frame.
    async fn on_deliveries(&mut self) -> Result<(), End> {
        self.gather = self.outbox.len() > 1;
        let mut result = Ok(());
        let mut taken = 0;
        for _ in 0..DELIVERY_BATCH {
            if !self.gather && !self.out.is_empty() {
                break; // the socket is full
            }
            let Some(delivery) = self.outbox.pop() else {
                break;
            };
            taken += 1;
            result = self.deliver(&delivery).await;
            if result.is_err() {
                break;
            }
        }
        self.gather = false;
        self.read_first = taken == DELIVERY_BATCH && !self.outbox.is_empty();
        result
    }

    /// Writes one delivery.
    async fn deliver(&mut self, d: &Delivery) -> Result<(), End> {
        if d.resync {
            // Boxed: the snapshot path is the largest state of this task, and an idle session
            // should not carry its space.
            return Box::pin(self.reset(&d.topic)).await;
        }
        let Some(sub) = self.subscription(&d.topic) else {
            return Ok(()); // unsubscribed while it was queued
        };
        if sub.already_seen(&d.stream, d.to_seq) {
            return Ok(());
        }
        // Chat messages reaching a device of their recipient's side are delivered.
        let delivered = match &sub.chat {
            Some(c) => Some((c.cid, c.side)),
            None if sub.topic.starts_with("inbox:") => d
                .stream
                .strip_prefix("conversation:")
                .and_then(|c| c.parse().ok())
                .map(|cid| (cid, chat::Side::Staff)),
            None => None,
        };
        self.write(&d.frames);
        if let Some((cid, side)) = delivered
            && d.to_seq > 0
        {
            self.mark_delivered(cid, side, d.to_seq);
        }
        self.state
            .metrics
            .ws_frames_sent
            .fetch_add(d.frames.len() as u64, Relaxed);
        Ok(())
    }

    fn subscription(&mut self, topic: &str) -> Option<&mut Subscription> {
        self.subs.iter_mut().find(|s| &*s.topic == topic)
    }

    /// Sends whole frames: at once if nothing is waiting (the usual case, no copy and no
    /// allocation), and whatever the socket does not take now waits in `out`.
    fn write(&mut self, bufs: &[Bytes]) {
        let mut done = 0;
        if self.out.is_empty() && !self.gather {
            let slices: Vec<IoSlice<'_>>;
            let n = if let [one] = bufs {
                self.io.try_write(one)
            } else {
                slices = bufs.iter().map(|b| IoSlice::new(b)).collect();
                self.io.try_write_vectored(&slices)
            };
            // Errors (other than would-block) show up again on the next flush.
            done = n.unwrap_or(0);
        }
        for b in bufs {
            if done >= b.len() {
                done -= b.len();
                continue;
            }
            self.out.push_back(b.clone());
            if done > 0 {
                self.written = done;
                done = 0;
            }
        }
    }

    /// Writes what waits in `out` until the socket would block.
    fn flush(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            let mut slices = [IoSlice::new(&[]); WRITE_BATCH];
            let mut n = 0;
            for (slot, b) in slices.iter_mut().zip(&self.out) {
                *slot = IoSlice::new(if n == 0 { &b[self.written..] } else { b });
                n += 1;
            }
            let mut wrote = match self.io.try_write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            while wrote > 0 {
                let left = self.out[0].len() - self.written;
                if wrote < left {
                    self.written += wrote;
                    break;
                }
                wrote -= left;
                self.out.pop_front();
                self.written = 0;
            }
        }
        // An idle connection keeps no buffer.
        self.out = VecDeque::new();
        self.written = 0;
        Ok(())
    }

    /// Reads what the client sent (a bite at a time) and handles every whole message.
    async fn on_readable(&mut self) -> Result<(), End> {
        let eof = self.inbound.read_from(&self.io).map_err(|_| End::Gone)?;
        self.on_input().await?;
        if eof { Err(End::Gone) } else { Ok(()) }
    }

    async fn on_input(&mut self) -> Result<(), End> {
        loop {
            if self.out.len() >= ANSWERS_WAITING {
                // The client is not reading our answers: handle the rest once it has.
                self.input_waiting = true;
                break;
            }
            let msg = match self.inbound.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(session = self.id, error = %e, "websocket protocol error");
                    let (code, reason) = e.close();
                    return Err(End::Close(code, reason));
                }
            };
            self.last_seen = Instant::now();
            // Boxed: subscribing (snapshot reads, store futures) is rare and large; inline it
            // would size every idle session's task for it.
            Box::pin(self.on_message(msg)).await?;
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Incoming) -> Result<(), End> {
        match msg {
            Incoming::Text(text) => self.on_text(&text).await,
            Incoming::Binary(_) => {
                self.send_error(None, "bad_request", "frames are JSON text, not binary")
            }
            Incoming::Ping(payload) => {
                self.write(&[wire::frame(OpCode::Pong, &payload)]);
                Ok(())
            }
            Incoming::Pong => Ok(()),
            // Answered with the same code, as RFC 6455 asks.
            Incoming::Close(reason) => Err(match reason {
                Some(r) => End::Close(r.code, String::new()),
                None => End::Close(CloseCode::Normal, String::new()),
            }),
        }
    }

    /// Writes the close frame behind whatever is still waiting, lets the client answer, and
    /// lets the connection go — within [`CLOSE_GRACE`] either way.
    async fn finish(mut self, end: End) {
        let End::Close(code, reason) = end else {
            return;
        };
        self.out.push_back(wire::close(code, &reason));
        let closing = async {
            loop {
                self.flush()?;
                if self.out.is_empty() {
                    break;
                }
                self.io.writable().await?;
            }
            wire::linger(&mut self.io).await
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, closing).await;
    }

    /// Sends a small text frame.
    fn send(&mut self, text: &bytestring::ByteString) -> Result<(), End> {
        self.write(&[wire::text(text.as_bytes())]);
        Ok(())
    }

    /// Sends a snapshot frame as one frame straight from the shared snapshot bytes.
    fn send_snapshot(&mut self, frame: SnapshotFrame) -> Result<(), End> {
        let (header, n) = wire::header(OpCode::Text, frame.len());
        self.write(&[
            Bytes::copy_from_slice(&header[..n]),
            frame.head,
            frame.snapshot,
            Bytes::from_static(SnapshotFrame::TAIL),
        ]);
        Ok(())
    }

    fn slow_consumer(&self) -> End {
        crate::metrics::Metrics::inc(&self.state.metrics.ws_slow_consumer_disconnects);
        tracing::info!(session = self.id, "closing a slow consumer");
        close_with(close::SLOW_CONSUMER, "slow consumer, reconnect")
    }

    fn send_error(&mut self, id: Option<&Value>, code: &str, msg: &str) -> Result<(), End> {
        crate::metrics::Metrics::inc(&self.state.metrics.ws_error_frames);
        self.send(&protocol::error(id, code, msg))
    }

    /// This node may have missed events of `name`: send a fresh snapshot with versions
    /// (`reset`) rather than let the client believe it saw everything.
    async fn reset(&mut self, name: &str) -> Result<(), End> {
        let Some(sub) = self.subscription(name) else {
            return Ok(());
        };
        if let Some((cid, side)) = sub.chat.as_ref().map(|c| (c.cid, c.side)) {
            return self.reset_chat(name, cid, side).await;
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
                self.send_snapshot(frame)
            }
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(session = self.id, topic = %name, error = %e, "reset snapshot failed");
                self.send_error(
                    None,
                    "unavailable",
                    "could not refresh a topic; resubscribe",
                )
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        // What the stores cannot hold is refused here, as HTTP refuses it (domain::text).
        if crate::domain::text::may_hold_nul(text.as_bytes())
            && let Ok(value) = serde_json::from_str::<Value>(text)
            && let Some(field) = crate::domain::text::nul_field(&value)
        {
            return self.send_error(
                value.get("id"),
                "bad_request",
                &crate::domain::text::nul_message(&field),
            );
        }
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let id = protocol::salvage_id(text);
                return self.send_error(
                    id.as_ref(),
                    "bad_request",
                    &format!("malformed frame: {e}"),
                );
            }
        };
        match frame {
            ClientFrame::Ping { id } => self.send(&protocol::pong(id.as_ref())),
            ClientFrame::Send {
                topic,
                body,
                id,
                key,
                kind,
            } => {
                self.send_message(&topic, id.as_ref(), body, key, kind)
                    .await
            }
            ClientFrame::Typing { topic, id } => self.typing(&topic, id.as_ref()).await,
            ClientFrame::Read { topic, seq, id } => self.read(&topic, seq, id.as_ref()).await,
            ClientFrame::Unsubscribe { topic, id } => {
                // Clients name topics publicly; a guest's chat listens on its side's hub topic.
                let Some(at) = self
                    .subs
                    .iter()
                    .position(|s| protocol::public_name(&s.topic) == topic)
                else {
                    return self.send_error(
                        id.as_ref(),
                        "not_subscribed",
                        "not subscribed to that topic",
                    );
                };
                let sub = self.subs.swap_remove(at);
                self.state.hub.unsubscribe(&sub.topic, self.id);
                if let Some(c) = sub.chat.as_ref().filter(|c| c.side == chat::Side::Guest) {
                    self.guest_present(c.cid, false);
                }
                self.send(&protocol::unsubscribed(&topic, id.as_ref()))
            }
            ClientFrame::Subscribe { topic, id, since } => {
                self.subscribe(&topic, id.as_ref(), since).await
            }
        }
    }

    async fn subscribe(
        &mut self,
        raw: &str,
        id: Option<&Value>,
        since: Option<Value>,
    ) -> Result<(), End> {
        let topic = match Topic::parse(raw) {
            Ok(t) => t,
            Err(msg) => return self.send_error(id, "unknown_topic", &msg),
        };
        // A stream topic: exact resume by seq, and a snapshot that depends on the side.
        if let Topic::Chat(cid) = topic {
            return self.subscribe_chat(cid, id, since).await;
        }
        let name = topic.name();
        // A guest follows their own reservation and nothing else.
        let mut own_stay = false;
        let (property, action) = match &topic {
            Topic::Rooms(pid) | Topic::Room(pid, _) => (*pid, Action::RoomRead),
            Topic::Reservations(pid) | Topic::Availability(pid) => (*pid, Action::ReservationRead),
            Topic::Reservation(rid) => match self.state.store.reservation(*rid).await {
                Ok(Some(r)) => {
                    own_stay = self.caller.principal.is_guest_of(rid.0, r.property_id);
                    (r.property_id, Action::ReservationRead)
                }
                Ok(None) => return self.send_error(id, "not_found", "no such reservation"),
                Err(_) => return self.send_error(id, "unavailable", "the store is unavailable"),
            },
            Topic::Tasks(pid) => (*pid, Action::TaskManage),
            Topic::Inbox(pid) => (*pid, Action::Chat),
            Topic::Tables(vid) => match self.state.store.venue(*vid).await {
                Ok(Some(v)) => (v.property_id, Action::TableService),
                Ok(None) => return self.send_error(id, "not_found", "no such venue"),
                Err(_) => return self.send_error(id, "unavailable", "the store is unavailable"),
            },
            Topic::Chat(_) => return Ok(()),
            Topic::UserTasks(user) => match self.state.store.user(*user).await {
                Ok(Some(u)) => {
                    let Some(pid) = u.property_id else {
                        return self.send_error(id, "not_found", "no such queue");
                    };
                    (pid, self.caller.principal.queue_reading(*user))
                }
                Ok(None) => return self.send_error(id, "not_found", "no such queue"),
                Err(_) => return self.send_error(id, "unavailable", "the store is unavailable"),
            },
        };
        let allowed = if own_stay {
            Ok(())
        } else {
            self.caller.principal.authorize(action, property)
        };
        match allowed {
            Ok(()) => {}
            // Another hotel's topic reads exactly like one that does not exist.
            Err(Denial::NotFound) => {
                return self.send_error(id, "not_found", "no such property or room");
            }
            Err(Denial::Forbidden) => {
                return self.send_error(
                    id,
                    "forbidden",
                    "your role may not subscribe to this topic",
                );
            }
        }
        if self.subscription(&name).is_some() {
            return self.send_error(id, "already_subscribed", "already subscribed to that topic");
        }
        if self.subs.len() >= self.state.ws.max_subscriptions {
            return self.send_error(
                id,
                "too_many_subscriptions",
                "unsubscribe from a topic first",
            );
        }
        // Listen first (locally, and through the bus from other nodes), then read: see the
        // module docs.
        self.state
            .hub
            .subscribe(&name, self.id, Arc::clone(&self.outbox));
        self.state.bus.ready_for(&name).await;
        match self.state.snapshots.read(&topic).await {
            Ok(Some(snapshot)) => {
                let frame = protocol::subscribed(&name, id, snapshot.json.clone());
                self.subs.push(Subscription {
                    topic: name.into_boxed_str(),
                    floor: Some(snapshot),
                    chat: None,
                });
                self.send_snapshot(frame)
            }
            Ok(None) => {
                self.state.hub.unsubscribe(&name, self.id);
                self.send_error(id, "not_found", "no such property or room")
            }
            Err(e) => {
                self.state.hub.unsubscribe(&name, self.id);
                tracing::warn!(session = self.id, topic = %name, error = %e, "snapshot failed");
                self.send_error(id, "unavailable", "the store is unavailable; retry")
            }
        }
    }
}
