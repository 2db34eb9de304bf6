//! [`Application`]: builds a node from a [`Config`] and runs it until stopped.
//!
//! `main` and every test use the same three steps — `build`, `port`, `run_until_stopped` —
//! so tests exercise the real server on port 0.
//!
//! Shutdown is graceful: sessions are told first (they close with 1001 "going away"), then
//! the HTTP server stops accepting and waits for in-flight requests — including commands
//! waiting on their commit — then every actor finishes what is queued to it, and only then
//! does the store go away.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_http::{HttpService, Request, h1};
use actix_service::{fn_service, map_config};
use actix_web::{
    App,
    dev::{AppConfig, Service as _},
    web,
};
use anyhow::Context;
use tokio::sync::{Notify, watch};

use secrecy::{ExposeSecret as _, SecretString};

use crate::{
    actors::Actors,
    auth::{AuthService, LoginLimiter, TokenIssuer},
    config::Config,
    demo,
    events::{Bus, LocalBus},
    http,
    metrics::Metrics,
    persistence,
    state::{AppState, Pulse},
    ws::{hub::Hub, redis_bus::RedisBus, snapshots::Snapshots},
};

/// A built, not yet running, node.
pub struct Application {
    port: u16,
    server: actix_server::Server,
    state: web::Data<AppState>,
    pulse: watch::Sender<Pulse>,
    stop: Arc<Notify>,
    ping_interval: Duration,
    shutdown_timeout: Duration,
    mailer: crate::mail::Mailer,
}

/// Asks a running [`Application`] to shut down gracefully. Cloneable.
#[derive(Clone)]
pub struct ShutdownHandle(Arc<Notify>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        // `notify_one` keeps a permit if nobody waits yet, so an early call is not lost.
        self.0.notify_one();
    }
}

impl Application {
    /// Opens the store (applying migrations), starts the actor registry, seeds the demo hotel
    /// if asked, and binds the listener. Must run inside an actix System (`#[actix_web::main]`
    /// or `#[actix_web::test]`).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = persistence::open(&config.database).await?;
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(Arc::clone(&metrics)));
        // One Redis client and connection manager per node, shared by the bus and the login
        // limiter; without REDIS_URL the node is alone and its bus is in-process.
        let redis = match &config.redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        let redis_bus = redis.as_ref().map(|(_, conn)| {
            RedisBus::start(
                conn.clone(),
                config.redis_prefix.clone(),
                hub.clone(),
                Arc::clone(&metrics),
            )
        });
        let bus: Arc<dyn Bus> = match &redis_bus {
            Some(b) => Arc::clone(b) as Arc<dyn Bus>,
            None => Arc::new(LocalBus::new(hub.clone())),
        };
        let actors = Actors::start(
            Arc::clone(&store),
            Arc::clone(&bus),
            Arc::clone(&metrics),
            config.actors.clone(),
        );
        let auth = AuthService::new(
            Arc::clone(&store),
            TokenIssuer::new(&config.auth.jwt_secret, config.auth.access_ttl),
            LoginLimiter::new(
                config.auth.login_limits,
                redis
                    .as_ref()
                    .map(|(_, conn)| (conn.clone(), config.redis_prefix.clone())),
            ),
            config.auth.refresh_ttl,
        );
        if let Some((email, password)) = &config.auth.admin {
            auth.ensure_admin(email, password.expose_secret()).await?;
        }
        if config.demo {
            demo::seed_if_empty(store.as_ref(), &actors, &auth)
                .await
                .context("seeding the demo hotel")?;
        }
        let (pulse, pulse_rx) = watch::channel(Pulse::default());
        if let (Some(bus), Some((client, _))) = (&redis_bus, redis) {
            bus.spawn_subscriber(
                client,
                vec![Arc::clone(&hub) as _, Arc::new(actors.clone()) as _],
                pulse_rx,
            );
        }
        let state = web::Data::new(AppState {
            snapshots: Snapshots::new(Arc::clone(&store)),
            store,
            bus,
            hub,
            actors,
            auth,
            metrics,
            http: config.http.clone(),
            ws: config.ws.clone(),
            requests: crate::state::RequestsRunning::default(),
            ws_caps: crate::ws::caps::SocketCaps::new(
                config.ws.max_per_user,
                config.ws.max_per_guest,
            ),
        });

        // Built now so that a bad SMTP_URL or sender address stops the start, not the first
        // email.
        let mailer = crate::mail::Mailer::new(
            Arc::clone(&state.store),
            config.email.clone(),
            TokenIssuer::new(&config.auth.jwt_secret, config.auth.access_ttl),
        )?;

        let listener = bind(config.addr).with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr()?;
        let server = serve(listener, &state, &config)?;

        tracing::info!(
            %addr,
            store = state.store.backend(),
            bus = state.bus.name(),
            "bellhop listening"
        );
        if let Ok(properties) = state.store.properties().await {
            for p in properties.iter().take(3) {
                tracing::info!(
                    "property {:?}: board at http://{addr}/api/v1/properties/{}/rooms, live on \
                     ws://{addr}/ws?token=<access token from POST /api/v1/auth/login> with \
                     {{\"op\":\"subscribe\",\"topic\":\"rooms:{}\"}}",
                    p.name,
                    p.id,
                    p.id
                );
            }
        }
        Ok(Self {
            port: addr.port(),
            server,
            state,
            pulse,
            stop: Arc::new(Notify::new()),
            ping_interval: config.ws.ping_interval,
            shutdown_timeout: config.shutdown_timeout,
            mailer,
        })
    }

    /// The bound port (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    #[must_use]
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.stop))
    }

    /// Serves until SIGINT/SIGTERM or a [`ShutdownHandle`], then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            server,
            state,
            pulse,
            stop,
            ping_interval,
            shutdown_timeout,
            mailer,
            ..
        } = self;
        let (stop_mail, mail_stopped) = watch::channel(false);
        // The outbox's mailer, watched like the jobs below (it returns once told to stop).
        let mail = watch_job(&state, "outbox", move || {
            mailer.clone().run(mail_stopped.clone())
        });
        // Each job is watched: a panic is logged, counted and the job started again.
        let hub = Arc::clone(&state.hub);
        let ticker = watch_job(&state, "heartbeat", move || {
            heartbeat(Arc::clone(&hub), ping_interval)
        });
        let hub = Arc::clone(&state.hub);
        let gaps = watch_job(&state, "release_gaps", move || {
            release_gaps(Arc::clone(&hub))
        });
        let r = state.actors.reservations.clone();
        let audits = watch_job(&state, "night_audit", move || night_audits(r.clone()));
        let t = state.actors.tasks.clone();
        let escalations = watch_job(&state, "escalations", move || escalations(t.clone()));
        let c = state.actors.conversations.clone();
        let fallbacks = watch_job(&state, "chat_fallback", move || chat_fallbacks(c.clone()));
        let s = Arc::clone(&state.store);
        let request_keys = watch_job(&state, "request_keys", move || {
            prune_request_keys(Arc::clone(&s))
        });
        let server_handle = server.handle();
        tokio::pin!(server);
        let result = tokio::select! {
            res = &mut server => res.context("HTTP server failed"),
            why = stop_requested(&stop) => {
                tracing::info!(reason = why, "shutting down");
                // 1. Sessions close with "going away" (clients reconnect elsewhere), and the
                //    node waits until their close frames are out.
                pulse.send_modify(|p| p.shutting_down = true);
                state.hub.shut_down_sessions();
                drain_sessions(&state.hub, shutdown_timeout).await;
                // 2. Stop accepting; wait for in-flight requests (and their commits). The
                //    server future itself processes the stop command, so poll both.
                let ((), res) = tokio::join!(server_handle.stop(true), &mut server);
                res.context("HTTP server failed while stopping")
            }
        };
        ticker.abort();
        gaps.abort();
        audits.abort();
        escalations.abort();
        fallbacks.abort();
        request_keys.abort();
        // 3. Every actor handles what is queued to it, then stops.
        state.actors.shutdown().await;
        // 4. The mail worker finishes the email it is sending; the rest wait in the outbox.
        let _ = stop_mail.send(true);
        let _ = tokio::time::timeout(shutdown_timeout, mail).await;
        tracing::info!("bellhop stopped");
        result
    }
}

/// Spawns `job` under [`crate::jobs::supervise`].
fn watch_job<F, Fut>(
    state: &web::Data<AppState>,
    name: &'static str,
    job: F,
) -> actix_rt::task::JoinHandle<()>
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    actix_rt::spawn(crate::jobs::supervise(
        name,
        Arc::clone(&state.metrics),
        job,
    ))
}

/// The night audit job: the business date of each property is the timer (a row in the store,
/// not an actor timer), so any node may run it and a restarted node catches up. Every node
/// checks once a minute; a second node finds the date already rolled.
async fn night_audits(reservations: crate::actors::Reservations) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        reservations.run_due_audits().await;
    }
}

/// The escalation job: deadlines are stored with the tasks, and every node scans them.
async fn escalations(tasks: crate::actors::Tasks) {
    let mut tick = tokio::time::interval(tasks.escalation_scan());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        tasks.run_escalations().await;
    }
}

/// Idempotency keys are kept 48 hours (a client retries within minutes; 24 h is promised).
async fn prune_request_keys(store: Arc<crate::persistence::Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = crate::persistence::now() - chrono::Duration::hours(48);
        match store.prune_request_keys(before).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(n, "forgot old idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "could not forget old idempotency keys"),
        }
    }
}

/// The chat email fallback: the replies waiting for a guest are stored with their
/// conversations, and every node scans them (a conversation's actor sends each reply once).
async fn chat_fallbacks(conversations: crate::actors::Conversations) {
    let mut tick = tokio::time::interval(conversations.fallback_scan());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        conversations.run_fallbacks().await;
    }
}

/// Connections waiting to be accepted (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// The listening socket. `std`'s `TcpListener::bind` queues only 128 connections: when a node
/// dies and its thousands of screens reconnect to the others within a second, the queue
/// overflows, the kernel drops handshakes and clients wait out SYN retransmits (1 s, 3 s,
/// 7 s, …) — measured as a reconnect storm that took minutes instead of seconds.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // A restarted node can bind while the old one's connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The HTTP server: actix-web's `App` for every route, with the WebSocket upgrade taken before
/// routing by `ws::session::upgrade`. Assembled from actix-server and actix-http as actix-web's
/// `HttpServer` does it, because `HttpServer` offers no upgrade hook.
fn serve(
    listener: TcpListener,
    state: &web::Data<AppState>,
    config: &Config,
) -> anyhow::Result<actix_server::Server> {
    let data = state.clone();
    let server = actix_server::Server::build()
        .workers(config.http_workers)
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .listen("bellhop-http", listener, move || {
            let data = data.clone();
            let ws_state = data.clone().into_inner();
            let metrics = Arc::clone(&data.metrics);
            let app = App::new()
                .app_data(data)
                .wrap_fn(move |req, srv| {
                    let metrics = Arc::clone(&metrics);
                    // A NUL in the URL is refused before any route sees it (see http::body).
                    let call = match http::body::nul_in_url(req.uri()) {
                        None => Ok(srv.call(req)),
                        Some(e) => Err(req.error_response(e)),
                    };
                    async move {
                        let res = match call {
                            Ok(fut) => fut.await?.map_into_boxed_body(),
                            Err(refused) => refused,
                        };
                        metrics.record_http_status(res.status().as_u16());
                        Ok(res)
                    }
                })
                .configure(http::configure);
            HttpService::build()
                .upgrade(fn_service(
                    move |(req, framed): (Request, actix_codec::Framed<_, h1::Codec>)| {
                        crate::ws::session::upgrade(Arc::clone(&ws_state), req, framed)
                    },
                ))
                // Nothing here builds absolute URLs from the configured host.
                .finish(map_config(app, |()| AppConfig::default()))
                .tcp()
        })?
        .run();
    Ok(server)
}

/// The node's Redis client (for the dedicated pub/sub connection) and its one connection
/// manager (commands; it reconnects by itself and is cloned cheaply).
async fn connect_redis(
    url: &SecretString,
) -> anyhow::Result<(redis::Client, redis::aio::ConnectionManager)> {
    // The URL may carry a password: never put it into an error message.
    let client =
        redis::Client::open(url.expose_secret()).context("REDIS_URL is not a valid Redis URL")?;
    let conn = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
        .await
        .context("connecting to Redis timed out")?
        .context("connecting to Redis")?;
    Ok((client, conn))
}

/// Heartbeat slots: each tick of the node-wide timer reaches one slot of the sessions, so a
/// node pings its tens of thousands of sessions spread over the interval, not all at once.
const HEARTBEAT_SLOTS: u64 = 16;

/// One timer for the whole node: every session is ticked once per `every` — it pings its
/// client, or closes if the client has been silent too long.
async fn heartbeat(hub: Arc<Hub>, every: Duration) {
    let mut interval = tokio::time::interval(every / HEARTBEAT_SLOTS as u32);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    let mut slot = 0u64;
    loop {
        interval.tick().await;
        hub.tick(slot, HEARTBEAT_SLOTS);
        slot = slot.wrapping_add(1);
    }
}

/// Waits until every session has written its close frame (or `limit` passed).
async fn drain_sessions(hub: &Hub, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while hub.sessions() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = hub.sessions();
    if left > 0 {
        tracing::warn!(left, "sessions still open at shutdown");
    }
}

/// How long the hub holds events that arrived ahead of a missing seq before giving up on it.
const GAP_WAIT: Duration = Duration::from_secs(1);

async fn release_gaps(hub: Arc<Hub>) {
    let mut interval = tokio::time::interval(GAP_WAIT / 2);
    loop {
        interval.tick().await;
        hub.release_stale(GAP_WAIT);
    }
}

async fn stop_requested(stop: &Notify) -> &'static str {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        () = terminate => "terminate",
        () = stop.notified() => "requested",
    }
}
