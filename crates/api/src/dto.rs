//! Request and response bodies: the JSON shapes of the API, their OpenAPI schemas, and the
//! parsing of request bodies into domain values (the one place where input is validated).

use domain::{
    CompleteRequest, Event, EventId, EventType, Language, NewEvent, NewSession, Session, SessionId,
    SessionStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::Limits;
use crate::fields::{self, Fields};
use crate::problem::{ApiError, FieldError};

pub fn session_location(id: &SessionId) -> String {
    format!("/sessions/{id}")
}

pub fn event_location(session: &SessionId, event: &EventId) -> String {
    format!("/sessions/{session}/events/{event}")
}

/// A stored JSON object written out as it was stored.
fn raw(object: &domain::JsonObject) -> Box<RawValue> {
    RawValue::from_string(object.as_str().to_owned())
        .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusDto {
    Initiated,
    Active,
    Completed,
    Failed,
}

impl From<SessionStatus> for StatusDto {
    fn from(s: SessionStatus) -> Self {
        match s {
            SessionStatus::Initiated => StatusDto::Initiated,
            SessionStatus::Active => StatusDto::Active,
            SessionStatus::Completed => StatusDto::Completed,
            SessionStatus::Failed => StatusDto::Failed,
        }
    }
}

/// A conversation session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    #[schema(example = "call-7f3a")]
    pub session_id: String,
    pub status: StatusDto,
    #[schema(example = "en-US")]
    pub language: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Box<RawValue>,
    #[schema(format = DateTime, example = "2026-05-01T12:00:00.000Z")]
    pub started_at: String,
    #[schema(format = DateTime, example = json!(null))]
    pub ended_at: Option<String>,
    #[schema(minimum = 0, example = 2)]
    pub event_count: u64,
    #[schema(minimum = 0, example = 2)]
    pub last_seq: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Session> for SessionBody {
    fn from(s: &Session) -> Self {
        Self {
            session_id: s.id.to_string(),
            status: s.status.into(),
            language: s.language.as_ref().map(|l| l.as_str().to_owned()),
            metadata: raw(&s.metadata),
            started_at: s.started_at.to_rfc3339(),
            ended_at: s.ended_at.map(|t| t.to_rfc3339()),
            event_count: s.event_count,
            last_seq: s.last_seq,
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// An immutable event of a session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    #[schema(example = "evt-0001")]
    pub event_id: String,
    pub session_id: String,
    /// Position in the session, strictly increasing in commit order; gaps are allowed.
    #[schema(minimum = 1, example = 1)]
    pub seq: u64,
    #[serde(rename = "type")]
    #[schema(example = "user_speech")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[schema(format = DateTime)]
    pub received_at: String,
}

impl From<&Event> for EventBody {
    fn from(e: &Event) -> Self {
        Self {
            event_id: e.event_id.to_string(),
            session_id: e.session_id.to_string(),
            seq: e.seq,
            event_type: e.event_type.to_string(),
            payload: raw(&e.payload),
            timestamp: e.timestamp.to_rfc3339(),
            received_at: e.received_at.to_rfc3339(),
        }
    }
}

/// A page of events ordered by `seq`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPageBody {
    pub data: Vec<EventBody>,
    /// Whether events already exist beyond `nextCursor`.
    pub has_more: bool,
    /// The position just after the last event of this page; send it as `cursor` to read on.
    /// Null only when the session has no events and no cursor was sent.
    pub next_cursor: Option<String>,
}

/// A session with one page of its events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionWithEventsBody {
    #[serde(flatten)]
    pub session: SessionBody,
    pub events: EventPageBody,
}

// The request bodies below exist for the OpenAPI document only: bodies are parsed by
// `Fields` (see the parse functions further down), which applies the domain's rules and
// collects every bad field. `Deserialize` is derived solely so that `deny_unknown_fields`
// documents `additionalProperties: false`.

/// Body of `POST /sessions`. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    session_id: String,
    /// A BCP-47 tag, stored as given.
    #[schema(max_length = 35, pattern = "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")]
    language: Option<String>,
    /// Free-form JSON object, at most 16 KiB serialized (configurable). Default `{}`.
    #[schema(value_type = Object, required = false)]
    metadata: Option<Value>,
    /// RFC 3339; default: when the server first stores the session.
    #[schema(format = DateTime, nullable = false)]
    started_at: Option<String>,
    /// Default `initiated`.
    #[schema(nullable = false)]
    status: Option<InitialStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
enum InitialStatus {
    Initiated,
    Active,
}

/// Body of `POST /sessions/{sessionId}/events`. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppendEventRequest {
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    )]
    event_id: String,
    #[serde(rename = "type")]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z][A-Za-z0-9_.:-]*$"
    )]
    event_type: String,
    /// Free-form JSON object, at most 64 KiB serialized (configurable). Default `{}`.
    #[schema(value_type = Object, required = false)]
    payload: Option<Value>,
    /// RFC 3339; default: `receivedAt`.
    #[schema(format = DateTime, nullable = false)]
    timestamp: Option<String>,
}

/// Body of `POST /sessions/{sessionId}/complete`; optional.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompleteSessionRequest {
    /// Default `completed`.
    #[schema(nullable = false)]
    status: Option<TerminalStatus>,
    /// RFC 3339; default: now.
    #[schema(format = DateTime, nullable = false)]
    ended_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "lowercase")]
enum TerminalStatus {
    Completed,
    Failed,
}

/// A status restricted to the values `allowed` by `keep`.
fn status_field(
    keep: fn(&SessionStatus) -> bool,
    allowed: &'static str,
) -> impl FnOnce(Value) -> Result<SessionStatus, String> {
    fields::one_of(move |s| SessionStatus::parse(s).filter(keep), allowed)
}

/// The domain refuses what the field parser let through only on a bug; say which field.
fn refused(field: &str, invalid: domain::InvalidValue) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, invalid.0)])
}

pub fn parse_create_session(body: Value, limits: &Limits) -> Result<NewSession, ApiError> {
    let mut f = Fields::of(body)?;
    let id = f.required("sessionId", fields::string(SessionId::parse));
    let language = f.optional("language", true, fields::string(Language::parse));
    let metadata = f.object("metadata", limits.metadata_bytes);
    let started_at = f.optional("startedAt", false, fields::timestamp);
    let status = f.optional(
        "status",
        false,
        status_field(|s| !s.is_terminal(), "initiated, active"),
    );
    f.finish()?;
    let id = id.expect("finish reports a missing sessionId");
    NewSession::new(id, status, language, metadata, started_at).map_err(|e| refused("status", e))
}

pub fn parse_append_event(body: Value, limits: &Limits) -> Result<NewEvent, ApiError> {
    let mut f = Fields::of(body)?;
    let event_id = f.required("eventId", fields::string(EventId::parse));
    let event_type = f.required("type", fields::string(EventType::parse));
    let payload = f.object("payload", limits.payload_bytes);
    let timestamp = f.optional("timestamp", false, fields::timestamp);
    f.finish()?;
    Ok(NewEvent {
        event_id: event_id.expect("finish reports a missing eventId"),
        event_type: event_type.expect("finish reports a missing type"),
        payload,
        timestamp,
    })
}

pub fn parse_complete(body: Option<Value>) -> Result<CompleteRequest, ApiError> {
    let (status, ended_at) = match body {
        None => (None, None),
        Some(body) => {
            let mut f = Fields::of(body)?;
            let status = f.optional(
                "status",
                false,
                status_field(|s| s.is_terminal(), "completed, failed"),
            );
            let ended_at = f.optional("endedAt", false, fields::timestamp);
            f.finish()?;
            (status, ended_at)
        }
    };
    CompleteRequest::new(status, ended_at).map_err(|e| refused("status", e))
}
