//! Authentication: turns a request's credentials into the [`Authenticated`] caller that
//! handlers extract as a [`caller::Caller`], or answers 401/403 itself — before routing, before
//! any body is read, whatever the path, method or session. What a key stands for is the
//! application's answer (`app::Keys::identify`, through the key cache); which paths need what,
//! and the problems, are decided here.
//!
//! Which paths need what is decided in one place, [`Area::of`] (the OpenAPI document declares
//! the bearer scheme on the same paths):
//! - `/sessions…`: a project key (`Authorization: Bearer ak_….…`) → `Authenticated`;
//! - `/admin/…`: the `ADMIN_KEY` → [`AdminCaller`];
//! - everything else (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/swagger-ui/`,
//!   unknown paths): nothing.
//!
//! In open mode (no `ADMIN_KEY`) every `/sessions…` request is [`Authenticated::open`] and
//! `/admin/…` is 403: there is no key to manage keys with. No credential text is ever logged or
//! put in a problem.
//!
//! Fair use: a project key's request is counted against `RATE_LIMIT_PER_KEY` once the key is
//! known to be good (`app::Keys::admit`), so unknown keys are 401 and never tracked. Beyond the
//! rate: 429 `rate-limited` with `Retry-After`; every answer to a limited key carries the
//! `RateLimit-Policy` and `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers-12.

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use app::{Holder, Quota, RateLimited};

use crate::http::problem::{ApiError, ErrorCode};
use crate::state::AppState;
use caller::Authenticated;

pub mod caller;

/// What a path needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `/sessions` and below: a project key.
    Sessions,
    /// `/admin` and below: the admin key.
    Admin,
    /// Operations, the document, Swagger UI, unknown paths: nothing.
    Public,
}

impl Area {
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/sessions") {
            Area::Sessions
        } else if under("/admin") {
            Area::Admin
        } else {
            Area::Public
        }
    }
}

/// The admin key authenticated this request (the `/admin/…` handlers extract it).
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller;

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<AdminCaller>()
                .copied()
                .ok_or_else(|| ApiError::unauthorized("the admin key is required")),
        )
    }
}

/// A credential that is not good enough to say more about it (missing, malformed, unknown,
/// revoked, expired): the same answer for each, so a caller learns nothing about which keys
/// exist.
fn invalid_key() -> ApiError {
    ApiError::unauthorized("the API key is missing, unknown, revoked or expired")
}

/// The bearer token of the request: `Some(Err)` when the header is there but is no bearer
/// token.
fn bearer(req: &ServiceRequest) -> Option<Result<&str, ApiError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let malformed = || ApiError::unauthorized("Authorization must be `Bearer <api key>`");
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    Some(token.ok_or_else(malformed))
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `RateLimit-Policy`: the key's quota, `limit` requests in a window of one second.
fn policy(limit: u32) -> String {
    format!("\"default\";q={limit};w=1")
}

/// `RateLimit`: the requests left and the seconds until the whole quota is back.
fn service_limit(remaining: u32, reset_seconds: u64) -> String {
    format!("\"default\";r={remaining};t={reset_seconds}")
}

/// 429 `rate-limited`, with `Retry-After`, `RateLimit-Policy` and `RateLimit`.
fn rate_limited(limited: RateLimited) -> ApiError {
    let wait = limited.retry_after_seconds;
    ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "this key sent more than {} requests per second; retry in {wait} s",
            limited.limit
        ),
    )
    .with_header(header::RETRY_AFTER, wait.to_string())
    .with_header(RATELIMIT_POLICY, policy(limited.limit))
    .with_header(RATELIMIT, service_limit(0, wait))
}

/// What the request's credentials allow in `area`: inserts the caller, or says why not (401,
/// 403, 429 beyond the key's rate, or 503 when the store cannot say). The quota left, when the
/// key's rate is limited.
async fn admit(
    req: &ServiceRequest,
    state: &AppState,
    area: Area,
) -> Result<Option<Quota>, ApiError> {
    if area == Area::Public {
        return Ok(None);
    }
    if state.keys.open_mode() {
        if area == Area::Admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the admin area (API keys, webhooks) needs ADMIN_KEY: this service runs in open mode",
            ));
        }
        req.extensions_mut().insert(Authenticated::open());
        return Ok(None);
    }
    let token = match bearer(req) {
        None => {
            return Err(ApiError::unauthorized(
                "credentials are required: send `Authorization: Bearer <api key>`",
            ));
        }
        Some(token) => token?,
    };
    match (area, state.keys.identify(token).await?) {
        (Area::Admin, Some(Holder::Admin)) => {
            req.extensions_mut().insert(AdminCaller);
            Ok(None)
        }
        (Area::Admin, Some(Holder::Project(_))) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "a project key cannot manage keys; use the admin key",
        )),
        (Area::Admin, None) => Err(ApiError::unauthorized("the admin key is required")),
        (_, Some(Holder::Admin)) => Err(ApiError::new(
            ErrorCode::Forbidden,
            "the admin key manages keys only; use a project key",
        )),
        (_, Some(Holder::Project(key))) => {
            let quota = state.keys.admit(&key.id).map_err(rate_limited)?;
            req.extensions_mut().insert(Authenticated {
                project: key.project,
                scopes: key.scopes,
            });
            Ok(quota)
        }
        (_, None) => Err(invalid_key()),
    }
}

/// The middleware: admits the request (see [`admit`]) or answers with the problem.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let area = Area::of(req.match_info().as_str());
    let admitted = match req.app_data::<web::Data<AppState>>().cloned() {
        Some(state) => admit(&req, &state, area).await,
        None => Err(ApiError::new(
            ErrorCode::Internal,
            "an internal error occurred",
        )),
    };
    match admitted {
        Ok(quota) => {
            let mut response = next.call(req).await?;
            if let Some(quota) = quota {
                let headers = response.headers_mut();
                for (name, value) in [
                    (RATELIMIT_POLICY, policy(quota.limit)),
                    (
                        RATELIMIT,
                        service_limit(quota.remaining, quota.reset_seconds),
                    ),
                ] {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                }
            }
            Ok(response.map_into_left_body())
        }
        Err(error) => Ok(req.error_response(error).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_by_path() {
        for (path, area) in [
            ("/sessions", Area::Sessions),
            ("/sessions/", Area::Sessions),
            ("/sessions/a/events/b", Area::Sessions),
            ("/sessions/x/nope", Area::Sessions),
            ("/admin", Area::Admin),
            ("/admin/keys", Area::Admin),
            ("/admin/keys/ak_0123456789abcdef", Area::Admin),
            ("/sessionsx", Area::Public),
            ("/administrator", Area::Public),
            ("/healthz", Area::Public),
            ("/readyz", Area::Public),
            ("/metrics", Area::Public),
            ("/openapi.json", Area::Public),
            ("/swagger-ui/", Area::Public),
            ("/", Area::Public),
        ] {
            assert_eq!(Area::of(path), area, "{path}");
        }
    }
}
