//! Query parameters of event pages, and the page body with its cursor and `Link` header.

use actix_web::HttpRequest;
use domain::{Order, PageRequest, ProjectId, SessionId};
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::cursor::{self, CursorCodec};
use crate::paths::parameter;
use crate::problem::{ApiError, FieldError};
use crate::responses::{Event, EventPage};
use crate::state::{AppState, Limits};

/// The query parameters of a page, as documented. `limit`'s bounds are the defaults here;
/// the served document states the running ones (see `openapi::document`).
pub struct PageParams;

impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = |name: &str, description: &str, schema: ObjectBuilder| {
            parameter(name, ParameterIn::Query, description, schema)
        };
        let limits = Limits::default();
        vec![
            query(
                "limit",
                "Page size.",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(limits.page_max))
                    .default(Some(json!(limits.page_default))),
            ),
            query(
                "cursor",
                "An opaque `nextCursor` from a previous page of the same session and order.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(cursor::PATTERN)),
            ),
            query(
                "order",
                "By `seq`.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([Order::Asc.as_str(), Order::Desc.as_str()]))
                    .default(Some(json!(Order::Asc.as_str()))),
            ),
        ]
    }
}

/// The query parameters of a page, validated; unknown or repeated parameters are refused.
pub fn parse_query(
    req: &HttpRequest,
    session: &SessionId,
    limits: &Limits,
    codec: &CursorCodec,
) -> Result<PageRequest, ApiError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| {
            ApiError::validation(vec![FieldError::new(
                "query",
                "is not a valid query string",
            )])
        })?;
    let mut limit = None;
    let mut order = None;
    let mut cursor = None;
    let mut errors = Vec::new();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "limit" => &mut limit,
            "order" => &mut order,
            "cursor" => &mut cursor,
            _ => {
                errors.push(FieldError::new(name, "is not a known query parameter"));
                continue;
            }
        };
        if slot.replace(value).is_some() {
            errors.push(FieldError::new(name, "must be given at most once"));
        }
    }
    let limit = match limit {
        None => limits.page_default,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=limits.page_max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {}", limits.page_max),
                ));
                limits.page_default
            }
        },
    };
    let order = match order {
        None => Order::Asc,
        Some(v) => Order::parse(&v).unwrap_or_else(|| {
            errors.push(FieldError::new("order", "must be asc or desc"));
            Order::Asc
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let after = cursor
        .map(|c| codec.decode(session, order, &c))
        .transpose()?;
    Ok(PageRequest {
        after,
        order,
        limit,
    })
}

/// Reads the page `request` asks for: its body, and the `Link` header value when more events
/// exist.
pub async fn fetch(
    req: &HttpRequest,
    project: &ProjectId,
    session: &SessionId,
    request: PageRequest,
    state: &AppState,
) -> Result<(EventPage, Option<String>), ApiError> {
    let page = state.repo.list_events(project, session, request).await?;
    Ok(body(req, session, request, page, &state.cursors))
}

fn body(
    req: &HttpRequest,
    session: &SessionId,
    request: PageRequest,
    page: domain::EventPage,
    codec: &CursorCodec,
) -> (EventPage, Option<String>) {
    let next_cursor = request
        .next_position(&page.events)
        .map(|seq| codec.encode(session, request.order, seq));
    let link = match (&next_cursor, page.has_more) {
        (Some(cursor), true) => Some(format!(
            "<{}?limit={}&order={}&cursor={}>; rel=\"next\"",
            req.path(),
            request.limit,
            request.order.as_str(),
            cursor
        )),
        _ => None,
    };
    let body = EventPage {
        data: page.events.iter().map(Event::from).collect(),
        has_more: page.has_more,
        next_cursor,
    };
    (body, link)
}
