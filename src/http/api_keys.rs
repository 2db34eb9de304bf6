//! `/api/v1/properties/<pid>/api-keys`: keys for integrations, shown once, revocable.

use super::body::Json;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{ApiError, access::Caller};
use crate::{
    domain::{Action, PropertyId},
    state::AppState,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    permissions: Vec<Action>,
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let pid = *pid;
    caller.may(Action::ApiKeyManage, pid)?;
    if state.store.property(pid).await?.is_none() {
        return Err(crate::actors::CommandError::PropertyNotFound.into());
    }
    let b = body.into_inner();
    let key = state
        .auth
        .create_api_key(&caller.agent(), pid, &b.name, b.permissions)
        .await?;
    // The key is shown once: no cache may keep it.
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(key))
}

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
) -> Result<HttpResponse, ApiError> {
    caller.may(Action::ApiKeyManage, *pid)?;
    let keys: Vec<_> = state
        .store
        .api_keys(*pid)
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "id": k.id, "name": k.name, "permissions": k.permissions,
                "created_by": k.created_by, "created_at": k.created_at, "revoked_at": k.revoked_at,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "api_keys": keys })))
}

pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (pid, id) = path.into_inner();
    caller.may(Action::ApiKeyManage, pid)?;
    state.auth.revoke_api_key(&caller.agent(), pid, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
