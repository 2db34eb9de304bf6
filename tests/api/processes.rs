//! Real `bellhop` processes sharing one PostgreSQL and one Redis; one is killed with SIGKILL
//! (no graceful anything) and its clients resume on the other with nothing missing.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use bellhop::config::DatabaseConfig;
use futures_util::StreamExt as _;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestDb, WsClient};

/// A running server process, killed when dropped.
struct Process {
    child: Child,
    base: String,
    port: u16,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db_url: &str, prefix: &str) -> Process {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_bellhop"))
        .env("BELLHOP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db_url)
        .env(
            "REDIS_URL",
            std::env::var("BELLHOP_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
        .env("BELLHOP_REDIS_PREFIX", prefix)
        .env(
            "BELLHOP_JWT_SECRET",
            "process-test-secret-process-test-secret",
        )
        .env("BELLHOP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("BELLHOP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("BELLHOP_DEMO", "0")
        .env("BELLHOP_WORKERS", "1")
        .env("BELLHOP_ACTOR_THREADS", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bellhop");
    let process = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
        port,
    };
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{}/ready", process.base)).send().await
            && r.status() == 200
        {
            return process;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bellhop did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn clients_of_a_killed_process_resume_on_another_with_nothing_missing() {
    let db = TestDb::new(Backend::Postgres).await;
    let DatabaseConfig::Postgres { url } = &db.config else {
        unreachable!()
    };
    let prefix = format!("bellhop-test-{}:", uuid::Uuid::new_v4());
    let first = start(url.expose_secret(), &prefix).await;
    let second = start(url.expose_secret(), &prefix).await;
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", first.base))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (s, p) = post(
        &http,
        format!("{}/api/v1/properties", first.base),
        &token,
        json!({"name": "Killed"}),
    )
    .await;
    assert_eq!(s, 201);
    let pid = p["id"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &http,
        format!("{}/api/v1/properties/{pid}/rooms", first.base),
        &token,
        json!({"number": "101", "floor": 1, "room_type": "KING"}),
    )
    .await;
    assert_eq!(s, 201);

    let topic = format!("rooms:{pid}");
    let mut on_first = WsClient::connect(first.port, &token).await;
    let mut on_second = WsClient::connect(second.port, &token).await;
    on_first.subscribe(&topic).await;
    on_second.subscribe(&topic).await;
    let status = |base: &str| format!("{base}/api/v1/properties/{pid}/rooms/101/status");
    let (s, _) = post(
        &http,
        status(&first.base),
        &token,
        json!({"cleanliness": "clean"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(on_first.next_json().await["seq"], 2);
    assert_eq!(
        on_second.next_json().await["seq"],
        2,
        "across processes through Redis"
    );
    // Acknowledged, then the process dies at once.
    let (s, _) = post(
        &http,
        status(&first.base),
        &token,
        json!({"cleanliness": "inspected"}),
    )
    .await;
    assert_eq!(s, 200);
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // The socket just breaks (no close frame from a killed process).
    loop {
        match tokio::time::timeout(Duration::from_secs(10), on_first.ws.next()).await {
            Ok(
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | Some(Err(_)) | None,
            ) => break,
            Ok(Some(Ok(_))) => continue,
            Err(_) => panic!("the dead process's socket stayed open"),
        }
    }
    // Its client resumes on the surviving process: the acknowledged change is there.
    let mut resumed = WsClient::connect(second.port, &token).await;
    let sub = resumed.subscribe(&topic).await;
    let room = &sub["snapshot"]["rooms"][0];
    assert_eq!(
        (room["version"].as_u64(), room["cleanliness"].as_str()),
        (Some(3), Some("inspected"))
    );
    let (s, _) = post(&http, status(&second.base), &token, json!({"rush": true})).await;
    assert_eq!(s, 422, "an inspected room needs no rush");
    let (s, _) = post(
        &http,
        status(&second.base),
        &token,
        json!({"cleanliness": "dirty"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(resumed.next_json().await["seq"], 4);
    // The client that stayed on the survivor sees 4, in order after 3 — unless the killed
    // process died between answering and publishing 3 (pub/sub is at-most-once); then it sees
    // the version jump 2 → 4 and refetches. Never a duplicate, never out of order.
    let mut seen = Vec::new();
    while seen.last() != Some(&4) {
        seen.push(on_second.next_json().await["seq"].as_u64().unwrap());
    }
    assert!(seen == [3, 4] || seen == [4], "{seen:?}");
}
