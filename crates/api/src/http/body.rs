//! Reading request bodies: media type, size limit, time limit, then the strict JSON parse of
//! [`strict`]. Not valid JSON at all → `malformed-json`; valid JSON breaking a rule →
//! `validation-failed`; too large → 413; too slow → 408.

mod strict;

pub use strict::{Bounds, parse_bounded};

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::Value;

use crate::http::limits::Limits;
use crate::http::problem::{ApiError, ErrorCode};

/// Whether the request declares a JSON body (`application/json`, any parameters).
fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body exceeds {limit} bytes"),
    )
}

/// Reads the whole body within the limits: past `limits.body_bytes` it is refused without
/// reading further (413); a body still arriving after `limits.body_timeout` is refused (408).
pub async fn read_bytes(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(
        limits.body_timeout,
        read_limited(req, payload, limits.body_bytes),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request body did not arrive within {} ms",
                limits.body_timeout.as_millis()
            ),
        )),
    }
}

async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            tracing::debug!(error = %e, "reading the body failed");
            ApiError::new(ErrorCode::MalformedJson, "the body could not be read")
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A required JSON body.
pub async fn json(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
    bounds: Bounds<'_>,
) -> Result<Value, ApiError> {
    if !is_json(req) {
        return Err(unsupported());
    }
    parse_bounded(&read_bytes(req, payload, limits).await?, bounds)
}

/// An optional JSON body: an empty body needs no content type and yields `None`. A body that is
/// sent is JSON like any other (a `null` is not an object: `validation-failed`, as documented).
pub async fn optional_json(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
    bounds: Bounds<'_>,
) -> Result<Option<Value>, ApiError> {
    let bytes = read_bytes(req, payload, limits).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    if !is_json(req) {
        return Err(unsupported());
    }
    parse_bounded(&bytes, bounds).map(Some)
}

fn unsupported() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send the body as application/json",
    )
}
