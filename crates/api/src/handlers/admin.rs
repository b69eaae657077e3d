//! `/admin/keys` and `/admin/keys/{keyId}`: key management, for the admin key only (every
//! handler takes an [`AdminCaller`]; the authentication middleware admits no one else).

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{CreateKeyError, RevokeKeyError};

use crate::auth::AdminCaller;
use crate::http::input;
use crate::http::paths::{KeyPath, KeysQuery};
use crate::http::problem::{AdminProblems, AdminWriteProblems, ApiError, ErrorCode};
use crate::http::requests::{self, CreateKeyRequest};
use crate::http::responses::{ApiKeyInfo, CreatedKey, KeyList};
use crate::state::AppState;

/// Create an API key
///
/// Creates a key of `project` with `scopes` (`read`: every GET; `write`: create, append,
/// complete; `delete`: erase, redact). The answer is the only time the key's text (`key`) is
/// shown: the service keeps only a hash of its secret. A project exists once it has a key.
#[utoipa::path(
    post, path = "/admin/keys", tag = "keys", operation_id = "createKey",
    request_body(content = CreateKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created: the key, with its text (shown only here)", body = CreatedKey),
        AdminWriteProblems,
    )
)]
pub async fn create_key(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let new = requests::read::<CreateKeyRequest>(&req, payload, &state.limits).await?;
    match state.keys.create(new).await {
        Ok((key, text)) => Ok(HttpResponse::Created().json(CreatedKey::new(&key, &text))),
        // Every id drawn was taken: not the client's fault.
        Err(CreateKeyError::IdTaken) => Err(ApiError::new(
            ErrorCode::Internal,
            "an internal error occurred",
        )),
        Err(CreateKeyError::Storage(e)) => Err(e.into()),
    }
}

/// List API keys
///
/// The keys of `project` (every project's without it), oldest first, revoked and expired ones
/// included. Never their secrets.
#[utoipa::path(
    get, path = "/admin/keys", tag = "keys", operation_id = "listKeys",
    params(KeysQuery),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        AdminProblems,
    )
)]
pub async fn list_keys(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let project = input::project_query(req.query_string())?;
    let keys = state.keys.list(project.as_ref()).await?;
    Ok(HttpResponse::Ok().json(KeyList {
        data: keys.iter().map(ApiKeyInfo::from).collect(),
    }))
}

/// Revoke an API key
///
/// The key is refused by every instance within 5 seconds (at once by this one). Revoking a
/// revoked key again answers 204 too.
#[utoipa::path(
    delete, path = "/admin/keys/{keyId}", tag = "keys", operation_id = "revokeKey",
    params(KeyPath),
    responses(
        (status = 204, description = "Revoked (now, or before)"),
        AdminProblems,
    )
)]
pub async fn revoke_key(
    _admin: AdminCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::key_id(&path)?;
    match state.keys.revoke(&id).await {
        Ok(_) => Ok(HttpResponse::NoContent().finish()),
        Err(RevokeKeyError::NotFound) => Err(ApiError::new(
            ErrorCode::NotFound,
            "no API key with this id",
        )),
        Err(RevokeKeyError::Storage(e)) => Err(e.into()),
    }
}
