//! The web app for staff and guests, served by the binary itself: static files compiled in (no
//! build step, nothing to deploy beside the binary). The app uses only the public HTTP API and
//! WebSocket protocol. Scripts are ES modules, one per screen, so each screen reads on its own.

use actix_web::{HttpResponse, http::header, web};

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
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/guest/{rid}", web::get().to(index));
    for &(path, body, content_type) in ASSETS {
        cfg.route(
            path,
            web::get().to(move || async move { asset(body, content_type) }),
        );
    }
}

fn asset(body: &'static str, content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // The guest page's address carries its token: never send it on as a referrer.
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset(INDEX, "text/html; charset=utf-8")
}
