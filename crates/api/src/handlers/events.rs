//! `/sessions/{sessionId}/events[/{eventId}]` and `/sessions/{sessionId}/events:batch`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{AppendEventError, Order};

use crate::auth::caller::{Caller, need};
use crate::http::input;
use crate::http::paths::{self, EventPath, SessionPath};
use crate::http::problem::{ApiError, EraseProblems, FieldError, ReadProblems, WriteProblems};
use crate::http::reply;
use crate::http::requests::{self, AppendEventRequest, BatchAppendRequest};
use crate::http::responses::{BatchAppended, Event, EventPage};
use crate::paging::cursor;
use crate::paging::page::{self, PageParams};
use crate::state::AppState;
use crate::stream::{self, Representation, ndjson, sse};

/// The header `EventSource` resends on reconnection: the `id` of the last event received.
const LAST_EVENT_ID: &str = "last-event-id";

/// Append an event
///
/// Stores the event at the session's next `seq`. Idempotent by `eventId` within the session:
/// sending the same event again (same `type` and `payload`, and `timestamp` when given) stores
/// nothing and answers 200 with the stored event and `Idempotent-Replayed: true`, also after
/// the session ended. The same `eventId` with other content is 409 `event-conflict`, its
/// `Location` naming the stored event: the first write wins. A new event in an ended session is
/// 409 `session-closed`. With `expectedLastSeq`, a new event is stored only if the session's
/// `lastSeq` is that value at the moment of the write, else 409 `seq-mismatch` (its `lastSeq`
/// member: the current one).
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
            headers(("Idempotent-Replayed" = crate::http::schema::IdempotentReplayed))),
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
    let batch = requests::read::<AppendEventRequest>(&req, payload, &state.limits).await?;
    let written = state
        .events
        .append_one(caller.project(), &id, batch)
        .await?;
    Ok(reply::created_or_replayed(
        written,
        |e| paths::event_location(&e.session_id, &e.event_id),
        |e| Event::from(e),
    ))
}

/// Append several events at once
///
/// All or nothing: every new event of the batch is stored, at consecutive `seq`s in array order
/// (never interleaved with other writes), or none is. Items whose `eventId` is stored with the
/// same content are replays: answered with the stored event, `replayed: true`. The same
/// `eventId` twice in the batch counts once with the same content, and is 400 naming
/// `events[i].eventId` with other content. Any invalid item: 400 naming `events[i].<field>`.
/// An item whose `eventId` is stored with other content: 409 `event-conflict`, `errors` naming
/// `events[i]`. A closed session and a new item: 409 `session-closed`. With `expectedLastSeq`:
/// stored only if the session's `lastSeq` is that value at the moment of the write, else 409
/// `seq-mismatch` with the current `lastSeq`. On every error nothing is stored. 201 when at least
/// one event was stored; 200 with `Idempotent-Replayed: true` when every item was a replay
/// (whatever `expectedLastSeq` says).
#[utoipa::path(
    post, path = "/sessions/{sessionId}/events:batch", tag = "events", operation_id = "appendEvents",
    params(SessionPath),
    request_body(content = BatchAppendRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "At least one event was stored: every item, in request order", body = BatchAppended),
        (status = 200, description = "Every item was stored before: the stored events", body = BatchAppended,
            headers(("Idempotent-Replayed" = crate::http::schema::IdempotentReplayed))),
        WriteProblems,
    )
)]
pub async fn append_batch(
    caller: Caller<need::Write>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    let limits = state.limits.for_batch();
    let batch = requests::read::<BatchAppendRequest>(&req, payload, &limits).await?;
    let written = state
        .events
        .append(caller.project(), &id, batch)
        .await
        .map_err(|e| {
            let item = match &e {
                AppendEventError::Conflict { index, .. } => Some(*index),
                _ => None,
            };
            let mut err = ApiError::from(e);
            if let Some(index) = item {
                err.errors = vec![FieldError::new(
                    format!("events[{index}]"),
                    "an event with this eventId and different content is stored",
                )];
            }
            err
        })?;
    let body = BatchAppended::from(written.as_slice());
    Ok(if written.iter().any(|w| !w.replayed) {
        HttpResponse::Created().json(body)
    } else {
        reply::ok(true).json(body)
    })
}

/// List a session's events: a page, a live stream, or an export
///
/// One resource, three representations chosen by `Accept`:
///
/// - `application/json` (default; also `*/*`, no `Accept`, ties): one page of events ordered by
///   `seq` (`order=asc`, the default, or `desc`). Paging never skips or repeats an event:
///   follow `nextCursor` (or the `Link` header) while `hasMore`.
/// - `text/event-stream`: a live Server-Sent Events stream from `Last-Event-ID`, else `cursor`,
///   else the first event. Each event once, in `seq` order, as a frame
///   `id: <cursor after this event>` / `event: event` / `data: <Event JSON>`; later events (from
///   any instance) within a second; `event: session-closed` / `data: <Session JSON>` once the
///   session is closed and drained, then the end; `: keep-alive` comments while silent. The ids
///   are ordinary cursors.
/// - `application/x-ndjson`: every event after `cursor` stored when the request starts, one
///   Event JSON per line; `limit` is ignored. An export that cannot finish is aborted.
///
/// Streams and exports both take a stream slot while open: beyond the instance's limit, or the
/// project's share of it, 503 `too-many-streams` (with `Retry-After`).
///
/// Streams and exports run in `asc` order only.
#[utoipa::path(
    get, path = "/sessions/{sessionId}/events", tag = "events", operation_id = "listEvents",
    params(SessionPath, PageParams,
        ("Last-Event-ID" = Option<String>, Header,
            description = "SSE only: resume after this event id (a cursor); beats `cursor`")),
    responses(
        (status = 200, description = "A page of events, a live SSE stream, or an NDJSON export",
            content(
                (EventPage = "application/json"),
                (String = "text/event-stream", example = json!(
                    "retry: 2000\n\nid: AQAAAAAAAAAAAQ3tQ1nDvUu8rXbJpVxQyZc\nevent: event\ndata: {\"eventId\":\"evt-1\",\"sessionId\":\"call-42\",\"seq\":1,\"type\":\"user_speech\",\"payload\":{},\"timestamp\":\"2026-05-01T12:00:00.000Z\",\"receivedAt\":\"2026-05-01T12:00:00.000Z\"}\n\nevent: session-closed\ndata: {\"sessionId\":\"call-42\",\"status\":\"completed\"}\n\n")),
                (String = "application/x-ndjson", example = json!(
                    "{\"eventId\":\"evt-1\",\"sessionId\":\"call-42\",\"seq\":1,\"type\":\"user_speech\",\"payload\":{},\"timestamp\":\"2026-05-01T12:00:00.000Z\",\"receivedAt\":\"2026-05-01T12:00:00.000Z\"}\n")),
            ),
            headers(("Link" = String, description = "JSON pages: `<…>; rel=\"next\"` when `hasMore`"))),
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
    let query = page::parse_query(&req, &state.limits)?;
    let project = caller.project();
    let representation = Representation::of(&req);
    if representation == Representation::Json {
        // Cursors are bound to the session's incarnation, which the store tells with the page:
        // the cursor is checked after the read, and a page it fails is never served.
        let request = query.unchecked_request()?;
        let page = state.events.page(project, &id, request).await?;
        let scope = query.scope_of(project, &id, page.incarnation);
        query.check(&scope, &state.cursors)?;
        let (body, link) = page::body(&req, &scope, request, page, &state.cursors);
        return Ok(reply::page(body, link));
    }
    if query.order != Order::Asc {
        return Err(ApiError::validation(vec![FieldError::new(
            "order",
            "streams and exports run in seq order: asc",
        )]));
    }
    let last_event_id = match (representation, req.headers().get(LAST_EVENT_ID)) {
        (Representation::EventStream, Some(last)) => {
            let last = last.to_str().unwrap_or("");
            cursor::check_event_form(last)?;
            Some(last)
        }
        _ => None,
    };
    let session = state.events.followed(project, &id).await?;
    let scope = query.scope(project, &session);
    let mut after = query.request(&scope, &state.cursors)?.after;
    if let Some(last) = last_event_id {
        after = Some(state.cursors.decode(&scope, Order::Asc, last)?);
    }
    let source = stream::Source {
        events: state.events.clone(),
        cursors: state.cursors.clone(),
        scope,
        after: after.unwrap_or(0),
    };
    if representation == Representation::NdJson {
        let slot = state
            .events
            .export_slot(caller.project())
            .map_err(|_| ApiError::too_many_streams())?;
        return Ok(HttpResponse::Ok()
            .content_type(stream::NDJSON)
            .streaming(ndjson::export(source, session.last_seq, slot)));
    }
    let subscription = state
        .events
        .subscribe(project, &id, session.version())
        .map_err(|_| ApiError::too_many_streams())?;
    let live = sse::Live::new(source, subscription, state.limits.stream_keep_alive);
    Ok(HttpResponse::Ok()
        .content_type(stream::EVENT_STREAM)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(live.into_stream()))
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
    let event = state.events.get(caller.project(), &id, &event_id).await?;
    Ok(HttpResponse::Ok().json(Event::from(&event)))
}

/// Redact an event's payload
///
/// Blanks one event whose payload captured what must not be kept (a card number, a name): the
/// payload becomes `{}` and `redactedAt` is set; `seq`, `eventId`, `type` and the times stay.
/// Only a SHA-256 fingerprint of the original payload is kept, so a retry of the original
/// append still answers 200 `Idempotent-Replayed: true` (with the redacted event) and other
/// content 409 `event-conflict`. Redacting again answers 200 with the event unchanged
/// (`Idempotent-Replayed: true`). Open and closed sessions alike. Needs the `delete` scope.
#[utoipa::path(
    post, path = "/sessions/{sessionId}/events/{eventId}/redact", tag = "events",
    operation_id = "redactEvent",
    params(EventPath),
    responses(
        (status = 200, description = "The redacted event (redacted now, or before: a replay)",
            body = Event, headers(("Idempotent-Replayed" = crate::http::schema::IdempotentReplayed))),
        EraseProblems,
    )
)]
pub async fn redact_event(
    caller: Caller<need::Delete>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path.0)?;
    let event_id = input::event_id(&path.1)?;
    let written = state
        .events
        .redact(caller.project(), &id, &event_id)
        .await?;
    Ok(reply::ok(written.replayed).json(Event::from(&written.value)))
}
