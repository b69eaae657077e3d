//! `/admin/webhooks…`: a project's webhook endpoints, for the admin key only (every handler
//! takes an [`AdminCaller`]; the authentication middleware admits no one else). What happens is
//! `app::Webhooks`'s; these only translate HTTP.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::AdminCaller;
use crate::http::input;
use crate::http::paths::{DeliveryPath, WebhookPath, WebhooksQuery};
use crate::http::problem::{
    AdminChangeProblems, AdminProblems, AdminWriteProblems, ApiError, FieldError,
};
use crate::http::requests::{self, CreateWebhookRequest, PatchWebhookRequest, ReplayRequest};
use crate::http::responses::{DeliveryPage, Resent, WebhookInfo, WebhookList, WebhookWithSecret};
use crate::paging::deliveries::{self, DeliveryParams};
use crate::state::AppState;

/// Register a webhook endpoint
///
/// The endpoint is sent the messages of `project` whose types `events` names, signed with the
/// `secret` of the answer (Standard Webhooks). The answer is the only time the secret is shown.
/// `url` must be `https` and must not name an internal address (loopback, private,
/// link-local, …) unless the service runs with `WEBHOOK_ALLOW_PRIVATE=true`.
#[utoipa::path(
    post, path = "/admin/webhooks", tag = "webhooks", operation_id = "createWebhook",
    request_body(content = CreateWebhookRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered, enabled: the endpoint with its secret (shown only here)", body = WebhookWithSecret),
        AdminWriteProblems,
    )
)]
pub async fn create_webhook(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let new = requests::read::<CreateWebhookRequest>(&req, payload, &state.limits).await?;
    let (endpoint, secret) = state.webhooks.create(new).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "location",
            format!("/admin/webhooks/{}", endpoint.id.as_str()),
        ))
        .json(WebhookWithSecret::new(&endpoint, secret)))
}

/// List a project's webhook endpoints
///
/// Oldest first, without their secrets.
#[utoipa::path(
    get, path = "/admin/webhooks", tag = "webhooks", operation_id = "listWebhooks",
    params(WebhooksQuery),
    responses(
        (status = 200, description = "The project's endpoints", body = WebhookList),
        AdminProblems,
    )
)]
pub async fn list_webhooks(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let project = input::project_query(req.query_string())?
        .ok_or_else(|| ApiError::validation(vec![FieldError::new("project", "is required")]))?;
    let endpoints = state.webhooks.list(&project).await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        data: endpoints.iter().map(WebhookInfo::from).collect(),
    }))
}

/// Read a webhook endpoint
///
/// The endpoint as it stands, without its secret.
#[utoipa::path(
    get, path = "/admin/webhooks/{webhookId}", tag = "webhooks", operation_id = "getWebhook",
    params(WebhookPath),
    responses(
        (status = 200, description = "The endpoint, without its secret", body = WebhookInfo),
        AdminProblems,
    )
)]
pub async fn get_webhook(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    let endpoint = state.webhooks.get(&id).await?;
    Ok(HttpResponse::Ok().json(WebhookInfo::from(&endpoint)))
}

/// Change a webhook endpoint
///
/// Sets the fields the body names (`url`, `events`, `enabled`, `description`: `null` removes
/// it); the others stay as they are.
#[utoipa::path(
    patch, path = "/admin/webhooks/{webhookId}", tag = "webhooks", operation_id = "updateWebhook",
    params(WebhookPath),
    request_body(content = PatchWebhookRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The endpoint as changed", body = WebhookInfo),
        AdminChangeProblems,
    )
)]
pub async fn patch_webhook(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    let edit = requests::read::<PatchWebhookRequest>(&req, payload, &state.limits).await?;
    let endpoint = state.webhooks.patch(&id, edit).await?;
    Ok(HttpResponse::Ok().json(WebhookInfo::from(&endpoint)))
}

/// Delete a webhook endpoint
///
/// Nothing more is sent to it.
#[utoipa::path(
    delete, path = "/admin/webhooks/{webhookId}", tag = "webhooks", operation_id = "deleteWebhook",
    params(WebhookPath),
    responses(
        (status = 204, description = "Deleted"),
        AdminProblems,
    )
)]
pub async fn delete_webhook(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    state.webhooks.delete(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a webhook endpoint's secret
///
/// A new secret signs every message from now on; the previous one keeps signing beside it for
/// 24 hours (each message then carries both signatures), so receivers can switch without
/// missing one. The answer is the only time the new secret is shown.
#[utoipa::path(
    post, path = "/admin/webhooks/{webhookId}/rotate-secret", tag = "webhooks", operation_id = "rotateWebhookSecret",
    params(WebhookPath),
    responses(
        (status = 200, description = "The endpoint with its new secret (shown only here)", body = WebhookWithSecret),
        AdminProblems,
    )
)]
pub async fn rotate_webhook_secret(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    let (endpoint, secret) = state.webhooks.rotate_secret(&id).await?;
    Ok(HttpResponse::Ok().json(WebhookWithSecret::new(&endpoint, secret)))
}

/// List a webhook endpoint's deliveries
///
/// Its messages, newest first, each with where it stands (`pending`, `delivered`, `failed`) and
/// every attempt (time, status code or error, duration). `status` keeps one status;
/// `nextCursor` reads on. Messages are recorded for an endpoint while it is enabled.
#[utoipa::path(
    get, path = "/admin/webhooks/{webhookId}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries",
    params(WebhookPath, DeliveryParams),
    responses(
        (status = 200, description = "A page of the endpoint's deliveries, newest first", body = DeliveryPage),
        AdminProblems,
    )
)]
pub async fn list_deliveries(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    let query = deliveries::parse_query(&req, &id, &state.limits, &state.cursors)?;
    let records = state.webhooks.deliveries(&id, &query).await?;
    Ok(HttpResponse::Ok().json(deliveries::body(&id, &query, records, &state.cursors)))
}

/// Send a message again
///
/// The message is sent to the endpoint again now (after the messages of its session before it
/// that are still pending), with the retry schedule from its start; its attempts so far stay
/// listed. Receivers see the same `webhook-id`.
#[utoipa::path(
    post, path = "/admin/webhooks/{webhookId}/deliveries/{messageId}/resend", tag = "webhooks", operation_id = "resendWebhookMessage",
    params(DeliveryPath),
    responses(
        (status = 202, description = "To be sent again now", body = Resent),
        AdminProblems,
    )
)]
pub async fn resend_delivery(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message) = path.into_inner();
    let (id, message) = (input::webhook_id(&id)?, input::message_id(&message)?);
    state.webhooks.resend(&id, &message).await?;
    Ok(HttpResponse::Accepted().json(Resent { resent: 1 }))
}

/// Send every message since a time again
///
/// Every message recorded for the endpoint at or after `since` is sent again now — delivered,
/// failed or pending alike — each session's in order, with the retry schedule from its start.
/// Receivers see the same `webhook-id`s. The answer counts them.
#[utoipa::path(
    post, path = "/admin/webhooks/{webhookId}/replay", tag = "webhooks", operation_id = "replayWebhookMessages",
    params(WebhookPath),
    request_body(content = ReplayRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "To be sent again now", body = Resent),
        AdminChangeProblems,
    )
)]
pub async fn replay_webhook(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = input::webhook_id(&path)?;
    let since = requests::read::<ReplayRequest>(&req, payload, &state.limits).await?;
    let resent = state.webhooks.replay(&id, since).await?;
    Ok(HttpResponse::Accepted().json(Resent { resent }))
}
