//! Typed configuration, read once from the environment at start and passed down.
//!
//! Nothing else in the crate reads environment variables: tests build a [`Config`] directly
//! (port 0, their own database), which is what lets them run in parallel.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use secrecy::SecretString;

/// Where durable state lives.
#[derive(Clone, Debug)]
pub enum DatabaseConfig {
    /// The embedded default: one SQLite file, single node.
    Sqlite { path: PathBuf },
    /// PostgreSQL; the URL may carry a password, hence the secret.
    Postgres { url: SecretString },
}

impl DatabaseConfig {
    /// `DATABASE_URL` as §7 describes it: unset → `./bellhop.db`; `sqlite://PATH` → that file;
    /// `postgres://…` / `postgresql://…` → PostgreSQL.
    pub fn from_url(url: Option<&str>) -> anyhow::Result<Self> {
        match url {
            None | Some("") => Ok(Self::Sqlite {
                path: PathBuf::from("bellhop.db"),
            }),
            Some(u) if u.starts_with("sqlite://") => Ok(Self::Sqlite {
                path: PathBuf::from(&u["sqlite://".len()..]),
            }),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Ok(Self::Postgres {
                    url: SecretString::from(u.to_owned()),
                })
            }
            // Never echo the URL: it may hold a password.
            Some(_) => {
                bail!("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")
            }
        }
    }

    #[must_use]
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Sqlite { .. })
    }
}

/// WebSocket session limits (DESIGN §4).
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Largest frame a client may send.
    pub max_frame_bytes: usize,
    /// Frames queued for one session before it counts as a slow consumer and is closed.
    pub outbound_queue: usize,
    /// How often the server pings every session (one node-wide timer, not one per session).
    pub ping_interval: Duration,
    /// A session that sent nothing (not even a pong) for this long is closed.
    pub client_timeout: Duration,
    /// Topics one session may hold at once.
    pub max_subscriptions: usize,
    /// Kernel send buffer asked for each WebSocket socket (`BELLHOP_WS_SNDBUF`; 0 leaves the
    /// kernel's autotuning, which lets a client that stops reading hold megabytes).
    pub send_buffer: usize,
    /// Sockets one staff login or API key may hold open on a node (`BELLHOP_WS_MAX_PER_USER`;
    /// 0: no cap).
    pub max_per_user: usize,
    /// Sockets one guest token may hold open on a node (`BELLHOP_WS_MAX_PER_GUEST`).
    pub max_per_guest: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            outbound_queue: 256,
            ping_interval: Duration::from_secs(25),
            client_timeout: Duration::from_secs(60),
            max_subscriptions: 64,
            // Linux doubles it: 128 KiB in the kernel, a big hotel's board in one go.
            send_buffer: 64 * 1024,
            max_per_user: 50,
            max_per_guest: 5,
        }
    }
}

/// Entity actor settings (DESIGN §2).
#[derive(Clone, Debug)]
pub struct ActorConfig {
    /// An actor that received nothing for this long is stopped; the next use reloads it.
    pub passivate_after: Duration,
    /// How often a lost optimistic-concurrency race is retried before answering 409.
    pub max_conflict_retries: u32,
    /// Threads that run entity actors (separate from the HTTP workers).
    pub arbiters: usize,
    /// A task still unassigned this long after it was created escalates to the supervisors
    /// (`BELLHOP_TASK_ESCALATE_SECS`, default 30 minutes). A task past its `due_at` escalates
    /// too.
    pub escalate_unassigned_after: Duration,
    /// How often the escalation job scans open tasks.
    pub escalation_scan: Duration,
    /// A staff reply a guest has left unread this long, while not connected, is emailed
    /// (`BELLHOP_CHAT_FALLBACK_SECS`, default 15 minutes).
    pub chat_fallback_after: Duration,
    /// How often the email fallback looks for such replies.
    pub chat_fallback_scan: Duration,
    /// Messages one sender may send at once (`BELLHOP_CHAT_BURST`, default 10) …
    pub chat_burst: u32,
    /// … and per minute after that (`BELLHOP_CHAT_PER_MINUTE`, default 30).
    pub chat_per_minute: u32,
}

impl Default for ActorConfig {
    fn default() -> Self {
        Self {
            passivate_after: Duration::from_secs(600),
            max_conflict_retries: 5,
            arbiters: 2,
            escalate_unassigned_after: Duration::from_secs(1800),
            escalation_scan: Duration::from_secs(30),
            chat_fallback_after: Duration::from_secs(900),
            chat_fallback_scan: Duration::from_secs(15),
            chat_burst: 10,
            chat_per_minute: 30,
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// `BELLHOP_JWT_SECRET` (at least 32 bytes). Unset with the embedded store: a random one
    /// per start (tokens end with the process). Required with PostgreSQL, where several
    /// nodes must accept each other's tokens.
    pub jwt_secret: SecretString,
    /// Access token lifetime (`BELLHOP_ACCESS_TTL_SECS`, default 15 minutes).
    pub access_ttl: Duration,
    /// Refresh token lifetime (`BELLHOP_REFRESH_TTL_SECS`, default 30 days).
    pub refresh_ttl: Duration,
    /// `BELLHOP_ADMIN_EMAIL` / `BELLHOP_ADMIN_PASSWORD`: ensure this admin exists at start.
    pub admin: Option<(String, SecretString)>,
    /// Failed logins allowed per account and per address in the window.
    pub login_limits: LimitPolicy,
}

impl AuthConfig {
    fn random_secret() -> SecretString {
        let mut bytes = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
        SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    /// Settings for tests: a fixed secret, the given admin.
    #[must_use]
    pub fn for_tests(admin_email: &str, admin_password: &str) -> Self {
        Self {
            jwt_secret: SecretString::from("test-secret-test-secret-test-secret!".to_owned()),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            admin: Some((
                admin_email.to_owned(),
                SecretString::from(admin_password.to_owned()),
            )),
            login_limits: LimitPolicy::default(),
        }
    }
}

/// Where emails go.
#[derive(Clone, Debug)]
pub enum MailTransport {
    /// `SMTP_URL`, e.g. `smtp://relay:25`, `smtps://user:pass@host:465`,
    /// `smtp://user:pass@host:587?tls=required` (lettre's connection URL). Secret: it may
    /// carry a password.
    Smtp(SecretString),
    /// No `SMTP_URL`: each email is written as an `.eml` file into this directory
    /// (`BELLHOP_EMAIL_DIR`, default `./emails`).
    Files(std::path::PathBuf),
}

/// The email outbox worker.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub transport: MailTransport,
    /// `BELLHOP_EMAIL_FROM`, default `Bellhop <bellhop@localhost>`.
    pub from: String,
    /// `BELLHOP_PUBLIC_URL`: where guests' links point (default `http://<BELLHOP_ADDR>`).
    pub public_url: String,
    /// How often the worker looks for due emails.
    pub poll: Duration,
    /// The first retry waits this long, doubling per failed attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl EmailConfig {
    fn for_tests() -> Self {
        Self {
            transport: MailTransport::Files(std::env::temp_dir().join("bellhop-test-emails")),
            from: "Bellhop <bellhop@localhost>".into(),
            public_url: "http://127.0.0.1".into(),
            poll: Duration::from_millis(100),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(2),
        }
    }
}

/// Limits of the HTTP side.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// `BELLHOP_BODY_TIMEOUT_SECS`: a request body must arrive whole within this (else 408
    /// and the connection closes). Headers are cut at 5 s by actix-http.
    pub body_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything the application needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// `BELLHOP_ADDR`, default `127.0.0.1:8080`; tests use port 0.
    pub addr: SocketAddr,
    /// `DATABASE_URL`.
    pub database: DatabaseConfig,
    /// `BELLHOP_DEMO`: seed a demo hotel into an empty store. Defaults to on for the embedded
    /// store (so `cargo run` shows something) and off for PostgreSQL.
    pub demo: bool,
    /// `BELLHOP_WORKERS`: HTTP worker threads; default one per core.
    pub http_workers: usize,
    /// `REDIS_URL`: shared login limits (and, later, the bus between nodes).
    pub redis_url: Option<SecretString>,
    /// `BELLHOP_REDIS_PREFIX`: prefix of every Redis key and channel (default `bellhop:`),
    /// so deployments or tests can share one Redis.
    pub redis_prefix: String,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub ws: WsConfig,
    pub actors: ActorConfig,
    pub email: EmailConfig,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

impl Config {
    /// Reads the process environment (once, from `main`).
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds a config from any variable lookup; `from_env` passes the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let addr = get("BELLHOP_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .context("BELLHOP_ADDR must be host:port, e.g. 127.0.0.1:8080")?;
        let database = DatabaseConfig::from_url(get("DATABASE_URL").as_deref())?;
        let demo = match get("BELLHOP_DEMO").as_deref() {
            None | Some("") => database.is_embedded(),
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            Some(_) => bail!("BELLHOP_DEMO must be 1 or 0"),
        };
        let jwt_secret = match get("BELLHOP_JWT_SECRET") {
            Some(s) if s.len() >= 32 => SecretString::from(s),
            Some(_) => bail!("BELLHOP_JWT_SECRET must be at least 32 bytes"),
            None if database.is_embedded() => AuthConfig::random_secret(),
            None => {
                bail!("BELLHOP_JWT_SECRET is required with PostgreSQL (all nodes must share it)")
            }
        };
        let admin = match (get("BELLHOP_ADMIN_EMAIL"), get("BELLHOP_ADMIN_PASSWORD")) {
            (Some(e), Some(p)) => Some((e, SecretString::from(p))),
            (None, None) => None,
            _ => bail!("set both BELLHOP_ADMIN_EMAIL and BELLHOP_ADMIN_PASSWORD, or neither"),
        };
        let auth = AuthConfig {
            jwt_secret,
            access_ttl: Duration::from_secs(parse_or(&get, "BELLHOP_ACCESS_TTL_SECS", 900)?),
            refresh_ttl: Duration::from_secs(parse_or(
                &get,
                "BELLHOP_REFRESH_TTL_SECS",
                30 * 24 * 3600,
            )?),
            admin,
            login_limits: LimitPolicy::default(),
        };
        let redis_url = get("REDIS_URL")
            .filter(|u| !u.is_empty())
            .map(SecretString::from);
        let redis_prefix = get("BELLHOP_REDIS_PREFIX").unwrap_or_else(|| "bellhop:".into());
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let http_workers = parse_or(&get, "BELLHOP_WORKERS", cores)?;
        let http = HttpConfig {
            body_timeout: Duration::from_secs(parse_or(
                &get,
                "BELLHOP_BODY_TIMEOUT_SECS",
                HttpConfig::default().body_timeout.as_secs(),
            )?),
        };
        let mut ws = WsConfig::default();
        ws.outbound_queue = parse_or(&get, "BELLHOP_WS_QUEUE", ws.outbound_queue)?;
        ws.max_frame_bytes = parse_or(&get, "BELLHOP_WS_MAX_FRAME", ws.max_frame_bytes)?;
        ws.send_buffer = parse_or(&get, "BELLHOP_WS_SNDBUF", ws.send_buffer)?;
        ws.max_per_user = parse_or(&get, "BELLHOP_WS_MAX_PER_USER", ws.max_per_user)?;
        ws.max_per_guest = parse_or(&get, "BELLHOP_WS_MAX_PER_GUEST", ws.max_per_guest)?;
        ws.ping_interval = Duration::from_secs(parse_or(
            &get,
            "BELLHOP_WS_PING_SECS",
            ws.ping_interval.as_secs(),
        )?);
        ws.client_timeout = Duration::from_secs(parse_or(
            &get,
            "BELLHOP_WS_TIMEOUT_SECS",
            ws.client_timeout.as_secs(),
        )?);
        let mut actors = ActorConfig::default();
        actors.passivate_after = Duration::from_secs(parse_or(
            &get,
            "BELLHOP_PASSIVATE_SECS",
            actors.passivate_after.as_secs(),
        )?);
        actors.arbiters = parse_or(&get, "BELLHOP_ACTOR_THREADS", cores.max(1))?;
        actors.escalate_unassigned_after = Duration::from_secs(parse_or(
            &get,
            "BELLHOP_TASK_ESCALATE_SECS",
            actors.escalate_unassigned_after.as_secs(),
        )?);
        actors.chat_fallback_after = Duration::from_secs(parse_or(
            &get,
            "BELLHOP_CHAT_FALLBACK_SECS",
            actors.chat_fallback_after.as_secs(),
        )?);
        actors.chat_burst = parse_or(&get, "BELLHOP_CHAT_BURST", actors.chat_burst)?;
        actors.chat_per_minute = parse_or(&get, "BELLHOP_CHAT_PER_MINUTE", actors.chat_per_minute)?;
        let email = EmailConfig {
            transport: match get("SMTP_URL").filter(|u| !u.is_empty()) {
                Some(url) => MailTransport::Smtp(SecretString::from(url)),
                None => MailTransport::Files(
                    get("BELLHOP_EMAIL_DIR")
                        .unwrap_or_else(|| "emails".into())
                        .into(),
                ),
            },
            from: get("BELLHOP_EMAIL_FROM").unwrap_or_else(|| "Bellhop <bellhop@localhost>".into()),
            public_url: get("BELLHOP_PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{addr}"))
                .trim_end_matches('/')
                .to_owned(),
            poll: Duration::from_secs(1),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
        };
        if http_workers == 0 || actors.arbiters == 0 || ws.outbound_queue == 0 {
            bail!("BELLHOP_WORKERS, BELLHOP_ACTOR_THREADS and BELLHOP_WS_QUEUE must be > 0");
        }
        Ok(Self {
            addr,
            database,
            demo,
            http_workers,
            redis_url,
            redis_prefix,
            auth,
            http,
            ws,
            actors,
            email,
            shutdown_timeout: Duration::from_secs(10),
        })
    }

    /// A config for tests and benches: port 0 on loopback, the given store, small pools.
    #[must_use]
    pub fn for_tests(database: DatabaseConfig) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database,
            demo: false,
            http_workers: 2,
            redis_url: None,
            redis_prefix: "bellhop:".into(),
            auth: AuthConfig::for_tests("admin@test.bellhop", "admin-password-for-tests"),
            http: HttpConfig::default(),
            ws: WsConfig::default(),
            actors: ActorConfig {
                arbiters: 2,
                ..ActorConfig::default()
            },
            email: EmailConfig::for_tests(),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The configured admin's email, if any.
    #[must_use]
    pub fn admin_email(&self) -> Option<&str> {
        self.auth.admin.as_ref().map(|(e, _)| e.as_str())
    }
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: T,
) -> anyhow::Result<T> {
    match get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{key} must be a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn no_variables_means_embedded_store_demo_on_8080() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert!(c.database.is_embedded());
        assert!(c.demo);
    }

    #[test]
    fn postgres_turns_the_demo_off_unless_asked() {
        let secret = ("BELLHOP_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let c = cfg(&[("DATABASE_URL", "postgres://u:p@h/db"), secret]).unwrap();
        assert!(!c.database.is_embedded());
        assert!(!c.demo);
        let c = cfg(&[
            ("DATABASE_URL", "postgres://h/db"),
            ("BELLHOP_DEMO", "1"),
            secret,
        ])
        .unwrap();
        assert!(c.demo);
    }

    #[test]
    fn postgres_needs_a_shared_jwt_secret_and_admin_needs_both_halves() {
        assert!(cfg(&[("DATABASE_URL", "postgres://h/db")]).is_err());
        assert!(cfg(&[("BELLHOP_JWT_SECRET", "short")]).is_err());
        assert!(cfg(&[("BELLHOP_ADMIN_EMAIL", "a@b.c")]).is_err());
        let c = cfg(&[
            ("BELLHOP_ADMIN_EMAIL", "a@b.c"),
            ("BELLHOP_ADMIN_PASSWORD", "pw-pw-pw-pw"),
        ])
        .unwrap();
        assert_eq!(c.admin_email(), Some("a@b.c"));
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        let c = cfg(&[("DATABASE_URL", "sqlite:///tmp/x.db")]).unwrap();
        match c.database {
            DatabaseConfig::Sqlite { path } => assert_eq!(path, PathBuf::from("/tmp/x.db")),
            DatabaseConfig::Postgres { .. } => panic!("expected sqlite"),
        }
    }

    #[test]
    fn bad_values_are_errors_that_do_not_echo_secrets() {
        let err = cfg(&[("DATABASE_URL", "mysql://root:hunter2@h/db")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(cfg(&[("BELLHOP_ADDR", "nope")]).is_err());
        assert!(cfg(&[("BELLHOP_WS_QUEUE", "0")]).is_err());
        assert!(cfg(&[("BELLHOP_DEMO", "maybe")]).is_err());
    }
}

/// Limits on failed logins.
#[derive(Clone, Copy, Debug)]
pub struct LimitPolicy {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}
