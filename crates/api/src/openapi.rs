//! The OpenAPI 3.1 document, generated from the handlers and bodies, and Swagger UI for it.

use utoipa::openapi::{ContentBuilder, ResponseBuilder};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::dto;
use crate::handlers;
use crate::problem::{ErrorCode, FieldError, Problem, TYPE_BASE};

/// The session in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SessionPath {
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    session_id: String,
}

/// The session and event in the path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
#[allow(dead_code)]
pub struct EventPath {
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    session_id: String,
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    event_id: String,
}

/// Query parameters of event pages.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Page size, 1–500.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<u32>,
    /// An opaque `nextCursor` from a previous page of the same session and order.
    #[param(pattern = "^[A-Za-z0-9_-]{35}$")]
    cursor: Option<String>,
    /// By `seq`; default `asc`.
    order: Option<OrderParam>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum OrderParam {
    Asc,
    Desc,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Conversation Session Service",
        description = "The system of record for a Voice AI platform's call sessions and the immutable events inside them.\n\nEvery error is `application/problem+json` (RFC 9457) with a `code`; its `type` is `urn:conversation-sessions:problem:{code}`. Every response carries `X-Request-Id`.",
    ),
    paths(
        handlers::create_session,
        handlers::get_session,
        handlers::complete_session,
        handlers::append_event,
        handlers::list_events,
        handlers::get_event,
        handlers::healthz,
        handlers::readyz,
        handlers::metrics_text,
    ),
    components(schemas(
        dto::SessionBody,
        dto::EventBody,
        dto::EventPageBody,
        dto::SessionWithEventsBody,
        dto::CreateSessionRequest,
        dto::AppendEventRequest,
        dto::CompleteSessionRequest,
        Problem,
        FieldError,
        ErrorCode,
        OrderParam,
    )),
    tags(
        (name = "sessions", description = "Create, read and end sessions"),
        (name = "events", description = "Append and page through a session's events"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The document, with the problem types listed and every operation documenting 404/405/500.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "- `{TYPE_BASE}{}` ({}): {}",
                c.as_str(),
                c.status().as_u16(),
                c.title()
            )
        })
        .collect();
    if let Some(description) = doc.info.description.as_mut() {
        description.push_str("\n\nProblem types:\n");
        description.push_str(&codes.join("\n"));
    }
    let problem = |text: &str| {
        ResponseBuilder::new()
            .description(text)
            .content(
                crate::problem::PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut() {
            post.responses
                .responses
                .entry("408".into())
                .or_insert_with(|| {
                    problem("request-timeout: the body did not arrive in time").into()
                });
        }
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            let responses = &mut op.responses.responses;
            responses
                .entry("405".into())
                .or_insert_with(|| problem("method-not-allowed").into());
            responses
                .entry("500".into())
                .or_insert_with(|| problem("internal").into());
        }
    }
    doc
}

pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/swagger-ui/{_:.*}").url("/openapi.json", document())
}
