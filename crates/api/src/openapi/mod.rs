//! The OpenAPI 3.1 document, generated from the handlers and bodies and completed with what only
//! the running service knows (its limits), and Swagger UI for it.

use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Area;
use crate::handlers::{admin, events, operations, sessions, webhooks};
use crate::http::limits::Limits;
use crate::http::problem::{self, ErrorCode, FieldError, Problem, TYPE_BASE};
use crate::http::requests::{
    AppendEventRequest, BatchAppendRequest, BatchEvent, CompleteSessionRequest, CreateKeyRequest,
    CreateSessionRequest, CreateWebhookRequest, PatchWebhookRequest, ReplayRequest,
};
use crate::http::responses::{
    ApiKeyInfo, BatchAppended, BatchItem, CreatedKey, Delivery, DeliveryAttempt, DeliveryPage,
    Event, EventPage, Health, KeyFields, KeyList, Resent, Session, SessionPage, SessionWithEvents,
    WebhookInfo, WebhookList, WebhookWithSecret,
};
use crate::http::schema;

mod messages;
mod shape;

use shape::{drop_null_alternative, normalize, representations_aside};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Conversation Session Service",
        description = "The system of record for a Voice AI platform's call sessions and the immutable events inside them.\n\nEvery error is `application/problem+json` (RFC 9457) with a `code`; its `type` is `urn:conversation-sessions:problem:{code}`. Every response carries `X-Request-Id`.\n\nAuthentication: with `ADMIN_KEY` configured (keys mode), every `/sessions…` request sends a project's API key as `Authorization: Bearer <key>` (keys are created with `POST /admin/keys` and the admin key); a session of another project answers as an absent one. Without `ADMIN_KEY` (open mode, local use) no credentials are needed.",
        contact(name = "Conversation Session Service maintainers"),
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    servers((url = "/", description = "This service: requests go to the host that served this document")),
    paths(
        sessions::create_session,
        sessions::list_sessions,
        sessions::get_session,
        sessions::complete_session,
        sessions::erase_session,
        events::append_event,
        events::append_batch,
        events::list_events,
        events::get_event,
        events::redact_event,
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::patch_webhook,
        webhooks::delete_webhook,
        webhooks::rotate_webhook_secret,
        webhooks::list_deliveries,
        webhooks::resend_delivery,
        webhooks::replay_webhook,
        operations::healthz,
        operations::readyz,
        operations::metrics,
    ),
    components(schemas(
        Session,
        Event,
        EventPage,
        SessionPage,
        SessionWithEvents,
        CreateSessionRequest,
        AppendEventRequest,
        BatchAppendRequest,
        BatchEvent,
        BatchAppended,
        BatchItem,
        CompleteSessionRequest,
        CreateKeyRequest,
        CreatedKey,
        ApiKeyInfo,
        KeyFields,
        KeyList,
        CreateWebhookRequest,
        PatchWebhookRequest,
        WebhookInfo,
        WebhookWithSecret,
        WebhookList,
        ReplayRequest,
        DeliveryPage,
        Delivery,
        DeliveryAttempt,
        Resent,
        Health,
        Problem,
        FieldError,
        ErrorCode,
        schema::SessionId,
        schema::EventId,
        schema::EventType,
        schema::Language,
        schema::Timestamp,
        schema::SessionStatus,
        schema::InitialStatus,
        schema::TerminalStatus,
        schema::JsonObject,
        schema::IdempotentReplayed,
        schema::ProjectId,
        schema::KeyId,
        schema::Scope,
        schema::WebhookId,
        schema::WebhookEventType,
        schema::MessageId,
        schema::DeliveryStatus,
    )),
    tags(
        (name = "sessions", description = "Create, read and end sessions"),
        (name = "events", description = "Append and page through a session's events"),
        (name = "keys", description = "API keys: create, list and revoke them with the admin key"),
        (name = "webhooks", description = "Webhook endpoints: register, list, change, delete them and rotate their secrets; see their deliveries and send messages again (the admin key)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// A `$ref` to the problem response of `status`.
fn problem_ref(status: u16) -> Value {
    serde_json::to_value(problem::problem_ref(status)).expect("a reference serializes")
}

/// The document the running service serves: the generated one, plus
/// - the problem responses any operation may give (405, 500; 408 for bodies), by reference;
/// - `X-Request-Id` on every response;
/// - one media type per success response, the other representations in `x-representations`
///   (see [`representations_aside`]);
/// - the running `limits`: page size bounds, body, payload and metadata sizes, stream slots;
/// - the list of problem codes; in keys mode the bearer scheme on every protected operation
///   (see [`secure`]), an empty `security` elsewhere; in open mode (`open`) no scheme at all,
///   as the running service asks for none.
pub fn document(limits: &Limits, open: bool) -> Value {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, response) in problem::problem_responses() {
        components.responses.insert(name.to_owned(), response);
    }
    let mut doc = serde_json::to_value(&doc).expect("the document serializes");
    normalize(&mut doc);
    representations_aside(&mut doc);
    messages::add(&mut doc);

    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "- `{TYPE_BASE}{}` ({}): {}",
                c.as_str(),
                c.status().as_u16(),
                c.title()
            )
        })
        .collect();
    if let Some(Value::String(description)) = doc.pointer_mut("/info/description") {
        description.push_str("\n\nProblem types:\n");
        description.push_str(&codes.join("\n"));
    }
    doc["security"] = json!([]);
    secure(&mut doc, open, limits.rate_per_key);

    let request_id = json!({
        "description": "The client's `X-Request-Id` when it is 1–128 characters of `[A-Za-z0-9._:-]`, otherwise a generated UUID.",
        "schema": {"type": "string"},
    });
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            let body_bytes = if path.ends_with(crate::http::paths::BATCH_SUFFIX) {
                limits.batch_body_bytes
            } else {
                limits.body_bytes
            };
            for (method, operation) in item.iter_mut() {
                let responses = &mut operation["responses"];
                responses["405"] = problem_ref(405);
                responses["500"] = problem_ref(500);
                if method == "post" {
                    responses["408"] = problem_ref(408);
                }
                for response in responses
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|r| r.values_mut())
                {
                    if response.get("$ref").is_none() {
                        response["headers"]["X-Request-Id"] = request_id.clone();
                    }
                }
                if let Some(Value::Object(body)) = operation.get_mut("requestBody") {
                    if body.get("required") != Some(&Value::Bool(true)) {
                        // An optional body is `required: false`, not a `null` alternative.
                        body.insert("required".into(), Value::Bool(false));
                        for media in body["content"].as_object_mut().into_iter().flatten() {
                            drop_null_alternative(&mut media.1["schema"]);
                        }
                    }
                    let said = body
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let said = if said.is_empty() {
                        String::new()
                    } else {
                        format!("{said}. ")
                    };
                    body.insert(
                        "description".into(),
                        json!(format!(
                            "{said}At most {} bytes (413 `payload-too-large` beyond).",
                            body_bytes
                        )),
                    );
                }
                let parameters = operation
                    .get_mut("parameters")
                    .and_then(Value::as_array_mut);
                for parameter in parameters.into_iter().flatten() {
                    if parameter["name"] == "limit" && parameter["in"] == "query" {
                        parameter["description"] =
                            json!(format!("Page size, 1–{}.", limits.page_max));
                        parameter["schema"]["maximum"] = json!(limits.page_max);
                        parameter["schema"]["default"] = json!(limits.page_default);
                    }
                }
            }
        }
    }
    if let Some(operation) = doc.pointer_mut("/paths/~1sessions/get") {
        operation["x-query-parameter-families"] = crate::paging::listing::metadata_family();
    }
    if let Some(Value::String(description)) =
        doc.pointer_mut("/paths/~1sessions~1{sessionId}~1events/get/description")
    {
        description.push_str(&format!(
            "\n\nStream slots on this instance: {} in all, {} per project.",
            limits.stream_max, limits.stream_max_per_project
        ));
    }
    if let Some(Value::Object(responses)) = doc.pointer_mut("/components/responses") {
        for response in responses.values_mut() {
            response["headers"]["X-Request-Id"] = request_id.clone();
        }
    }
    for (schema, field, bytes) in [
        ("CreateSessionRequest", "metadata", limits.metadata_bytes),
        ("AppendEventRequest", "payload", limits.payload_bytes),
    ] {
        let pointer = format!("/components/schemas/{schema}/properties/{field}");
        if let Some(property) = doc.pointer_mut(&pointer) {
            let said = property["description"].as_str().unwrap_or("").to_owned();
            property["description"] = json!(format!(
                "{said} At most {bytes} bytes serialized (413 `payload-too-large` beyond)."
            ));
        }
    }
    doc
}

/// The bearer scheme, declared on every operation of a path that needs credentials (the paths
/// [`Area::of`] protects: the one rule the authentication middleware applies too), with their
/// 401 and 403 problems. Operations of other paths keep the document's empty `security`. In
/// open mode nothing asks for credentials: no scheme, no 401; `/admin` operations answer 403.
fn secure(doc: &mut Value, open: bool, rate_per_key: Option<u32>) {
    if open {
        let admin = doc
            .get_mut("paths")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|paths| paths.iter_mut())
            .filter(|(path, _)| Area::of(path) == Area::Admin);
        for (_, item) in admin {
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|i| i.values_mut())
            {
                operation["responses"]["403"] = problem_ref(403);
            }
        }
        return;
    }
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "`/sessions…`: a project's API key (`ak_<id>.<secret>`, from `POST /admin/keys`). `/admin/…`: the service's `ADMIN_KEY`. Without `ADMIN_KEY` configured (open mode) `/sessions…` needs none.",
    });
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if Area::of(path) == Area::Public {
            continue;
        }
        for operation in item
            .as_object_mut()
            .into_iter()
            .flat_map(|i| i.values_mut())
        {
            operation["security"] = json!([{"bearer": []}]);
            operation["responses"]["401"] = problem_ref(401);
            operation["responses"]["403"] = problem_ref(403);
            if rate_per_key.is_some() && Area::of(path) == Area::Sessions {
                operation["responses"]["429"] = problem_ref(429);
            }
        }
    }
}

/// Swagger UI at `/swagger-ui/`, serving [`document`] at `/openapi.json`.
pub fn swagger_ui(limits: &Limits, open: bool) -> SwaggerUi {
    SwaggerUi::new("/swagger-ui/{_:.*}")
        .external_url_unchecked("/openapi.json", document(limits, open))
}
