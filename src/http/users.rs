//! `/api/v1/properties/<pid>/users`: a property's staff.

use super::body::Json;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, access::Caller};
use crate::{
    auth::NewUser,
    domain::{Action, PropertyId, Role},
    state::AppState,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    name: String,
    role: Role,
    password: String,
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let pid = *pid;
    caller.may(Action::UserManage, pid)?;
    if state.store.property(pid).await?.is_none() {
        return Err(crate::actors::CommandError::PropertyNotFound.into());
    }
    let b = body.into_inner();
    let user = state
        .auth
        .create_user(
            &caller.agent(),
            Some(pid),
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

pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
) -> Result<HttpResponse, ApiError> {
    caller.may(Action::UserManage, *pid)?;
    let users: Vec<_> = state
        .store
        .users(*pid)
        .await?
        .iter()
        .map(crate::auth::UserView::from)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}
