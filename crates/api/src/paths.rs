//! The resource paths: the `Location` of what was created, and the path parameters as the
//! OpenAPI document describes them (reading them is `input::session_id`/`input::event_id`).

use domain::{EventId, SessionId};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, Schema};

use crate::schema;

pub fn session_location(id: &SessionId) -> String {
    format!("/sessions/{id}")
}

pub fn event_location(session: &SessionId, event: &EventId) -> String {
    format!("/sessions/{session}/events/{event}")
}

fn parameter(name: &str, description: &str, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn session_parameter() -> Parameter {
    parameter(
        "sessionId",
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

/// `{sessionId}` and `{eventId}`.
pub struct EventPath;

impl IntoParams for EventPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            session_parameter(),
            parameter(
                "eventId",
                "The event's id, as given when it was appended.",
                schema::id(EventId::PATTERN, EventId::MAX_LEN, "evt-1"),
            ),
        ]
    }
}
