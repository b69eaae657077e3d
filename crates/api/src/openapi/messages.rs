//! The document's `webhooks` (OpenAPI 3.1): one entry per message type, the `POST` the service
//! makes to a registered endpoint (SPEC "Webhooks", `docs/api.md` "Messages"), with its
//! Standard Webhooks headers and its body, whose session and event are the `GET` shapes
//! (`Session`, `Event`), or their ids alone once the session is erased.

use domain::WebhookEventType;
use serde_json::{Value, json};

/// The component schemas the messages add.
fn schemas() -> Value {
    json!({
        "SessionIds": {
            "type": "object",
            "description": "What remains of an erased session in its messages: its id.",
            "required": ["sessionId"],
            "properties": {"sessionId": {"$ref": "#/components/schemas/SessionId"}},
            "additionalProperties": false,
        },
        "EventIds": {
            "type": "object",
            "description": "What remains of an event of an erased session in its messages: its id.",
            "required": ["eventId"],
            "properties": {"eventId": {"type": "string"}},
            "additionalProperties": false,
        },
    })
}

fn message(kind: WebhookEventType) -> Value {
    let carries_event = matches!(
        kind,
        WebhookEventType::EventAppended | WebhookEventType::EventRedacted
    );
    let mut data = json!({
        "type": "object",
        "required": ["session"],
        "properties": {
            "session": {"oneOf": [
                {"$ref": "#/components/schemas/Session"},
                {"$ref": "#/components/schemas/SessionIds"},
            ]},
        },
    });
    if carries_event {
        data["required"] = json!(["session", "event"]);
        data["properties"]["event"] = json!({"oneOf": [
            {"$ref": "#/components/schemas/Event"},
            {"$ref": "#/components/schemas/EventIds"},
        ]});
    }
    json!({
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "const": kind.as_str()},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When the change committed.",
            },
            "data": data,
        },
    })
}

fn header(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}})
}

/// Adds `webhooks` and the schemas they use to `doc`.
pub(super) fn add(doc: &mut Value) {
    let parameters = json!([
        header(
            "webhook-id",
            "`msg_…`: the same for every attempt of the message (deduplicate by it)."
        ),
        header("webhook-timestamp", "Unix seconds of the attempt."),
        header(
            "webhook-signature",
            "`v1,<base64 of HMAC-SHA256(\"{webhook-id}.{webhook-timestamp}.{body}\")>` with the endpoint's secret; two, space-separated, during a rotation.",
        ),
    ]);
    let mut webhooks = serde_json::Map::new();
    for kind in WebhookEventType::ALL {
        webhooks.insert(
            kind.as_str().to_owned(),
            json!({"post": {
                "operationId": format!("webhook_{}", kind.as_str().replace('.', "_")),
                "tags": ["webhooks"],
                "summary": format!("`{}`, sent to the endpoints subscribed to it", kind.as_str()),
                "parameters": parameters,
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": message(kind)}},
                },
                "responses": {
                    "2XX": {"description": "Delivered."},
                    "410": {"description": "The endpoint is disabled."},
                    "default": {"description": "Attempted again on `WEBHOOK_RETRY_SCHEDULE` (`Retry-After` honoured on 429 and 503)."},
                },
            }}),
        );
    }
    doc["webhooks"] = Value::Object(webhooks);
    if let (Some(Value::Object(components)), Value::Object(added)) =
        (doc.pointer_mut("/components/schemas"), schemas())
    {
        components.extend(added);
    }
}
