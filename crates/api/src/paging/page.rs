//! Query parameters of walks (read strictly, documented once for event pages and session
//! lists), and the event page body with its cursor and `Link` header.

use actix_web::HttpRequest;
use domain::{Order, PageRequest, ProjectId, Session, SessionId, Timestamp, View};
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};

use crate::http::limits::Limits;
use crate::http::paths::parameter;
use crate::http::problem::{ApiError, FieldError};
use crate::http::responses::{Event, EventPage};
use crate::paging::cursor::{self, CursorCodec, EventScope};

/// The query parameters of an event page, as documented.
pub struct PageParams;

impl IntoParams for PageParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut parameters = page_parameters(
            "An opaque `nextCursor` (or SSE `id`) from a previous page of the same session (of this project, since it was last created), order and view.",
            cursor::PATTERN,
            "By `seq`.",
            Order::Asc,
        );
        parameters.push(query_parameter(
            VIEW,
            "`all`: every event. `current`: only the events no correction supersedes (`supersededBy` null), the transcript as it finally stands; a stream in this view sends each correction as it arrives (replace the event its `supersedes` names).",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([View::All.as_str(), View::Current.as_str()]))
                .default(Some(json!(View::All.as_str()))),
        ));
        parameters
    }
}

pub const LIMIT: &str = "limit";
pub const ORDER: &str = "order";
pub const CURSOR: &str = "cursor";
pub const VIEW: &str = "view";

/// A documented, optional query parameter.
pub fn query_parameter(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    parameter(name, ParameterIn::Query, description, schema)
}

/// `limit`, `cursor` and `order` of a walk, as documented. `limit`'s bounds are the defaults
/// here; the served document states the running ones (see `openapi::document`).
pub fn page_parameters(
    cursor_description: &str,
    cursor_pattern: &str,
    order_description: &str,
    default_order: Order,
) -> Vec<Parameter> {
    let limits = Limits::default();
    vec![
        query_parameter(
            LIMIT,
            "Page size.",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(limits.page_max))
                .default(Some(json!(limits.page_default))),
        ),
        query_parameter(
            CURSOR,
            cursor_description,
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(cursor_pattern)),
        ),
        query_parameter(
            ORDER,
            order_description,
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([Order::Asc.as_str(), Order::Desc.as_str()]))
                .default(Some(json!(default_order.as_str()))),
        ),
    ]
}

/// A query string read strictly: each parameter at most once, names other than the `known`
/// ones and those starting with `prefix` refused; every refusal collected, so that one
/// `validation-failed` names every bad parameter.
pub struct QueryParams {
    known: Vec<(String, String)>,
    prefixed: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl QueryParams {
    pub fn read(req: &HttpRequest, known: &[&str], prefix: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).map_err(|_| {
                ApiError::validation(vec![FieldError::new(
                    "query",
                    "is not a valid query string",
                )])
            })?;
        let mut query = Self {
            known: Vec::new(),
            prefixed: Vec::new(),
            errors: Vec::new(),
        };
        for (name, value) in pairs {
            let slot = if known.contains(&name.as_str()) {
                &mut query.known
            } else if prefix.is_some_and(|p| name.starts_with(p)) {
                &mut query.prefixed
            } else {
                query
                    .errors
                    .push(FieldError::new(name, "is not a known query parameter"));
                continue;
            };
            if slot.iter().any(|(n, _)| *n == name) {
                query
                    .errors
                    .push(FieldError::new(name, "must be given at most once"));
            } else {
                slot.push((name, value));
            }
        }
        Ok(query)
    }

    /// The value of the known parameter `name`, if given.
    pub fn take(&mut self, name: &str) -> Option<String> {
        let at = self.known.iter().position(|(n, _)| n == name)?;
        Some(self.known.remove(at).1)
    }

    /// The parameters named with the prefix, in the order given.
    pub fn prefixed(&self) -> &[(String, String)] {
        &self.prefixed
    }

    /// Records that `name` is refused, with why.
    pub fn refuse(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// `limit`: 1 to the running maximum, the running default when absent.
    pub fn limit(&mut self, limits: &Limits) -> u32 {
        match self.take(LIMIT) {
            None => limits.page_default,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=limits.page_max).contains(&n) => n,
                _ => {
                    self.refuse(
                        LIMIT,
                        format!("must be an integer from 1 to {}", limits.page_max),
                    );
                    limits.page_default
                }
            },
        }
    }

    /// `order`: `asc` or `desc`, `default` when absent.
    pub fn order(&mut self, default: Order) -> Order {
        match self.take(ORDER) {
            None => default,
            Some(v) => Order::parse(&v).unwrap_or_else(|| {
                self.refuse(ORDER, "must be asc or desc");
                default
            }),
        }
    }

    /// Every refusal as one `validation-failed`, or nothing.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// The `Link` header to the next page: this path with `limit`, `order`, `filters` (as given)
/// and `cursor`.
pub fn next_link(
    req: &HttpRequest,
    limit: u32,
    order: Order,
    filters: &[(String, String)],
    cursor: &str,
) -> String {
    let limit = limit.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![(LIMIT, &limit), (ORDER, order.as_str())];
    pairs.extend(filters.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    pairs.push((CURSOR, cursor));
    let query = serde_urlencoded::to_string(pairs).expect("pairs of strings encode");
    format!("<{}?{query}>; rel=\"next\"", req.path())
}

/// The query of an event page, read before the session is: its `cursor` is checked once the
/// session it walks is known ([`PageQuery::request`]).
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub limit: u32,
    pub order: Order,
    /// The events listed: cursors are bound to it.
    pub view: View,
    cursor: Option<String>,
}

impl PageQuery {
    /// The walk this query reads through `session`, as stored now in `project`.
    pub fn scope(&self, project: &ProjectId, session: &Session) -> EventScope {
        EventScope::of(project, session, self.view)
    }

    /// The walk this query reads through the session `id` created at `incarnation`.
    pub fn scope_of(
        &self,
        project: &ProjectId,
        id: &SessionId,
        incarnation: Timestamp,
    ) -> EventScope {
        EventScope::new(project, id, incarnation, self.view)
    }

    /// The page asked for in the walk `scope`: 400 `invalid-cursor` for a cursor issued for
    /// another project, session, incarnation, view or order.
    pub fn request(
        &self,
        scope: &EventScope,
        codec: &CursorCodec,
    ) -> Result<PageRequest, ApiError> {
        let after = self
            .cursor
            .as_deref()
            .map(|c| codec.decode(scope, self.order, c))
            .transpose()?;
        Ok(self.page_request(after))
    }

    /// The page asked for, its cursor's position read before the walk is known (the store
    /// tells a page's incarnation with the page, decision 30): its answer is served only once
    /// [`PageQuery::check`] accepted the cursor for the walk it was read in.
    pub fn unchecked_request(&self) -> Result<PageRequest, ApiError> {
        let after = self
            .cursor
            .as_deref()
            .map(cursor::unchecked_position)
            .transpose()?;
        Ok(self.page_request(after))
    }

    /// 400 `invalid-cursor` unless the cursor (if any) was issued for the walk `scope`, in this
    /// order.
    pub fn check(&self, scope: &EventScope, codec: &CursorCodec) -> Result<(), ApiError> {
        match self.cursor.as_deref() {
            Some(c) => codec.decode(scope, self.order, c).map(drop),
            None => Ok(()),
        }
    }

    fn page_request(&self, after: Option<u64>) -> PageRequest {
        PageRequest {
            view: self.view,
            after,
            order: self.order,
            limit: self.limit,
        }
    }
}

/// The query parameters of an event page, validated; unknown or repeated parameters are
/// refused, and so is a cursor that is not one in form (its binding is checked once the
/// session is read: [`PageQuery::request`]).
pub fn parse_query(req: &HttpRequest, limits: &Limits) -> Result<PageQuery, ApiError> {
    let mut query = QueryParams::read(req, &[LIMIT, ORDER, CURSOR, VIEW], None)?;
    let limit = query.limit(limits);
    let order = query.order(Order::Asc);
    let cursor = query.take(CURSOR);
    let view = match query.take(VIEW) {
        None => View::All,
        Some(value) => View::parse(&value).unwrap_or_else(|| {
            query.refuse(VIEW, "must be all or current");
            View::All
        }),
    };
    query.finish()?;
    if let Some(cursor) = &cursor {
        cursor::check_event_form(cursor)?;
    }
    Ok(PageQuery {
        limit,
        order,
        view,
        cursor,
    })
}

/// The body of the page `request` asked for in the walk `scope`, and the `Link` header value
/// when more events exist.
pub fn body(
    req: &HttpRequest,
    scope: &EventScope,
    request: PageRequest,
    page: domain::EventPage,
    codec: &CursorCodec,
) -> (EventPage, Option<String>) {
    let next_cursor = request
        .next_position(&page.events)
        .map(|seq| codec.encode(scope, request.order, seq));
    // The view goes on with the walk (the default one unsaid).
    let view: Vec<(String, String)> = match request.view {
        View::All => Vec::new(),
        view => vec![(VIEW.to_owned(), view.as_str().to_owned())],
    };
    let link = next_cursor
        .as_deref()
        .filter(|_| page.has_more)
        .map(|cursor| next_link(req, request.limit, request.order, &view, cursor));
    let body = EventPage {
        data: page.events.into_iter().map(Event::from).collect(),
        has_more: page.has_more,
        next_cursor,
    };
    (body, link)
}
