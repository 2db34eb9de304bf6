//! The `Caller` and `Permit` extractors: every route that takes one requires valid
//! credentials (401 otherwise). A route on a property takes a `Permit<to::Action>`: the
//! action it performs is in its signature, and extracting it is the check (the matrix is
//! `domain::access`), so a handler cannot forget it. A route that reaches an entity by its
//! own id (a table, a task) takes a `Caller` and asks `may_on` once it knows the property.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
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

pub use crate::domain::access::{Act, to};

/// A caller permitted `A` on the property of the route's `{pid}`. Another hotel's
/// property answers 404 like one that does not exist; a role without `A` answers 403.
pub struct Permit<A> {
    pub caller: Caller,
    pub property: PropertyId,
    act: PhantomData<A>,
}

impl<A> Deref for Permit<A> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<A: Act> FromRequest for Permit<A> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let property = req.match_info().get("pid").map(str::parse::<PropertyId>);
        Box::pin(async move {
            // Credentials first: an unauthenticated caller learns nothing of the path.
            let caller = caller.await?;
            let Some(Ok(property)) = property else {
                return Err(ApiError::no_such_resource());
            };
            caller.may(A::ACTION, property)?;
            Ok(Permit {
                caller,
                property,
                act: PhantomData,
            })
        })
    }
}
