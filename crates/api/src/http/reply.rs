//! How a handler answers a write: 201 with `Location` for a new value, 200 with
//! `Idempotent-Replayed: true` for a replay; and the `Link` header of a page.

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use domain::Written;
use serde::Serialize;

pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// 200, marked as a replay when `replayed`.
pub fn ok(replayed: bool) -> HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    if replayed {
        builder.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    builder
}

/// 201 with `Location` for a new value, 200 with `Idempotent-Replayed: true` for a replay.
pub fn created_or_replayed<T, B: Serialize>(
    written: Written<T>,
    location: impl FnOnce(&T) -> String,
    body: impl FnOnce(&T) -> B,
) -> HttpResponse {
    if written.replayed {
        ok(true).json(body(&written.value))
    } else {
        HttpResponse::Created()
            .insert_header((header::LOCATION, location(&written.value)))
            .json(body(&written.value))
    }
}

/// 200 with `body`, and the `Link` to the next page when there is one.
pub fn page<B: Serialize>(body: B, link: Option<String>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(link) = link {
        response.insert_header((header::LINK, link));
    }
    response.json(body)
}
