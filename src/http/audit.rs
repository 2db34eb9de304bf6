//! `GET /api/v1/properties/<pid>/audit?stream=&user=&from=&to=&limit=`: who did what, when.

use actix_web::{HttpResponse, web::Query};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::access::{Permit, to};
use super::{Reply, State};
use crate::persistence::AuditQuery;

const DEFAULT_LIMIT: usize = 500;
const MAX_LIMIT: usize = 5000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    stream: Option<String>,
    /// A user id, or any recorded actor (`api_key:<id>`, `system:demo`, …).
    user: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<usize>,
}

pub async fn read(state: State, at: Permit<to::AuditRead>, filter: Query<Filter>) -> Reply {
    let f = filter.into_inner();
    let actor = f.user.map(|u| {
        if u.contains(':') {
            u
        } else {
            format!("user:{u}")
        }
    });
    let query = AuditQuery {
        stream: f.stream,
        actor,
        from: f.from,
        to: f.to,
        limit: f.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    };
    let events = state.store.audit(at.property, &query).await?;
    Ok(HttpResponse::Ok().json(json!({ "events": events })))
}
