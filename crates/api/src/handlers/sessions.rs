//! `/sessions` (create, find) and `/sessions/{sessionId}[/complete]`.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::EraseIf;

use crate::auth::caller::{Caller, need};
use crate::http::input;
use crate::http::paths::{self, SessionPath};
use crate::http::problem::{
    ApiError, CreateProblems, EraseProblems, ListProblems, ReadProblems, WriteProblems,
};
use crate::http::reply;
use crate::http::requests::{self, CompleteSessionRequest, CreateSessionRequest};
use crate::http::responses::{Session, SessionPage, SessionWithEvents};
use crate::paging::listing::{self, ListParams};
use crate::paging::page::{self, PageParams};
use crate::state::AppState;

/// Create a session
///
/// Opens the session of a call. Idempotent by `sessionId`: the first write wins. Sending the
/// same `sessionId` again (a retry, or a concurrent duplicate) stores nothing and answers 200
/// with the stored session, unchanged, and `Idempotent-Replayed: true`, whatever the body.
#[utoipa::path(
    post, path = "/sessions", tag = "sessions", operation_id = "createSession",
    request_body(content = CreateSessionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created: the new session", body = Session,
            headers(("Location" = String, description = "`/sessions/{sessionId}`")),
            links(
                ("getSession" = (operation_id = "getSession",
                    parameters(("sessionId" = "$response.body#/sessionId")),
                    description = "Read the session with its first events")),
                ("appendEvent" = (operation_id = "appendEvent",
                    parameters(("sessionId" = "$response.body#/sessionId")),
                    description = "Append the call's events")),
                ("listEvents" = (operation_id = "listEvents",
                    parameters(("sessionId" = "$response.body#/sessionId")),
                    description = "Page through the session's events")),
                ("completeSession" = (operation_id = "completeSession",
                    parameters(("sessionId" = "$response.body#/sessionId")),
                    description = "End the session")),
            )),
        (status = 200, description = "Already existed: the stored session, unchanged", body = Session,
            headers(("Idempotent-Replayed" = crate::http::schema::IdempotentReplayed))),
        CreateProblems,
    )
)]
pub async fn create_session(
    caller: Caller<need::Write>,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let new = requests::read::<CreateSessionRequest>(&req, payload, &state.limits).await?;
    let written = state.sessions.create(caller.project(), new).await?;
    Ok(reply::created_or_replayed(
        written,
        |s| paths::session_location(&s.id),
        |s| Session::from(s),
    ))
}

/// Find sessions
///
/// The caller's project's sessions, newest first (`order=desc`, the default) or oldest first,
/// by `createdAt`, ties by `sessionId`; without their events. Filters combine with AND:
/// `status` (one or more, comma-separated), `createdAfter`/`createdBefore` (exclusive), and up
/// to 5 `metadata.<key>=<value>` parameters, each matching sessions whose metadata has the
/// top-level key `<key>` with the string value `<value>` exactly, e.g.
/// `GET /sessions?status=active&metadata.agent=ann&metadata.campaign=spring`.
/// Follow `nextCursor` (or the `Link` header) with the same filters and order: a cursor used
/// with other ones is 400 `invalid-cursor`. A walk returns every session that matched when it
/// began, and still matches, exactly once; an `asc` walk meets sessions created during it at
/// its end. Every page is read from an index: its cost does not grow with the number of
/// sessions or the depth of the cursor.
#[utoipa::path(
    get, path = "/sessions", tag = "sessions", operation_id = "listSessions",
    params(ListParams),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when `hasMore`"))),
        ListProblems,
    )
)]
pub async fn list_sessions(
    caller: Caller<need::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let project = caller.project();
    let query = listing::parse_query(&req, project, &state.limits, &state.cursors)?;
    let page = state.sessions.find(project, query.clone()).await?;
    let (body, link) = listing::body(&req, project, &query, page, &state.cursors);
    Ok(reply::page(body, link))
}

/// Get a session with its events
///
/// The session and the first page of its events (the same page as `listEvents`, with the same
/// query parameters); `events.nextCursor` reads on with `listEvents`.
#[utoipa::path(
    get, path = "/sessions/{sessionId}", tag = "sessions", operation_id = "getSession",
    params(SessionPath, PageParams),
    responses(
        (status = 200, description = "The session and a page of its events", body = SessionWithEvents,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` when `events.hasMore`"))),
        ReadProblems,
    )
)]
pub async fn get_session(
    caller: Caller<need::Read>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    let query = page::parse_query(&req, &state.limits)?;
    let project = caller.project();
    let (session, request, page) = state
        .events
        .session_with_page(project, &id, |s| {
            query.request(&query.scope(project, s), &state.cursors)
        })
        .await?;
    let (events, link) = page::body(
        &req,
        &query.scope(project, &session),
        request,
        page,
        &state.cursors,
    );
    Ok(reply::page(
        SessionWithEvents {
            session: Session::from(&session),
            events,
        },
        link,
    ))
}

/// End a session
///
/// Marks the call `completed` (default) or `failed`. The body is optional: send none (no
/// content type needed), or `{"status": "failed"}`. Once this has answered, the session takes
/// no new event (`session-closed`), and every event acknowledged before is in it. Ending it
/// again in the same status is a replay (200, `Idempotent-Replayed: true`, `endedAt` kept);
/// in the other status it is 409 `session-state-conflict`.
#[utoipa::path(
    post, path = "/sessions/{sessionId}/complete", tag = "sessions", operation_id = "completeSession",
    params(SessionPath),
    request_body(content = Option<CompleteSessionRequest>, content_type = "application/json",
        description = "Optional; an empty body needs no content type"),
    responses(
        (status = 200, description = "Ended now, or already ended in the requested status (a replay)",
            body = Session, headers(("Idempotent-Replayed" = crate::http::schema::IdempotentReplayed))),
        WriteProblems,
    )
)]
pub async fn complete_session(
    caller: Caller<need::Write>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    let request =
        requests::read_optional::<CompleteSessionRequest>(&req, payload, &state.limits).await?;
    let written = state
        .lifecycle
        .complete(caller.project(), &id, request)
        .await?;
    Ok(reply::ok(written.replayed).json(Session::from(&written.value)))
}

/// Erase a session
///
/// For privacy requests (GDPR, HIPAA): the session and every one of its events are removed from
/// the store. A tombstone (the id and `erasedAt`, nothing else) remains for
/// `TOMBSTONE_RETENTION`; meanwhile reads, streams and appends answer 410 `session-erased`,
/// creating the id again 409 `session-erased`, and erasing again 204. An append racing the
/// erasure is either erased with the rest or refused; once this has answered, nothing of the
/// session remains or can be added. Needs the `delete` scope.
#[utoipa::path(
    delete, path = "/sessions/{sessionId}", tag = "sessions", operation_id = "eraseSession",
    params(SessionPath),
    responses(
        (status = 204, description = "Erased now, or erased before"),
        EraseProblems,
    )
)]
pub async fn erase_session(
    caller: Caller<need::Delete>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = input::session_id(&path)?;
    state
        .lifecycle
        .erase(caller.project(), &id, EraseIf::Always)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
