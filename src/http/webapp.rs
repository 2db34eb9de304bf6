//! The web app for staff and guests, served by the binary itself: static files compiled in (no
//! build step, nothing to deploy beside the binary). The app uses only the public HTTP API and
//! WebSocket protocol. Scripts are ES modules, one per screen, so each screen reads on its own.

use std::sync::Arc;

use actix_web::{
    HttpRequest, HttpResponse, guard,
    http::{StatusCode, header},
    web,
};
use sha2::{Digest as _, Sha256};

/// Every file of the app: its URL path, its body and its content type.
const ASSETS: &[(&str, &str, &str)] = &[
    ("/app.css", include_str!("../../web/app.css"), CSS),
    ("/app.js", include_str!("../../web/app.js"), JS),
    ("/core.js", include_str!("../../web/core.js"), JS),
    ("/board.js", include_str!("../../web/board.js"), JS),
    ("/desk.js", include_str!("../../web/desk.js"), JS),
    (
        "/housekeeping.js",
        include_str!("../../web/housekeeping.js"),
        JS,
    ),
    ("/host.js", include_str!("../../web/host.js"), JS),
    ("/chat.js", include_str!("../../web/chat.js"), JS),
];

const INDEX: &str = include_str!("../../web/index.html");
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Scripts, styles and connections only from this origin; no inline script, no framing.
const POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                      style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The page at `/` (staff) and at `/guest/<rid>` (the link in a guest's emails; the app reads
/// the reservation and token from the address), and each asset at its path.
///
/// Every answer carries a strong `ETag` (a digest of the file, taken once here) and
/// `no-cache`: a browser asks again on every load, so a new binary's files are never stale,
/// and while nothing changed it gets a bodiless 304 instead of the file.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // HEAD answers like GET, without the body (actix-http leaves it out, keeping the length).
    let get_or_head = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    let page = Asset::new(INDEX, "text/html; charset=utf-8");
    cfg.route("/", get_or_head().to(page.clone().handler()))
        .route("/guest/{rid}", get_or_head().to(page.handler()));
    for &(path, body, content_type) in ASSETS {
        cfg.route(
            path,
            get_or_head().to(Asset::new(body, content_type).handler()),
        );
    }
}

#[derive(Clone)]
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: Arc<str>,
}

impl Asset {
    fn new(body: &'static str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", hex(&digest[..12])).into();
        Self {
            body,
            content_type,
            etag,
        }
    }

    fn handler(self) -> impl Fn(HttpRequest) -> std::future::Ready<HttpResponse> + Clone {
        move |req| std::future::ready(self.respond(&req))
    }

    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let unchanged = self.known_to(req);
        let mut res = HttpResponse::build(if unchanged {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        });
        res.insert_header((header::ETAG, &*self.etag))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            // The guest page's address carries its token: never send it on as a referrer.
            .insert_header((header::REFERRER_POLICY, "no-referrer"));
        if unchanged {
            return res.finish();
        }
        res.insert_header((header::CONTENT_TYPE, self.content_type))
            .body(self.body)
    }

    /// Whether the request's `If-None-Match` names this version (or `*`); weak tags compare by
    /// their opaque part, as RFC 9110 asks for this header.
    fn known_to(&self, req: &HttpRequest) -> bool {
        req.headers()
            .get_all(header::IF_NONE_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim())
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == &*self.etag)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
