//! Authentication: who is calling.
//!
//! - Staff log in with email and password (argon2id), plus a TOTP code once they enrolled
//!   one, and get a short-lived JWT access token and a rotating refresh token (stored hashed;
//!   a reused one revokes its whole family).
//! - Integrations use API keys (`bh_…`): one property, a set of granted actions, stored hashed.
//! - Guests get a JWT scoped to one reservation (issued by the reservation flow).
//!
//! What a caller may then do is decided by [`crate::domain::access`], in one place.

mod limiter;
mod passwords;
mod secrets;
mod service;
mod tokens;

pub use limiter::{LimitPolicy, LoginLimiter};
pub use service::{AuthError, AuthService, Authenticated, LoginOk, NewApiKey, NewUser, UserView};
pub use tokens::TokenIssuer;

/// The bearer token of an `Authorization` header, from the headers alone: what HTTP routes
/// and the WebSocket upgrade (which has no `HttpRequest`) both read.
#[must_use]
pub fn bearer_of(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}
