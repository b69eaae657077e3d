//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the answers of unknown routes
//! and methods.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::http::problem::{ApiError, ErrorCode, StoreProblems};
use crate::http::responses::Health;
use crate::state::AppState;

/// Liveness
///
/// The process is alive. Makes no storage call.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses(
        (status = 200, description = "Alive", body = Health),
    ))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        store: None,
    })
}

/// Readiness
///
/// Storage answers a round trip within the storage timeout.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Health),
        StoreProblems,
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.health.ready().await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready",
        store: Some(store),
    }))
}

/// Metrics
///
/// Prometheus text exposition: requests by route template and status, latencies, storage
/// calls, replays and conflicts.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String,
            content_type = "text/plain; version=0.0.4"),
    ))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// Unknown routes.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "no such resource"))
}

/// A known route with a method it does not serve; `allow` lists the ones it does.
pub fn method_not_allowed(
    allow: &'static str,
) -> impl Fn() -> std::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move || {
        std::future::ready(Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("this resource allows {allow}"),
        )
        .with_header(header::ALLOW, allow)))
    }
}
