//! The test harness: a real server on port 0 over a store of its own, real HTTP and
//! WebSocket clients over TCP.
//!
//! PostgreSQL tests each get a fresh database `bellhop_test_<unix time>_<random>`, dropped
//! when the test ends (pass or fail); databases left behind by a killed run are swept after
//! two hours. SQLite tests get a file in a temporary directory.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bellhop::{
    Application, ShutdownHandle,
    config::{Config, DatabaseConfig},
};
use futures_util::{SinkExt as _, StreamExt as _};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, protocol::CloseFrame};

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both!(name, |backend| async move { ... });`
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[actix_web::test]
            async fn sqlite() {
                ($body)($crate::helpers::Backend::Sqlite).await;
            }
            #[actix_web::test]
            async fn postgres() {
                ($body)($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

/// The maintenance connection used to create and drop test databases.
pub fn admin_url() -> String {
    std::env::var("BELLHOP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL must be reachable for the tests (scripts/test.sh starts it)");
    tokio::spawn(conn);
    client
}

/// A store of a test's own, removed when dropped.
pub struct TestDb {
    pub config: DatabaseConfig,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                Self {
                    config: DatabaseConfig::Sqlite {
                        path: dir.path().join("bellhop.db"),
                    },
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let client = admin_client().await;
                sweep_stale_databases(&client).await;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("clock after 1970")
                    .as_secs();
                let name = format!(
                    "bellhop_test_{now}_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                client
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                Self {
                    config: DatabaseConfig::Postgres {
                        url: SecretString::from(with_database(&admin_url(), &name)),
                    },
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

/// Drops test databases older than two hours (left by a run that was killed).
async fn sweep_stale_databases(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bellhop_test_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .strip_prefix("bellhop_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > 7200) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

impl TestDb {
    /// The PostgreSQL database name (None for SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }

    /// Runs SQL on the maintenance connection (e.g. to take the test database away).
    pub async fn admin_sql(sql: &str) {
        admin_client()
            .await
            .batch_execute(sql)
            .await
            .expect("admin SQL");
    }

    /// Runs SQL in test database `name` (to set up a state no route produces).
    pub async fn admin_sql_on(name: &str, sql: &str) {
        let (client, conn) =
            tokio_postgres::connect(&with_database(&admin_url(), name), tokio_postgres::NoTls)
                .await
                .expect("the test database");
        tokio::spawn(conn);
        client
            .batch_execute(sql)
            .await
            .expect("SQL on the test database");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = admin_client().await;
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub http: reqwest::Client,
    /// The configured admin's access token, sent by `get`, `post` and `ws`.
    pub token: String,
    /// Keeps the store alive (and its PostgreSQL database undropped) while the server runs.
    _db: Arc<TestDb>,
    shutdown: ShutdownHandle,
    server: Option<actix_rt::task::JoinHandle<anyhow::Result<()>>>,
}

/// A server on a fresh store of the given backend.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(Arc::new(TestDb::new(backend).await), |_| {}).await
}

/// A server on `db` (shared with an earlier server, e.g. to test a restart), with the config
/// adjusted by `tweak`.
pub async fn spawn_app_with(db: Arc<TestDb>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    bellhop::telemetry::init_for_tests();
    let mut config = Config::for_tests(db.config.clone());
    tweak(&mut config);
    let app = Application::build(config).await.expect("build app");
    let port = app.port();
    let shutdown = app.shutdown_handle();
    let server = actix_rt::spawn(app.run_until_stopped());
    let mut app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        http: reqwest::Client::new(),
        token: String::new(),
        _db: db,
        shutdown,
        server: Some(server),
    };
    let login = app.login(ADMIN_EMAIL, ADMIN_PASSWORD, None).await;
    assert_eq!(login.status, 200, "admin login: {}", login.body);
    app.token = login.body["access_token"].as_str().unwrap().to_owned();
    app
}

/// The admin `Config::for_tests` ensures.
pub const ADMIN_EMAIL: &str = "admin@test.bellhop";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A parsed HTTP answer.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// The stable error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no code>")
    }
}

impl TestApp {
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) {
        self.shutdown.shutdown();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// GET as the admin.
    pub async fn get(&self, path: &str) -> Reply {
        self.get_as(Some(&self.token), path).await
    }

    /// POST as the admin.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(Some(&self.token), path, body).await
    }

    /// GET with the given bearer credential (or none).
    pub async fn get_as(&self, token: Option<&str>, path: &str) -> Reply {
        let mut req = self.http.get(format!("{}{path}", self.address));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        reply(req.send().await.expect("GET")).await
    }

    /// POST with the given bearer credential (or none).
    pub async fn post_as(&self, token: Option<&str>, path: &str, body: &Value) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.address)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        reply(req.send().await.expect("POST")).await
    }

    /// POSTs raw bytes as JSON, as the admin (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, body: &'static str) -> Reply {
        let resp = self
            .http
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        reply(resp).await
    }

    /// `POST /auth/login`.
    pub async fn login(&self, email: &str, password: &str, totp: Option<&str>) -> Reply {
        let mut body = json!({"email": email, "password": password});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        self.post_as(None, "/api/v1/auth/login", &body).await
    }

    /// Creates a user of `role` in `pid` and logs in; returns the access token.
    pub async fn user_token(&self, pid: &str, role: &str, email: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/properties/{pid}/users"),
                &json!({"email": email, "name": role, "role": role, "password": "password-for-tests"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let login = self.login(email, "password-for-tests", None).await;
        assert_eq!(login.status, 200, "{}", login.body);
        login.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a property and `rooms` (numbers) on floor 1; returns the property id.
    pub async fn hotel(&self, rooms: &[&str]) -> String {
        let r = self
            .post(
                "/api/v1/properties",
                &json!({"name": "Test Hotel", "timezone": "Europe/Berlin"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let pid = r.body["id"].as_str().expect("property id").to_owned();
        if !rooms.is_empty() {
            let specs: Vec<Value> = rooms
                .iter()
                .map(|n| json!({"number": n, "floor": 1, "room_type": "KING"}))
                .collect();
            let r = self
                .post(
                    &format!("/api/v1/properties/{pid}/rooms"),
                    &Value::Array(specs),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        pid
    }

    /// Changes a room's status over HTTP, expecting success; returns the room.
    pub async fn set_status(&self, pid: &str, number: &str, body: Value) -> Value {
        let r = self
            .post(
                &format!("/api/v1/properties/{pid}/rooms/{number}/status"),
                &body,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// A WebSocket as the admin.
    pub async fn ws(&self) -> WsClient {
        WsClient::connect(self.port, &self.token).await
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client speaking the Bellhop protocol.
pub struct WsClient {
    pub ws: Ws,
}

/// How long a test waits for a frame that must come.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

impl WsClient {
    /// Connects with `token` in the query string (as a browser would).
    pub async fn connect(port: u16, token: &str) -> Self {
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?token={token}"))
                .await
                .expect("websocket connect");
        Self { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s)).await.expect("ws send");
    }

    /// The next JSON text frame (skipping pings and pongs).
    pub async fn next_json(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("a frame within the timeout")
                .expect("stream open")
                .expect("frame ok");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Subscribes and returns the `subscribed` frame.
    pub async fn subscribe(&mut self, topic: &str) -> Value {
        self.send(json!({"op": "subscribe", "topic": topic, "id": topic}))
            .await;
        let f = self.next_json().await;
        assert_eq!(f["type"], "subscribed", "{f}");
        assert_eq!(f["id"], topic);
        f
    }

    /// Reads until the server closes; returns the close frame.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .expect("close within the timeout")
            {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// The token of a guest's email link for reservation `rid` of `pid`, signed with the tests'
/// secret (what the outbox puts in the link).
pub fn guest_token(rid: &str, pid: &str) -> String {
    bellhop::auth::TokenIssuer::new(
        &bellhop::config::AuthConfig::for_tests("x", "y").jwt_secret,
        Duration::from_secs(900),
    )
    .guest(
        rid.parse().expect("a reservation id"),
        bellhop::domain::PropertyId(pid.parse().expect("a property id")),
        Duration::from_secs(3600),
    )
    .expect("a guest token")
}
