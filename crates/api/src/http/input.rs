//! How a request body becomes one typed value with every problem reported at once.
//!
//! Each request body is one struct (module `requests`) that serde deserializes, the
//! `validator` crate validates and utoipa documents. serde alone stops at the first bad field,
//! so every field is an [`Input`]: it accepts any JSON value, runs it through the domain's
//! constructor ([`FromJson`]) and records a refusal instead of failing. The validator rules
//! [`present`] and [`valid`] then report each recorded refusal, and [`parse`] adds the fields
//! the body's schema does not know. The rules themselves live once, in the domain. Path ids are
//! read here too, through the same domain constructors.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use domain::webhook::MessageId;
use domain::{
    EventId, EventType, InvalidValue, KeyId, KeyName, Language, ProjectId, Scopes, SessionId,
    SessionStatus, Timestamp, WebhookDescription, WebhookEvents, WebhookId,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use validator::{Validate, ValidationError, ValidationErrorsKind};

use crate::http::problem::{ApiError, FieldError};

/// One field of a request body as sent.
#[derive(Debug, Default)]
pub enum Input<T> {
    /// Not in the body.
    #[default]
    Missing,
    /// Accepted by the domain.
    Given(T),
    /// Refused; the message says why.
    Refused(String),
}

impl<T> Input<T> {
    /// The value, if it was given and accepted.
    pub fn value(self) -> Option<T> {
        match self {
            Input::Given(value) => Some(value),
            Input::Missing | Input::Refused(_) => None,
        }
    }
}

impl<'de, T: FromJson> Deserialize<'de> for Input<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match T::from_json(value) {
            Ok(value) => Input::Given(value),
            Err(message) => Input::Refused(message),
        })
    }
}

/// `validator` records each checked field's value as a parameter; ours are not kept.
impl<T> Serialize for Input<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

fn refusal(message: &str) -> ValidationError {
    ValidationError::new("invalid").with_message(Cow::Owned(message.to_owned()))
}

/// Rule of a required field: given, and accepted by the domain.
pub fn present<T>(input: &Input<T>) -> Result<(), ValidationError> {
    match input {
        Input::Given(_) => Ok(()),
        Input::Missing => Err(refusal("is required")),
        Input::Refused(message) => Err(refusal(message)),
    }
}

/// Rule of an optional field: absent, or accepted by the domain.
pub fn valid<T>(input: &Input<T>) -> Result<(), ValidationError> {
    match input {
        Input::Refused(message) => Err(refusal(message)),
        Input::Missing | Input::Given(_) => Ok(()),
    }
}

/// Rule of an optional client-supplied time: absent, or accepted by the domain and at most
/// an hour ahead of the server's clock ([`Timestamp::client_time`]).
pub fn client_time(input: &Input<Timestamp>) -> Result<(), ValidationError> {
    valid(input)?;
    match input {
        Input::Given(at) => at
            .client_time(Timestamp::now())
            .map(drop)
            .map_err(|e| refusal(&e.0)),
        Input::Missing | Input::Refused(_) => Ok(()),
    }
}

/// A value read from JSON by the domain's constructor; the error is the message for the client.
pub trait FromJson: Sized {
    fn from_json(value: Value) -> Result<Self, String>;
}

/// A JSON string handed to a domain constructor.
fn string<T>(
    value: Value,
    parse: impl FnOnce(String) -> Result<T, InvalidValue>,
) -> Result<T, String> {
    match value {
        Value::String(s) => parse(s).map_err(|e| e.0),
        _ => Err("must be a string".to_owned()),
    }
}

/// `FromJson` for domain types read from a JSON string by their constructor.
macro_rules! from_json_string {
    ($($type:ty => $parse:expr),* $(,)?) => {
        $(
            impl FromJson for $type {
                fn from_json(value: Value) -> Result<Self, String> {
                    string(value, $parse)
                }
            }
        )*
    };
}

from_json_string!(
    SessionId => SessionId::parse,
    EventId => EventId::parse,
    EventType => EventType::parse,
    Language => Language::parse,
    ProjectId => ProjectId::parse,
    KeyName => KeyName::parse,
    KeyId => KeyId::parse,
    WebhookId => WebhookId::parse,
    MessageId => MessageId::parse,
    WebhookDescription => WebhookDescription::parse,
    Timestamp => |s: String| Timestamp::parse_rfc3339(&s),
);

/// A JSON array of strings, handed to a domain constructor; `what` names the items.
fn names<T>(
    value: Value,
    what: &str,
    parse: impl FnOnce(Vec<&str>) -> Result<T, InvalidValue>,
) -> Result<T, String> {
    let refusal = || format!("must be an array of {what}");
    let Value::Array(items) = value else {
        return Err(refusal());
    };
    let names = items
        .iter()
        .map(|item| item.as_str().ok_or_else(refusal))
        .collect::<Result<Vec<&str>, _>>()?;
    parse(names).map_err(|e| e.0)
}

/// A key's scopes: a non-empty array of scope names.
impl FromJson for Scopes {
    fn from_json(value: Value) -> Result<Self, String> {
        names(value, "scope names", |n| domain::keys::parse_scopes(n))
    }
}

/// A webhook endpoint's event types: a non-empty array of type names.
impl FromJson for WebhookEvents {
    fn from_json(value: Value) -> Result<Self, String> {
        names(value, "event type names", |n| WebhookEvents::parse(n))
    }
}

/// A webhook endpoint's URL as sent: a string, judged by the use case (whether internal
/// addresses are admitted is the service's setting, `WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone)]
pub struct UrlText(pub String);

impl FromJson for UrlText {
    fn from_json(value: Value) -> Result<Self, String> {
        string(value, |s| Ok(UrlText(s)))
    }
}

/// `true` or `false`.
impl FromJson for bool {
    fn from_json(value: Value) -> Result<Self, String> {
        value
            .as_bool()
            .ok_or_else(|| "must be true or false".to_owned())
    }
}

/// A `seq` a request expects (`expectedLastSeq`): an integer ≥ 0.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedSeq(pub u64);

impl FromJson for ExpectedSeq {
    fn from_json(value: Value) -> Result<Self, String> {
        value
            .as_u64()
            .map(Self)
            .ok_or_else(|| "must be an integer ≥ 0".to_owned())
    }
}

/// The items of a batch: a JSON array of 1–[`domain::AppendBatch::MAX`] values, each read
/// as an event later (so that each item's problems are named `events[i].<field>`).
#[derive(Debug, Clone)]
pub struct BatchItems(pub Vec<Value>);

impl FromJson for BatchItems {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Array(items) if (1..=domain::AppendBatch::MAX).contains(&items.len()) => {
                Ok(Self(items))
            }
            _ => Err(format!(
                "must be an array of 1 to {} events",
                domain::AppendBatch::MAX
            )),
        }
    }
}

/// A bounded JSON field (payload, metadata) as the body parser hands it over: its compact JSON
/// text, never a tree (see `body`; the request type names it in `RequestBody::bounds`). The
/// domain takes it with its size limit ([`domain::JsonObject::from_text`]).
#[derive(Debug)]
pub struct ObjectText(pub String);

impl FromJson for ObjectText {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::String(text) if text.starts_with('{') => Ok(ObjectText(text)),
            _ => Err("must be a JSON object".to_owned()),
        }
    }
}

/// `null` is absent (only where the field's type says so, e.g. `language`).
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            value => T::from_json(value).map(Some),
        }
    }
}

/// The statuses a request may ask for, as the domain names them.
fn status(value: Value, keep: fn(&SessionStatus) -> bool) -> Result<SessionStatus, String> {
    let allowed = || {
        let names: Vec<&str> = SessionStatus::ALL
            .into_iter()
            .filter(keep)
            .map(SessionStatus::as_str)
            .collect();
        format!("must be one of {}", names.join(", "))
    };
    match value {
        Value::String(s) => SessionStatus::parse(&s).filter(keep).ok_or_else(allowed),
        _ => Err("must be a string".to_owned()),
    }
}

/// The status a new session starts in.
#[derive(Debug, Clone, Copy)]
pub struct InitialStatus(pub SessionStatus);

impl FromJson for InitialStatus {
    fn from_json(value: Value) -> Result<Self, String> {
        status(value, |s| !s.is_terminal()).map(Self)
    }
}

/// The status a session ends in.
#[derive(Debug, Clone, Copy)]
pub struct TerminalStatus(pub SessionStatus);

impl FromJson for TerminalStatus {
    fn from_json(value: Value) -> Result<Self, String> {
        status(value, |s| s.is_terminal()).map(Self)
    }
}

/// A path id breaking its rule is 400 naming the parameter, not 404 (decision 9).
fn path_id<T: FromJson>(value: &str, field: &str) -> Result<T, ApiError> {
    T::from_json(Value::String(value.to_owned()))
        .map_err(|message| ApiError::validation(vec![FieldError::new(field, message)]))
}

pub fn session_id(value: &str) -> Result<SessionId, ApiError> {
    path_id(value, "sessionId")
}

pub fn event_id(value: &str) -> Result<EventId, ApiError> {
    path_id(value, "eventId")
}

pub fn key_id(value: &str) -> Result<KeyId, ApiError> {
    path_id(value, "keyId")
}

pub fn webhook_id(value: &str) -> Result<WebhookId, ApiError> {
    path_id(value, "webhookId")
}

pub fn message_id(value: &str) -> Result<MessageId, ApiError> {
    path_id(value, "messageId")
}

/// `?project=`: optional, at most once, nothing else.
pub fn project_query(query: &str) -> Result<Option<ProjectId>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| {
        ApiError::validation(vec![FieldError::new(
            "query",
            "is not a valid query string",
        )])
    })?;
    let mut project = None;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        if name != "project" {
            errors.push(FieldError::new(name, "is not a known query parameter"));
        } else if project.is_some() {
            errors.push(FieldError::new(name, "must be given at most once"));
        } else {
            match ProjectId::parse(value) {
                Ok(p) => project = Some(p),
                Err(e) => errors.push(FieldError::new("project", e.0)),
            }
        }
    }
    if errors.is_empty() {
        Ok(project)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The wire name of a Rust field: what serde's `rename_all = "camelCase"` makes of it.
fn wire_name(field: &str) -> String {
    let field = field.strip_prefix("r#").unwrap_or(field);
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The field names of a request body, in the order its schema lists them. Composing a schema
/// builds a whole tree of maps: it is done once per body type, not once per request.
fn fields_of<B: utoipa::PartialSchema + 'static>() -> Arc<[String]> {
    static FIELDS: LazyLock<RwLock<HashMap<TypeId, Arc<[String]>>>> =
        LazyLock::new(Default::default);
    let type_id = TypeId::of::<B>();
    if let Some(fields) = FIELDS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&type_id)
    {
        return fields.clone();
    }
    let fields: Arc<[String]> = match B::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.into_keys().collect(),
        _ => Arc::new([]),
    };
    FIELDS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(type_id, fields.clone());
    fields
}

/// Reads `body` as `B`: every field it breaks, lacks or does not know is reported at once
/// (400 `validation-failed`, fields in schema order, then the unknown ones).
pub fn parse<B>(body: Value) -> Result<B, ApiError>
where
    B: DeserializeOwned + Validate + utoipa::PartialSchema + 'static,
{
    let Value::Object(mut map) = body else {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    };
    let known = fields_of::<B>();
    let mut unknown: Vec<String> = map
        .keys()
        .filter(|name| !known.contains(name))
        .cloned()
        .collect();
    unknown.sort();
    for name in &unknown {
        map.remove(name);
    }
    // Every field is an `Input`, which takes any JSON value: this cannot fail on a body.
    let parsed = B::deserialize(Value::Object(map)).map_err(|_| {
        ApiError::validation(vec![FieldError::new("body", "is not a valid request body")])
    })?;
    let mut errors = Vec::new();
    if let Err(invalid) = parsed.validate() {
        let mut by_field: Vec<(String, Vec<ValidationError>)> = invalid
            .into_errors()
            .into_iter()
            .filter_map(|(field, kind)| match kind {
                ValidationErrorsKind::Field(errors) => Some((wire_name(&field), errors)),
                _ => None,
            })
            .collect();
        by_field.sort_by_key(|(field, _)| known.iter().position(|k| k == field));
        for (field, field_errors) in by_field {
            for error in field_errors {
                let message = error.message.map(Cow::into_owned);
                errors.push(FieldError::new(
                    field.clone(),
                    message.unwrap_or_else(|| "is not valid".to_owned()),
                ));
            }
        }
    }
    errors.extend(
        unknown
            .into_iter()
            .map(|name| FieldError::new(name, "is not a known field")),
    );
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(ApiError::validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_follow_camel_case() {
        assert_eq!(wire_name("session_id"), "sessionId");
        assert_eq!(wire_name("r#type"), "type");
        assert_eq!(wire_name("payload"), "payload");
    }

    #[test]
    fn null_is_absent_only_where_the_type_allows_it() {
        assert!(matches!(
            Option::<Language>::from_json(Value::Null),
            Ok(None)
        ));
        assert_eq!(
            InitialStatus::from_json(Value::Null).unwrap_err(),
            "must be a string"
        );
        assert_eq!(
            InitialStatus::from_json(Value::from("failed")).unwrap_err(),
            "must be one of initiated, active"
        );
        assert_eq!(
            TerminalStatus::from_json(Value::from("active")).unwrap_err(),
            "must be one of completed, failed"
        );
    }
}
