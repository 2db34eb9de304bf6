//! Request bodies and URLs, read the one way every route reads them.
//!
//! actix-web's `Json` and `Bytes` extractors wait for a body as long as the client cares to
//! trickle it: a client sending one byte every few seconds held its connection (and a file
//! descriptor of the node) for minutes, before any credential was checked. Here a body must
//! arrive whole within `BELLHOP_BODY_TIMEOUT_SECS` of the request, or the client gets
//! `408 request_timeout` and the connection is closed.
//!
//! Text is also checked for what the stores cannot hold (U+0000, see [`domain::text`]) before
//! it goes anywhere, so both backends answer `400 invalid_body` naming the field.

use std::{ops::Deref, time::Instant};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, future::LocalBoxFuture};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;
use crate::{domain::text, state::AppState};

/// Largest JSON body accepted (a few hundred rooms in one request fit comfortably).
pub const JSON_LIMIT: usize = 512 * 1024;

/// A JSON body, parsed into `T`: `application/json` (or `…+json`), at most [`JSON_LIMIT`]
/// bytes, whole within the body deadline, no NUL characters.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let read = read_body(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::BadRequest {
                    code: "unsupported_content_type",
                    message: "send the body as application/json".into(),
                });
            }
            parse(&read.await?).map(Json)
        })
    }
}

/// A body of any type (an action route whose JSON body may be left out), read with the same
/// limit and deadline.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move { read.await.map(Body) })
    }
}

/// The JSON body of an action route whose body may be left out entirely (`check-in`,
/// `start`): nothing, or only whitespace, reads as the defaults.
pub fn optional_json<T: DeserializeOwned + Default>(body: &Body) -> Result<T, ApiError> {
    if body.0.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(&body.0)
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.len() > 5
            && essence.is_char_boundary(essence.len() - 5)
            && essence[essence.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Reads the whole body, within [`JSON_LIMIT`] and the node's body deadline.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Bytes, ApiError>> + 'static {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(std::time::Duration::from_secs(10), |s| s.http.body_timeout);
    let deadline = tokio::time::Instant::from_std(Instant::now() + timeout);
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        if announced.is_some_and(|n| n > JSON_LIMIT) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        loop {
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Err(_) => return Err(ApiError::RequestTimeout),
                Ok(None) => return Ok(buf.freeze()),
                Ok(Some(Ok(chunk))) => {
                    if buf.len() + chunk.len() > JSON_LIMIT {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %e, "request body could not be read");
                    return Err(ApiError::bad_request("the request body could not be read"));
                }
            }
        }
    }
}

fn too_large() -> ApiError {
    ApiError::BadRequest {
        code: "body_too_large",
        message: "the request body is too large".into(),
    }
}

/// Parses JSON the way every route does: a wrong field, type or value is `invalid_body` (with
/// serde's message, which names it), anything else `malformed_json`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let invalid = |e: serde_json::Error| {
        if e.is_data() {
            ApiError::BadRequest {
                code: "invalid_body",
                message: e.to_string(),
            }
        } else {
            ApiError::BadRequest {
                code: "malformed_json",
                message: "the request body is not valid JSON".into(),
            }
        }
    };
    if text::may_hold_nul(bytes) {
        let value: Value = serde_json::from_slice(bytes).map_err(invalid)?;
        if let Some(field) = text::nul_field(&value) {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                message: text::nul_message(&field),
            });
        }
        return serde_json::from_value(value).map_err(invalid);
    }
    serde_json::from_slice(bytes).map_err(invalid)
}

/// A URL holding an encoded NUL (`%00`; a raw one cannot be sent): `invalid_query` naming the
/// parameter, or `bad_request` for the path. Checked before routing, for every route.
#[must_use]
pub fn nul_in_url(uri: &actix_web::http::Uri) -> Option<ApiError> {
    let has_nul = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if has_nul(uri.path()) {
        return Some(ApiError::bad_request(text::nul_message("the path")));
    }
    let query = uri.query()?;
    let param = query.split('&').find(|p| has_nul(p))?;
    let name = param
        .split('=')
        .next()
        .unwrap_or_default()
        .replace("%00", "\\u0000");
    Some(ApiError::BadRequest {
        code: "invalid_query",
        message: text::nul_message(&name),
    })
}
