//! Load generator: N `bellhop` node processes (one PostgreSQL, one Redis) and M client
//! processes holding WebSocket connections like front-desk screens, then a stream of room
//! status changes; prints one table.
//!
//! ```text
//! cargo bench --bench load -- --nodes 2 --conns 4000 --clients 2 --rate 20 --secs 10
//! ```
//!
//! Every connection authenticates (a front-desk user's token), subscribes to the room board
//! and checks every event it receives: per stream, seqs must follow the snapshot's versions
//! with no gap, duplicate or reordering. Latency is measured from the event's commit time (the
//! server's `at`) to the frame's arrival, on the same machine clock. One process may hold at
//! most 20,000 files here, so connections are spread over client processes, each binding its
//! own source address (127.0.0.2, 127.0.0.3, …) to stay clear of port exhaustion.
//!
//! The same binary is the client: it re-executes itself with `BELLHOP_LOAD_CLIENT` set.

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BUCKETS_PER_DECADE: f64 = 20.0;
const BUCKETS: usize = 200; // 1 µs .. 10^10 µs

/// A log-scale latency histogram in microseconds (mergeable across processes).
#[derive(Clone, Serialize, Deserialize)]
struct Histogram {
    counts: Vec<u64>,
    max_us: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            max_us: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let us = us.max(1);
        let b = ((us as f64).log10() * BUCKETS_PER_DECADE) as usize;
        self.counts[b.min(BUCKETS - 1)] += 1;
        self.max_us = self.max_us.max(us);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper edge of the bucket holding quantile `q` (never above the maximum seen), in µs.
    fn quantile(&self, q: f64) -> u64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let target = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return (10f64.powf((i + 1) as f64 / BUCKETS_PER_DECADE) as u64).min(self.max_us);
            }
        }
        self.max_us
    }
}

/// What a client process reports when stopped.
#[derive(Serialize, Deserialize)]
struct ClientReport {
    connected: u64,
    failed: u64,
    connect_ms: u64,
    events: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    latency: Histogram,
    /// Connections that lost their node and came back (resubscribed) on another.
    reconnects: u64,
    /// When the last of them was back (µs since the epoch; 0: none).
    last_back_us: u64,
    /// Connections that never read after subscribing, and how many of them the server closed.
    slow: u64,
    slow_closed: u64,
}

/// Reconnections of one client process.
#[derive(Default)]
struct Reconnects {
    count: u64,
    last_back_us: u64,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

// ----------------------------------------------------------------------------------------
// Client process
// ----------------------------------------------------------------------------------------

/// Per-connection bookkeeping of one board subscription.
#[derive(Default)]
struct Seen {
    last: HashMap<String, u64>,
    events: u64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
}

async fn client_main() {
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is required"));
    let ports: Vec<u16> = env("LOAD_PORTS")
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    let conns: usize = env("LOAD_CONNS").parse().unwrap();
    let source: Ipv4Addr = env("LOAD_SOURCE").parse().unwrap();
    let token = env("LOAD_TOKEN");
    let topic = env("LOAD_TOPIC");
    // Every n-th connection stops reading after its snapshot (0: none).
    let slow_every: usize = std::env::var("LOAD_SLOW_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let reconnects = Arc::new(Mutex::new(Reconnects::default()));
    let slow_closed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let ports = Arc::new(ports);

    eprintln!("load client {source}: opening {conns} connections");
    let latency = Arc::new(Mutex::new(Histogram::new()));
    // Every connection's bookkeeping, registered as soon as it is subscribed.
    let seen: Arc<Mutex<Vec<Arc<Mutex<Seen>>>>> = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(128));
    let mut handles = Vec::with_capacity(conns);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<bool>(conns.max(1));
    for i in 0..conns {
        let slow = slow_every > 0 && i % slow_every == slow_every - 1;
        let ports = Arc::clone(&ports);
        let (token, topic, gate) = (token.clone(), topic.clone(), Arc::clone(&gate));
        let (latency, seen, ready) = (Arc::clone(&latency), Arc::clone(&seen), ready_tx.clone());
        let (reconnects, slow_closed, stop) = (
            Arc::clone(&reconnects),
            Arc::clone(&slow_closed),
            Arc::clone(&stop),
        );
        handles.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut at = i;
            let port = ports[at % ports.len()];
            // A screen that fails to connect (the servers are busy accepting the ramp) tries
            // again after a pause, and only then counts as failed.
            let mut attempt = 0;
            let (mut ws, mine) = loop {
                if let Some(c) = connect(source, port, &token, &topic, slow).await {
                    break c;
                }
                attempt += 1;
                if attempt == 10 {
                    let _ = ready.send(false).await;
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
            };
            drop(permit);
            if slow {
                let _ = ready.send(true).await;
                // Never read until the run ends; then see whether the server closed us.
                stop.notified().await;
                if was_closed(&mut ws).await {
                    slow_closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                return;
            }
            let mine = Arc::new(Mutex::new(mine));
            seen.lock().unwrap().push(Arc::clone(&mine));
            let _ = ready.send(true).await;
            loop {
                read_events(&mut ws, &mine, &latency).await;
                // The node went away: come back on another one as a screen would, with
                // exponential backoff and full jitter (first try within 1 s, then up to 2, 4,
                // 8 s), so a whole hotel does not reconnect in the same millisecond and the
                // survivors' accept queues are not flooded faster than they can serve.
                let mut window_ms = 1000u64;
                let mut nonce = i as u64;
                loop {
                    nonce = nonce
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    tokio::time::sleep(Duration::from_millis((nonce >> 33) % window_ms)).await;
                    window_ms = (window_ms * 2).min(8000);
                    // Any other node, at random: moving everyone to the next one would double
                    // that node's load (and here, its open files past the limit).
                    at += 1 + (nonce >> 40) as usize % ports.len().saturating_sub(1).max(1);
                    if let Some((fresh, snapshot)) =
                        connect(source, ports[at % ports.len()], &token, &topic, false).await
                    {
                        ws = fresh;
                        // The snapshot carries what happened while away.
                        mine.lock().unwrap().last = snapshot.last;
                        let mut r = reconnects.lock().unwrap();
                        r.count += 1;
                        r.last_back_us = r.last_back_us.max(now_us());
                        break;
                    }
                }
            }
        }));
    }
    drop(ready_tx);
    let (mut connected, mut failed) = (0u64, 0u64);
    // One answer per connection (the tasks keep their senders while they run).
    for _ in 0..conns {
        match ready_rx.recv().await {
            Some(true) => connected += 1,
            _ => failed += 1,
        }
    }
    let connect_ms = started.elapsed().as_millis() as u64;
    println!("ready {connected} {failed} {connect_ms}");
    let _ = std::io::stdout().flush();

    // Wait for "stop <final versions json>" from the orchestrator.
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        line
    })
    .await
    .unwrap();
    let finals: HashMap<String, u64> =
        serde_json::from_str(line.trim_start_matches("stop ").trim()).unwrap_or_default();
    stop.notify_waiters();
    if slow_every > 0 {
        // Slow connections drain what the server buffered for them (≤ 5 s of silence).
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    for h in &handles {
        h.abort();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Seqs never received at the end count as lost too (against the final versions).
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let back = std::mem::take(&mut *reconnects.lock().unwrap());
    let mut report = ClientReport {
        connected,
        failed,
        connect_ms,
        events: 0,
        lost: 0,
        duplicated: 0,
        out_of_order: 0,
        latency: latency.lock().unwrap().clone(),
        reconnects: back.count,
        last_back_us: back.last_back_us,
        slow: conns.checked_div(slow_every).unwrap_or(0) as u64,
        slow_closed: slow_closed.load(std::sync::atomic::Ordering::Relaxed),
    };
    for s in seen {
        let s = s.lock().unwrap();
        report.events += s.events;
        report.lost += s.lost;
        report.duplicated += s.duplicated;
        report.out_of_order += s.out_of_order;
        for (stream, last) in &s.last {
            if let Some(fin) = finals.get(stream) {
                report.lost += fin.saturating_sub(*last);
            }
        }
    }
    println!("report {}", serde_json::to_string(&report).unwrap());
}

#[derive(Deserialize)]
struct BoardFrame<'a> {
    r#type: &'a str,
    #[serde(default)]
    stream: Option<&'a str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    event: Option<EventAt<'a>>,
}

#[derive(Deserialize)]
struct EventAt<'a> {
    #[serde(default)]
    at: Option<&'a str>,
}

/// Reads and checks board frames until the connection ends.
async fn read_events(ws: &mut Ws, mine: &Mutex<Seen>, latency: &Mutex<Histogram>) {
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let received = now_us();
        // Only the fields checked are decoded (the room's state is skipped): 100k clients
        // share this machine's two cores with the servers they measure.
        let Ok(f) = serde_json::from_str::<BoardFrame<'_>>(&text) else {
            continue;
        };
        match f.r#type {
            "event" => {}
            "reset" => {
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    mine.lock().unwrap().last = versions(&v["snapshot"]);
                }
                continue;
            }
            _ => continue,
        }
        let (Some(stream), Some(seq)) = (f.stream, f.seq) else {
            continue;
        };
        if let Some(at) = f
            .event
            .and_then(|e| e.at)
            .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
        {
            let at_us = at.timestamp_micros().max(0) as u64;
            latency
                .lock()
                .unwrap()
                .record(received.saturating_sub(at_us));
        }
        let mut mine = mine.lock().unwrap();
        mine.events += 1;
        // Looked up by `&str` (no allocation per event); a stream is added once.
        let Some(last) = mine.last.get_mut(stream) else {
            mine.last.insert(stream.to_owned(), seq);
            continue;
        };
        let prev = *last;
        if seq > prev {
            *last = seq;
        }
        match seq.cmp(&(prev + 1)) {
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Greater => mine.lost += seq - prev - 1,
            std::cmp::Ordering::Less if seq == prev => mine.duplicated += 1,
            std::cmp::Ordering::Less => mine.out_of_order += 1,
        }
    }
}

/// Whether the server closed a connection that stopped reading: drain what it buffered.
async fn was_closed(ws: &mut Ws) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Err(_) => return false, // still open, nothing more coming
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

fn versions(snapshot: &Value) -> HashMap<String, u64> {
    snapshot["rooms"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| Some((r["stream"].as_str()?.to_owned(), r["version"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Binding a source address with port 0 makes the kernel pick a free port at `bind`, by a scan
/// that grows with the ports in use: with 16k sockets per address the ramp spent its time in
/// the kernel and clients were too slow to send their handshake. With this option the port is
/// chosen at `connect`, by the full 4-tuple, which is cheap.
#[allow(unsafe_code)] // the one system call tokio does not wrap
fn bind_address_no_port(socket: &tokio::net::TcpSocket) {
    use std::os::fd::AsRawFd as _;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and an int option of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        eprintln!(
            "load client: IP_BIND_ADDRESS_NO_PORT: {}",
            std::io::Error::last_os_error()
        );
    }
}

async fn connect(
    source: Ipv4Addr,
    port: u16,
    token: &str,
    topic: &str,
    slow: bool,
) -> Option<(Ws, Seen)> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    if slow {
        // A phone on a bad network: a small window, so the server's buffers fill soon.
        socket.set_recv_buffer_size(4096).ok()?;
    }
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).ok()?;
    // Long enough for the kernel's SYN retransmits at 1 s and 3 s; past that, backing off and
    // trying another node serves better than waiting.
    let stream = tokio::time::timeout(
        Duration::from_secs(4),
        socket.connect(SocketAddr::from(([127, 0, 0, 1], port))),
    )
    .await
    .map_err(|_| eprintln!("load client: TCP connect timed out"))
    .ok()?
    .map_err(|e| eprintln!("load client: connect: {e}"))
    .ok()?;
    let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
    // 100k clients on one machine: tungstenite's default 128 KiB read buffer per connection
    // would be 12 GiB. It also zeroes the whole buffer before each read, which with 8 KiB was
    // the client's largest cost (perf); board frames are under 1 KiB and larger ones are read
    // in several bites.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .map_err(|e| eprintln!("load client: handshake: {e}"))
        .ok()?;
    ws.send(Message::text(
        json!({"op": "subscribe", "topic": topic, "id": 1}).to_string(),
    ))
    .await
    .ok()?;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| eprintln!("load client: no answer to subscribe"))
            .ok()?;
        let Message::Text(t) = next?.ok()? else {
            continue;
        };
        let f: Value = serde_json::from_str(&t).ok()?;
        if f["type"] == "subscribed" {
            let seen = Seen {
                last: versions(&f["snapshot"]),
                ..Seen::default()
            };
            return Some((ws, seen));
        }
    }
}

// ----------------------------------------------------------------------------------------
// Orchestrator
// ----------------------------------------------------------------------------------------

struct Args {
    nodes: usize,
    conns: usize,
    clients: usize,
    rate: f64,
    secs: u64,
    rooms: usize,
    /// Seconds between the end of the ramp and the idle RSS reading.
    settle: u64,
    /// Kill the last node half way through the drive (its clients reconnect elsewhere).
    storm: bool,
    /// Every n-th connection stops reading after its snapshot (0: none).
    slow_every: usize,
    /// HTTP worker threads per node (`BELLHOP_WORKERS`; 0: the node's default, one per core).
    workers: usize,
}

fn args() -> Args {
    let mut a = Args {
        nodes: 2,
        conns: 4000,
        clients: 2,
        rate: 20.0,
        secs: 10,
        rooms: 20,
        settle: 20,
        storm: false,
        slow_every: 0,
        workers: 0,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--nodes" => a.nodes = value.parse().expect("--nodes N"),
            "--conns" => a.conns = value.parse().expect("--conns N"),
            "--clients" => a.clients = value.parse().expect("--clients N"),
            "--rate" => a.rate = value.parse().expect("--rate per second"),
            "--secs" => a.secs = value.parse().expect("--secs N"),
            "--rooms" => a.rooms = value.parse().expect("--rooms N"),
            "--settle" => a.settle = value.parse().expect("--settle secs"),
            "--slow-every" => a.slow_every = value.parse().expect("--slow-every N"),
            "--workers" => a.workers = value.parse().expect("--workers N"),
            "--storm" => {
                a.storm = true;
                i += 1;
                continue;
            }
            // cargo bench passes --bench; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

struct Node {
    child: Child,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_node(db_url: &str, prefix: &str, workers: usize) -> Node {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_bellhop"));
    if workers > 0 {
        command.env("BELLHOP_WORKERS", workers.to_string());
    }
    let child = command
        .env("BELLHOP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db_url)
        .env(
            "REDIS_URL",
            std::env::var("BELLHOP_BENCH_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
        .env("BELLHOP_REDIS_PREFIX", prefix)
        .env(
            "BELLHOP_JWT_SECRET",
            "load-test-secret-load-test-secret-load",
        )
        .env("BELLHOP_ADMIN_EMAIL", "admin@load.bellhop")
        .env("BELLHOP_ADMIN_PASSWORD", "admin-password-for-load")
        .env("BELLHOP_DEMO", "0")
        // Every simulated screen uses the one desk token: no per-credential socket cap.
        .env("BELLHOP_WS_MAX_PER_USER", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start bellhop");
    let node = Node { child, port };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
            && r.status() == 200
        {
            return node;
        }
        assert!(Instant::now() < deadline, "node did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(
    http: &reqwest::Client,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = match method {
        "GET" => http.get(url),
        _ => http.post(url).json(&body),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    // A request that fails outright (a node killed in a storm, a keep-alive connection the
    // server closed as the request went out) counts as refused: status 0.
    match req.send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
        Err(e) => {
            eprintln!("load: request failed: {e}");
            (0, Value::Null)
        }
    }
}

struct ClientProc {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

async fn orchestrate() {
    let a = args();
    let admin_url = std::env::var("BELLHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("bellhop_load_{}", std::process::id());
    let (pg, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(conn);
    pg.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let db_url = format!(
        "{}/{name}",
        admin_url.rsplit_once('/').expect("database in URL").0
    );
    let prefix = format!("bellhop-load-{}:", std::process::id());

    eprintln!("load: database ready");
    let mut nodes = Vec::new();
    for _ in 0..a.nodes {
        nodes.push(start_node(&db_url, &prefix, a.workers).await);
    }
    let http = reqwest::Client::new();
    let base = |i: usize| format!("http://127.0.0.1:{}", nodes[i % nodes.len()].port);
    let (_, login) = call(
        &http,
        "POST",
        format!("{}/api/v1/auth/login", base(0)),
        None,
        json!({"email": "admin@load.bellhop", "password": "admin-password-for-load"}),
    )
    .await;
    let admin = login["access_token"]
        .as_str()
        .expect("admin token")
        .to_owned();
    let (_, p) = call(
        &http,
        "POST",
        format!("{}/api/v1/properties", base(0)),
        Some(&admin),
        json!({"name": "Load"}),
    )
    .await;
    let pid = p["id"].as_str().expect("pid").to_owned();
    let rooms: Vec<Value> = (0..a.rooms)
        .map(|i| json!({"number": format!("{}", 100 + i), "floor": 1, "room_type": "KING"}))
        .collect();
    call(
        &http,
        "POST",
        format!("{}/api/v1/properties/{pid}/rooms", base(0)),
        Some(&admin),
        Value::Array(rooms),
    )
    .await;
    call(&http, "POST", format!("{}/api/v1/properties/{pid}/users", base(0)), Some(&admin), json!({"email": "desk@load.bellhop", "name": "Desk", "role": "front_desk", "password": "password-for-load"})).await;
    let (_, desk) = call(
        &http,
        "POST",
        format!("{}/api/v1/auth/login", base(0)),
        None,
        json!({"email": "desk@load.bellhop", "password": "password-for-load"}),
    )
    .await;
    let token = desk["access_token"]
        .as_str()
        .expect("desk token")
        .to_owned();

    eprintln!("load: {} nodes up, hotel created", nodes.len());
    // Setting up the hotel hashed passwords (argon2 takes 19 MiB a hash) on tokio's blocking
    // threads; their heaps go back to the system when the idle threads exit after 10 s. Read
    // the baseline after that, or it counts memory the connections never used.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let baseline: Vec<u64> = nodes.iter().map(|n| proc_rss_kb(n.child.id())).collect();
    let ports = nodes
        .iter()
        .map(|n| n.port.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..a.clients {
        let conns = a.conns / a.clients + usize::from(c < a.conns % a.clients);
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("BELLHOP_LOAD_CLIENT", "1")
            .env("LOAD_PORTS", &ports)
            .env("LOAD_CONNS", conns.to_string())
            .env("LOAD_SOURCE", format!("127.0.0.{}", 2 + c))
            .env("LOAD_TOKEN", &token)
            .env("LOAD_TOPIC", format!("rooms:{pid}"))
            .env("LOAD_SLOW_EVERY", a.slow_every.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start client");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        clients.push(ClientProc {
            child,
            stdin,
            lines,
        });
    }
    let (mut connected, mut failed) = (0, 0);
    for c in &mut clients {
        let line = c.lines.next().expect("client output").expect("line");
        let f: Vec<u64> = line
            .trim_start_matches("ready ")
            .split(' ')
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        connected += f[0];
        failed += f[1];
    }
    let ramp = started.elapsed();
    eprintln!("load: {connected} connections held ({failed} failed) in {ramp:?}");
    // Idle: the subscribe transients are gone (read buffers, the snapshot reads). Nodes run
    // with their default heartbeat (25 s), as in production.
    tokio::time::sleep(Duration::from_secs(a.settle)).await;
    let held: Vec<u64> = nodes.iter().map(|n| proc_rss_kb(n.child.id())).collect();

    // Drive room changes at the chosen rate, spread over nodes and rooms.
    let cpu0: Vec<u64> = nodes.iter().map(|n| proc_cpu_ticks(n.child.id())).collect();
    let client_cpu0: u64 = clients.iter().map(|c| proc_cpu_ticks(c.child.id())).sum();
    let drive_start = Instant::now();
    let mut killed: Option<(usize, u64)> = None; // (node, when, µs since the epoch)
    // Commands go to live nodes only.
    let live = |i: usize, killed: Option<(usize, u64)>| match killed {
        Some((k, _)) if nodes.len() > 1 && i % nodes.len() == k => base(i + 1),
        _ => base(i),
    };
    let total = (a.rate * a.secs as f64) as usize;
    // Fire at the tick rate without waiting for replies (a slow reply must not lower the
    // rate); rooms rotate, so one room's changes are rate/rooms per second apart.
    let mut rush = vec![false; a.rooms];
    let mut inflight = Vec::with_capacity(total);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / a.rate));
    for i in 0..total {
        tick.tick().await;
        if a.storm && killed.is_none() && i == total / 2 {
            let k = nodes.len() - 1;
            let _ = Command::new("kill")
                .args(["-KILL", &nodes[k].child.id().to_string()])
                .status();
            killed = Some((k, now_us()));
            eprintln!("load: killed node {k}");
        }
        let r = i % a.rooms;
        rush[r] = !rush[r];
        let url = format!(
            "{}/api/v1/properties/{pid}/rooms/{}/status",
            live(i, killed),
            100 + r
        );
        let (http, admin, body) = (http.clone(), admin.clone(), json!({"rush": rush[r]}));
        inflight.push(tokio::spawn(async move {
            call(&http, "POST", url, Some(&admin), body).await.0
        }));
    }
    let (mut ok, mut refused) = (0u64, 0u64);
    for h in inflight {
        if h.await.unwrap_or(0) == 200 {
            ok += 1
        } else {
            refused += 1
        }
    }
    let drive = drive_start.elapsed();
    let cpu1: Vec<u64> = nodes.iter().map(|n| proc_cpu_ticks(n.child.id())).collect();
    let client_cpu1: u64 = clients.iter().map(|c| proc_cpu_ticks(c.child.id())).sum();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Slow consumers the servers closed, from their own metrics.
    let mut kicked = 0u64;
    for (k, node) in nodes.iter().enumerate() {
        if killed.is_some_and(|(dead, _)| dead == k) {
            continue;
        }
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{}/metrics", node.port))
            .send()
            .await
            && let Ok(text) = r.text().await
        {
            kicked += text
                .lines()
                .find_map(|l| l.strip_prefix("bellhop_ws_slow_consumer_disconnects_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }

    let (_, board) = call(
        &http,
        "GET",
        format!("{}/api/v1/properties/{pid}/rooms", live(0, killed)),
        Some(&admin),
        Value::Null,
    )
    .await;
    let finals: HashMap<String, u64> = versions(&board);
    let mut latency = Histogram::new();
    let (mut events, mut lost, mut dup, mut ooo) = (0, 0, 0, 0);
    let (mut reconnects, mut last_back_us, mut slow, mut slow_closed) = (0, 0, 0, 0);
    for c in &mut clients {
        let _ = writeln!(c.stdin, "stop {}", serde_json::to_string(&finals).unwrap());
        let _ = c.stdin.flush();
        let line = loop {
            let l = c.lines.next().expect("client report").expect("line");
            if l.starts_with("report ") {
                break l;
            }
        };
        let r: ClientReport =
            serde_json::from_str(line.trim_start_matches("report ")).expect("report json");
        latency.merge(&r.latency);
        events += r.events;
        lost += r.lost;
        dup += r.duplicated;
        ooo += r.out_of_order;
        reconnects += r.reconnects;
        last_back_us = last_back_us.max(r.last_back_us);
        slow += r.slow;
        slow_closed += r.slow_closed;
        let _ = c.child.wait();
    }
    let ticks = 100.0; // CLK_TCK on Linux
    let cpu: f64 = cpu0
        .iter()
        .zip(&cpu1)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / ticks)
        .sum::<f64>()
        / drive.as_secs_f64();
    let client_cpu = client_cpu1.saturating_sub(client_cpu0) as f64 / ticks / drive.as_secs_f64();
    let rss_total: u64 = held.iter().sum();
    let rss_added: u64 = held
        .iter()
        .zip(&baseline)
        .map(|(h, b)| h.saturating_sub(*b))
        .sum();
    let ms = |us: u64| us as f64 / 1000.0;
    println!();
    println!("| metric | value |");
    println!("|---|---|");
    println!("| nodes / client processes | {} / {} |", a.nodes, a.clients);
    println!("| connections held (failed) | {connected} ({failed}) |");
    println!("| connect + subscribe ramp | {:.1} s |", ramp.as_secs_f64());
    println!(
        "| server RSS before connections | {:.0} MiB |",
        baseline.iter().sum::<u64>() as f64 / 1024.0
    );
    println!(
        "| server RSS total / per connection | {:.0} MiB / {:.1} KiB |",
        rss_total as f64 / 1024.0,
        rss_added as f64 / connected.max(1) as f64
    );
    println!("| CPU while driving: servers / load clients | {cpu:.2} / {client_cpu:.2} cores |");
    println!(
        "| commands/s (ok, refused) | {:.1} ({ok}, {refused}) |",
        ok as f64 / drive.as_secs_f64()
    );
    println!(
        "| events delivered | {events} (expected {}) |",
        ok * (connected - slow)
    );
    println!(
        "| latency p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        ms(latency.quantile(0.5)),
        ms(latency.quantile(0.99)),
        ms(latency.max_us)
    );
    println!("| lost / duplicated / out of order | {lost} / {dup} / {ooo} |");
    if let Some((k, at)) = killed {
        println!(
            "| reconnect storm: node {k} killed | {reconnects} connections back and resubscribed \
             on other nodes, the last {:.2} s after the kill |",
            last_back_us.saturating_sub(at) as f64 / 1e6
        );
    }
    if slow > 0 {
        println!(
            "| slow consumers (never read) | {slow}: {slow_closed} found closed, {kicked} closed \
             as slow consumers by the servers |"
        );
    }
    drop(nodes);
    let _ = pg
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var_os("BELLHOP_LOAD_CLIENT").is_some() {
        runtime.block_on(client_main());
    } else if std::env::args().any(|a| a == "--bench") {
        runtime.block_on(orchestrate());
    }
    // Under `cargo test --benches` (no --bench flag) there is nothing to check.
}
