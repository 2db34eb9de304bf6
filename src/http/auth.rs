//! `/api/v1/auth/*`: login, refresh, logout, who am I, TOTP enrolment.

use super::body::Json;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, access::Caller};
use crate::{domain::Principal, state::AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
    /// The current TOTP code, once the account has a second factor.
    totp: Option<String>,
}

/// The client address for login limits: the TCP peer. Behind a load balancer, configure it
/// to keep one connection per client or to enforce its own limits as well.
fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".into(), |a| a.ip().to_string())
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let answer = state
        .auth
        .login(
            &body.email,
            &body.password,
            body.totp.as_deref(),
            &client_address(&req),
        )
        .await?;
    Ok(secret_response().json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(secret_response().json(state.auth.refresh(&body.refresh_token).await?))
}

pub async fn logout(
    state: web::Data<AppState>,
    body: Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn me(caller: Caller) -> HttpResponse {
    let body = match caller.principal() {
        Principal::Staff {
            user_id,
            property,
            role,
        } => json!({"kind": "staff", "user_id": user_id, "property_id": property, "role": role}),
        Principal::ApiKey {
            key_id,
            property,
            permissions,
        } => {
            json!({"kind": "api_key", "key_id": key_id, "property_id": property, "permissions": permissions})
        }
        Principal::Guest {
            reservation_id,
            property,
        } => json!({"kind": "guest", "reservation_id": reservation_id, "property_id": property}),
    };
    HttpResponse::Ok().json(body)
}

/// Starts TOTP enrolment: answers the secret and an `otpauth://` URL for an authenticator app.
pub async fn totp_enroll(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let (secret, url) = state.auth.totp_enroll(caller.principal()).await?;
    Ok(secret_response().json(json!({ "secret": secret, "otpauth_url": url })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    code: String,
}

/// Confirms enrolment with a current code; from then on login needs a code.
pub async fn totp_verify(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<TotpCode>,
) -> Result<HttpResponse, ApiError> {
    state
        .auth
        .totp_verify(caller.principal(), &body.code)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A 200 that carries a secret (tokens, a TOTP secret): no cache along the way may keep it.
pub(super) fn secret_response() -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    r
}
