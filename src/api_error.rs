//! The one API error type and the one place it becomes an HTTP response (or, through
//! [`ApiError::code`], a WebSocket `error` frame). Below both `http` and `ws`, so neither
//! imports the other for it.
//!
//! Bodies are `{"error":{"code":"snake_case","message":"…"}}` with stable codes. Causes of
//! 5xx answers are logged here and never sent: a client learns that something failed on our
//! side, not what our database said.

use actix_web::{
    HttpResponse, ResponseError,
    error::{PathError, QueryPayloadError},
    http::StatusCode,
};
use serde_json::json;

use crate::{actors::CommandError, auth::AuthError, domain::Denial, persistence::StoreError};

/// Every error an HTTP handler can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: unparsable JSON, wrong types, unknown fields. 400.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No valid credentials. 401, with `WWW-Authenticate: Bearer`.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Authenticated, but the role (or key) may not do this here. 403.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Too many failed attempts; retry after this many seconds. 429.
    #[error("too many failed attempts; retry later")]
    TooManyRequests { retry_after: u64 },
    /// Too many requests of one kind (chat messages) in a short time. 429.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// The request body did not arrive whole in time. 408, and the connection is closed.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// Unknown resource (or one the caller may not know exists). 404.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// A state conflict: version mismatch, uniqueness, lost races. 409.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Well-formed but refused by a domain rule. 422.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// The store (or the bus) is away. 503.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug. 500, logged with its cause.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A path that names nothing (or nothing the caller may know of).
    #[must_use]
    pub fn no_such_resource() -> Self {
        Self::NotFound {
            code: "not_found",
            message: "no such resource".into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "bad_request",
            message: message.into(),
        }
    }

    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::TooManyRequests { .. } => "too_many_attempts",
            Self::RequestTimeout => "request_timeout",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } | Self::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "answering 503");
                "the service is temporarily unavailable; retry shortly".to_owned()
            }
            Self::Internal(cause) => {
                tracing::error!(cause = ?cause, "answering 500");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable(_) => {
                resp.insert_header(("Retry-After", "1"));
            }
            Self::TooManyRequests { retry_after } | Self::RateLimited { retry_after, .. } => {
                resp.insert_header(("Retry-After", retry_after.to_string()));
            }
            Self::Unauthorized { .. } => {
                resp.insert_header(("WWW-Authenticate", "Bearer"));
            }
            // What is left of a slow body is not worth reading.
            Self::RequestTimeout => {
                resp.force_close();
            }
            _ => {}
        }
        resp.json(json!({ "error": { "code": self.code(), "message": message } }))
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::PropertyNotFound => Self::NotFound {
                code: "property_not_found",
                message: "no such property".into(),
            },
            CommandError::RoomNotFound => Self::NotFound {
                code: "room_not_found",
                message: "no such room in this property".into(),
            },
            CommandError::ReservationNotFound => Self::NotFound {
                code: "reservation_not_found",
                message: "no such reservation".into(),
            },
            CommandError::GuestNotFound => Self::NotFound {
                code: "guest_not_found",
                message: "no such guest in this property".into(),
            },
            CommandError::Refused(r) => Self::Unprocessable {
                code: r.code(),
                message: r.to_string(),
            },
            CommandError::ReservationRefused(r) => Self::Unprocessable {
                code: r.code(),
                message: r.to_string(),
            },
            CommandError::TaskRefused(r) => Self::Unprocessable {
                code: r.code(),
                message: r.to_string(),
            },
            CommandError::TaskNotFound => Self::NotFound {
                code: "task_not_found",
                message: "no such task".into(),
            },
            CommandError::VenueRefused(r) => Self::Unprocessable {
                code: r.code(),
                message: r.to_string(),
            },
            CommandError::VenueNotFound => Self::NotFound {
                code: "venue_not_found",
                message: "no such venue".into(),
            },
            CommandError::TableNotFound => Self::NotFound {
                code: "table_not_found",
                message: "no such table".into(),
            },
            CommandError::PartyNotFound => Self::NotFound {
                code: "party_not_found",
                message: "no such party".into(),
            },
            CommandError::ChatRefused(r) => Self::Unprocessable {
                code: r.code(),
                message: r.to_string(),
            },
            CommandError::ConversationNotFound => Self::NotFound {
                code: "conversation_not_found",
                message: "no such conversation".into(),
            },
            e @ CommandError::RateLimited => Self::RateLimited {
                message: e.to_string(),
                retry_after: 2,
            },
            CommandError::Invalid(message) => Self::Unprocessable {
                code: "validation_failed",
                message,
            },
            e @ CommandError::VersionMismatch { .. } => Self::Conflict {
                code: "version_mismatch",
                message: e.to_string(),
            },
            CommandError::Conflict { code, message } => Self::Conflict { code, message },
            e @ CommandError::Contention => Self::Conflict {
                code: "contention",
                message: e.to_string(),
            },
            CommandError::Unavailable(why) => Self::Unavailable(why),
            CommandError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let unauthorized = |code| Self::Unauthorized {
            code,
            message: e.to_string(),
        };
        match &e {
            AuthError::Missing => unauthorized("unauthenticated"),
            AuthError::InvalidToken => unauthorized("invalid_token"),
            AuthError::Expired => unauthorized("token_expired"),
            AuthError::InvalidCredentials => unauthorized("invalid_credentials"),
            AuthError::TotpRequired => unauthorized("totp_required"),
            AuthError::InvalidTotp => unauthorized("invalid_totp"),
            AuthError::RefreshReused => unauthorized("refresh_reused"),
            AuthError::InvalidRefresh => unauthorized("invalid_refresh"),
            AuthError::TooManyAttempts(d) => Self::TooManyRequests {
                retry_after: d.as_secs().max(1),
            },
            AuthError::Invalid(m) => Self::Unprocessable {
                code: "validation_failed",
                message: m.clone(),
            },
            AuthError::Conflict(code, m) => Self::Conflict {
                code,
                message: m.clone(),
            },
            AuthError::NotFound => Self::no_such_resource(),
            AuthError::Store(_) | AuthError::Internal(_) => match e {
                AuthError::Store(s) => s.into(),
                AuthError::Internal(i) => Self::Internal(i),
                _ => unreachable!(),
            },
        }
    }
}

impl From<Denial> for ApiError {
    fn from(d: Denial) -> Self {
        match d {
            // Another hotel's data is answered exactly like a property that does not exist.
            Denial::NotFound => CommandError::PropertyNotFound.into(),
            Denial::Forbidden => Self::Forbidden {
                code: "forbidden",
                message: "your role may not do this".into(),
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        CommandError::from(e).into()
    }
}

/// Path segments that do not parse (e.g. a property id that is not a uuid) name nothing.
#[must_use]
pub fn path_error(_err: PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::no_such_resource().into()
}

#[must_use]
pub fn query_error(err: QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest {
        code: "invalid_query",
        message: err.to_string(),
    }
    .into()
}
