//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// Live: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready: the store and the bus answer. A load balancer stops sending traffic on 503.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store.ping().await;
    let bus = state.bus.ping().await;
    let body = json!({
        "store": { "backend": state.store.backend(), "ok": store.is_ok() },
        "bus": { "kind": state.bus.name(), "ok": bus.is_ok() },
    });
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: store unavailable");
    }
    if let Err(e) = &bus {
        tracing::warn!(error = %e, "readiness: bus unavailable");
    }
    if store.is_ok() && bus.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
