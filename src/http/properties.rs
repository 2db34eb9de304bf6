//! `POST /api/v1/properties`, `GET /api/v1/properties/<pid>`.

use actix_web::HttpResponse;
use serde::Deserialize;

use super::access::{Caller, Permit, to};
use super::{Reply, State, body::Json};
use crate::{actors::property::create_property, domain::Action};

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

pub async fn create(state: State, caller: Caller, body: Json<CreateProperty>) -> Reply {
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

pub async fn get(state: State, at: Permit<to::PropertyRead>) -> Reply {
    let property = crate::actors::property::existing(&state.store, at.property).await?;
    Ok(HttpResponse::Ok().json(property))
}

/// `GET /api/v1/properties`: the properties the caller may read (all of them for an admin).
/// A caller without `property_read` (a guest's token, an API key not granted it) is refused
/// as `GET /properties/<pid>` refuses it: the list follows the same matrix row.
pub async fn list(state: State, caller: Caller) -> Reply {
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
