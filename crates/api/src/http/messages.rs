//! The bodies of webhook messages (SPEC "Webhooks"): `{ "type", "timestamp", "data": {
//! "session" } }`, plus `"event"` for the event types — the session (without its events) and
//! the event exactly as `GET` serves them, as they stand when the message is attempted. Of an
//! erased session (or an event gone with it) only the ids remain.

use domain::webhook::WebhookMessage;
use serde_json::{Value, json};

use crate::http::responses::{Event, Session};

/// The renderer the dispatcher is given (`app::MessageBodies`).
pub struct MessageBodies;

impl app::MessageBodies for MessageBodies {
    fn body(
        &self,
        message: &WebhookMessage,
        session: Option<&domain::Session>,
        event: Option<&domain::Event>,
    ) -> Vec<u8> {
        let session = match session {
            Some(s) => json!(Session::from(s)),
            None => json!({ "sessionId": message.session.as_str() }),
        };
        let mut data = json!({ "session": session });
        if let Some(id) = &message.event {
            data["event"] = match event {
                Some(e) => json!(Event::from(e)),
                None => json!({ "eventId": id.as_str() }),
            };
        }
        let body: Value = json!({
            "type": message.kind.as_str(),
            "timestamp": message.recorded_at.to_rfc3339(),
            "data": data,
        });
        serde_json::to_vec(&body).expect("JSON values serialize")
    }
}
