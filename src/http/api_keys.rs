//! `/api/v1/properties/<pid>/api-keys`: keys for integrations, shown once, revocable.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::access::{Permit, to};
use super::{Reply, State, body::Json};
use crate::domain::{Action, PropertyId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    permissions: Vec<Action>,
}

pub async fn create(state: State, at: Permit<to::ApiKeyManage>, body: Json<CreateKey>) -> Reply {
    crate::actors::property::existing(&state.store, at.property).await?;
    let b = body.into_inner();
    let key = state
        .auth
        .create_api_key(&at.agent(), at.property, &b.name, b.permissions)
        .await?;
    // The key is shown once: no cache may keep it.
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(key))
}

pub async fn list(state: State, at: Permit<to::ApiKeyManage>) -> Reply {
    let keys: Vec<_> = state
        .store
        .api_keys(at.property)
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
    state: State,
    at: Permit<to::ApiKeyManage>,
    path: web::Path<(PropertyId, Uuid)>,
) -> Reply {
    let id = path.1;
    state
        .auth
        .revoke_api_key(&at.agent(), at.property, id)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
