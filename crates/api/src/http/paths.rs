//! The resource paths: the `Location` of what was created, and the path parameters as the
//! OpenAPI document describes them (reading them is `input::session_id`/`input::event_id`).

use domain::{EventId, KeyId, ProjectId, SessionId, WebhookId};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, Schema};

use crate::http::schema;

/// The last segment of the batch append's path: a literal `events:batch` segment (not
/// shadowed by `/events/{eventId}`, which has one segment more).
pub const BATCH_SUFFIX: &str = "/events:batch";

pub fn session_location(id: &SessionId) -> String {
    format!("/sessions/{id}")
}

pub fn event_location(session: &SessionId, event: &EventId) -> String {
    format!("/sessions/{session}/events/{event}")
}

/// A documented parameter; path parameters are required, the others optional.
pub fn parameter(
    name: &str,
    location: ParameterIn,
    description: &str,
    schema: impl Into<Schema>,
) -> Parameter {
    let required = match location {
        ParameterIn::Path => Required::True,
        _ => Required::False,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(required)
        .description(Some(description))
        .schema(Some(schema.into()))
        .build()
}

fn session_parameter() -> Parameter {
    parameter(
        "sessionId",
        ParameterIn::Path,
        "The session's id, as given when it was created.",
        schema::id(SessionId::PATTERN, SessionId::MAX_LEN, "call-42"),
    )
}

/// `{sessionId}`.
pub struct SessionPath;

impl IntoParams for SessionPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![session_parameter()]
    }
}

/// A path id given by the service: a string matching `pattern`.
fn issued_id(name: &str, description: &str, pattern: &str) -> Parameter {
    parameter(
        name,
        ParameterIn::Path,
        description,
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(pattern)),
    )
}

/// `{keyId}`.
pub struct KeyPath;

impl IntoParams for KeyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![issued_id(
            "keyId",
            "The key's public id (the start of its text).",
            KeyId::PATTERN,
        )]
    }
}

/// `?project=` of the key list.
pub struct KeysQuery;

impl IntoParams for KeysQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![parameter(
            "project",
            ParameterIn::Query,
            "Only this project's keys (default: every project's).",
            schema::id(ProjectId::PATTERN, ProjectId::MAX_LEN, "acme"),
        )]
    }
}

/// `{webhookId}`.
pub struct WebhookPath;

impl IntoParams for WebhookPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![issued_id(
            "webhookId",
            "The webhook endpoint's id, as its creation answered.",
            WebhookId::PATTERN,
        )]
    }
}

/// `{webhookId}` and `{messageId}`.
pub struct DeliveryPath;

impl IntoParams for DeliveryPath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = WebhookPath::into_params(parameter_in);
        params.push(issued_id(
            "messageId",
            "The message's id: its `webhook-id` header, as the deliveries' list shows it.",
            domain::webhook::MessageId::PATTERN,
        ));
        params
    }
}

/// `?project=` of the webhook endpoint list (required).
pub struct WebhooksQuery;

impl IntoParams for WebhooksQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut project = parameter(
            "project",
            ParameterIn::Query,
            "The project whose endpoints are listed.",
            schema::id(ProjectId::PATTERN, ProjectId::MAX_LEN, "acme"),
        );
        project.required = Required::True;
        vec![project]
    }
}

/// `{sessionId}` and `{eventId}`.
pub struct EventPath;

impl IntoParams for EventPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            session_parameter(),
            parameter(
                "eventId",
                ParameterIn::Path,
                "The event's id, as given when it was appended.",
                schema::id(EventId::PATTERN, EventId::MAX_LEN, "evt-1"),
            ),
        ]
    }
}
