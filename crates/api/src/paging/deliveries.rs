//! `GET /admin/webhooks/{webhookId}/deliveries`: its query parameters (read and documented)
//! and the page body with its cursor. Newest message first, always.

use actix_web::HttpRequest;
use domain::webhook::{DeliveryQuery, DeliveryRecord, DeliveryStatus};
use domain::{Order, WebhookId};
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::http::limits::Limits;
use crate::http::problem::ApiError;
use crate::http::responses::{Delivery, DeliveryPage};
use crate::paging::cursor::{self, CursorCodec};
use crate::paging::page::{self, QueryParams};

const STATUS: &str = "status";

/// The query parameters of the deliveries' page, as documented.
pub struct DeliveryParams;

impl IntoParams for DeliveryParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params: Vec<Parameter> = page::page_parameters(
            "An opaque `nextCursor` from a previous page of the same endpoint and status.",
            cursor::DELIVERY_PATTERN,
            "",
            Order::Desc,
        )
        .into_iter()
        .filter(|p| p.name != page::ORDER)
        .collect();
        params.push(page::query_parameter(
            STATUS,
            "Only the deliveries in this status.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(DeliveryStatus::ALL.map(DeliveryStatus::as_str)))
                .examples([json!("failed")]),
        ));
        params
    }
}

/// The query of the page, validated (every bad parameter named at once); one more than asked
/// for is read, to know whether more exist.
pub fn parse_query(
    req: &HttpRequest,
    endpoint: &WebhookId,
    limits: &Limits,
    codec: &CursorCodec,
) -> Result<DeliveryQuery, ApiError> {
    let mut query = QueryParams::read(req, &[page::LIMIT, page::CURSOR, STATUS], None)?;
    let limit = query.limit(limits);
    let status = query.take(STATUS).and_then(|s| {
        DeliveryStatus::parse(&s).or_else(|| {
            query.refuse(STATUS, "must be pending, delivered or failed");
            None
        })
    });
    let cursor = query.take(page::CURSOR);
    query.finish()?;
    let before = cursor
        .map(|c| codec.decode_delivery(endpoint, status, &c))
        .transpose()?;
    Ok(DeliveryQuery {
        status,
        before,
        limit: limit + 1,
    })
}

/// The page's body from what the store gave for `query` (one more than the page when more
/// exist).
pub fn body(
    endpoint: &WebhookId,
    query: &DeliveryQuery,
    mut records: Vec<DeliveryRecord>,
    codec: &CursorCodec,
) -> DeliveryPage {
    let has_more = records.len() >= query.limit as usize;
    records.truncate((query.limit as usize).saturating_sub(1));
    let next_cursor = records
        .last()
        .filter(|_| has_more)
        .map(|last| codec.encode_delivery(endpoint, query.status, &last.message.id));
    DeliveryPage {
        data: records.iter().map(Delivery::from).collect(),
        has_more,
        next_cursor,
    }
}
