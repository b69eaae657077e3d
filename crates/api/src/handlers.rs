//! The HTTP handlers: parse, call a port, answer. Every error is an [`ApiError`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use domain::{EventId, SessionId, Written};
use serde::Serialize;

use crate::dto::{self, EventBody, SessionBody, SessionWithEventsBody};
use crate::problem::{ApiError, ErrorCode, FieldError, Problem};
use crate::{AppState, body, page};

type State = web::Data<AppState>;

pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

fn path_id<T>(
    value: &str,
    field: &str,
    parse: impl FnOnce(String) -> Result<T, domain::InvalidValue>,
) -> Result<T, ApiError> {
    parse(value.to_owned()).map_err(|e| ApiError::validation(vec![FieldError::new(field, e.0)]))
}

fn session_id(value: &str) -> Result<SessionId, ApiError> {
    path_id(value, "sessionId", SessionId::parse)
}

/// 201 with `Location` for a new value, 200 with `Idempotent-Replayed: true` for a replay.
fn created_or_replayed<T, B: Serialize>(
    written: Written<T>,
    location: impl FnOnce(&T) -> String,
    body: impl FnOnce(&T) -> B,
) -> HttpResponse {
    if written.replayed {
        replayed(HttpResponse::Ok()).json(body(&written.value))
    } else {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location(&written.value)))
            .json(body(&written.value))
    }
}

fn replayed(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder.insert_header((IDEMPOTENT_REPLAYED, "true"));
    builder
}

/// Create a session, or get the stored one.
#[utoipa::path(
    post, path = "/sessions", tag = "sessions",
    request_body(content = dto::CreateSessionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = SessionBody,
            headers(("Location" = String, description = "/sessions/{sessionId}"))),
        (status = 200, description = "Already existed: the stored session, unchanged", body = SessionBody,
            headers(("Idempotent-Replayed" = String, description = "true"))),
        (status = 400, description = "validation-failed, malformed-json", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_session(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let value = body::json(&req, payload, &state.limits).await?;
    let new = dto::parse_create_session(value, &state.limits)?;
    let written = state.repo.create_session(new).await?;
    Ok(created_or_replayed(
        written,
        |s| dto::session_location(&s.id),
        |s| SessionBody::from(s),
    ))
}

/// A session with one page of its events.
#[utoipa::path(
    get, path = "/sessions/{sessionId}", tag = "sessions",
    params(crate::openapi::SessionPath, crate::openapi::PageParams),
    responses(
        (status = 200, description = "The session and a page of its events", body = SessionWithEventsBody,
            headers(("Link" = String, description = "rel=\"next\" when hasMore"))),
        (status = 400, description = "validation-failed, invalid-cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "session-not-found", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_session(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let request = page::parse_query(&req, &id, &state.limits, &state.cursors)?;
    let session = state.repo.get_session(&id).await?;
    let events = state.repo.list_events(&id, request).await?;
    let (events, link) = page::body(&req, &id, request, events, &state.cursors);
    let mut response = HttpResponse::Ok();
    if let Some(link) = link {
        response.insert_header((header::LINK, link));
    }
    Ok(response.json(SessionWithEventsBody {
        session: SessionBody::from(&session),
        events,
    }))
}

/// End a session.
#[utoipa::path(
    post, path = "/sessions/{sessionId}/complete", tag = "sessions",
    params(crate::openapi::SessionPath),
    request_body(content = Option<dto::CompleteSessionRequest>, content_type = "application/json",
        description = "Optional; an empty body needs no content type"),
    responses(
        (status = 200, description = "Ended, or already ended in the requested status (then with Idempotent-Replayed: true)",
            body = SessionBody, headers(("Idempotent-Replayed" = String, description = "true on a replay"))),
        (status = 400, description = "validation-failed, malformed-json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "session-not-found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "session-state-conflict", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete_session(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let value = body::optional_json(&req, payload, &state.limits).await?;
    let request = dto::parse_complete(value)?;
    let written = state.repo.complete_session(&id, request).await?;
    let builder = if written.replayed {
        replayed(HttpResponse::Ok())
    } else {
        HttpResponse::Ok()
    };
    Ok({ builder }.json(SessionBody::from(&written.value)))
}

/// Append an event.
#[utoipa::path(
    post, path = "/sessions/{sessionId}/events", tag = "events",
    params(crate::openapi::SessionPath),
    request_body(content = dto::AppendEventRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored", body = EventBody,
            headers(("Location" = String, description = "/sessions/{sessionId}/events/{eventId}"))),
        (status = 200, description = "The same event was stored before: the stored event", body = EventBody,
            headers(("Idempotent-Replayed" = String, description = "true"))),
        (status = 400, description = "validation-failed, malformed-json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "session-not-found", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "event-conflict (Location names the stored event), session-closed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn append_event(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let value = body::json(&req, payload, &state.limits).await?;
    let new = dto::parse_append_event(value, &state.limits)?;
    let written = state.repo.append_event(&id, new).await?;
    Ok(created_or_replayed(
        written,
        |e| dto::event_location(&e.session_id, &e.event_id),
        |e| EventBody::from(e),
    ))
}

/// A page of a session's events.
#[utoipa::path(
    get, path = "/sessions/{sessionId}/events", tag = "events",
    params(crate::openapi::SessionPath, crate::openapi::PageParams),
    responses(
        (status = 200, description = "A page of events", body = dto::EventPageBody,
            headers(("Link" = String, description = "rel=\"next\" when hasMore"))),
        (status = 400, description = "validation-failed, invalid-cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "session-not-found", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_events(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path)?;
    let request = page::parse_query(&req, &id, &state.limits, &state.cursors)?;
    let events = state.repo.list_events(&id, request).await?;
    let (body, link) = page::body(&req, &id, request, events, &state.cursors);
    let mut response = HttpResponse::Ok();
    if let Some(link) = link {
        response.insert_header((header::LINK, link));
    }
    Ok(response.json(body))
}

/// One event.
#[utoipa::path(
    get, path = "/sessions/{sessionId}/events/{eventId}", tag = "events",
    params(crate::openapi::EventPath),
    responses(
        (status = 200, description = "The event", body = EventBody),
        (status = 400, description = "validation-failed", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "session-not-found, event-not-found", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_event(
    state: State,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = session_id(&path.0)?;
    let event_id = path_id(&path.1, "eventId", EventId::parse)?;
    let event = state.repo.get_event(&id, &event_id).await?;
    Ok(HttpResponse::Ok().json(EventBody::from(&event)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    #[schema(example = "sqlite")]
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<&'static str>,
}

/// The process is alive (no storage call).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        store: None,
    })
}

/// Storage is reachable.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "storage-unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(state: State) -> Result<HttpResponse, ApiError> {
    state.repo.ping().await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ready",
        store: Some(state.repo.kind()),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics_text(state: State) -> HttpResponse {
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
