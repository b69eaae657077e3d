//! The values the cases build over and over, shared with the adapters' own tests (one way to
//! write a test event, one project the cases work in).

use domain::{EventId, EventType, JsonObject, NewEvent, ProjectId, SessionId};
use serde_json::Value;

/// The project most cases work in (not `default`: no adapter may treat it specially).
pub fn project() -> ProjectId {
    ProjectId::parse("p1").expect("valid project")
}

pub fn sid(s: &str) -> SessionId {
    SessionId::parse(s).expect("valid session id")
}

/// A JSON object value as the domain's `JsonObject` (no size limit).
pub fn object(v: Value) -> JsonObject {
    JsonObject::from_map(v.as_object().expect("an object"), usize::MAX).expect("no limit")
}

/// A `user_speech` event with this id and payload, no client timestamp.
pub fn new_event(id: &str, payload: Value) -> NewEvent {
    NewEvent::new(
        EventId::parse(id).expect("valid event id"),
        EventType::parse("user_speech").expect("valid type"),
        object(payload),
    )
}
