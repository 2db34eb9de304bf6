//! Several nodes, one PostgreSQL, one Redis: in-process servers with their own hubs, buses
//! and actors, talking to each other only through the real Redis (each test under its own
//! channel prefix).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Backend, TestApp, TestDb, WsClient, spawn_app_with};

fn redis_url() -> String {
    std::env::var("BELLHOP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A node of a cluster sharing `db` and the Redis prefix `prefix`, reaching Redis at `url`.
async fn node(db: &Arc<TestDb>, prefix: &str, url: &str) -> TestApp {
    let (prefix, url) = (prefix.to_owned(), url.to_owned());
    spawn_app_with(Arc::clone(db), move |c| {
        c.redis_url = Some(secrecy::SecretString::from(url));
        c.redis_prefix = prefix;
    })
    .await
}

pub async fn cluster(n: usize) -> (Arc<TestDb>, Vec<TestApp>) {
    let db = Arc::new(TestDb::new(Backend::Postgres).await);
    let prefix = format!("bellhop-test-{}:", uuid::Uuid::new_v4());
    let mut nodes = Vec::new();
    for _ in 0..n {
        nodes.push(node(&db, &prefix, &redis_url()).await);
    }
    (db, nodes)
}

/// Reads frames until every stream in `until` reached its seq; returns (stream, seq) of
/// every event in arrival order.
async fn events_until(ws: &mut WsClient, until: &[(String, u64)]) -> Vec<(String, u64)> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    let done = |seen: &Vec<(String, u64)>| {
        until
            .iter()
            .all(|(s, n)| seen.iter().any(|(t, m)| t == s && m >= n))
    };
    while !done(&seen) {
        let f = ws.next_json().await;
        assert_eq!(f["type"], "event", "{f}");
        seen.push((
            f["stream"].as_str().unwrap().to_owned(),
            f["seq"].as_u64().unwrap(),
        ));
    }
    seen
}

/// The seqs of one stream, in arrival order.
fn seqs_of(events: &[(String, u64)], stream: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|(s, _)| s == stream)
        .map(|(_, n)| *n)
        .collect()
}

async fn room(app: &TestApp, pid: &str, n: &str) -> Value {
    app.get(&format!("/api/v1/properties/{pid}/rooms/{n}"))
        .await
        .body
}

#[actix_web::test]
async fn a_change_on_one_node_reaches_clients_on_the_others_in_order() {
    let (_db, nodes) = cluster(3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let pid = a.hotel(&["101", "102"]).await;
    let topic = format!("rooms:{pid}");
    let mut on_b = b.ws().await;
    let mut on_c = c.ws().await;
    on_b.subscribe(&topic).await;
    on_c.subscribe(&topic).await;
    // Writes through all three nodes, interleaved on the same rooms.
    let mut rush = false;
    for i in 0..12 {
        rush = !rush;
        let via = &nodes[i % 3];
        via.set_status(&pid, "101", json!({"rush": rush})).await;
        if i.is_multiple_of(4) {
            let hk = if i.is_multiple_of(8) {
                "occupied"
            } else {
                "unknown"
            };
            via.set_status(&pid, "102", json!({"hk_occupancy": hk}))
                .await;
        }
    }
    let r101 = room(a, &pid, "101").await;
    let r102 = room(a, &pid, "102").await;
    let until = [
        (
            r101["stream"].as_str().unwrap().to_owned(),
            r101["version"].as_u64().unwrap(),
        ),
        (
            r102["stream"].as_str().unwrap().to_owned(),
            r102["version"].as_u64().unwrap(),
        ),
    ];
    assert_eq!(until[0].1, 13);
    for client in [&mut on_b, &mut on_c] {
        let seen = events_until(client, &until).await;
        assert_eq!(seqs_of(&seen, &until[0].0), (2..=13).collect::<Vec<_>>());
        assert_eq!(
            seqs_of(&seen, &until[1].0),
            (2..=until[1].1).collect::<Vec<_>>()
        );
    }
    for n in nodes {
        n.stop().await;
    }
}

#[actix_web::test]
async fn conflicting_commands_on_two_nodes_converge_with_a_gapless_log() {
    const PER_NODE: usize = 100;
    let (_db, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let pid = a.hotel(&["101"]).await;
    let topic = format!("rooms:{pid}");
    let mut on_a = a.ws().await;
    let mut on_b = b.ws().await;
    on_a.subscribe(&topic).await;
    on_b.subscribe(&topic).await;

    // Hundreds of concurrent, conflicting commands through both nodes at once.
    let path = format!("/api/v1/properties/{pid}/rooms/101/status");
    let fire = |app: &TestApp, i: usize| {
        let path = path.clone();
        let (http, address, token) = (app.http.clone(), app.address.clone(), app.token.clone());
        async move {
            let body = json!({"rush": i.is_multiple_of(2)});
            let resp = http
                .post(format!("{address}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }
    };
    let all = (0..PER_NODE).flat_map(|i| [fire(a, 2 * i), fire(b, 2 * i + 1)]);
    let statuses = futures_util::future::join_all(all).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!(ok > 0);
    assert!(
        statuses.iter().all(|s| [200, 409, 422].contains(s)),
        "only successes, conflicts and refusals: {statuses:?}"
    );

    // The log: every acknowledged change exactly once, no gaps.
    let state = room(a, &pid, "101").await;
    let stream = state["stream"].as_str().unwrap().to_owned();
    let version = state["version"].as_u64().unwrap();
    assert_eq!(version, 1 + ok as u64, "one event per 200, nothing else");
    let audit = a
        .get(&format!(
            "/api/v1/properties/{pid}/audit?stream={stream}&limit=5000"
        ))
        .await;
    let logged: Vec<u64> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(logged, (1..=version).collect::<Vec<_>>());
    assert_eq!(
        room(b, &pid, "101").await,
        state,
        "both nodes serve the same state"
    );

    // Every client saw every change once, in order, whichever node made it.
    for client in [&mut on_a, &mut on_b] {
        let seen = events_until(client, &[(stream.clone(), version)]).await;
        assert_eq!(seqs_of(&seen, &stream), (2..=version).collect::<Vec<_>>());
    }

    // Replicas converged: a command on B right after one on A needs no conflict retry,
    // because B's actor already applied A's batch from the bus.
    let conflicts = |app: &TestApp| {
        let (http, url) = (app.http.clone(), format!("{}/metrics", app.address));
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix("bellhop_store_conflicts_total "))
                .unwrap()
                .parse::<u64>()
                .unwrap()
        }
    };
    let before = conflicts(b).await;
    let rush = !state["rush"].as_bool().unwrap();
    a.set_status(
        &pid,
        "101",
        json!({"rush": rush, "expected_version": version}),
    )
    .await;
    events_until(&mut on_b, &[(stream.clone(), version + 1)]).await;
    b.set_status(
        &pid,
        "101",
        json!({"rush": !rush, "expected_version": version + 1}),
    )
    .await;
    assert_eq!(conflicts(b).await, before, "B's replica was current");
    for n in nodes {
        n.stop().await;
    }
}

/// A TCP proxy in front of Redis that can cut every connection and refuse new ones: a real
/// network failure between one node and Redis.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, r) = (Arc::clone(&conns), Arc::clone(&refuse));
        let upstream = redis_url()
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if r.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped at once
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            conns,
            refuse,
        }
    }

    /// Cuts every open connection and refuses new ones until `restore`.
    fn cut(&self) {
        self.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.refuse
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn wait_ready(app: &TestApp, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if app.get("/ready").await.status == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/ready never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_lost_redis_connection_is_noticed_then_resynced_and_nothing_is_silently_missed() {
    let db = Arc::new(TestDb::new(Backend::Postgres).await);
    let prefix = format!("bellhop-test-{}:", uuid::Uuid::new_v4());
    let proxy = Proxy::start().await;
    let a = node(&db, &prefix, &redis_url()).await;
    let b = node(&db, &prefix, &format!("redis://127.0.0.1:{}", proxy.port)).await;
    let pid = a.hotel(&["101"]).await;
    let topic = format!("rooms:{pid}");
    let mut on_b = b.ws().await;
    on_b.subscribe(&topic).await;
    a.set_status(&pid, "101", json!({"rush": true})).await;
    let stream = room(&a, &pid, "101").await["stream"]
        .as_str()
        .unwrap()
        .to_owned();
    events_until(&mut on_b, &[(stream.clone(), 2)]).await;
    wait_ready(&b, 200).await;

    // B loses Redis. Changes made through A meanwhile cannot reach B over the bus...
    proxy.cut();
    wait_ready(&b, 503).await;
    a.set_status(&pid, "101", json!({"rush": false})).await;
    a.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    // ...while B itself keeps working and delivering its own changes locally (after the
    // gap wait: seqs 3 and 4 never reached B, so its client sees a jump, not silence).
    b.set_status(&pid, "101", json!({"hk_occupancy": "occupied"}))
        .await;
    let local = on_b.next_json().await;
    assert_eq!(
        (local["type"].as_str(), local["seq"].as_u64()),
        (Some("event"), Some(5)),
        "{local}"
    );

    // Redis is back: B resubscribes and tells its client to refetch, instead of pretending.
    proxy.restore();
    wait_ready(&b, 200).await;
    let mut reset = None;
    while reset.is_none() {
        let f = on_b.next_json().await;
        match f["type"].as_str() {
            Some("reset") => reset = Some(f),
            Some("event") => {}
            other => panic!("unexpected frame {other:?}: {f}"),
        }
    }
    let reset = reset.unwrap();
    assert_eq!(reset["topic"], topic.as_str());
    let snapshot_room = &reset["snapshot"]["rooms"][0];
    assert_eq!(
        snapshot_room["version"], 5,
        "the snapshot has everything, with versions"
    );
    assert_eq!(snapshot_room["cleanliness"], "clean");
    // And live delivery from A resumes after the snapshot.
    a.set_status(&pid, "101", json!({"rush": true})).await;
    let seen = events_until(&mut on_b, &[(stream.clone(), 6)]).await;
    assert_eq!(seqs_of(&seen, &stream), [6]);
    a.stop().await;
    b.stop().await;
}

#[actix_web::test]
async fn clients_of_a_stopped_node_resume_on_another_with_nothing_missing() {
    let (_db, mut nodes) = cluster(2).await;
    let b = nodes.pop().unwrap();
    let a = nodes.pop().unwrap();
    let pid = a.hotel(&["101"]).await;
    let topic = format!("rooms:{pid}");
    let mut on_a = a.ws().await;
    on_a.subscribe(&topic).await;
    a.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    let token = a.token.clone();
    let stopping = actix_rt::spawn(a.stop());
    let close = on_a.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    stopping.await.unwrap();
    // A change lands while the client is between nodes.
    b.set_status(&pid, "101", json!({"cleanliness": "inspected"}))
        .await;

    let mut on_b = WsClient::connect(b.port, &token).await;
    let sub = on_b.subscribe(&topic).await;
    let snap = &sub["snapshot"]["rooms"][0];
    assert_eq!(
        (snap["version"].as_u64(), snap["cleanliness"].as_str()),
        (Some(3), Some("inspected"))
    );
    b.set_status(&pid, "101", json!({"hk_occupancy": "occupied"}))
        .await;
    let stream = snap["stream"].as_str().unwrap().to_owned();
    let seen = events_until(&mut on_b, &[(stream.clone(), 4)]).await;
    assert_eq!(seqs_of(&seen, &stream), [4]);
    b.stop().await;
}

#[actix_web::test]
async fn a_node_holds_a_redis_subscription_only_while_a_local_session_needs_it() {
    let (_db, nodes) = cluster(1).await;
    let app = &nodes[0];
    let pid = app.hotel(&["101"]).await;
    let client = redis::Client::open(redis_url().as_str()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    // The node's prefix is unique to this test; find its board channel by pattern.
    let board_channels = || {
        let mut conn = conn.clone();
        let pattern = format!("*t:rooms:{pid}");
        async move {
            redis::cmd("PUBSUB")
                .arg("CHANNELS")
                .arg(pattern)
                .query_async::<Vec<String>>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert!(
        board_channels().await.is_empty(),
        "nobody watches the board yet"
    );
    let mut ws = app.ws().await;
    ws.subscribe(&format!("rooms:{pid}")).await;
    // Subscribing waits for the node's Redis subscription, so it is there already.
    assert_eq!(board_channels().await.len(), 1);
    ws.send(json!({"op": "unsubscribe", "topic": format!("rooms:{pid}"), "id": 1}))
        .await;
    assert_eq!(ws.next_json().await["type"], "unsubscribed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !board_channels().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node kept the channel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Posts `body` to `path` on `app` (any node), answering (status, code).
async fn post_on(app: &TestApp, path: String, body: Value) -> (u16, String) {
    let resp = app
        .http
        .post(format!("{}{path}", app.address))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (status, code)
}

#[actix_web::test]
async fn two_nodes_never_double_book_a_room_nor_oversell_a_type() {
    use crate::reservations::{book, guest, today};
    let (_db, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let pid = a.hotel(&["101", "102"]).await;
    let gid = guest(a, &pid).await;
    let day = today(a, &pid).await;
    let on = |d: u64| (day + chrono::Days::new(d)).to_string();
    // 120 overlapping stays of the type (overbooked so they exist), then everyone wants 101.
    let mut rids = Vec::new();
    for i in 0..120u64 {
        let node = if i % 2 == 0 { a } else { b };
        let r = book(
            node,
            &pid,
            json!({"guest_id": gid, "room_type": "KING", "arrival": on(5 + i % 3),
                   "departure": on(8), "overbook": true}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        rids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let tasks: Vec<_> = rids
        .iter()
        .enumerate()
        .map(|(i, rid)| {
            let node = if i % 2 == 0 { a } else { b };
            post_on(
                node,
                format!("/api/v1/reservations/{rid}/assign"),
                json!({"room": "101"}),
            )
        })
        .collect();
    let results = futures_util::future::join_all(tasks).await;
    let won = results.iter().filter(|r| r.0 == 200).count();
    let refused = results
        .iter()
        .filter(|r| *r == &(409, "room_unavailable".to_owned()))
        .count();
    assert_eq!((won, refused), (1, 119), "{results:?}");

    // The last two rooms of the type on a fresh night: 100 bookings through both nodes.
    let body =
        json!({"guest_id": gid, "room_type": "KING", "arrival": on(20), "departure": on(21)});
    let path = format!("/api/v1/properties/{pid}/reservations");
    let tasks: Vec<_> = (0..100)
        .map(|i| post_on(if i % 2 == 0 { a } else { b }, path.clone(), body.clone()))
        .collect();
    let results = futures_util::future::join_all(tasks).await;
    let won = results.iter().filter(|r| r.0 == 201).count();
    let sold_out = results
        .iter()
        .filter(|r| *r == &(409, "sold_out".to_owned()))
        .count();
    assert_eq!((won, sold_out), (2, 98), "{results:?}");
}

#[actix_web::test]
async fn stock_changed_on_two_nodes_at_once_loses_no_count() {
    let (_db, nodes) = cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let pid = a.hotel(&["101"]).await;
    let r = a
        .post(
            &format!("/api/v1/properties/{pid}/stock"),
            &json!({"item": "linen", "count": 500, "low_at": 10}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // 60 adjustments at once through both nodes: each answered 200 (or, past its retries,
    // 409 contention, having changed nothing), and every 200 counted exactly once.
    let path = format!("/api/v1/properties/{pid}/stock/linen/adjust");
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let node = if i % 2 == 0 { a } else { b };
            post_on(node, path.clone(), json!({"delta": -1, "reason": "used"}))
        })
        .collect();
    let results = futures_util::future::join_all(tasks).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    assert!(ok > 0);
    assert!(
        results.iter().all(|r| r.0 == 200 || r.0 == 409),
        "{results:?}"
    );
    let version = 1 + ok as u64;
    for node in [a, b] {
        let r = node.get(&format!("/api/v1/properties/{pid}/stock")).await;
        let item = &r.body["stock"][0];
        assert_eq!(
            (item["count"].as_i64(), item["version"].as_u64()),
            (Some(500 - ok as i64), Some(version))
        );
    }
    let audit = a
        .get(&format!(
            "/api/v1/properties/{pid}/audit?stream=stock:{pid}:linen&limit=500"
        ))
        .await;
    let logged: Vec<u64> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(logged, (1..=version).collect::<Vec<_>>(), "a gapless log");
}
