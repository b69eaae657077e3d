//! `/sessions/{sessionId}/events[/{eventId}]`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::caller::{Caller, need};
use crate::input;
use crate::page::{self, PageParams};
use crate::paths::{self, EventPath, SessionPath};
use crate::problem::{ApiError, ReadProblems, WriteProblems};
use crate::reply;
use crate::requests::{self, AppendEventRequest};
use crate::responses::{Event, EventPage};
use crate::state::AppState;

/// Append an event
///
/// Stores the event at the session's next `seq`. Idempotent by `eventId` within the session:
/// sending the same event again (same `type` and `payload`, and `timestamp` when given) stores
/// nothing and answers 200 with the stored event and `Idempotent-Replayed: true`, also after
/// the session ended. The same `eventId` with other content is 409 `event-conflict`, its
/// `Location` naming the stored event: the first write wins. A new event in an ended session is
/// 409 `session-closed`.
#[utoipa::path(
    post, path = "/sessions/{sessionId}/events", tag = "events", operation_id = "appendEvent",
    params(SessionPath),
    request_body(content = AppendEventRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored: the new event", body = Event,
            headers(("Location" = String, description = "`/sessions/{sessionId}/events/{eventId}`")),
            links(
                ("getEvent" = (operation_id = "getEvent",
                    parameters(
                        ("sessionId" = "$response.body#/sessionId"),
                        ("eventId" = "$response.body#/eventId")),
                    description = "Read the stored event")),
                ("listEvents" = (operation_id = "listEvents",
                    parameters(("sessionId" = "$response.body#/sessionId")),
                    description = "Page through the session's events")),
            )),
        (status = 200, description = "The same event was stored before: the stored event", body = Event,
            headers(("Idempotent-Replayed" = crate::schema::IdempotentReplayed))),
        WriteProblems,
    )
)]
pub async fn append_event(
    caller: Caller<need::Write>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    let new = requests::read::<AppendEventRequest>(&req, payload, &state.limits).await?;
    let written = state.repo.append_event(caller.project(), &id, new).await?;
    Ok(reply::created_or_replayed(
        written,
        |e| paths::event_location(&e.session_id, &e.event_id),
        |e| Event::from(e),
    ))
}

/// List a session's events
///
/// One page of events ordered by `seq` (`order=asc`, the default, or `desc`). Paging never skips
/// or repeats an event: follow `nextCursor` (or the `Link` header) while `hasMore`. To tail a
/// live session, keep the last `nextCursor` and ask again later: events appended since then
/// come next, in `seq` order.
#[utoipa::path(
    get, path = "/sessions/{sessionId}/events", tag = "events", operation_id = "listEvents",
    params(SessionPath, PageParams),
    responses(
        (status = 200, description = "A page of events", body = EventPage,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when `hasMore`"))),
        ReadProblems,
    )
)]
pub async fn list_events(
    caller: Caller<need::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    let request = page::parse_query(&req, &id, &state.limits, &state.cursors)?;
    let (body, link) = page::fetch(&req, caller.project(), &id, request, &state).await?;
    Ok(reply::page(body, link))
}

/// Get an event
///
/// One stored event, exactly as it was stored.
#[utoipa::path(
    get, path = "/sessions/{sessionId}/events/{eventId}", tag = "events", operation_id = "getEvent",
    params(EventPath),
    responses(
        (status = 200, description = "The event", body = Event),
        ReadProblems,
    )
)]
pub async fn get_event(
    caller: Caller<need::Read>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path.0)?;
    let event_id = input::event_id(&path.1)?;
    let event = state
        .repo
        .get_event(caller.project(), &id, &event_id)
        .await?;
    Ok(HttpResponse::Ok().json(Event::from(&event)))
}
