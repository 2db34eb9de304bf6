//! `POST /api/v1/properties`, `GET /api/v1/properties/<pid>`.

use super::body::Json;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, access::Caller};
use crate::{
    actors::{CommandError, property::create_property},
    domain::{Action, PropertyId},
    state::AppState,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProperty {
    name: String,
    #[serde(default = "utc")]
    timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<CreateProperty>,
) -> Result<HttpResponse, ApiError> {
    caller
        .principal()
        .authorize_global(Action::PropertyCreate)?;
    let property = create_property(
        state.store.as_ref(),
        &body.name,
        &body.timezone,
        &caller.agent(),
    )
    .await?;
    Ok(HttpResponse::Created().json(property))
}

pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    pid: web::Path<PropertyId>,
) -> Result<HttpResponse, ApiError> {
    caller.may(Action::PropertyRead, *pid)?;
    let property = state
        .store
        .property(*pid)
        .await?
        .ok_or(CommandError::PropertyNotFound)?;
    Ok(HttpResponse::Ok().json(property))
}

/// `GET /api/v1/properties`: the properties the caller may read (all of them for an admin).
/// A caller without `property_read` (a guest's token, an API key not granted it) is refused
/// as `GET /properties/<pid>` refuses it: the list follows the same matrix row.
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    if let Some(home) = caller.principal().home() {
        caller.may(Action::PropertyRead, home)?;
    }
    let visible: Vec<_> = state
        .store
        .properties()
        .await?
        .into_iter()
        .filter(|p| {
            caller
                .principal()
                .authorize(Action::PropertyRead, p.id)
                .is_ok()
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "properties": visible })))
}
