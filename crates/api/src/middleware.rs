//! The request middleware: request id, one log line per request, and problem bodies.
//!
//! Every 4xx/5xx response leaves here as `application/problem+json`: handler errors carry their
//! [`ApiError`] to this point, where the body is written with the request path as `instance`;
//! any other error response (from actix itself) is turned into the problem of its status.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};
use tracing::Instrument;

use crate::http::problem::{ApiError, ErrorCode, PROBLEM_JSON};
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// A client's request id is echoed when it is 1–128 characters of `[A-Za-z0-9._:-]`;
/// otherwise a new one is generated.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Handler errors arrive as responses (actix renders them); an `Err` here would come from
    // the framework before a handler ran and is rendered by actix as the last resort.
    let response = next.call(req).instrument(span.clone()).await?;
    let mut response = as_problem(response.map_into_boxed_body());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    let status = response.status().as_u16();
    let route = response.request().match_pattern();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = state {
        state.http.observe(
            &method,
            route.as_deref().unwrap_or("(unmatched)"),
            status,
            elapsed,
        );
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = route.as_deref().unwrap_or("(unmatched)"),
            status,
            latency_ms = elapsed * 1e3,
            "request"
        );
    });
    Ok(response)
}

/// The problem a bare error status stands for, when actix produced it.
fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        400 => ErrorCode::MalformedJson,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 => ErrorCode::RequestTimeout,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        503 => ErrorCode::StorageUnavailable,
        _ => ErrorCode::Internal,
    }
}

fn as_problem(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match response.response().extensions().get::<ApiError>() {
        Some(error) => error.clone(),
        None => {
            if let Some(cause) = response.response().error() {
                tracing::warn!(cause = %cause, status = status.as_u16(), "framework error");
            }
            let code = code_for(status);
            ApiError::new(code, code.title())
        }
    };
    let instance = response.request().path().to_owned();
    let body = serde_json::to_vec(&error.to_problem(&instance)).expect("a problem serializes");
    response.map_body(|head, _| {
        head.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        head.status = error.status_code();
        BoxBody::new(body)
    })
}
