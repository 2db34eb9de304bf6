//! `/api/v1/properties/<pid>/users`: a property's staff.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::json;

use super::access::{Permit, to};
use super::{Reply, State, body::Json};
use crate::{auth::NewUser, domain::Role};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    name: String,
    role: Role,
    password: String,
}

pub async fn create(state: State, at: Permit<to::UserManage>, body: Json<CreateUser>) -> Reply {
    crate::actors::property::existing(&state.store, at.property).await?;
    let b = body.into_inner();
    let user = state
        .auth
        .create_user(
            &at.agent(),
            Some(at.property),
            NewUser {
                email: b.email,
                name: b.name,
                role: b.role,
                password: b.password,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(crate::auth::UserView::from(&user)))
}

pub async fn list(state: State, at: Permit<to::UserManage>) -> Reply {
    let users: Vec<_> = state
        .store
        .users(at.property)
        .await?
        .iter()
        .map(crate::auth::UserView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}
