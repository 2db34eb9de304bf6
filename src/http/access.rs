//! The `Caller` extractor: every route that takes one requires valid credentials (401
//! otherwise), and then names the action it performs (see `domain::access`).

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpMessage as _, HttpRequest, dev::Payload, web};

use super::ApiError;
use crate::{
    auth::{AuthError, Authenticated},
    domain::{Action, Principal, PropertyId},
    state::AppState,
};

/// The authenticated caller of a request.
pub struct Caller {
    pub auth: Authenticated,
    /// The request's `Idempotency-Key`, when `idempotency` let it through to the route.
    request_key: Option<std::sync::Arc<str>>,
}

impl Caller {
    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.auth.principal
    }

    /// Who the events of this request are recorded as, carrying its idempotency key (so the
    /// store writes the key with them, in the same transaction).
    #[must_use]
    pub fn agent(&self) -> crate::domain::Agent {
        let agent = self.principal().agent();
        match &self.request_key {
            Some(key) => agent.with_request_key(std::sync::Arc::clone(key)),
            None => agent,
        }
    }

    /// Deny-by-default: may the caller do `action` on `property`? (404 / 403 otherwise.)
    pub fn may(&self, action: Action, property: PropertyId) -> Result<(), ApiError> {
        Ok(self.principal().authorize(action, property)?)
    }

    /// [`Caller::may`] for an entity reached by its own id (a table, a party): another
    /// hotel's reads as `missing`, exactly like one that does not exist.
    pub fn may_on(
        &self,
        action: Action,
        property: PropertyId,
        missing: impl Into<ApiError>,
    ) -> Result<(), ApiError> {
        match self.principal().authorize(action, property) {
            Ok(()) => Ok(()),
            Err(crate::domain::Denial::NotFound) => Err(missing.into()),
            Err(d) => Err(d.into()),
        }
    }
}

/// The credential of a request: `Authorization: Bearer <token or API key>`.
#[must_use]
pub fn bearer(req: &HttpRequest) -> Option<String> {
    crate::auth::bearer_of(req.headers())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let request_key = req
            .extensions()
            .get::<super::idempotency::RequestKey>()
            .map(|k| std::sync::Arc::clone(&k.0));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let token = token.ok_or(AuthError::Missing)?;
            Ok(Caller {
                auth: state.auth.authenticate(&token).await?,
                request_key,
            })
        })
    }
}
