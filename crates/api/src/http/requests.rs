//! The request bodies. Each is one struct that is deserialized, validated and documented
//! (see [`crate::http::input`] for how every problem is collected), then turned into the domain's
//! request. Unknown fields are refused (`additionalProperties: false`). A missing field is
//! `Input::Missing` (`#[serde(default)]`); `required = true` marks the ones that must be sent.

use actix_web::{HttpRequest, web};
use app::{NewWebhook, WebhookEdit};
use domain::{
    AppendBatch, BatchError, CompleteRequest, EventId, EventType, JsonObject, KeyName, Language,
    NewApiKey, NewEvent, NewSession, ObjectTextError, ProjectId, Scopes, SessionId, Timestamp,
    WebhookDescription, WebhookEvents,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use validator::Validate;

use crate::http::body;
use crate::http::input::{
    self, BatchItems, ExpectedSeq, InitialStatus, Input, ObjectText, TerminalStatus, UrlText,
};
use crate::http::limits::Limits;
use crate::http::problem::{ApiError, ErrorCode, FieldError};
use crate::http::schema;

/// A request body: read, validated, then turned into the domain's request.
pub trait RequestBody:
    DeserializeOwned + Validate + utoipa::PartialSchema + Default + 'static
{
    type Domain;

    /// The domain's request; objects over their size limit are 413.
    fn into_domain(self, limits: &Limits) -> Result<Self::Domain, ApiError>;

    /// The fields with a size limit of their own, measured while the body is parsed (so that an
    /// oversized one is never built whole: see `body`).
    fn bounds(_limits: &Limits) -> Vec<(&'static str, usize)> {
        Vec::new()
    }
}

/// Reads the required JSON body `B` (415, 413, 408, 400 as `body` and `input` say).
pub async fn read<B: RequestBody>(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
) -> Result<B::Domain, ApiError> {
    let value = body::json(req, payload, limits, &B::bounds(limits)).await?;
    input::parse::<B>(value)?.into_domain(limits)
}

/// Reads the optional JSON body `B`; no body is `B::default()`.
pub async fn read_optional<B: RequestBody>(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
) -> Result<B::Domain, ApiError> {
    let request = match body::optional_json(req, payload, limits, &B::bounds(limits)).await? {
        Some(value) => input::parse::<B>(value)?,
        None => B::default(),
    };
    request.into_domain(limits)
}

/// An optional JSON object within its size limit (413 beyond it).
fn object(name: &str, input: Input<ObjectText>, limit: usize) -> Result<JsonObject, ApiError> {
    match input.value() {
        None => Ok(JsonObject::empty()),
        Some(ObjectText(text)) => JsonObject::from_text(text, limit).map_err(|e| match e {
            ObjectTextError::TooLarge(too_large) => {
                ApiError::new(ErrorCode::PayloadTooLarge, format!("{name} {too_large}"))
            }
            ObjectTextError::Invalid(invalid) => refused(name, invalid),
        }),
    }
}

/// The domain refuses what validation let through only on a bug; say which field.
fn refused(field: &str, invalid: domain::InvalidValue) -> ApiError {
    ApiError::validation(vec![FieldError::new(field, invalid.0)])
}

/// Body of `POST /sessions`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"sessionId": "call-42", "language": "en-US", "metadata": {"from": "+15550100"}}))]
pub struct CreateSessionRequest {
    /// The session's id; a retry sends the same id and gets the stored session back.
    #[serde(default)]
    #[schema(value_type = schema::SessionId, required = true)]
    #[validate(custom(function = "crate::http::input::present"))]
    session_id: Input<SessionId>,
    /// The caller's language; `null` is the same as absent.
    #[serde(default)]
    #[schema(value_type = Option<schema::Language>)]
    #[validate(custom(function = "crate::http::input::valid"))]
    language: Input<Option<Language>>,
    /// Free-form session metadata; default `{}`.
    #[serde(default)]
    #[schema(value_type = schema::JsonObject)]
    #[validate(custom(function = "crate::http::input::valid"))]
    metadata: Input<ObjectText>,
    /// When the call started; default: when the service first stores the session. At most
    /// 1 hour ahead of the server's clock.
    #[serde(default)]
    #[schema(value_type = schema::Timestamp)]
    #[validate(custom(function = "crate::http::input::client_time"))]
    started_at: Input<Timestamp>,
    /// Default `initiated`.
    #[serde(default)]
    #[schema(value_type = schema::InitialStatus)]
    #[validate(custom(function = "crate::http::input::valid"))]
    status: Input<InitialStatus>,
}

impl RequestBody for CreateSessionRequest {
    type Domain = NewSession;

    fn bounds(limits: &Limits) -> Vec<(&'static str, usize)> {
        vec![("metadata", limits.metadata_bytes)]
    }

    fn into_domain(self, limits: &Limits) -> Result<NewSession, ApiError> {
        let metadata = object("metadata", self.metadata, limits.metadata_bytes)?;
        NewSession::new(
            self.session_id
                .value()
                .expect("validated: sessionId is present"),
            self.status.value().map(|s| s.0),
            self.language.value().flatten(),
            metadata,
            self.started_at.value(),
        )
        .map_err(|e| refused("status", e))
    }
}

/// The fields of one event in an append request: the single append's body (with
/// `expectedLastSeq`) and each item of a batch.
macro_rules! event_request {
    ($(#[$meta:meta])* $name:ident { $($(#[$extra_meta:meta])* $extra:ident: $extra_type:ty,)* }) => {
        #[derive(Debug, Default, Deserialize, Validate, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        $(#[$meta])*
        pub struct $name {
            /// The event's id in its session; a retry sends the same id and gets the stored
            /// event.
            #[serde(default)]
            #[schema(value_type = schema::EventId, required = true)]
            #[validate(custom(function = "crate::http::input::present"))]
            event_id: Input<EventId>,
            #[serde(default)]
            #[schema(value_type = schema::EventType, required = true)]
            #[validate(custom(function = "crate::http::input::present"))]
            r#type: Input<EventType>,
            /// Free-form event content; default `{}`.
            #[serde(default)]
            #[schema(value_type = schema::JsonObject)]
            #[validate(custom(function = "crate::http::input::valid"))]
            payload: Input<ObjectText>,
            /// When it happened; default: `receivedAt`. At most 1 hour ahead of the server's clock.
            #[serde(default)]
            #[schema(value_type = schema::Timestamp)]
            #[validate(custom(function = "crate::http::input::client_time"))]
            timestamp: Input<Timestamp>,
            /// The `eventId` of an earlier event of this session that this one corrects (an
            /// interim transcript replaced by the next or the final one, a bot utterance cut
            /// short by a barge-in); null or absent: none. That event's `supersededBy` becomes
            /// this event's id (409 `supersede-conflict` if there is no such event or another
            /// correction took it). A batch may correct its own earlier items.
            #[serde(default)]
            #[schema(value_type = Option<schema::EventId>)]
            #[validate(custom(function = "crate::http::input::valid"))]
            supersedes: Input<Option<EventId>>,
            $($(#[$extra_meta])* $extra: $extra_type,)*
        }

        impl $name {
            fn new_event(
                event_id: Input<EventId>,
                r#type: Input<EventType>,
                payload: Input<ObjectText>,
                timestamp: Input<Timestamp>,
                supersedes: Input<Option<EventId>>,
                limits: &Limits,
            ) -> Result<NewEvent, ApiError> {
                let payload = object("payload", payload, limits.payload_bytes)?;
                Ok(NewEvent::new(
                    event_id.value().expect("validated: eventId is present"),
                    r#type.value().expect("validated: type is present"),
                    payload,
                )
                .with_timestamp(timestamp.value())
                .with_supersedes(supersedes.value().flatten()))
            }
        }
    };
}

event_request!(
    /// Body of `POST /sessions/{sessionId}/events`.
    #[schema(example = json!({"eventId": "evt-1", "type": "user_speech", "payload": {"text": "Hi, I need help"}}))]
    AppendEventRequest {
        /// Store the event only if the session's `lastSeq` is this (else 409 `seq-mismatch`,
        /// whose `lastSeq` is the current one). A replay is answered whatever it says.
        #[serde(default)]
        #[schema(value_type = u64, minimum = 0)]
        #[validate(custom(function = "crate::http::input::valid"))]
        expected_last_seq: Input<ExpectedSeq>,
    }
);

event_request!(
    /// One event of `POST /sessions/{sessionId}/events:batch`.
    #[schema(example = json!({"eventId": "evt-2", "type": "bot_speech", "payload": {"text": "Sure."}}))]
    BatchEvent {}
);

impl RequestBody for AppendEventRequest {
    type Domain = AppendBatch;

    fn bounds(limits: &Limits) -> Vec<(&'static str, usize)> {
        vec![("payload", limits.payload_bytes)]
    }

    fn into_domain(self, limits: &Limits) -> Result<AppendBatch, ApiError> {
        let new = Self::new_event(
            self.event_id,
            self.r#type,
            self.payload,
            self.timestamp,
            self.supersedes,
            limits,
        )?;
        Ok(AppendBatch::single(
            new,
            self.expected_last_seq.value().map(|s| s.0),
        ))
    }
}

impl BatchEvent {
    fn into_domain(self, limits: &Limits) -> Result<NewEvent, ApiError> {
        Self::new_event(
            self.event_id,
            self.r#type,
            self.payload,
            self.timestamp,
            self.supersedes,
            limits,
        )
    }
}

/// Body of `POST /sessions/{sessionId}/events:batch`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"events": [
    {"eventId": "evt-1", "type": "user_speech", "payload": {"text": "Hi, I need help"}},
    {"eventId": "evt-2", "type": "bot_speech", "payload": {"text": "Sure."}}
], "expectedLastSeq": 0}))]
pub struct BatchAppendRequest {
    /// The events, 1–500, stored all or nothing at consecutive `seq`s in this order. The same
    /// `eventId` twice with the same content counts once.
    #[serde(default)]
    #[schema(value_type = Vec<BatchEvent>, required = true, min_items = 1, max_items = 500)]
    #[validate(custom(function = "crate::http::input::present"))]
    events: Input<BatchItems>,
    /// Store the new events only if the session's `lastSeq` is this (else 409
    /// `seq-mismatch`, whose `lastSeq` is the current one). A batch of replays only is
    /// answered whatever it says.
    #[serde(default)]
    #[schema(value_type = u64, minimum = 0)]
    #[validate(custom(function = "crate::http::input::valid"))]
    expected_last_seq: Input<ExpectedSeq>,
}

impl RequestBody for BatchAppendRequest {
    type Domain = AppendBatch;

    fn bounds(limits: &Limits) -> Vec<(&'static str, usize)> {
        vec![("payload", limits.payload_bytes)]
    }

    /// Reads every item (400 naming `events[i].<field>` for each problem of each item), then
    /// the batch rules (a repeated `eventId` with other content: `events[i].eventId`).
    fn into_domain(self, limits: &Limits) -> Result<AppendBatch, ApiError> {
        let items = self
            .events
            .value()
            .expect("validated: events are present")
            .0;
        let mut errors = Vec::new();
        let mut parsed = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match input::parse::<BatchEvent>(item) {
                Ok(event) => parsed.push(event),
                Err(invalid) => errors.extend(invalid.errors.into_iter().map(|e| {
                    let field = match e.field.as_str() {
                        "body" => format!("events[{i}]"),
                        field => format!("events[{i}].{field}"),
                    };
                    FieldError::new(field, e.message)
                })),
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let events = parsed
            .into_iter()
            .map(|event| event.into_domain(limits))
            .collect::<Result<Vec<_>, _>>()?;
        AppendBatch::new(events, self.expected_last_seq.value().map(|s| s.0)).map_err(|e| {
            let field = match e {
                BatchError::DifferentContent { index, .. } => format!("events[{index}].eventId"),
                BatchError::Size => "events".to_owned(),
            };
            ApiError::validation(vec![FieldError::new(field, e.to_string())])
        })
    }
}

/// Body of `POST /sessions/{sessionId}/complete`; the whole body is optional.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"status": "failed"}))]
pub struct CompleteSessionRequest {
    /// Default `completed`.
    #[serde(default)]
    #[schema(value_type = schema::TerminalStatus)]
    #[validate(custom(function = "crate::http::input::valid"))]
    status: Input<TerminalStatus>,
    /// When the call ended; default: now. At most 1 hour ahead of the server's clock.
    #[serde(default)]
    #[schema(value_type = schema::Timestamp)]
    #[validate(custom(function = "crate::http::input::client_time"))]
    ended_at: Input<Timestamp>,
}

impl RequestBody for CompleteSessionRequest {
    type Domain = CompleteRequest;

    fn into_domain(self, _: &Limits) -> Result<CompleteRequest, ApiError> {
        CompleteRequest::new(self.status.value().map(|s| s.0), self.ended_at.value())
            .map_err(|e| refused("status", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::ErrorCode;
    use serde_json::{Value, json};

    /// `body` as the service reads it: the strict parse (bounded fields as their text), then `B`.
    fn parse<B: RequestBody>(body: Value) -> Result<B, ApiError> {
        let bytes = serde_json::to_vec(&body).expect("JSON");
        let value = body::parse_bounded(&bytes, &B::bounds(&Limits::default()))?;
        input::parse::<B>(value)
    }

    fn fields(err: &ApiError) -> Vec<&str> {
        err.errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn collects_every_problem() {
        let err =
            parse::<AppendEventRequest>(json!({"eventId": 5, "extra": 1, "other": 2})).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed);
        assert_eq!(fields(&err), ["eventId", "type", "extra", "other"]);
        assert_eq!(err.errors[0].message, "must be a string");
        assert_eq!(err.errors[1].message, "is required");
        assert_eq!(err.errors[2].message, "is not a known field");
    }

    #[test]
    fn rule_messages_are_the_domains() {
        let err = parse::<CreateSessionRequest>(json!({"sessionId": "", "status": "failed"}))
            .unwrap_err();
        assert_eq!(
            err.errors,
            vec![
                FieldError::new("sessionId", "sessionId must not be empty"),
                FieldError::new("status", "must be one of initiated, active"),
            ]
        );
    }

    #[test]
    fn null_is_absent_only_when_nullable() {
        let err = parse::<CreateSessionRequest>(
            json!({"sessionId": "s", "language": null, "status": null}),
        )
        .unwrap_err();
        assert_eq!(
            err.errors,
            vec![FieldError::new("status", "must be a string")]
        );
        let new = parse::<CreateSessionRequest>(json!({"sessionId": "s", "language": null}))
            .unwrap()
            .into_domain(&Limits::default())
            .unwrap();
        assert_eq!(new.language, None);
    }

    #[test]
    fn oversized_objects_are_413_after_validation() {
        let limits = Limits {
            payload_bytes: 5,
            ..Limits::default()
        };
        let body = json!({"eventId": "e", "type": "t", "payload": {"k": "0123456789"}});
        let err = parse::<AppendEventRequest>(body)
            .unwrap()
            .into_domain(&limits)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        let body = json!({"type": "t", "payload": {"k": "0123456789"}});
        let err = parse::<AppendEventRequest>(body).unwrap_err();
        assert_eq!(err.code, ErrorCode::ValidationFailed, "400 before 413");
        assert!(parse::<AppendEventRequest>(json!([])).is_err());
    }

    #[test]
    fn an_absent_complete_body_is_the_default_request() {
        let request = CompleteSessionRequest::default()
            .into_domain(&Limits::default())
            .unwrap();
        assert_eq!(request.status(), domain::SessionStatus::Completed);
        assert_eq!(request.ended_at, None);
    }
}

/// Body of `POST /admin/keys`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"project": "acme", "scopes": ["read", "write"], "name": "pipeline eu-1"}))]
pub struct CreateKeyRequest {
    /// The project the key works in (created by its first key).
    #[serde(default)]
    #[schema(value_type = schema::ProjectId, required = true)]
    #[validate(custom(function = "crate::http::input::present"))]
    project: Input<ProjectId>,
    /// What the key may do: one or more of `read`, `write`, `delete`.
    #[serde(default)]
    #[schema(value_type = Vec<schema::Scope>, required = true, min_items = 1)]
    #[validate(custom(function = "crate::http::input::present"))]
    scopes: Input<Scopes>,
    /// A label for people (1–100 characters).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 100)]
    #[validate(custom(function = "crate::http::input::valid"))]
    name: Input<KeyName>,
    /// When the key stops working; in the future. Default: never.
    #[serde(default)]
    #[schema(value_type = schema::Timestamp)]
    #[validate(custom(function = "crate::http::input::valid"))]
    expires_at: Input<Timestamp>,
}

impl RequestBody for CreateKeyRequest {
    type Domain = NewApiKey;

    fn into_domain(self, _: &Limits) -> Result<NewApiKey, ApiError> {
        NewApiKey::new(
            self.project.value().expect("validated: project is present"),
            self.scopes.value().expect("validated: scopes are present"),
            self.name.value(),
            self.expires_at.value(),
            Timestamp::now(),
        )
        .map_err(|e| refused("expiresAt", e))
    }
}

/// Body of `POST /admin/webhooks`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"project": "acme", "url": "https://hooks.example.com/calls", "events": ["session.completed"], "description": "post-call jobs"}))]
pub struct CreateWebhookRequest {
    /// The project whose changes are announced (it must exist: have an API key).
    #[serde(default)]
    #[schema(value_type = schema::ProjectId, required = true)]
    #[validate(custom(function = "crate::http::input::present"))]
    project: Input<ProjectId>,
    /// Where messages are posted: `https`, not to an internal address (unless the service
    /// runs with `WEBHOOK_ALLOW_PRIVATE=true`, which also allows `http`).
    #[serde(default)]
    #[schema(value_type = String, format = "uri", required = true, example = "https://hooks.example.com/calls")]
    #[validate(custom(function = "crate::http::input::present"))]
    url: Input<UrlText>,
    /// The message types sent to it: at least one.
    #[serde(default)]
    #[schema(value_type = Vec<schema::WebhookEventType>, required = true, min_items = 1)]
    #[validate(custom(function = "crate::http::input::present"))]
    events: Input<WebhookEvents>,
    /// What the endpoint is for, for people (1–256 characters).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 256)]
    #[validate(custom(function = "crate::http::input::valid"))]
    description: Input<WebhookDescription>,
}

impl RequestBody for CreateWebhookRequest {
    type Domain = NewWebhook;

    fn into_domain(self, _: &Limits) -> Result<NewWebhook, ApiError> {
        Ok(NewWebhook {
            project: self.project.value().expect("validated: project is present"),
            url: self.url.value().expect("validated: url is present").0,
            events: self.events.value().expect("validated: events are present"),
            description: self.description.value(),
        })
    }
}

/// Body of `PATCH /admin/webhooks/{webhookId}`: the fields to change; the others stay.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct PatchWebhookRequest {
    /// A new URL, judged as at creation.
    #[serde(default)]
    #[schema(value_type = String, format = "uri")]
    #[validate(custom(function = "crate::http::input::valid"))]
    url: Input<UrlText>,
    /// The new set of message types: at least one.
    #[serde(default)]
    #[schema(value_type = Vec<schema::WebhookEventType>, min_items = 1)]
    #[validate(custom(function = "crate::http::input::valid"))]
    events: Input<WebhookEvents>,
    /// `false` stops deliveries: its pending messages wait, and no message is recorded for it
    /// while it is disabled. `true` starts them again (a failing streak starts afresh).
    #[serde(default)]
    #[schema(value_type = bool)]
    #[validate(custom(function = "crate::http::input::valid"))]
    enabled: Input<bool>,
    /// A new description (1–256 characters), or `null` to remove it.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 256)]
    #[validate(custom(function = "crate::http::input::valid"))]
    description: Input<Option<WebhookDescription>>,
}

impl RequestBody for PatchWebhookRequest {
    type Domain = WebhookEdit;

    fn into_domain(self, _: &Limits) -> Result<WebhookEdit, ApiError> {
        Ok(WebhookEdit {
            url: self.url.value().map(|u| u.0),
            events: self.events.value(),
            enabled: self.enabled.value(),
            description: self.description.value(),
        })
    }
}

/// Body of `POST /admin/webhooks/{webhookId}/replay`.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"since": "2026-05-01T09:00:00Z"}))]
pub struct ReplayRequest {
    /// Every message of the endpoint recorded at or after this time is sent again.
    #[serde(default)]
    #[schema(value_type = schema::Timestamp, required = true)]
    #[validate(custom(function = "crate::http::input::present"))]
    since: Input<Timestamp>,
}

impl RequestBody for ReplayRequest {
    type Domain = Timestamp;

    fn into_domain(self, _: &Limits) -> Result<Timestamp, ApiError> {
        Ok(self.since.value().expect("validated: since is present"))
    }
}
