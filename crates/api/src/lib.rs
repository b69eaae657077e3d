//! The HTTP adapter: actix-web routes, request/response bodies, problem+json, OpenAPI and
//! Swagger UI. It talks to storage only through the domain's ports.

mod body;
mod cursor;
mod dto;
mod fields;
mod handlers;
pub mod metrics;
mod middleware;
pub mod openapi;
mod page;
pub mod problem;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use domain::Repository;

pub use body::MAX_DEPTH;
pub use cursor::CursorCodec;
pub use handlers::IDEMPOTENT_REPLAYED;
pub use middleware::REQUEST_ID;

/// Size and paging limits of the API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub body_bytes: usize,
    /// Largest event payload, serialized, in bytes.
    pub payload_bytes: usize,
    /// Largest session metadata, serialized, in bytes.
    pub metadata_bytes: usize,
    pub page_default: u32,
    pub page_max: u32,
    /// Longest time a request body may take to arrive once its head is read.
    pub body_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 128 * 1024,
            payload_bytes: 64 * 1024,
            metadata_bytes: 16 * 1024,
            page_default: 50,
            page_max: 500,
            body_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The store, measured by [`metrics::Instrumented`].
    pub repo: Arc<dyn Repository>,
    pub limits: Limits,
    pub cursors: CursorCodec,
    pub metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// Cursors are signed with `secret` (see [`domain::StoreAdmin::shared_secret`]).
    pub fn new(repo: Arc<dyn Repository>, limits: Limits, secret: &[u8]) -> Self {
        let metrics = Arc::new(metrics::Metrics::new());
        Self {
            repo: Arc::new(metrics::Instrumented::new(repo, metrics.clone())),
            limits,
            cursors: CursorCodec::new(secret),
            metrics,
        }
    }
}

/// The whole application: routes, Swagger UI, request-id/logging/problem middleware.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use handlers::*;
    let resource = |path: &str, allow: &'static str| {
        web::resource(path).default_service(web::to(method_not_allowed(allow)))
    };
    App::new()
        .app_data(state)
        .wrap(actix_web::middleware::from_fn(middleware::request_context))
        .service(resource("/sessions", "POST").route(web::post().to(create_session)))
        .service(resource("/sessions/{sessionId}", "GET").route(web::get().to(get_session)))
        .service(
            resource("/sessions/{sessionId}/complete", "POST")
                .route(web::post().to(complete_session)),
        )
        .service(
            resource("/sessions/{sessionId}/events", "GET, POST")
                .route(web::get().to(list_events))
                .route(web::post().to(append_event)),
        )
        .service(
            resource("/sessions/{sessionId}/events/{eventId}", "GET")
                .route(web::get().to(get_event)),
        )
        .service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics_text)))
        .service(openapi::swagger_ui())
        .default_service(web::to(not_found))
}
