//! Delivery latency across nodes: an HTTP status change on node A until the event frame
//! reaches a WebSocket client, on node A itself (local hub) and on node B (through Redis).
//! Both nodes share one PostgreSQL database (created and dropped here) and one Redis (under a
//! prefix of this run). Run with `cargo bench --bench cross_node`.

use std::{sync::Arc, time::Duration};

use bellhop::{
    Application,
    config::{Config, DatabaseConfig},
};
use criterion::Criterion;
use futures_util::{SinkExt as _, StreamExt as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ADMIN: (&str, &str) = ("admin@bench.bellhop", "admin-password-for-bench");

async fn node(db_url: &str, prefix: &str, redis: &str) -> (u16, bellhop::ShutdownHandle) {
    let mut config = Config::for_tests(DatabaseConfig::Postgres {
        url: SecretString::from(db_url.to_owned()),
    });
    config.redis_url = Some(SecretString::from(redis.to_owned()));
    config.redis_prefix = prefix.to_owned();
    config.auth = bellhop::config::AuthConfig::for_tests(ADMIN.0, ADMIN.1);
    let app = Application::build(config).await.expect("build node");
    let port = app.port();
    let stop = app.shutdown_handle();
    actix_rt::spawn(app.run_until_stopped());
    (port, stop)
}

async fn subscribed(port: u16, token: &str, topic: &str) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={token}"))
            .await
            .expect("ws");
    ws.send(Message::text(
        json!({"op": "subscribe", "topic": topic}).to_string(),
    ))
    .await
    .expect("subscribe");
    next_text(&mut ws).await;
    ws
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Text(t) => return serde_json::from_str(&t).expect("json"),
            _ => continue,
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let system = actix_rt::System::new();
    let admin_url = std::env::var("BELLHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let redis = std::env::var("BELLHOP_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let name = format!("bellhop_bench_x_{}", std::process::id());
    let db_url = {
        let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
        format!("{base}/{name}")
    };
    let admin = system.block_on(async {
        let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .expect("PostgreSQL for the bench");
        actix_rt::spawn(async move {
            let _ = conn.await;
        });
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create bench database");
        client
    });
    let prefix = format!("bellhop-bench-{}:", std::process::id());
    let (setup, stops) = system.block_on(async {
        let (a, stop_a) = node(&db_url, &prefix, &redis).await;
        let (b, stop_b) = node(&db_url, &prefix, &redis).await;
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("http://127.0.0.1:{a}/api/v1/auth/login"))
            .json(&json!({"email": ADMIN.0, "password": ADMIN.1}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login body");
        let token = login["access_token"].as_str().expect("token").to_owned();
        let p: Value = http
            .post(format!("http://127.0.0.1:{a}/api/v1/properties"))
            .bearer_auth(&token)
            .json(&json!({"name": "Bench"}))
            .send()
            .await
            .expect("property")
            .json()
            .await
            .expect("property body");
        let pid = p["id"].as_str().expect("pid").to_owned();
        http.post(format!(
            "http://127.0.0.1:{a}/api/v1/properties/{pid}/rooms"
        ))
        .bearer_auth(&token)
        .json(&json!({"number": "101", "floor": 1, "room_type": "KING"}))
        .send()
        .await
        .expect("room");
        let topic = format!("rooms:{pid}");
        let on_a = subscribed(a, &token, &topic).await;
        let on_b = subscribed(b, &token, &topic).await;
        let url = format!("http://127.0.0.1:{a}/api/v1/properties/{pid}/rooms/101/status");
        ((http, token, url, on_a, on_b), [stop_a, stop_b])
    });
    let (http, token, url, mut on_a, mut on_b) = setup;
    let rush = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut group = c.benchmark_group("delivery");
    for (name, remote) in [("same_node", false), ("other_node_via_redis", true)] {
        group.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                system.block_on(async {
                    let mut measured_total = Duration::ZERO;
                    for _ in 0..iters {
                        let value = !rush.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
                        let (measured, other) = if remote {
                            (&mut on_b, &mut on_a)
                        } else {
                            (&mut on_a, &mut on_b)
                        };
                        // Timed: command accepted on A → frame received by the measured client.
                        let start = std::time::Instant::now();
                        let resp = http
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({"rush": value}))
                            .send()
                            .await
                            .expect("command");
                        assert_eq!(resp.status(), 200);
                        next_text(measured).await;
                        measured_total += start.elapsed();
                        // Not timed: the other client gets the event too; drain it.
                        next_text(other).await;
                    }
                    measured_total
                })
            });
        });
    }
    group.finish();
    system.block_on(async {
        for s in stops {
            s.shutdown();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    });
    c.final_summary();
}
