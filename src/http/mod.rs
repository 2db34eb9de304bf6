//! HTTP routes (DESIGN §5): thin adapters that parse, call an actor or the store, and shape
//! the answer. Errors go through [`error::ApiError`] only.

pub mod error;
mod health;
mod properties;
mod rooms;

use actix_web::{HttpResponse, web};

pub use error::ApiError;

/// Largest JSON body accepted (a few hundred rooms in one request fit comfortably).
const JSON_LIMIT: usize = 512 * 1024;

/// Registers every route; shared by `Application::build` and nothing else, so tests exercise
/// exactly what production serves.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(JSON_LIMIT)
            .error_handler(error::json_error),
    )
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .route("/health", web::get().to(health::health))
    .route("/ready", web::get().to(health::ready))
    .route("/metrics", web::get().to(health::metrics))
    .route("/ws", web::get().to(crate::ws::session::connect))
    .service(
        web::scope("/api/v1")
            .route("/properties", web::post().to(properties::create))
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
