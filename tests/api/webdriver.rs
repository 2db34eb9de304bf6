//! A small WebDriver client for the browser tests (and `benches/browser.rs`): chromedriver
//! started per test (stopped on drop), headless Chromium windows (a phone is emulated below
//! 500 px), and what a test does with a page — find, click (again if the live page replaced
//! the element), type, keys, scripts, waits, screenshots into `target/screenshots/`, the
//! console's errors. `scripts/test.sh` installs Debian's `chromium` and `chromium-driver`
//! when they are missing; `BELLHOP_CHROMEDRIVER` and `BELLHOP_CHROMIUM` point elsewhere.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::Engine as _;
use serde_json::{Value, json};

/// The element key of the W3C WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver, stopped on drop.
pub struct Driver {
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
    pub async fn start() -> Self {
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

    /// A desktop window and a phone (360 × 740), side by side.
    pub async fn desktop_and_phone(&self) -> (Browser<'_>, Browser<'_>) {
        (self.browser(1280, 900).await, self.browser(360, 740).await)
    }

    /// A new headless browser window of `width` × `height`.
    pub async fn browser(&self, width: u32, height: u32) -> Browser<'_> {
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
pub struct Browser<'a> {
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

    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// The element `css` selects, waiting for it up to 10 s.
    pub async fn find(&self, css: &str) -> String {
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
    pub async fn click(&self, css: &str) {
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

    /// Types `text` into what `css` selects (WebDriver's key codes, such as Enter U+E007,
    /// press those keys there).
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Runs `script` in the page and answers its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits up to 10 s for `script` to answer `want`.
    pub async fn wait_for(&self, script: &str, want: Value) {
        self.wait_for_within(script, want, 10).await;
    }

    /// Waits up to `secs` for `script` to answer `want` (a bound against hangs, never a speed
    /// requirement).
    pub async fn wait_for_within(&self, script: &str, want: Value, secs: u64) {
        let mut got = Value::Null;
        for _ in 0..secs * 10 {
            got = self.eval(script).await;
            if got == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{script} answered {got}, not {want}");
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 PNG"))
            .expect("PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot");
    }

    /// Errors the page logged to its console.
    pub async fn console_errors(&self) -> Vec<String> {
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

    pub async fn sign_in(&self, address: &str, email: &str, password: &str) {
        self.go(&format!("{address}/")).await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.click("#login-submit").await;
    }

    /// Chooses `value` in the `<select>` that `css` selects, as a user would (a change event).
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css).await;
        let script = format!(
            "const s = document.querySelector({css:?}); s.value = {value:?}; \
             s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value"
        );
        assert_eq!(
            self.eval(&script).await,
            json!(value),
            "choosing {value} in {css}"
        );
    }

    /// Presses `key` (WebDriver's code: Tab is U+E004, Enter U+E007, Escape U+E00C) on
    /// whatever has the focus, as a keyboard would.
    pub async fn key(&self, key: char) {
        let v = self
            .call(
                reqwest::Method::POST,
                "/actions",
                Some(
                    json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                        {"type": "keyDown", "value": key.to_string()},
                        {"type": "keyUp", "value": key.to_string()}
                    ]}]}),
                ),
            )
            .await;
        assert!(v.is_null(), "key {key:?}: {v}");
    }

    /// Fails the test if the page logged an error to its console.
    pub async fn assert_no_console_errors(&self) {
        self.assert_no_console_errors_but(&[]).await;
    }

    /// Fails the test if the page logged an error other than the browser's own reports that
    /// contain one of `expected` (a refused request the test caused on purpose).
    pub async fn assert_no_console_errors_but(&self, expected: &[&str]) {
        let errors: Vec<String> = self
            .console_errors()
            .await
            .into_iter()
            .filter(|e| !expected.iter().any(|x| e.contains(x)))
            .collect();
        assert!(errors.is_empty(), "console errors: {errors:?}");
    }

    /// Whether the page scrolls sideways (it must not, down to 360 px).
    pub async fn fits_width(&self) {
        self.wait_for(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            json!(true),
        )
        .await;
    }

    pub async fn reload(&self) {
        self.call(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await;
    }

    pub async fn close(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}
