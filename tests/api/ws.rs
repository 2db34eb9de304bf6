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

/// A WebSocket client over a raw socket that never writes after the handshake (tungstenite
/// would answer pings on its own).
struct RawWs {
    tcp: tokio::net::TcpStream,
}

impl RawWs {
    async fn connect(port: u16, token: &str) -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Self { tcp }
    }

    /// Reads server frames (unmasked, small) until a close; returns the pings seen and the
    /// close code.
    async fn read_until_close(&mut self) -> (usize, u16) {
        use tokio::io::AsyncReadExt as _;
        let mut pings = 0;
        loop {
            let mut hdr = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(10), self.tcp.read_exact(&mut hdr))
                .await
                .expect("a frame within the timeout")
                .expect("connection open");
            let len = usize::from(hdr[1] & 0x7f);
            assert!(len < 126, "only small control frames are expected here");
            let mut payload = vec![0u8; len];
            self.tcp.read_exact(&mut payload).await.unwrap();
            match hdr[0] & 0x0f {
                0x9 => pings += 1,
                0x8 => return (pings, u16::from_be_bytes([payload[0], payload[1]])),
                op => panic!("unexpected opcode {op}"),
            }
        }
    }
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
