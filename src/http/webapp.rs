//! The web app for staff and guests, served by the binary itself: three static files compiled
//! in (no build step, nothing to deploy beside the binary). The app uses only the public HTTP
//! API and WebSocket protocol.

use actix_web::{HttpResponse, http::header};

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");

/// Scripts, styles and connections only from this origin; no inline script, no framing.
const POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                      style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// `GET /` (and the app's own paths): the page.
pub async fn index() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}

/// `GET /app.js`
pub async fn script() -> HttpResponse {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /app.css`
pub async fn style() -> HttpResponse {
    asset(STYLE, "text/css; charset=utf-8")
}
