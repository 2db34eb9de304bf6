//! HTTP routes (DESIGN §5): thin adapters that parse, call an actor or the store, and shape
//! the answer. Errors go through [`ApiError`] only.

pub mod access;
mod api_keys;
mod audit;
mod auth;
pub mod body;
mod chat;
mod guests;
mod health;
pub mod idempotency;
mod properties;
mod reservations;
mod rooms;
mod tasks;
mod users;
mod venues;
mod webapp;

use actix_web::{HttpResponse, web};

pub use crate::api_error::{self as error, ApiError};
pub use body::optional_json;

/// What every handler is given of the node, and what it answers.
pub type State = web::Data<crate::state::AppState>;
pub type Reply = Result<HttpResponse, ApiError>;

/// Registers every route; shared by `Application::build` and nothing else, so tests exercise
/// exactly what production serves.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(error::path_error))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .configure(webapp::configure)
        .route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .route("/ws", web::get().to(crate::ws::session::not_upgraded))
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(idempotency::guard))
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/refresh", web::post().to(auth::refresh))
                .route("/auth/logout", web::post().to(auth::logout))
                .route("/auth/me", web::get().to(auth::me))
                .route("/auth/totp/enroll", web::post().to(auth::totp_enroll))
                .route("/auth/totp/verify", web::post().to(auth::totp_verify))
                .route("/properties", web::post().to(properties::create))
                .route("/properties", web::get().to(properties::list))
                .route("/properties/{pid}/users", web::post().to(users::create))
                .route("/properties/{pid}/users", web::get().to(users::list))
                .route(
                    "/properties/{pid}/api-keys",
                    web::post().to(api_keys::create),
                )
                .route("/properties/{pid}/api-keys", web::get().to(api_keys::list))
                .route(
                    "/properties/{pid}/api-keys/{kid}/revoke",
                    web::post().to(api_keys::revoke),
                )
                .route("/properties/{pid}/audit", web::get().to(audit::read))
                .route("/properties/{pid}/guests", web::post().to(guests::create))
                .route("/properties/{pid}/guests", web::get().to(guests::list))
                .route(
                    "/properties/{pid}/room-types",
                    web::post().to(guests::put_room_type),
                )
                .route(
                    "/properties/{pid}/room-types",
                    web::get().to(guests::room_types),
                )
                .route(
                    "/properties/{pid}/availability",
                    web::get().to(guests::availability),
                )
                .route(
                    "/properties/{pid}/guests/{gid}",
                    web::get().to(reservations::guest),
                )
                .route(
                    "/properties/{pid}/reservations",
                    web::post().to(reservations::create),
                )
                .route(
                    "/properties/{pid}/reservations",
                    web::get().to(reservations::list),
                )
                .route(
                    "/properties/{pid}/night-audit",
                    web::post().to(reservations::night_audit),
                )
                .route(
                    "/properties/{pid}/settings",
                    web::post().to(reservations::settings),
                )
                .route("/properties/{pid}/tasks", web::post().to(tasks::create))
                .route(
                    "/properties/{pid}/tasks/auto-assign",
                    web::post().to(tasks::auto_assign),
                )
                .route("/properties/{pid}/shifts", web::post().to(tasks::set_shift))
                .route(
                    "/properties/{pid}/stock",
                    web::post().to(tasks::count_stock),
                )
                .route("/properties/{pid}/stock", web::get().to(tasks::stock))
                .route(
                    "/properties/{pid}/stock/{item}/adjust",
                    web::post().to(tasks::adjust_stock),
                )
                .route("/properties/{pid}/shifts", web::get().to(tasks::shifts))
                .route("/properties/{pid}/staff", web::get().to(tasks::assignees))
                .route("/properties/{pid}/tasks", web::get().to(tasks::list))
                .route(
                    "/properties/{pid}/conversations",
                    web::get().to(chat::inbox),
                )
                .route(
                    "/properties/{pid}/canned-replies",
                    web::get().to(chat::canned_list),
                )
                .route(
                    "/properties/{pid}/canned-replies",
                    web::post().to(chat::canned_create),
                )
                .route(
                    "/properties/{pid}/canned-replies/{id}",
                    web::post().to(chat::canned_update),
                )
                .route(
                    "/properties/{pid}/canned-replies/{id}",
                    web::delete().to(chat::canned_delete),
                )
                .route("/conversations/{cid}", web::get().to(chat::get))
                .route(
                    "/conversations/{cid}/messages",
                    web::get().to(chat::messages),
                )
                .route("/conversations/{cid}/messages", web::post().to(chat::send))
                .route("/conversations/{cid}/read", web::post().to(chat::read))
                .route(
                    "/conversations/{cid}/status",
                    web::post().to(chat::set_status),
                )
                .route("/conversations/{cid}/assign", web::post().to(chat::assign))
                .route("/properties/{pid}/venues", web::post().to(venues::create))
                .route("/properties/{pid}/venues", web::get().to(venues::list))
                .route(
                    "/properties/{pid}/venues/{vid}",
                    web::get().to(venues::floor),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/settings",
                    web::post().to(venues::settings),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/tables",
                    web::post().to(venues::add_tables),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/bookings",
                    web::post().to(venues::book),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/bookings",
                    web::get().to(venues::bookings),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/walk-ins",
                    web::post().to(venues::walk_in),
                )
                .route(
                    "/properties/{pid}/venues/{vid}/waitlist",
                    web::post().to(venues::wait),
                )
                .route("/tables/{tid}/{action}", web::post().to(venues::table_act))
                .route("/parties/{id}/{action}", web::post().to(venues::party_act))
                .route("/tasks/{tid}", web::get().to(tasks::get))
                .route("/tasks/{tid}/{action}", web::post().to(tasks::act))
                .route("/reservations/{rid}", web::get().to(reservations::get))
                .route(
                    "/reservations/{rid}/{action}",
                    web::post().to(reservations::act),
                )
                .route("/properties/{pid}", web::get().to(properties::get))
                .route("/properties/{pid}/rooms", web::post().to(rooms::create))
                .route("/properties/{pid}/rooms", web::get().to(rooms::board))
                .route(
                    "/properties/{pid}/rooms/{number}",
                    web::get().to(rooms::get),
                )
                .route(
                    "/properties/{pid}/rooms/{number}/status",
                    web::post().to(rooms::change_status),
                )
                .route(
                    "/properties/{pid}/rooms/{number}/blocks",
                    web::post().to(rooms::place_block),
                )
                .route(
                    "/properties/{pid}/rooms/{number}/blocks/release",
                    web::post().to(rooms::release_block),
                ),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "not_found",
        message: "no such route".into(),
    })
}
