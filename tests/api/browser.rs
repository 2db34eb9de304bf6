//! The web app in a real browser: headless Chromium driven over WebDriver (chromedriver),
//! against the real server. `scripts/test.sh` installs Debian's `chromium` and
//! `chromium-driver` when they are missing; `BELLHOP_CHROMEDRIVER` and `BELLHOP_CHROMIUM` point
//! elsewhere. Screenshots of each screen go to `target/screenshots/`.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};

/// The element key of the W3C WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver, stopped on drop.
struct Driver {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Self {
        let binary =
            std::env::var("BELLHOP_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} ({e}): run scripts/test.sh, which installs chromium-driver")
            });
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.url))
                .send()
                .await
                && r.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not come up");
    }

    /// A new headless browser window of `width` × `height`.
    async fn browser(&self, width: u32, height: u32) -> Browser<'_> {
        let chromium =
            std::env::var("BELLHOP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut options = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", format!("--window-size={width},{height}")]
        });
        if width < 500 {
            // A desktop window cannot be narrower than 500 px: a phone is emulated.
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": options
        }}});
        let r: Value = self
            .http
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session JSON");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Browser {
            driver: self,
            base: format!("{}/session/{id}", self.url),
        }
    }
}

/// One browser window.
struct Browser<'a> {
    driver: &'a Driver,
    base: String,
}

impl Browser<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .driver
            .http
            .request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("JSON");
        r["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element `css` selects, waiting for it up to 10 s.
    async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        panic!("no element {css}: {v}");
    }

    /// Clicks what `css` selects. Live pages re-render: an element replaced between finding
    /// and clicking it ("stale") is found again.
    async fn click(&self, css: &str) {
        for _ in 0..50 {
            let el = self.find(css).await;
            let v = self
                .call(
                    reqwest::Method::POST,
                    &format!("/element/{el}/click"),
                    Some(json!({})),
                )
                .await;
            if v.is_null() {
                return;
            }
            assert_eq!(v["error"], "stale element reference", "clicking {css}: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} kept being replaced");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Runs `script` in the page and answers its value.
    async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits up to 10 s for `script` to answer `want`.
    async fn wait_for(&self, script: &str, want: Value) {
        let mut got = Value::Null;
        for _ in 0..100 {
            got = self.eval(script).await;
            if got == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{script} answered {got}, not {want}");
    }

    async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot");
    }

    /// Errors the page logged to its console.
    async fn console_errors(&self) -> Vec<String> {
        let entries = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({"type": "browser"})),
            )
            .await;
        entries
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn sign_in(&self, address: &str, email: &str, password: &str) {
        self.go(&format!("{address}/")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.click("#login-submit").await;
    }

    async fn close(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

/// The cleanliness a board tile shows.
fn tile(number: &str) -> String {
    format!("return document.getElementById('room-{number}')?.dataset.cleanliness ?? null")
}

#[actix_web::test]
async fn two_front_desks_side_by_side_see_every_change_live() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@browser.test")
        .await;
    let driver = Driver::start().await;
    let (a, b) = (
        driver.browser(1280, 900).await,
        driver.browser(360, 740).await,
    );
    // A wrong password is answered on the page.
    a.sign_in(&app.address, "desk@browser.test", "wrong password")
        .await;
    a.wait_for(
        "return document.getElementById('login-error').textContent.length > 0",
        json!(true),
    )
    .await;
    a.screenshot("login").await;
    a.sign_in(&app.address, "desk@browser.test", "password-for-tests")
        .await;
    b.sign_in(&app.address, "desk@browser.test", "password-for-tests")
        .await;
    for w in [&a, &b] {
        w.wait_for(&tile("101"), json!("dirty")).await;
        w.wait_for(
            "return document.getElementById('live').textContent",
            json!("Live"),
        )
        .await;
    }
    a.screenshot("front-desk-board").await;
    b.screenshot("front-desk-board-360px").await;
    // A change in one browser appears in the other.
    a.click("#room-101").await;
    a.click("[data-clean='clean']").await;
    b.wait_for(&tile("101"), json!("clean")).await;
    a.wait_for(&tile("101"), json!("clean")).await;
    a.screenshot("room-dialog").await;
    // A change made anywhere else (here: the API) appears in both.
    app.set_status(&pid, "102", json!({"cleanliness": "clean"}))
        .await;
    a.wait_for(&tile("102"), json!("clean")).await;
    b.wait_for(&tile("102"), json!("clean")).await;
    // The filter hides what does not match.
    b.eval("const s = document.getElementById('filter-status'); s.value = 'dirty'; s.dispatchEvent(new Event('change')); return true")
        .await;
    b.wait_for(
        "return document.getElementById('room-101').hidden",
        json!(true),
    )
    .await;
    for w in [&a, &b] {
        // The failed sign-in's 401 is the only thing the console may show.
        let errors: Vec<String> = w
            .console_errors()
            .await
            .into_iter()
            .filter(|e| !e.contains("401"))
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    }
    a.close().await;
    b.close().await;
    app.stop().await;
}

#[actix_web::test]
async fn a_housekeeper_finishes_a_cleaning_on_the_phone_and_the_front_desk_board_changes() {
    let app = spawn_app(Backend::Sqlite).await;
    let pid = app.hotel(&["101", "102"]).await;
    app.user_token(&pid, "front_desk", "desk@hk.test").await;
    let hk = app.user_token(&pid, "housekeeper", "hk@hk.test").await;
    let hk_id = app.get_as(Some(&hk), "/api/v1/auth/me").await.body["user_id"].clone();
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "departure", "room": "101", "assignee": hk_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let task = r.body["id"].as_str().unwrap().to_owned();
    let driver = Driver::start().await;
    let (desk, phone) = (
        driver.browser(1280, 900).await,
        driver.browser(360, 740).await,
    );
    desk.sign_in(&app.address, "desk@hk.test", "password-for-tests")
        .await;
    phone
        .sign_in(&app.address, "hk@hk.test", "password-for-tests")
        .await;
    desk.wait_for(&tile("101"), json!("dirty")).await;
    let status = format!("return document.getElementById('task-{task}')?.dataset.status ?? null");
    phone.wait_for(&status, json!("assigned")).await;
    phone
        .wait_for(
            "return [window.innerWidth, document.documentElement.scrollWidth <= window.innerWidth]",
            json!([360, true]),
        )
        .await;
    phone.screenshot("housekeeper-queue").await;
    phone
        .click(&format!("#task-{task} [data-action='start']"))
        .await;
    phone.wait_for(&status, json!("in_progress")).await;
    phone
        .click(&format!("#task-{task} [data-action='complete']"))
        .await;
    // Done: it leaves the queue, and the front desk sees the room clean, live.
    phone.wait_for(&status, Value::Null).await;
    desk.wait_for(&tile("101"), json!("clean")).await;
    desk.screenshot("front-desk-after-cleaning").await;
    // A task given to the housekeeper elsewhere arrives in the queue by itself.
    let r = app
        .post(
            &format!("/api/v1/properties/{pid}/tasks"),
            &json!({"kind": "pickup", "room": "102", "assignee": hk_id, "rush": true}),
        )
        .await;
    let rush = r.body["id"].as_str().unwrap().to_owned();
    phone
        .wait_for(
            &format!("return document.getElementById('task-{rush}')?.dataset.status ?? null"),
            json!("assigned"),
        )
        .await;
    // Reporting a problem from the phone reaches maintenance as a repair.
    phone.type_into("#report-room", "102").await;
    phone.type_into("#report-note", "Dripping tap").await;
    phone.click("#report-submit").await;
    phone
        .wait_for(
            "return document.getElementById('report-msg').textContent",
            json!("Sent to maintenance."),
        )
        .await;
    let tasks = app
        .get(&format!("/api/v1/properties/{pid}/tasks"))
        .await
        .body["tasks"]
        .clone();
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["kind"] == "maintenance" && t["room_number"] == "102"),
        "{tasks}"
    );
    for w in [&desk, &phone] {
        assert!(w.console_errors().await.is_empty(), "no console errors");
    }
    desk.close().await;
    phone.close().await;
    app.stop().await;
}
