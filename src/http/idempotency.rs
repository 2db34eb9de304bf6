//! `Idempotency-Key` on every mutating route, so a client that did not hear the answer (a
//! timeout, a dropped connection, a 503 whose commit may have gone through) can retry safely.
//!
//! A request with the header runs once per caller and key: the key travels with the request's
//! agent (`Caller::agent`) down to the store, which writes it **in the same transaction** as
//! the command's events — so the key exists exactly when the command happened. Once the answer
//! is known it is added to the key's row. A retry then:
//!
//! - finds the answer: gets it again, byte for byte, with `Idempotent-Replayed: true`;
//! - finds the key without an answer (the command committed, but its answer was lost — the
//!   node died, or the commit's outcome was unknown when the client was told 503): gets `200`
//!   with `{"replayed": true, "stream", "seq"}`, the first event the request committed;
//! - finds nothing: runs, as the first attempt did not happen.
//!
//! Only successes are recorded: a refused request (4xx) changed nothing and is judged again
//! on retry. A retry while the first attempt still runs on this node is `409
//! request_in_progress`. Answers that carry secrets (`Cache-Control: no-store`: tokens, a new
//! API key) are never stored, and `/auth/*` is left alone. A chat message has its own key,
//! kept in the conversation's stream (`POST /conversations/<cid>/messages`), so that route
//! keeps its own semantics. Keys are kept 48 hours.

use std::sync::Arc;

use actix_web::{
    HttpMessage as _, HttpResponse, ResponseError as _,
    body::{self, BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};

use super::ApiError;
use crate::{persistence, state::AppState};

/// The header.
pub const HEADER: &str = "idempotency-key";

/// A request's key, handed to the route's `Caller` through the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestKey(pub Arc<str>);

/// Whether requests to `path` with `method` take part.
fn applies(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !path.starts_with("/api/v1/auth/")
        && !(path.starts_with("/api/v1/conversations/") && path.ends_with("/messages"))
}

/// The middleware (wrapped around `/api/v1`).
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = req
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().map(str::to_owned));
    let (Some(key), true) = (key, applies(req.method(), req.path())) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Ok(key) = key.map_err(|_| ()).and_then(|k| {
        (!k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .then_some(k)
            .ok_or(())
    }) else {
        let e = ApiError::bad_request("Idempotency-Key is 1 to 255 visible ASCII characters");
        return Ok(req.into_response(e.error_response()));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // Keys are the caller's own: the same credential check the route makes. Without a valid
    // one the route answers 401 itself.
    let caller = match super::access::bearer(req.request()) {
        Some(token) => state.auth.authenticate(&token).await.ok(),
        None => None,
    };
    let Some(caller) = caller else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let agent = caller.principal.agent().as_str().to_owned();
    let Some(_running) = state.requests.enter(&agent, &key) else {
        let e = ApiError::Conflict {
            code: "request_in_progress",
            message: "a request with this Idempotency-Key is still running; retry shortly".into(),
        };
        return Ok(req.into_response(e.error_response()));
    };
    match state.store.request_record(&agent, &key).await {
        Ok(Some(record)) => {
            let response = match (record.status, record.body) {
                (Some(status), Some(body)) => HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(status)
                        .unwrap_or(actix_web::http::StatusCode::OK),
                )
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .insert_header(("idempotent-replayed", "true"))
                .body(body),
                _ => HttpResponse::Ok()
                    .insert_header(("idempotent-replayed", "true"))
                    .json(serde_json::json!({
                        "replayed": true,
                        "stream": record.stream,
                        "seq": record.seq,
                        "message": "this request was already carried out; its answer was lost",
                    })),
            };
            return Ok(req.into_response(response));
        }
        Ok(None) => {}
        Err(e) => return Ok(req.into_response(ApiError::from(e).error_response())),
    }
    req.extensions_mut()
        .insert(RequestKey(Arc::from(key.as_str())));
    let res = next.call(req).await?;
    let secret = res
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-store"));
    if !res.status().is_success() || secret {
        return Ok(res.map_into_boxed_body());
    }
    let status = res.status().as_u16();
    let (request, response) = res.into_parts();
    let (head, payload) = response.into_parts();
    let bytes = body::to_bytes(payload).await.unwrap_or_default();
    // The command already happened; failing to note its answer only means a retry gets the
    // shorter "already carried out" answer.
    if let Err(e) = state
        .store
        .save_request_answer(
            &agent,
            &key,
            status,
            &String::from_utf8_lossy(&bytes),
            persistence::now(),
        )
        .await
    {
        tracing::warn!(error = %e, "could not record a request's answer");
    }
    Ok(ServiceResponse::new(
        request,
        head.set_body(bytes).map_into_boxed_body(),
    ))
}
