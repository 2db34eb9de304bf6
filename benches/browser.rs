//! What a person at a screen waits for, in real headless Chromium against the real server: a
//! change made on one front desk until the other front desk's board shows it, a change made
//! over the API until a board shows it, and a page load until the board of the demo hotel's
//! 120 rooms is drawn. Run with `cargo bench --bench browser [-- --changes N]`.
//!
//! Two set-ups: the embedded node (`cargo run --release`: SQLite, in-process bus), and two
//! nodes on one PostgreSQL database (created and dropped here) and Redis (under this run's
//! prefix) with the two desks on different nodes, so the change crosses Redis on its way.
//!
//! Why not criterion: what matters here is each change's latency and its tail, not the mean
//! of a batch, and each sample needs two browsers. The time a change is made and the time the
//! other screen shows it are both read in the pages (`Date.now()`, the machine's wall clock, in
//! milliseconds) or, for the API, in this process: WebDriver's own round trips never count.
//! Each change is reported twice: until the other board's DOM has it, and until the first
//! animation frame after that (when it is painted). Page loads are timed from this process
//! (WebDriver refresh, then polling every few ms), so they include a few ms of WebDriver's.

#[path = "../tests/api/webdriver.rs"]
#[allow(dead_code)] // The tests' client: the bench uses a part of it.
mod webdriver;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bellhop::{
    Application,
    config::{AuthConfig, Config, DatabaseConfig},
};
use secrecy::SecretString;
use serde_json::{Value, json};
use webdriver::{Browser, Driver};

const DESK: (&str, &str) = ("front_desk@demo.bellhop", "bellhop-demo");
const PID: &str = "00000000-0000-4000-8000-000000000001";
/// A dirty, vacant demo room with no arrival: it goes clean and dirty again, back and forth.
const ROOM: &str = "105";

fn changes() -> usize {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter()
        .position(|a| a == "--changes")
        .and_then(|i| argv.get(i + 1))
        .map_or(40, |v| v.parse().expect("--changes N"))
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
        * 1000.0
}

/// A running node, stopped gracefully (and waited for) by `stop`.
struct Node {
    address: String,
    shutdown: bellhop::ShutdownHandle,
    done: actix_rt::task::JoinHandle<anyhow::Result<()>>,
}

impl Node {
    async fn start(mut config: Config) -> Self {
        config.auth = AuthConfig::for_tests("admin@bench.bellhop", "admin-password-for-bench");
        let app = Application::build(config).await.expect("build node");
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = app.shutdown_handle();
        let done = actix_rt::spawn(app.run_until_stopped());
        Self {
            address,
            shutdown,
            done,
        }
    }

    async fn stop(self) {
        self.shutdown.shutdown();
        let _ = self.done.await;
    }
}

/// Watches room `number` on `w`'s board: once its tile says `want`, `window.__changed` holds
/// the wall-clock time the DOM changed and `window.__shown` that of the next frame.
async fn watch(w: &Browser<'_>, number: &str, want: &str) {
    let script = format!(
        "window.__changed = null; window.__shown = null; \
         const ok = () => document.getElementById('room-{number}')?.dataset.cleanliness === '{want}'; \
         const o = new MutationObserver(() => {{ if (ok()) {{ o.disconnect(); \
           window.__changed = Date.now(); \
           requestAnimationFrame(() => {{ window.__shown = Date.now(); }}); }} }}); \
         o.observe(document.getElementById('floors'), {{subtree: true, childList: true, attributes: true}}); \
         return ok()"
    );
    assert_eq!(
        w.eval(&script).await,
        json!(false),
        "room {number} already {want}"
    );
}

/// Waits (a bound against hangs only) for the times `watch` recorded: (DOM changed, painted).
async fn shown(w: &Browser<'_>) -> (f64, f64) {
    for _ in 0..1000 {
        let v = w.eval("return [window.__changed, window.__shown]").await;
        if let (Some(changed), Some(painted)) = (v[0].as_f64(), v[1].as_f64()) {
            return (changed, painted);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the change never showed");
}

/// A room's next cleanliness in the back-and-forth.
fn flip(i: usize) -> &'static str {
    if i.is_multiple_of(2) {
        "clean"
    } else {
        "dirty"
    }
}

/// A click on `a`'s room dialog until `b`'s board shows the room's new state, `n` times.
async fn desk_to_desk(a: &Browser<'_>, b: &Browser<'_>, n: usize) -> Vec<(f64, f64)> {
    a.click(&format!("#room-{ROOM}")).await;
    a.eval(
        "window.__clicked = null; document.addEventListener('click', (e) => { \
           if (e.target.closest('[data-clean]')) window.__clicked = Date.now(); }, true); \
         return true",
    )
    .await;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let want = flip(i);
        watch(b, ROOM, want).await;
        a.eval("window.__clicked = null; return true").await;
        a.click(&format!("[data-clean='{want}']")).await;
        let (changed, painted) = shown(b).await;
        let clicked = a.eval("return window.__clicked").await;
        let clicked = clicked.as_f64().expect("click time");
        out.push((changed - clicked, painted - clicked));
        // The clicking desk has its answer too before the next change (its buttons follow).
        a.wait_for(
            &format!("return document.getElementById('room-{ROOM}')?.dataset.cleanliness ?? null"),
            json!(want),
        )
        .await;
    }
    a.key('\u{e00c}').await; // Escape closes the dialog.
    out
}

/// An HTTP status change (as another screen or a PMS would make it) until `b` shows it.
async fn api_to_desk(address: &str, b: &Browser<'_>, n: usize, offset: usize) -> Vec<(f64, f64)> {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"email": DESK.0, "password": DESK.1}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    let token = login["access_token"].as_str().expect("a token").to_owned();
    let mut out = Vec::with_capacity(n);
    for i in offset..offset + n {
        let want = flip(i);
        watch(b, ROOM, want).await;
        let sent = now_ms();
        let r = http
            .post(format!(
                "{address}/api/v1/properties/{PID}/rooms/{ROOM}/status"
            ))
            .bearer_auth(&token)
            .json(&json!({"cleanliness": want}))
            .send()
            .await
            .expect("status change");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        let (changed, painted) = shown(b).await;
        out.push((changed - sent, painted - sent));
    }
    out
}

/// A reload of a signed-in desk until its board holds every demo room, `n` times.
async fn reload_to_board(w: &Browser<'_>, n: usize) -> Vec<f64> {
    let drawn = "return document.querySelectorAll('#floors .room').length === 120 \
                 && document.getElementById('live').textContent === 'Live'";
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = now_ms();
        w.reload().await;
        loop {
            if w.eval(drawn).await == json!(true) {
                break;
            }
            assert!(now_ms() - start < 30_000.0, "the board never came");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        out.push(now_ms() - start);
    }
    out
}

async fn signed_in<'a>(driver: &'a Driver, address: &str) -> Browser<'a> {
    let w = driver.browser(1280, 900).await;
    w.sign_in(address, DESK.0, DESK.1).await;
    w.wait_for_within(
        "return document.querySelectorAll('#floors .room').length",
        json!(120),
        30,
    )
    .await;
    w
}

/// p50 / p95 / max of `ms`, in whole milliseconds.
fn spread(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!("{:.0} / {:.0} / {:.0}", at(0.5), at(0.95), ms[ms.len() - 1])
}

/// A row of the table: a change until the other screen's DOM has it, and until it is painted.
fn report_change(label: &str, samples: Vec<(f64, f64)>) {
    let n = samples.len();
    let (dom, painted): (Vec<f64>, Vec<f64>) = samples.into_iter().unzip();
    println!("| {label} | {n} | {} | {} |", spread(dom), spread(painted));
}

/// A row of the table for page loads (timed from here, polled: one column).
fn report_load(label: &str, ms: Vec<f64>) {
    println!("| {label} | {} | — | {} |", ms.len(), spread(ms));
}

async fn embedded(driver: &Driver, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(DatabaseConfig::Sqlite {
        path: dir.path().join("bench.db"),
    });
    config.demo = true;
    let node = Node::start(config).await;
    let address = node.address.clone();
    let a = signed_in(driver, &address).await;
    let b = signed_in(driver, &address).await;
    report_change(
        "embedded: a click on one desk → the other desk shows it",
        desk_to_desk(&a, &b, n).await,
    );
    report_change(
        "embedded: an API status change → a desk shows it",
        api_to_desk(&address, &b, n, n).await,
    );
    report_load(
        "embedded: reload → the 120-room board drawn and live",
        reload_to_board(&b, n.min(20)).await,
    );
    a.close().await;
    b.close().await;
    node.stop().await;
}

async fn cluster(driver: &Driver, n: usize) {
    let admin_url = std::env::var("BELLHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let redis = std::env::var("BELLHOP_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let name = format!("bellhop_bench_browser_{}", std::process::id());
    let (pg, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL for the bench");
    actix_rt::spawn(async move {
        let _ = conn.await;
    });
    pg.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create bench database");
    let (base, _) = admin_url.rsplit_once('/').expect("a database in the URL");
    let db_url = format!("{base}/{name}");
    let prefix = format!("bellhop-bench-browser-{}:", std::process::id());
    let config = |demo| {
        let mut c = Config::for_tests(DatabaseConfig::Postgres {
            url: SecretString::from(db_url.clone()),
        });
        c.redis_url = Some(SecretString::from(redis.clone()));
        c.redis_prefix = prefix.clone();
        c.demo = demo;
        c
    };
    // The first node seeds the demo hotel; the second finds it there.
    let one = Node::start(config(true)).await;
    let two = Node::start(config(false)).await;
    let a = signed_in(driver, &one.address).await;
    let b = signed_in(driver, &two.address).await;
    report_change(
        "two nodes: a click on a desk on node 1 → a desk on node 2 shows it",
        desk_to_desk(&a, &b, n).await,
    );
    report_load(
        "two nodes: reload → the 120-room board drawn and live",
        reload_to_board(&b, n.min(20)).await,
    );
    a.close().await;
    b.close().await;
    one.stop().await;
    two.stop().await;
    let _ = pg
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

fn main() {
    // Under `cargo test --benches` (no --bench flag) there is nothing to check.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = changes();
    actix_rt::System::new().block_on(async {
        let driver = Driver::start().await;
        println!("| what (ms: p50 / p95 / max) | samples | in the DOM | painted |");
        println!("|---|---|---|---|");
        embedded(&driver, n).await;
        cluster(&driver, n).await;
    });
}
