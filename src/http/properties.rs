//! `POST /api/v1/properties`, `GET /api/v1/properties/<pid>`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::ApiError;
use crate::{
    actors::{CommandError, property::create_property},
    domain::{Agent, PropertyId},
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
    body: web::Json<CreateProperty>,
) -> Result<HttpResponse, ApiError> {
    let property = create_property(
        state.store.as_ref(),
        &body.name,
        &body.timezone,
        &Agent::anonymous(),
    )
    .await?;
    Ok(HttpResponse::Created().json(property))
}

pub async fn get(
    state: web::Data<AppState>,
    pid: web::Path<PropertyId>,
) -> Result<HttpResponse, ApiError> {
    let property = state
        .store
        .property(*pid)
        .await?
        .ok_or(CommandError::PropertyNotFound)?;
    Ok(HttpResponse::Ok().json(property))
}
