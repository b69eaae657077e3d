//! `GET /sessions`: its query parameters (read and documented) and the page body with its
//! cursor and `Link` header.

use actix_web::HttpRequest;
use domain::{Label, Order, ProjectId, SessionFilter, SessionQuery, SessionStatus, Timestamp};
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::KnownFormat;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};

use crate::http::limits::Limits;
use crate::http::problem::ApiError;
use crate::http::responses::{Session, SessionPage};
use crate::paging::cursor::{self, CursorCodec};
use crate::paging::page::{self, QueryParams};

const STATUS: &str = "status";
const CREATED_AFTER: &str = "createdAfter";
const CREATED_BEFORE: &str = "createdBefore";
/// `metadata.<key>=<value>`: a family of parameters, one per key.
pub const METADATA_PREFIX: &str = "metadata.";

/// The query parameters of `GET /sessions`, as documented (the `metadata.*` family is added to
/// the operation by `openapi::document`: a parameter cannot have a variable name).
pub struct ListParams;

impl IntoParams for ListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let statuses: Vec<&str> = SessionStatus::ALL.iter().map(|s| s.as_str()).collect();
        let time = |name: &str, description: &str| {
            page::query_parameter(
                name,
                description,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .examples([json!("2026-05-01T00:00:00Z")]),
            )
        };
        let mut params = page::page_parameters(
            "An opaque `nextCursor` from a previous page of the same project, filters and order.",
            cursor::LIST_PATTERN,
            "By `createdAt` (`desc`: newest first), ties by `sessionId`.",
            Order::Desc,
        );
        params.push(page::query_parameter(
            STATUS,
            &format!(
                "Only sessions in one of these statuses: one or more of {}, comma-separated.",
                statuses.join(", ")
            ),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^({0})(,({0}))*$", statuses.join("|"))))
                .examples([json!("active"), json!("completed,failed")]),
        ));
        params.push(time(
            CREATED_AFTER,
            "Only sessions created after this time (exclusive), RFC 3339.",
        ));
        params.push(time(
            CREATED_BEFORE,
            "Only sessions created before this time (exclusive), RFC 3339.",
        ));
        params
    }
}

/// The query of `GET /sessions`, validated; every bad parameter is named at once.
pub fn parse_query(
    req: &HttpRequest,
    project: &ProjectId,
    limits: &Limits,
    codec: &CursorCodec,
) -> Result<SessionQuery, ApiError> {
    let mut query = QueryParams::read(
        req,
        &[
            page::LIMIT,
            page::ORDER,
            page::CURSOR,
            STATUS,
            CREATED_AFTER,
            CREATED_BEFORE,
        ],
        Some(METADATA_PREFIX),
    )?;
    let limit = query.limit(limits);
    let order = query.order(Order::Desc);
    let statuses = match query.take(STATUS) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(SessionStatus::parse)
            .collect::<Option<Vec<_>>>()
            .unwrap_or_else(|| {
                query.refuse(
                    STATUS,
                    "must be one or more of initiated, active, completed, failed, comma-separated",
                );
                Vec::new()
            }),
    };
    let mut time = |name: &str| {
        let value = query.take(name)?;
        Timestamp::parse_rfc3339(&value)
            .map_err(|e| query.refuse(name, e.0))
            .ok()
    };
    let created_after = time(CREATED_AFTER);
    let created_before = time(CREATED_BEFORE);
    let labels: Vec<Label> = query
        .prefixed()
        .iter()
        .map(|(name, value)| Label::new(&name[METADATA_PREFIX.len()..], value.as_str()))
        .collect();
    let filter = SessionFilter::new(statuses, created_after, created_before, labels)
        .map_err(|e| query.refuse("metadata", e.0));
    let cursor = query.take(page::CURSOR);
    query.finish()?;
    let filter = filter.expect("a refused filter is reported by finish");
    let after = cursor
        .map(|c| codec.decode_position(project, &filter, order, &c))
        .transpose()?;
    Ok(SessionQuery {
        filter,
        order,
        limit,
        after,
    })
}

/// The body of the page `query` asked for, and the `Link` header value when more sessions
/// exist.
pub fn body(
    req: &HttpRequest,
    project: &ProjectId,
    query: &SessionQuery,
    page: domain::SessionPage,
    codec: &CursorCodec,
) -> (SessionPage, Option<String>) {
    let next_cursor = query
        .next_position(&page)
        .map(|p| codec.encode_position(project, &query.filter, query.order, &p));
    let link = next_cursor
        .as_deref()
        .filter(|_| page.has_more)
        .map(|cursor| {
            // The filters as given: the query was read already, so it parses.
            let filters: Vec<(String, String)> =
                serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(name, _)| {
                        ![page::LIMIT, page::ORDER, page::CURSOR].contains(&name.as_str())
                    })
                    .collect();
            page::next_link(req, query.limit, query.order, &filters, cursor)
        });
    let body = SessionPage {
        data: page.sessions.iter().map(Session::from).collect(),
        has_more: page.has_more,
        next_cursor,
    };
    (body, link)
}

/// The `metadata.*` parameter family, for the operation's `x-query-parameter-families`
/// extension: OpenAPI has no parameter with a variable name (`deepObject` would spell it
/// `metadata[key]`), so the family is described there and in the operation's description.
pub fn metadata_family() -> serde_json::Value {
    json!([{
        "name": "metadata.<key>",
        "in": "query",
        "pattern": format!("^{}.*$", regex_escape(METADATA_PREFIX)),
        "maxCount": SessionFilter::MAX_LABELS,
        "description": format!(
            "Only sessions whose metadata has the top-level key `<key>` with exactly this string \
             value. Up to {} such parameters, combined with AND; the key is everything after \
             `{METADATA_PREFIX}` (URL-encoded like any query parameter).",
            SessionFilter::MAX_LABELS
        ),
        "schema": { "type": "string" },
        "examples": {
            "agent": { "summary": "Calls of one agent", "value": "metadata.agent=ann" },
            "agentAndCampaign": {
                "summary": "One agent's calls in one campaign",
                "value": "metadata.agent=ann&metadata.campaign=spring"
            }
        }
    }])
}

fn regex_escape(text: &str) -> String {
    text.replace('.', "\\.")
}
