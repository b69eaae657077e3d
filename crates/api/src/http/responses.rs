//! The response bodies: the JSON shapes the API sends, and their OpenAPI schemas. Every field
//! is always sent, `null` included, so every field is `required`.

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::http::schema;

/// A stored JSON object written out as it was stored.
fn raw(text: String) -> Box<RawValue> {
    RawValue::from_string(text)
        .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("{} is JSON"))
}

/// A time written as [`domain::Timestamp::to_rfc3339`] renders it, straight into the body (no
/// `String` per time of every event and session served).
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub domain::Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.0.rfc3339_bytes();
        serializer.serialize_str(std::str::from_utf8(&bytes).expect("ASCII"))
    }
}

/// A conversation session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[schema(value_type = schema::SessionId)]
    pub session_id: String,
    #[schema(value_type = schema::SessionStatus)]
    pub status: &'static str,
    /// The language given at creation, or null.
    #[schema(required = true, example = "en-US")]
    pub language: Option<String>,
    #[schema(value_type = schema::JsonObject)]
    pub metadata: Box<RawValue>,
    #[schema(value_type = schema::Timestamp)]
    pub started_at: Rfc3339,
    /// Null until the session is completed or failed.
    #[schema(required = true, format = DateTime, example = json!(null))]
    pub ended_at: Option<String>,
    /// Events stored in the session.
    #[schema(minimum = 0, example = 2)]
    pub event_count: u64,
    /// The `seq` of the newest event; 0 without events.
    #[schema(minimum = 0, example = 2)]
    pub last_seq: u64,
    #[schema(value_type = schema::Timestamp)]
    pub created_at: Rfc3339,
    #[schema(value_type = schema::Timestamp)]
    pub updated_at: Rfc3339,
}

impl From<&domain::Session> for Session {
    fn from(s: &domain::Session) -> Self {
        Self {
            session_id: s.id.to_string(),
            status: s.status.as_str(),
            language: s.language.as_ref().map(|l| l.as_str().to_owned()),
            metadata: raw(s.metadata.as_str().to_owned()),
            started_at: Rfc3339(s.started_at),
            ended_at: s.ended_at.map(|t| t.to_rfc3339()),
            event_count: s.event_count,
            last_seq: s.last_seq,
            created_at: Rfc3339(s.created_at),
            updated_at: Rfc3339(s.updated_at),
        }
    }
}

/// An immutable event of a session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[schema(value_type = schema::EventId)]
    pub event_id: String,
    #[schema(value_type = schema::SessionId)]
    pub session_id: String,
    /// Position in the session, strictly increasing in commit order; gaps are allowed.
    #[schema(minimum = 1, example = 1)]
    pub seq: u64,
    #[serde(rename = "type")]
    #[schema(value_type = schema::EventType)]
    pub event_type: String,
    #[schema(value_type = schema::JsonObject)]
    pub payload: Box<RawValue>,
    /// When it happened (as sent, or `receivedAt`).
    #[schema(value_type = schema::Timestamp)]
    pub timestamp: Rfc3339,
    /// When the service first stored it.
    #[schema(value_type = schema::Timestamp)]
    pub received_at: Rfc3339,
    /// When the payload was redacted (it is then `{}`); null when it was not.
    #[schema(value_type = Option<schema::Timestamp>)]
    pub redacted_at: Option<Rfc3339>,
    /// The earlier event of the session this one corrects; null when it corrects none.
    #[schema(value_type = Option<schema::EventId>)]
    pub supersedes: Option<String>,
    /// The event that corrects this one, set when that correction is stored; null while it
    /// stands.
    #[schema(value_type = Option<schema::EventId>)]
    pub superseded_by: Option<String>,
}

impl From<&domain::Event> for Event {
    fn from(e: &domain::Event) -> Self {
        Self::from(e.clone())
    }
}

/// Takes the event's strings over (a page's events are not needed after their rendering).
impl From<domain::Event> for Event {
    fn from(e: domain::Event) -> Self {
        Self {
            event_id: e.event_id.into_string(),
            session_id: e.session_id.into_string(),
            seq: e.seq,
            event_type: e.event_type.into_string(),
            payload: raw(e.payload.into_string()),
            timestamp: Rfc3339(e.timestamp),
            received_at: Rfc3339(e.received_at),
            redacted_at: e.redaction.map(|r| Rfc3339(r.at)),
            supersedes: e.supersedes.map(domain::EventId::into_string),
            superseded_by: e.superseded_by.map(domain::EventId::into_string),
        }
    }
}

/// One item of a batch append's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    /// The stored event (for a replay: as stored before).
    pub event: Event,
    /// Whether the event was stored before this request.
    pub replayed: bool,
}

/// The answer to a batch append: one item per request item, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchAppended {
    pub data: Vec<BatchItem>,
}

impl From<&[domain::Written<domain::Event>]> for BatchAppended {
    fn from(written: &[domain::Written<domain::Event>]) -> Self {
        Self {
            data: written
                .iter()
                .map(|w| BatchItem {
                    event: Event::from(&w.value),
                    replayed: w.replayed,
                })
                .collect(),
        }
    }
}

/// A page of events ordered by `seq`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    pub data: Vec<Event>,
    /// Whether events already exist beyond `nextCursor`.
    pub has_more: bool,
    /// The position just after the last event of this page; send it as `cursor` to read on
    /// (also when `hasMore` is false, to tail the session). Null only when the session has no
    /// events and no cursor was sent.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a project's sessions, ordered by `createdAt`, ties by `sessionId`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    /// The sessions, without their events.
    pub data: Vec<Session>,
    /// Whether matching sessions already exist beyond `nextCursor`.
    pub has_more: bool,
    /// The position just after the last session of this page; send it as `cursor`, with the
    /// same filters and order, to read on. Null only when the page is empty and no cursor was
    /// sent.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A session with one page of its events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionWithEvents {
    #[serde(flatten)]
    pub session: Session,
    pub events: EventPage,
}

/// Liveness and readiness.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The store, on `/readyz` only.
    #[schema(example = "sqlite")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
}

/// What every answer about an API key says of it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyFields {
    /// The public id: the start of the key's text.
    #[schema(value_type = schema::KeyId)]
    pub id: String,
    #[schema(value_type = schema::ProjectId)]
    pub project: String,
    #[schema(value_type = Vec<schema::Scope>)]
    pub scopes: Vec<&'static str>,
    /// A label for people, or null.
    #[schema(required = true, example = "pipeline eu-1")]
    pub name: Option<String>,
    #[schema(value_type = schema::Timestamp)]
    pub created_at: String,
    /// Null: the key does not expire.
    #[schema(required = true, format = DateTime, example = json!(null))]
    pub expires_at: Option<String>,
}

impl From<&domain::ApiKey> for KeyFields {
    fn from(k: &domain::ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            project: k.project.to_string(),
            scopes: k.scopes.iter().map(domain::Scope::as_str).collect(),
            name: k.name.as_ref().map(|n| n.as_str().to_owned()),
            created_at: k.created_at.to_rfc3339(),
            expires_at: k.expires_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// An API key as listed: everything but its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    #[serde(flatten)]
    pub fields: KeyFields,
    /// Null until the key is revoked.
    #[schema(required = true, format = DateTime, example = json!(null))]
    pub revoked_at: Option<String>,
}

impl From<&domain::ApiKey> for ApiKeyInfo {
    fn from(k: &domain::ApiKey) -> Self {
        Self {
            fields: KeyFields::from(k),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A new API key, with its text: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The key: send it as `Authorization: Bearer <key>`. It is not stored and cannot be
    /// shown again.
    #[schema(example = "ak_3f9c0a12d4e5b6c7.<64 hex digits>")]
    pub key: String,
    #[serde(flatten)]
    pub fields: KeyFields,
}

impl CreatedKey {
    pub fn new(key: &domain::ApiKey, text: &domain::KeyText) -> Self {
        Self {
            key: text.reveal().to_owned(),
            fields: KeyFields::from(key),
        }
    }
}

/// API keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub data: Vec<ApiKeyInfo>,
}

/// A webhook endpoint, without its secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInfo {
    #[schema(value_type = schema::WebhookId)]
    pub id: String,
    #[schema(value_type = schema::ProjectId)]
    pub project: String,
    #[schema(format = "uri", example = "https://hooks.example.com/calls")]
    pub url: String,
    /// The message types it is sent, in a fixed order.
    #[schema(value_type = Vec<schema::WebhookEventType>)]
    pub events: Vec<&'static str>,
    /// What it is for, or null.
    #[schema(required = true, example = "post-call jobs")]
    pub description: Option<String>,
    /// `false`: no message is sent to it (by a `PATCH`, a `410` reply, or failing every attempt
    /// for `WEBHOOK_DISABLE_AFTER`).
    pub enabled: bool,
    #[schema(value_type = schema::Timestamp)]
    pub created_at: String,
    #[schema(value_type = schema::Timestamp)]
    pub updated_at: String,
}

impl From<&domain::WebhookEndpoint> for WebhookInfo {
    fn from(w: &domain::WebhookEndpoint) -> Self {
        Self {
            id: w.id.as_str().to_owned(),
            project: w.project.to_string(),
            url: w.url.as_str().to_owned(),
            events: w
                .events
                .iter()
                .map(domain::WebhookEventType::as_str)
                .collect(),
            description: w.description.as_ref().map(|d| d.as_str().to_owned()),
            enabled: w.enabled,
            created_at: w.created_at.to_rfc3339(),
            updated_at: w.updated_at.to_rfc3339(),
        }
    }
}

/// A webhook endpoint with its (new) signing secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    /// The signing secret (Standard Webhooks: `whsec_` + base64). Keep it: it cannot be shown
    /// again. After a rotation the previous one keeps signing beside it for 24 hours.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    #[serde(flatten)]
    pub endpoint: WebhookInfo,
}

impl WebhookWithSecret {
    pub fn new(endpoint: &domain::WebhookEndpoint, secret: String) -> Self {
        Self {
            secret,
            endpoint: WebhookInfo::from(endpoint),
        }
    }
}

/// A project's webhook endpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub data: Vec<WebhookInfo>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    #[schema(value_type = schema::Timestamp)]
    pub at: String,
    /// The receiver's status code, or null when there was no answer (see `error`).
    #[schema(required = true, example = 200)]
    pub status_code: Option<u16>,
    /// Why there was no answer (connection refused, timeout, destination refused…), or null.
    #[schema(required = true, example = json!(null))]
    pub error: Option<String>,
    /// How long the attempt took.
    #[schema(minimum = 0, example = 42)]
    pub duration_ms: u64,
}

/// A message as delivered to one endpoint, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[schema(value_type = schema::MessageId)]
    pub message_id: String,
    #[serde(rename = "type")]
    #[schema(value_type = schema::WebhookEventType)]
    pub kind: &'static str,
    #[schema(value_type = schema::SessionId)]
    pub session_id: String,
    /// The event of `event.appended` and `event.redacted`, else null.
    #[schema(required = true, example = "evt-1")]
    pub event_id: Option<String>,
    /// When the change it announces committed.
    #[schema(value_type = schema::Timestamp)]
    pub recorded_at: String,
    #[schema(value_type = schema::DeliveryStatus)]
    pub status: &'static str,
    /// When a pending delivery is attempted (again); null once delivered or failed.
    #[schema(required = true, format = DateTime, example = json!(null))]
    pub next_attempt_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
}

impl From<&domain::webhook::DeliveryRecord> for Delivery {
    fn from(d: &domain::webhook::DeliveryRecord) -> Self {
        let m = &d.message;
        Self {
            message_id: m.id.as_str().to_owned(),
            kind: m.kind.as_str(),
            session_id: m.session.as_str().to_owned(),
            event_id: m.event.as_ref().map(|e| e.as_str().to_owned()),
            recorded_at: m.recorded_at.to_rfc3339(),
            status: d.status.as_str(),
            next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
            attempts: d
                .attempts
                .iter()
                .map(|a| {
                    let (status_code, error) = match &a.result {
                        domain::webhook::AttemptResult::Status(code) => (Some(*code), None),
                        domain::webhook::AttemptResult::Error(why) => (None, Some(why.clone())),
                    };
                    DeliveryAttempt {
                        at: a.at.to_rfc3339(),
                        status_code,
                        error,
                        duration_ms: a.duration_ms,
                    }
                })
                .collect(),
        }
    }
}

/// A page of an endpoint's deliveries, newest message first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    /// Whether older deliveries exist beyond `nextCursor`.
    pub has_more: bool,
    /// Send it as `cursor` (with the same `status`) to read the older ones; null when there
    /// are none.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// How many messages were made pending again, to be sent now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resent {
    #[schema(minimum = 0, example = 12)]
    pub resent: u64,
}
