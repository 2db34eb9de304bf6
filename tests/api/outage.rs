//! The database going away is a 503 that changes nothing, and the node recovers by itself.

use serde_json::json;

use crate::helpers::{Backend, TestDb, spawn_app};

#[actix_web::test]
async fn a_postgres_outage_is_503_with_nothing_half_done_and_then_recovers() {
    let app = spawn_app(Backend::Postgres).await;
    let pid = app.hotel(&["101"]).await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;
    let db = app.db().pg_name().unwrap().to_owned();

    // Take the database away: no new connections, and every existing one killed.
    TestDb::admin_sql(&format!(
        "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}';"
    ))
    .await;

    let status = format!("/api/v1/properties/{pid}/rooms/101/status");
    let r = app
        .post(&status, &json!({"cleanliness": "inspected"}))
        .await;
    assert_eq!((r.status, r.code()), (503, "unavailable"), "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(&db),
        "no internals in the body: {message}"
    );
    let r = app.get(&format!("/api/v1/properties/{pid}/rooms")).await;
    assert_eq!((r.status, r.code()), (503, "unavailable"));
    let r = app.get("/ready").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["store"]["ok"], false);

    // Back again: the failed command left nothing, the same command now works.
    TestDb::admin_sql(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true")).await;
    let r = app.get("/ready").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let room = app
        .get(&format!("/api/v1/properties/{pid}/rooms/101"))
        .await
        .body;
    assert_eq!(
        (room["cleanliness"].as_str(), room["version"].as_u64()),
        (Some("clean"), Some(2))
    );
    let room = app
        .set_status(&pid, "101", json!({"cleanliness": "inspected"}))
        .await;
    assert_eq!(room["version"], 3);
    app.stop().await;
}

/// A TCP proxy in front of PostgreSQL whose path can stall: while cut it moves no bytes in
/// either direction and closes nothing — as a network that silently drops packets looks to
/// both ends — and when restored it delivers what waited, in order, as TCP retransmission
/// would.
struct StallingProxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingProxy {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let c = std::sync::Arc::clone(&cut);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                for (mut from, mut to) in [(cr, sw), (sr, cw)] {
                    let c = std::sync::Arc::clone(&c);
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let mut buf = vec![0u8; 16 * 1024];
                        let stalled = || async {
                            while c.load(SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                            }
                        };
                        loop {
                            stalled().await;
                            let n = match from.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            stalled().await;
                            if to.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown().await;
                    });
                }
            }
        });
        Self { port, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

#[actix_web::test]
async fn a_database_that_stops_answering_is_503_within_seconds_and_nothing_commits_later() {
    let db = std::sync::Arc::new(TestDb::new(Backend::Postgres).await);
    let bellhop::config::DatabaseConfig::Postgres { url } = &db.config else {
        unreachable!()
    };
    let url = secrecy::ExposeSecret::expose_secret(url).to_owned();
    // postgres://user[:pass]@host:port/db?…: the proxy takes host:port's place.
    let after_at = url
        .rsplit_once('@')
        .map_or(&url["postgres://".len()..], |(_, r)| r);
    let upstream = after_at.split(['/', '?']).next().unwrap().to_owned();
    let proxy = StallingProxy::start(upstream.clone()).await;
    let proxied = url.replacen(&upstream, &format!("127.0.0.1:{}", proxy.port), 1);
    let app = crate::helpers::spawn_app_with(std::sync::Arc::clone(&db), move |c| {
        c.database = bellhop::config::DatabaseConfig::Postgres {
            url: secrecy::SecretString::from(proxied),
        };
    })
    .await;
    let pid = app.hotel(&["101"]).await;
    app.set_status(&pid, "101", json!({"cleanliness": "clean"}))
        .await;

    proxy.set_cut(true);
    // The client's own patience: far shorter than the minute a request used to hang.
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(12))
        .build()
        .unwrap();
    let status = format!("{}/api/v1/properties/{pid}/rooms/101/status", app.address);
    let r = http
        .post(&status)
        .bearer_auth(&app.token)
        .json(&json!({"cleanliness": "inspected"}))
        .send()
        .await
        .expect("an answer within the client's patience");
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let r = http
        .get(format!("{}/api/v1/properties/{pid}/rooms", app.address))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("an answer within the client's patience");
    assert_eq!(r.status(), 503);

    // The path heals: what waited on it is delivered, and the node recovers by itself.
    proxy.set_cut(false);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let room = loop {
        let r = app
            .get(&format!("/api/v1/properties/{pid}/rooms/101"))
            .await;
        if r.status == 200 {
            break r.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never recovered: {}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // The command its client was told 503 about did not commit afterwards…
    assert_eq!(
        (room["cleanliness"].as_str(), room["version"].as_u64()),
        (Some("clean"), Some(2))
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let room = app
        .get(&format!("/api/v1/properties/{pid}/rooms/101"))
        .await
        .body;
    assert_eq!(room["version"], 2, "nor later: {room}");
    // …and the same command now works.
    let room = app
        .set_status(&pid, "101", json!({"cleanliness": "inspected"}))
        .await;
    assert_eq!(room["version"], 3);
    app.stop().await;
}
