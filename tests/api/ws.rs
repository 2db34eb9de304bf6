//! The WebSocket protocol with real clients over TCP.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, protocol::frame::coding::CloseCode};

use crate::{
    both,
    helpers::{Backend, TestDb, WsClient, spawn_app, spawn_app_with},
};

fn rooms_of(snapshot: &Value) -> &Vec<Value> {
    snapshot["snapshot"]["rooms"]
        .as_array()
        .expect("rooms in snapshot")
}

both!(
    two_clients_see_every_change_in_order_with_versions,
    |b| async move {
        let app = spawn_app(b).await;
        let me = app.get("/api/v1/auth/me").await.body;
        let admin = format!("user:{}", me["user_id"].as_str().unwrap());
        let pid = app.hotel(&["101", "102"]).await;
        let topic = format!("rooms:{pid}");
        let mut a = app.ws().await;
        let mut c = app.ws().await;
        for client in [&mut a, &mut c] {
            let sub = client.subscribe(&topic).await;
            let rooms = rooms_of(&sub);
            assert_eq!(rooms.len(), 2);
            assert!(rooms.iter().all(|r| r["version"] == 1));
            assert_eq!(sub["snapshot"]["property"]["id"], pid.as_str());
        }
        app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
            .await;
        app.set_status(&pid, "102", json!({"rush": true})).await;
        app.set_status(&pid, "101", json!({"cleanliness": "inspected"}))
            .await;
        app.set_status(
            &pid,
            "101",
            json!({"hk_occupancy": "occupied", "service": "dnd"}),
        )
        .await;

        for client in [&mut a, &mut c] {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let f = client.next_json().await;
                assert_eq!(f["type"], "event", "{f}");
                assert_eq!(f["topic"], topic.as_str());
                assert_eq!(
                    f["state"]["version"], f["seq"],
                    "state is the room after the event"
                );
                seen.push((
                    f["state"]["number"].as_str().unwrap().to_owned(),
                    f["seq"].as_u64().unwrap(),
                    f["event"]["kind"].as_str().unwrap().to_owned(),
                ));
                assert_eq!(
                    f["event"]["actor"],
                    admin.as_str(),
                    "who did it is recorded"
                );
                assert!(f["event"]["at"].is_string());
            }
            let expected = [
                ("101", 2, "cleanliness_changed"),
                ("102", 2, "rush_changed"),
                ("101", 3, "cleanliness_changed"),
                ("101", 4, "hk_occupancy_reported"),
                ("101", 5, "service_flag_changed"),
            ];
            let expected: Vec<_> = expected
                .iter()
                .map(|(n, s, k)| ((*n).to_owned(), *s, (*k).to_owned()))
                .collect();
            assert_eq!(seen, expected);
        }
        app.stop().await;
    }
);

both!(a_single_room_topic_carries_only_that_room, |b| async move {
    let app = spawn_app(b).await;
    let pid = app.hotel(&["101", "102"]).await;
    let mut ws = app.ws().await;
    let sub = ws.subscribe(&format!("room:{pid}:102")).await;
    assert_eq!(sub["snapshot"]["room"]["number"], "102");
    assert_eq!(sub["snapshot"]["room"]["version"], 1);
    app.set_status(&pid, "101", json!({"rush": true})).await;
    app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
        .await;
    let f = ws.next_json().await;
    assert_eq!(
        (f["stream"].as_str(), f["seq"].as_u64()),
        (sub["snapshot"]["room"]["stream"].as_str(), Some(2))
    );
    assert_eq!(f["state"]["number"], "102");
    app.stop().await;
});

#[actix_web::test]
async fn new_rooms_and_blocks_appear_on_the_board() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let mut ws = app.ws().await;
    ws.subscribe(&format!("rooms:{pid}")).await;
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/rooms"),
            &json!({"number": "301", "floor": 3, "room_type": "SUITE"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let f = ws.next_json().await;
    assert_eq!(
        (f["event"]["kind"].as_str(), f["seq"].as_u64()),
        (Some("room_created"), Some(1))
    );
    assert_eq!(f["state"]["room_type"], "SUITE");
    let to = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    app.post(
        &format!("/api/v1/properties/{pid}/rooms/101/blocks"),
        &json!({"kind": "out_of_service", "to": to, "reason": "paint"}),
    )
    .await;
    let f = ws.next_json().await;
    assert_eq!(f["event"]["kind"], "block_placed");
    assert_eq!(f["state"]["block"]["kind"], "out_of_service");
    app.stop().await;
}

#[actix_web::test]
async fn unsubscribing_stops_the_events() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let topic = format!("rooms:{pid}");
    let mut ws = app.ws().await;
    ws.subscribe(&topic).await;
    ws.send(json!({"op": "unsubscribe", "topic": topic, "id": 9}))
        .await;
    let f = ws.next_json().await;
    assert_eq!(
        (f["type"].as_str(), f["id"].as_u64()),
        (Some("unsubscribed"), Some(9))
    );
    // The change is published before the HTTP answer; a ping after it is answered after any
    // event that was queued, so the next frame being the pong proves no event came.
    app.set_status(&pid, "101", json!({"rush": true})).await;
    ws.send(json!({"op": "ping", "id": "p"})).await;
    let f = ws.next_json().await;
    assert_eq!(
        (f["type"].as_str(), f["id"].as_str()),
        (Some("pong"), Some("p"))
    );
    app.stop().await;
}

#[actix_web::test]
async fn bad_frames_get_error_frames_and_the_session_lives_on() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let mut ws = app.ws().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!("not json at all"), "bad_request"),
        (json!({"op": "dance", "id": 1}), "bad_request"),
        (json!({"op": "subscribe", "id": 2}), "bad_request"),
        (
            json!({"op": "subscribe", "topic": "weather:today", "id": 3}),
            "unknown_topic",
        ),
        (
            json!({"op": "subscribe", "topic": "rooms:not-a-uuid", "id": 4}),
            "unknown_topic",
        ),
        (
            json!({"op": "subscribe", "topic": format!("rooms:{}", uuid::Uuid::new_v4()), "id": 5}),
            "not_found",
        ),
        (
            json!({"op": "subscribe", "topic": format!("room:{pid}:999"), "id": 6}),
            "not_found",
        ),
        (
            json!({"op": "unsubscribe", "topic": format!("rooms:{pid}"), "id": 7}),
            "not_subscribed",
        ),
    ];
    for (frame, code) in cases {
        match &frame {
            Value::String(s) => ws.send_text(s).await,
            other => ws.send(other.clone()).await,
        }
        let f = ws.next_json().await;
        assert_eq!(
            (f["type"].as_str(), f["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}"
        );
        if let Some(id) = frame.get("id") {
            assert_eq!(&f["id"], id, "errors carry the request id");
        }
    }
    ws.ws.send_binary_frame().await;
    let f = ws.next_json().await;
    assert_eq!(f["code"], "bad_request");

    ws.subscribe(&format!("rooms:{pid}")).await;
    ws.send(json!({"op": "subscribe", "topic": format!("rooms:{pid}"), "id": 8}))
        .await;
    let f = ws.next_json().await;
    assert_eq!(f["code"], "already_subscribed");
    // Still alive and subscribed.
    app.set_status(&pid, "101", json!({"rush": true})).await;
    assert_eq!(ws.next_json().await["type"], "event");
    app.stop().await;
}

/// Sends a binary frame (not part of the protocol).
trait SendBinary {
    async fn send_binary_frame(&mut self);
}

impl SendBinary
    for tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
{
    async fn send_binary_frame(&mut self) {
        use futures_util::SinkExt as _;
        self.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    }
}

#[actix_web::test]
async fn an_oversized_frame_closes_with_1009() {
    let db = Arc::new(TestDb::new(Backend::Sqlite).await);
    let app = spawn_app_with(db, |c| c.ws.max_frame_bytes = 1024).await;
    let mut ws = app.ws().await;
    ws.send_text(&format!(
        "{{\"op\":\"ping\",\"id\":\"{}\"}}",
        "x".repeat(4096)
    ))
    .await;
    let close = ws.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Size);
    // The node is fine.
    let mut other = app.ws().await;
    other.send(json!({"op": "ping"})).await;
    assert_eq!(other.next_json().await["type"], "pong");
    app.stop().await;
}

/// A ping frame of exactly `len` bytes of JSON.
fn ping_of_len(len: usize) -> Vec<u8> {
    let pad = len - r#"{"op":"ping","id":""}"#.len();
    format!(r#"{{"op":"ping","id":"{}"}}"#, "x".repeat(pad)).into_bytes()
}

#[actix_web::test]
async fn a_frame_up_to_the_limit_is_answered_and_a_larger_one_is_refused_by_its_header() {
    // The default limit, 65,536 bytes: such a frame is 65,550 bytes on the wire, more than the
    // session reads in one bite (this used to leave it unread, and the session spinning).
    let app = spawn_app(Backend::Sqlite).await;
    let max = 65_536;
    for len in [65_529, max] {
        let mut raw = RawWs::connect(app.port, &app.token).await;
        raw.write(&masked(true, 0x1, &ping_of_len(len))).await;
        let pong = raw.json().await;
        assert_eq!(pong["type"], "pong", "{len} bytes");
        assert_eq!(pong["id"].as_str().unwrap().len(), len - 21);
    }
    // One byte more: the header alone is enough to refuse it with 1009, without the payload.
    let mut raw = RawWs::connect(app.port, &app.token).await;
    let frame = masked(true, 0x1, &ping_of_len(max + 1));
    raw.write(&frame[..14]).await;
    let (_, code) = raw.read_until_close().await;
    assert_eq!(code, 1009);
    assert!(raw.at_eof().await, "and the connection ends");
    // A frame far larger than the limit, sent whole: refused the same way.
    let mut raw = RawWs::connect(app.port, &app.token).await;
    raw.write(&masked(true, 0x1, &ping_of_len(300_000))).await;
    let (_, code) = raw.read_until_close().await;
    assert_eq!(code, 1009);
    assert!(raw.at_eof().await);
    // The node is fine.
    let mut other = app.ws().await;
    other.send(json!({"op": "ping"})).await;
    assert_eq!(other.next_json().await["type"], "pong");
    app.stop().await;
}

#[actix_web::test]
async fn a_fragmented_control_frame_fails_the_connection_without_an_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut raw = RawWs::connect(app.port, &app.token).await;
    // A ping with FIN=0, then its "continuation": RFC 6455 §5.5 forbids the first.
    let mut bytes = masked(false, 0x9, b"hello");
    bytes.extend_from_slice(&masked(true, 0x0, b"world"));
    raw.write(&bytes).await;
    let (op, payload) = raw.frame().await;
    assert_eq!(op, 0x8, "a close, not a pong");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1002);
    app.stop().await;
}

#[actix_web::test]
async fn silent_clients_are_closed_and_answering_ones_are_kept() {
    let db = Arc::new(TestDb::new(Backend::Sqlite).await);
    let app = spawn_app_with(db, |c| {
        c.ws.ping_interval = Duration::from_millis(100);
        c.ws.client_timeout = Duration::from_millis(500);
    })
    .await;
    let mut lively = app.ws().await;
    let mut silent = RawWs::connect(app.port, &app.token).await;
    // The lively client keeps reading, so tungstenite answers every ping with a pong.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout_at(until, futures_util::StreamExt::next(&mut lively.ws)).await
    {
        if matches!(msg, Message::Ping(_)) {
            pings += 1;
        }
    }
    assert!(pings >= 3, "the server pings ({pings})");
    lively.send(json!({"op": "ping"})).await;
    assert_eq!(lively.next_json().await["type"], "pong");
    // The silent one never wrote a byte after the handshake, so never ponged.
    let (pings, code) = silent.read_until_close().await;
    assert!(pings >= 1, "it was pinged before being closed");
    assert_eq!(code, 4002);
    app.stop().await;
}

/// A WebSocket client over a raw socket: it writes exactly the bytes a test gives it (so it
/// never answers pings on its own, as tungstenite would) and reads frames one by one.
struct RawWs {
    tcp: tokio::net::TcpStream,
}

/// The handshake of a client to `path`, with extra header lines.
fn handshake(port: u16, path: &str, headers: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Upgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A masked client frame.
fn masked(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![if fin { 0x80 | op } else { op }];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 65_535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

impl RawWs {
    async fn connect(port: u16, token: &str) -> Self {
        let request = handshake(port, "/ws", &format!("Authorization: Bearer {token}\r\n"));
        let (ws, head) = Self::open(port, &request, &[]).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        ws
    }

    /// Sends `request` and then `early` in the same write; returns the response head.
    async fn open(port: u16, request: &str, early: &[u8]) -> (Self, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut bytes = request.as_bytes().to_vec();
        bytes.extend_from_slice(early);
        tcp.write_all(&bytes).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        (Self { tcp }, String::from_utf8(head).unwrap())
    }

    /// The JSON body of a refused upgrade (whose head said how long it is).
    async fn body(&mut self, head: &str) -> Value {
        use tokio::io::AsyncReadExt as _;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .expect("content-length")
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        self.tcp.read_exact(&mut body).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    async fn write(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt as _;
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next server frame: its opcode and payload.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        use tokio::io::AsyncReadExt as _;
        let read = async {
            let mut hdr = [0u8; 2];
            self.tcp.read_exact(&mut hdr).await?;
            assert_eq!(hdr[1] & 0x80, 0, "server frames are not masked");
            let len = match hdr[1] & 0x7f {
                126 => usize::from(self.tcp.read_u16().await?),
                127 => usize::try_from(self.tcp.read_u64().await?).unwrap(),
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            self.tcp.read_exact(&mut payload).await?;
            Ok::<_, std::io::Error>((hdr[0] & 0x0f, payload))
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("a frame within the timeout")
            .expect("connection open")
    }

    /// The next text frame, as JSON (pings skipped).
    async fn json(&mut self) -> Value {
        loop {
            match self.frame().await {
                (0x1, text) => return serde_json::from_slice(&text).unwrap(),
                (0x9, _) => {}
                (op, _) => panic!("unexpected opcode {op}"),
            }
        }
    }

    /// Reads server frames (small control frames only) until a close; returns the pings seen
    /// and the close code.
    async fn read_until_close(&mut self) -> (usize, u16) {
        let mut pings = 0;
        loop {
            match self.frame().await {
                (0x9, _) => pings += 1,
                (0x8, payload) => return (pings, u16::from_be_bytes([payload[0], payload[1]])),
                (op, _) => panic!("unexpected opcode {op}"),
            }
        }
    }

    /// Whether the server closed the TCP connection (after its close frame).
    async fn at_eof(&mut self) -> bool {
        use tokio::io::AsyncReadExt as _;
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.tcp.read(&mut b)).await,
            Ok(Ok(0))
        )
    }
}

#[actix_web::test]
async fn refused_upgrades_get_the_api_error_and_no_socket() {
    let app = spawn_app(Backend::Sqlite).await;
    let auth = format!("Authorization: Bearer {}\r\n", app.token);
    let cases = [
        // Upgrades are only offered on /ws.
        (
            handshake(app.port, "/api/v1/properties", &auth),
            404,
            "not_found",
        ),
        // No credential, no upgrade.
        (handshake(app.port, "/ws", ""), 401, "unauthenticated"),
        (
            handshake(app.port, "/ws?token=not-a-token", ""),
            401,
            "invalid_token",
        ),
        // A credential but no WebSocket version.
        (
            handshake(app.port, "/ws", &auth).replace("Sec-WebSocket-Version: 13\r\n", ""),
            400,
            "bad_handshake",
        ),
    ];
    for (request, status, code) in cases {
        let (mut raw, head) = RawWs::open(app.port, &request, &[]).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request}: {head}"
        );
        assert_eq!(raw.body(&head).await["error"]["code"], code, "{request}");
        assert!(raw.at_eof().await, "the connection closes");
    }
    // A plain GET (no upgrade asked for) is routed, and answered the same way.
    let r = app.get_as(Some(&app.token), "/ws").await;
    assert_eq!((r.status, r.code()), (400, "bad_handshake"));
    // The node serves on.
    let mut ws = app.ws().await;
    ws.send(json!({"op": "ping"})).await;
    assert_eq!(ws.next_json().await["type"], "pong");
    app.stop().await;
}

#[actix_web::test]
async fn frames_sent_with_the_handshake_and_in_fragments_are_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let request = handshake(
        app.port,
        "/ws",
        &format!("Authorization: Bearer {}\r\n", app.token),
    );
    // A client that does not wait for the 101: a request split in two fragments with a ping
    // between them, all in the same packet as the handshake.
    let mut early = masked(false, 0x1, br#"{"op":"ping","#);
    early.extend(masked(true, 0x9, b"hello"));
    early.extend(masked(true, 0x0, br#""id":"early"}"#));
    let (mut raw, head) = RawWs::open(app.port, &request, &early).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        raw.frame().await,
        (0xA, b"hello".to_vec()),
        "the ping is answered"
    );
    assert_eq!(raw.json().await, json!({"type": "pong", "id": "early"}));
    // A large request (extended length) works too.
    let pid = app.hotel(&["101"]).await;
    let padded = format!(
        r#"{{"op":"subscribe","topic":"rooms:{pid}","id":"{}"}}"#,
        "x".repeat(300)
    );
    raw.write(&masked(true, 0x1, padded.as_bytes())).await;
    let sub = raw.json().await;
    assert_eq!(sub["type"], "subscribed", "{sub}");
    assert_eq!(sub["snapshot"]["rooms"][0]["number"], "101");
    // A close is answered with the same code, and the server lets the connection go.
    raw.write(&masked(true, 0x8, &1000u16.to_be_bytes())).await;
    assert_eq!(raw.read_until_close().await, (0, 1000));
    assert!(raw.at_eof().await);
    app.stop().await;
}

#[actix_web::test]
async fn a_slow_consumer_is_cut_off_and_the_others_get_everything() {
    let db = Arc::new(TestDb::new(Backend::Sqlite).await);
    let app = spawn_app_with(db, |c| c.ws.outbound_queue = 4).await;
    let pid = app.hotel(&["101"]).await;
    let topic = format!("rooms:{pid}");
    let mut fast = app.ws().await;
    fast.subscribe(&topic).await;
    let mut slow = WsClient::connect(app.port, &app.token).await;
    slow.subscribe(&topic).await;
    slow.subscribe(&format!("room:{pid}:101")).await;
    // The fast client reads in the background and records seqs.
    let reader = actix_rt::spawn(async move {
        let mut seqs = Vec::new();
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut fast.ws),
        )
        .await
        {
            let f: Value = serde_json::from_str(&t).unwrap();
            seqs.push(f["seq"].as_u64().unwrap());
        }
        seqs
    });
    // The slow client reads nothing while changes pour in, until the server gives up on it.
    let mut sent = 0u64;
    let mut rush = true;
    loop {
        for _ in 0..25 {
            app.set_status(&pid, "101", json!({"rush": rush})).await;
            rush = !rush;
            sent += 1;
        }
        let metrics = app
            .http
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("bellhop_ws_slow_consumer_disconnects_total 1") {
            break;
        }
        assert!(sent < 5000, "the slow consumer was never disconnected");
    }
    let close = slow.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::from(4001));
    let seqs = reader.await.unwrap();
    let expected: Vec<u64> = (2..=sent + 1).collect();
    assert_eq!(seqs, expected, "the fast client got every event, in order");
    app.stop().await;
}

#[actix_web::test]
async fn shutdown_closes_sessions_with_going_away() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101"]).await;
    let mut ws = app.ws().await;
    ws.subscribe(&format!("rooms:{pid}")).await;
    let stopping = actix_rt::spawn(app.stop());
    let close = ws.expect_close().await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Away);
    stopping.await.unwrap();
}

#[actix_web::test]
async fn a_big_board_arrives_whole_to_many_subscribers_at_once() {
    // 150 rooms make a snapshot of tens of kilobytes: it goes out in continuation fragments,
    // read once and shared by the subscribers that arrive together.
    let app = spawn_app(Backend::Sqlite).await;
    let numbers: Vec<String> = (0..150).map(|i| format!("{}", 1000 + i)).collect();
    let pid = app.hotel(&[]).await;
    let specs: Vec<Value> = numbers
        .iter()
        .map(|n| json!({"number": n, "floor": 1, "room_type": "SUITE"}))
        .collect();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/rooms"),
            &Value::Array(specs),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let topic = format!("rooms:{pid}");
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(app.ws().await);
    }
    let subs =
        futures_util::future::join_all(clients.iter_mut().map(|c| c.subscribe(&topic))).await;
    for sub in &subs {
        let rooms = rooms_of(sub);
        assert_eq!(rooms.len(), 150);
        assert!(rooms.iter().all(|r| r["room_type"] == "SUITE"));
    }
    app.set_status(&pid, "1042", json!({"rush": true})).await;
    for c in &mut clients {
        let f = c.next_json().await;
        assert_eq!(
            (f["type"].as_str(), f["seq"].as_u64()),
            (Some("event"), Some(2))
        );
        assert_eq!(f["state"]["number"], "1042");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_client_that_floods_pings_without_reading_gets_every_pong_in_order() {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app(Backend::Sqlite).await;
    let raw = RawWs::connect(app.port, &app.token).await;
    let (read, mut write) = raw.tcp.into_split();
    // 5,000 pings of 125 bytes (~650 KB of pongs): more than the socket buffers hold, so the
    // server's answers back up while the client is not reading yet.
    const PINGS: usize = 5000;
    let writer = tokio::spawn(async move {
        let mut all = Vec::new();
        for i in 0..PINGS {
            let mut payload = format!("{i:08}").into_bytes();
            payload.resize(125, b'.');
            all.extend(masked(true, 0x9, &payload));
        }
        write.write_all(&all).await.unwrap();
        write
    });
    // Start reading only after a while, then read while the rest may still be being written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut read = read;
    for i in 0..PINGS {
        use tokio::io::AsyncReadExt as _;
        let mut frame = [0u8; 127];
        tokio::time::timeout(Duration::from_secs(10), read.read_exact(&mut frame))
            .await
            .expect("a pong within the timeout")
            .expect("connection open");
        assert_eq!(frame[..2], [0x8A, 125], "pong {i}");
        assert_eq!(&frame[2..10], format!("{i:08}").as_bytes(), "in order");
    }
    let mut raw = RawWs {
        tcp: read.reunite(writer.await.unwrap()).unwrap(),
    };
    // The session lives on.
    raw.write(&masked(true, 0x1, br#"{"op":"ping","id":1}"#))
        .await;
    assert_eq!(raw.json().await, json!({"type": "pong", "id": 1}));
    app.stop().await;
}

both!(
    a_ping_is_answered_after_every_event_committed_before_it,
    |b| async move {
        let app = spawn_app(b).await;
        let numbers: Vec<String> = (101..=110).map(|n| n.to_string()).collect();
        let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
        let pid = app.hotel(&refs).await;
        let mut ws = app.ws().await;
        ws.subscribe(&format!("rooms:{pid}")).await;
        for round in 0..20u64 {
            // Ten rooms change at once, so events reach the session in bursts.
            let rush = round % 2 == 0;
            let changes = numbers
                .iter()
                .map(|n| app.set_status(&pid, n, json!({"rush": rush})));
            futures_util::future::join_all(changes).await;
            // Every change above was committed (and handed to the hub) before this is sent.
            ws.send(json!({"op": "ping", "id": round})).await;
            for n in 0..numbers.len() {
                let f = ws.next_json().await;
                assert_eq!(f["type"], "event", "round {round}, event {n}: {f}");
            }
            assert_eq!(ws.next_json().await, json!({"type": "pong", "id": round}));
        }
        app.stop().await;
    }
);
