//! The OpenAPI schemas of the values on the wire, built from the domain's own rules (its
//! patterns, lengths and status sets), so the published contract cannot drift from what the
//! domain accepts. Each is a named component (`SessionId`, `SessionStatus`, …) that request and
//! response bodies refer to with `#[schema(value_type = schema::…)]`.

use serde_json::json;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, Schema};

/// A string id under a domain rule.
pub fn id(pattern: &str, max_len: usize, example: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max_len))
        .pattern(Some(pattern))
        .examples([json!(example)])
        .into()
}

/// The statuses of the domain that `keep` selects.
fn statuses(description: &str, keep: fn(&domain::SessionStatus) -> bool) -> Schema {
    let values: Vec<&str> = domain::SessionStatus::ALL
        .into_iter()
        .filter(keep)
        .map(domain::SessionStatus::as_str)
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([json!(values[0])])
        .enum_values(Some(values))
        .into()
}

fn described(schema: Schema, description: &str) -> Schema {
    match schema {
        Schema::Object(mut object) => {
            object.description = Some(description.to_owned());
            Schema::Object(object)
        }
        other => other,
    }
}

/// Declares a named schema component.
macro_rules! component {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

component!(SessionId => described(
    id(domain::SessionId::PATTERN, domain::SessionId::MAX_LEN, "call-42"),
    "A session id chosen by the client, unique in the service.",
));
component!(EventId => described(
    id(domain::EventId::PATTERN, domain::EventId::MAX_LEN, "evt-1"),
    "An event id chosen by the client, unique within its session.",
));
component!(EventType => described(
    id(domain::EventType::PATTERN, domain::EventType::MAX_LEN, "user_speech"),
    "What kind of event this is (`user_speech`, `bot_speech`, `system`, …).",
));
component!(Language => described(
    id(domain::Language::PATTERN, domain::Language::MAX_LEN, "en-US"),
    "A BCP-47 language tag, stored as given.",
));
component!(Timestamp => ObjectBuilder::new()
    .schema_type(Type::String)
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
    .description(Some(
        "RFC 3339. Sent back in UTC with milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.",
    ))
    .examples([json!("2026-05-01T12:00:00.000Z")]));
component!(SessionStatus => statuses(
    "Where a session is in its life; `completed` and `failed` are final.",
    |_| true,
));
component!(InitialStatus => statuses(
    "The status a new session starts in.",
    |s| !s.is_terminal(),
));
component!(TerminalStatus => statuses(
    "How a session ended.",
    |s| s.is_terminal(),
));
component!(JsonObject => ObjectBuilder::new()
    .schema_type(Type::Object)
    .additional_properties(Some(AdditionalProperties::FreeForm(true)))
    .description(Some(
        "Any JSON object, stored and returned as sent (keys in the order sent).",
    ))
    .examples([json!({"text": "Hi, I need help"})]));
component!(IdempotentReplayed => ObjectBuilder::new()
.schema_type(Type::String)
.enum_values(Some(["true"]))
.description(Some(
    "Sent, as `true`, only when the answer is a stored value (a replay).",
)));
component!(ProjectId => described(
    id(domain::ProjectId::PATTERN, domain::ProjectId::MAX_LEN, "acme"),
    "A project: the unit of isolation. Its sessions are invisible to every other project.",
));
component!(KeyId => ObjectBuilder::new()
    .schema_type(Type::String)
    .pattern(Some(domain::KeyId::PATTERN))
    .description(Some(
        "The public id of an API key: the start of its text, safe to show and to log.",
    ))
    .examples([json!("ak_3f9c0a12d4e5b6c7")]));
component!(Scope => ObjectBuilder::new()
    .schema_type(Type::String)
    .enum_values(Some(domain::Scope::ALL.map(domain::Scope::as_str)))
    .description(Some(
        "What a key may do: `read` (every GET), `write` (create, append, complete), `delete` (erase, redact).",
    ))
    .examples([json!("read")]));
component!(WebhookId => ObjectBuilder::new()
    .schema_type(Type::String)
    .pattern(Some(domain::WebhookId::PATTERN))
    .description(Some("The id of a webhook endpoint, given by the service."))
    .examples([json!("wh_3f9c0a12d4e5b6c7")]));
component!(WebhookEventType => ObjectBuilder::new()
    .schema_type(Type::String)
    .enum_values(Some(domain::WebhookEventType::ALL.map(domain::WebhookEventType::as_str)))
    .description(Some(
        "A message type: a session created, completed, failed or erased; an event appended or redacted.",
    ))
    .examples([json!("session.completed")]));
component!(MessageId => ObjectBuilder::new()
    .schema_type(Type::String)
    .pattern(Some(domain::webhook::MessageId::PATTERN))
    .description(Some(
        "The id of a webhook message: its `webhook-id` header, the same for every attempt.",
    ))
    .examples([json!("msg_000000000000002a")]));
component!(DeliveryStatus => ObjectBuilder::new()
    .schema_type(Type::String)
    .enum_values(Some(domain::webhook::DeliveryStatus::ALL.map(domain::webhook::DeliveryStatus::as_str)))
    .description(Some(
        "`pending`: to be attempted (again); `delivered`: a 2xx answered; `failed`: every attempt of the retry schedule failed.",
    ))
    .examples([json!("delivered")]));
