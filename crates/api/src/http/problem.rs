//! RFC 9457 problem details: the one error type of the HTTP layer and the one place that maps
//! every port error to a status and a code. Internal causes are logged, never returned.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use app::WebhookError;
use domain::{
    AppendEventError, CompleteSessionError, CreateSessionError, EraseSessionError, GetEventError,
    GetSessionError, ListEventsError, RedactEventError, StorageError,
};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The `code` of a problem; each has a stable `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    ValidationFailed,
    InvalidCursor,
    MalformedJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    RequestTimeout,
    SessionNotFound,
    EventNotFound,
    NotFound,
    MethodNotAllowed,
    EventConflict,
    SessionClosed,
    SessionStateConflict,
    SeqMismatch,
    SupersedeConflict,
    SessionErased,
    Unauthorized,
    Forbidden,
    StorageUnavailable,
    TooManyStreams,
    RateLimited,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 22] = [
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidCursor,
        ErrorCode::MalformedJson,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::SessionNotFound,
        ErrorCode::EventNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::EventConflict,
        ErrorCode::SessionClosed,
        ErrorCode::SessionStateConflict,
        ErrorCode::SeqMismatch,
        ErrorCode::SupersedeConflict,
        ErrorCode::SessionErased,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::StorageUnavailable,
        ErrorCode::TooManyStreams,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "validation-failed",
            ErrorCode::InvalidCursor => "invalid-cursor",
            ErrorCode::MalformedJson => "malformed-json",
            ErrorCode::UnsupportedMediaType => "unsupported-media-type",
            ErrorCode::PayloadTooLarge => "payload-too-large",
            ErrorCode::RequestTimeout => "request-timeout",
            ErrorCode::SessionNotFound => "session-not-found",
            ErrorCode::EventNotFound => "event-not-found",
            ErrorCode::NotFound => "not-found",
            ErrorCode::MethodNotAllowed => "method-not-allowed",
            ErrorCode::EventConflict => "event-conflict",
            ErrorCode::SessionClosed => "session-closed",
            ErrorCode::SessionStateConflict => "session-state-conflict",
            ErrorCode::SeqMismatch => "seq-mismatch",
            ErrorCode::SupersedeConflict => "supersede-conflict",
            ErrorCode::SessionErased => "session-erased",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::StorageUnavailable => "storage-unavailable",
            ErrorCode::TooManyStreams => "too-many-streams",
            ErrorCode::RateLimited => "rate-limited",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::ValidationFailed | ErrorCode::InvalidCursor | ErrorCode::MalformedJson => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::SessionNotFound | ErrorCode::EventNotFound | ErrorCode::NotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::EventConflict
            | ErrorCode::SessionClosed
            | ErrorCode::SessionStateConflict
            | ErrorCode::SeqMismatch
            | ErrorCode::SupersedeConflict => StatusCode::CONFLICT,
            ErrorCode::SessionErased => StatusCode::GONE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::StorageUnavailable | ErrorCode::TooManyStreams => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "The request is not valid",
            ErrorCode::InvalidCursor => "The cursor is not valid",
            ErrorCode::MalformedJson => "The body is not valid JSON",
            ErrorCode::UnsupportedMediaType => "The body must be application/json",
            ErrorCode::PayloadTooLarge => "The request is too large",
            ErrorCode::RequestTimeout => "The request body did not arrive in time",
            ErrorCode::SessionNotFound => "Session not found",
            ErrorCode::EventNotFound => "Event not found",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::EventConflict => "A different event with this id exists",
            ErrorCode::SessionClosed => "The session is closed",
            ErrorCode::SessionStateConflict => "The session already ended differently",
            ErrorCode::SeqMismatch => "The session's lastSeq is not the expected one",
            ErrorCode::SupersedeConflict => "The event named by supersedes cannot be corrected",
            ErrorCode::SessionErased => "The session was erased",
            ErrorCode::Unauthorized => "Credentials are missing or not valid",
            ErrorCode::Forbidden => "The credentials do not allow this",
            ErrorCode::StorageUnavailable => "Storage is unavailable",
            ErrorCode::TooManyStreams => "Too many streams are open",
            ErrorCode::RateLimited => "Too many requests with this key",
            ErrorCode::Internal => "Internal error",
        }
    }

    /// Every status a problem with this code can have: its own, and for `session-erased` also
    /// 409 (creating an erased session: the id is taken by its tombstone).
    pub fn statuses(self) -> Vec<StatusCode> {
        match self {
            ErrorCode::SessionErased => vec![StatusCode::GONE, StatusCode::CONFLICT],
            code => vec![code.status()],
        }
    }

    /// The stable `type` URI of this code.
    pub fn type_uri(self) -> String {
        format!("{TYPE_BASE}{}", self.as_str())
    }
}

/// Prefix of every problem `type`.
pub const TYPE_BASE: &str = "urn:conversation-sessions:problem:";

/// One offending field of a `validation-failed` problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a path into the body (`payload.a[2]`) or the name of a query parameter.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The error type of every handler.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The code's status, or another of its [`ErrorCode::statuses`].
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// The session's `lastSeq`, on `seq-mismatch`.
    pub last_seq: Option<u64>,
    /// Extra headers (`Location` of a conflicting event, `Allow` on 405).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            status: code.status(),
            detail: detail.into(),
            errors: Vec::new(),
            last_seq: None,
            headers: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid; see errors", many.len()),
        };
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed, detail)
        }
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail).with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    /// 503 `too-many-streams`, with `Retry-After`.
    pub fn too_many_streams() -> Self {
        Self::new(
            ErrorCode::TooManyStreams,
            "this instance, or this project on it, has the most streams and exports it serves open; retry later",
        )
        .with_header(header::RETRY_AFTER, "5")
    }

    pub fn with_header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Logs `cause` with the current request's span and returns a problem that does not
    /// reveal it.
    fn from_storage(err: StorageError) -> Self {
        match err {
            StorageError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "storage unavailable");
                Self::new(
                    ErrorCode::StorageUnavailable,
                    "storage is unavailable; retry later",
                )
            }
            StorageError::Internal(cause) => {
                tracing::error!(cause = %cause, "storage error");
                Self::new(ErrorCode::Internal, "an internal error occurred")
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

/// The body of every 4xx/5xx response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:conversation-sessions:problem:session-not-found",
    "title": "Session not found",
    "status": 404,
    "detail": "no session with this id",
    "instance": "/sessions/call-42",
    "code": "session-not-found"
}))]
pub struct Problem {
    /// Stable URI of the problem type: `urn:conversation-sessions:problem:{code}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    pub detail: String,
    /// The path of the request.
    pub instance: String,
    pub code: ErrorCode,
    /// The offending fields: on `validation-failed`, and on `event-conflict` of a batch (the
    /// conflicting item, `events[i]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// On `seq-mismatch`: the session's current `lastSeq`.
    #[serde(rename = "lastSeq", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u64, required = false, minimum = 0)]
    pub last_seq: Option<u64>,
}

impl ApiError {
    pub fn to_problem(&self, instance: &str) -> Problem {
        Problem {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            instance: instance.to_owned(),
            code: self.code,
            errors: (self.code == ErrorCode::ValidationFailed || !self.errors.is_empty())
                .then(|| self.errors.clone()),
            last_seq: self.last_seq,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The body is written by the request middleware, which knows the request path
    /// (`instance`); the error travels there in the response's extensions.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                response.insert_header((name.clone(), value));
            }
        }
        let mut response = response.finish();
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        Self::from_storage(err)
    }
}

fn session_not_found() -> ApiError {
    ApiError::new(ErrorCode::SessionNotFound, "no session with this id")
}

fn session_erased() -> ApiError {
    ApiError::new(
        ErrorCode::SessionErased,
        "the session was erased; nothing of it can be read or added",
    )
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::Invalid { field, message } => {
                Self::validation(vec![FieldError::new(field, message)])
            }
            WebhookError::NotFound => {
                Self::new(ErrorCode::NotFound, "no webhook endpoint with this id")
            }
            WebhookError::MessageNotFound => Self::new(
                ErrorCode::NotFound,
                "this webhook endpoint has no message with this id",
            ),
            WebhookError::Storage(e) => e.into(),
        }
    }
}

impl From<CreateSessionError> for ApiError {
    fn from(err: CreateSessionError) -> Self {
        match err {
            CreateSessionError::Erased => ApiError {
                status: StatusCode::CONFLICT,
                ..ApiError::new(
                    ErrorCode::SessionErased,
                    "a session with this id was erased; the id cannot be used again yet",
                )
            },
            CreateSessionError::Storage(e) => e.into(),
        }
    }
}

impl From<EraseSessionError> for ApiError {
    fn from(err: EraseSessionError) -> Self {
        match err {
            EraseSessionError::NotFound => session_not_found(),
            // Only a conditional erasure (the retention sweep's) answers it; `DELETE` never.
            EraseSessionError::NotExpired => {
                StorageError::Internal("an unconditional erasure kept the session".into()).into()
            }
            EraseSessionError::Storage(e) => e.into(),
        }
    }
}

impl From<RedactEventError> for ApiError {
    fn from(err: RedactEventError) -> Self {
        match err {
            RedactEventError::SessionNotFound => session_not_found(),
            RedactEventError::SessionErased => session_erased(),
            RedactEventError::EventNotFound => event_not_found(),
            RedactEventError::Storage(e) => e.into(),
        }
    }
}

impl From<GetSessionError> for ApiError {
    fn from(err: GetSessionError) -> Self {
        match err {
            GetSessionError::NotFound => session_not_found(),
            GetSessionError::Erased => session_erased(),
            GetSessionError::Storage(e) => e.into(),
        }
    }
}

impl From<ListEventsError> for ApiError {
    fn from(err: ListEventsError) -> Self {
        match err {
            ListEventsError::SessionNotFound => session_not_found(),
            ListEventsError::SessionErased => session_erased(),
            ListEventsError::Storage(e) => e.into(),
        }
    }
}

impl From<GetEventError> for ApiError {
    fn from(err: GetEventError) -> Self {
        match err {
            GetEventError::SessionNotFound => session_not_found(),
            GetEventError::SessionErased => session_erased(),
            GetEventError::EventNotFound => event_not_found(),
            GetEventError::Storage(e) => e.into(),
        }
    }
}

impl From<AppendEventError> for ApiError {
    fn from(err: AppendEventError) -> Self {
        match err {
            AppendEventError::SessionNotFound => session_not_found(),
            AppendEventError::SessionErased => session_erased(),
            AppendEventError::Conflict { stored, .. } => {
                let location =
                    crate::http::paths::event_location(&stored.session_id, &stored.event_id);
                ApiError::new(
                    ErrorCode::EventConflict,
                    format!(
                        "an event with this eventId and different content is stored at {location}"
                    ),
                )
                .with_header(header::LOCATION, location)
            }
            AppendEventError::SessionClosed => ApiError::new(
                ErrorCode::SessionClosed,
                "the session is completed or failed and takes no new events",
            ),
            AppendEventError::SeqMismatch { last_seq } => ApiError {
                last_seq: Some(last_seq),
                ..ApiError::new(
                    ErrorCode::SeqMismatch,
                    format!("the session's lastSeq is {last_seq}, not expectedLastSeq"),
                )
            },
            AppendEventError::SupersedeConflict { index, refusal } => ApiError::new(
                ErrorCode::SupersedeConflict,
                format!("request item {index}: {refusal}"),
            ),
            AppendEventError::Storage(e) => e.into(),
        }
    }
}

impl From<CompleteSessionError> for ApiError {
    fn from(err: CompleteSessionError) -> Self {
        match err {
            CompleteSessionError::NotFound => session_not_found(),
            CompleteSessionError::Erased => session_erased(),
            CompleteSessionError::StateConflict(stored) => ApiError::new(
                ErrorCode::SessionStateConflict,
                format!("the session already ended as {}", stored.status.as_str()),
            ),
            CompleteSessionError::Storage(e) => e.into(),
        }
    }
}

fn event_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::EventNotFound,
        "no event with this id in the session",
    )
}

/// A documented example of a problem with `code` answered with `status`.
fn example(code: ErrorCode, status: u16) -> serde_json::Value {
    let mut problem = json!({
        "type": code.type_uri(),
        "title": code.title(),
        "status": status,
        "detail": code.title(),
        "instance": "/sessions/call-42/events",
        "code": code,
    });
    if code == ErrorCode::ValidationFailed {
        problem["detail"] = json!("2 fields are invalid; see errors");
        problem["errors"] = json!([
            {"field": "eventId", "message": "is required"},
            {"field": "colour", "message": "is not a known field"},
        ]);
    }
    if code == ErrorCode::EventConflict {
        problem["detail"] = json!(
            "an event with this eventId and different content is stored at /sessions/call-42/events/evt-3"
        );
        problem["errors"] = json!([
            {"field": "events[2]", "message": "an event with this eventId and different content is stored"},
        ]);
    }
    if code == ErrorCode::SeqMismatch {
        problem["detail"] = json!("the session's lastSeq is 7, not expectedLastSeq");
        problem["lastSeq"] = json!(7);
    }
    problem
}

/// The response of every problem with HTTP status `status`: its codes, a `Problem` body and an
/// example per code. Operations refer to it (`components/responses/…`).
fn problem_response(status: u16) -> Response {
    let codes: Vec<ErrorCode> = ErrorCode::ALL
        .into_iter()
        .filter(|c| c.statuses().iter().any(|s| s.as_u16() == status))
        .collect();
    let listed: Vec<String> = codes
        .iter()
        .map(|c| format!("`{}` ({})", c.as_str(), c.title()))
        .collect();
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .examples_from_iter(codes.iter().map(|&c| {
            (
                c.as_str(),
                ExampleBuilder::new()
                    .summary(c.title())
                    .value(Some(example(c, status)))
                    .build(),
            )
        }))
        .build();
    let mut response = ResponseBuilder::new()
        .description(format!(
            "A problem; `code` is one of {}.",
            listed.join(", ")
        ))
        .content(PROBLEM_JSON, content);
    if codes.contains(&ErrorCode::Unauthorized) {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`Bearer`: send `Authorization: Bearer <api key>`."))
                .build(),
        );
    }
    if codes.contains(&ErrorCode::TooManyStreams) {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some(
                    "On `too-many-streams`: seconds to wait before opening a stream again.",
                ))
                .build(),
        );
    }
    if codes.contains(&ErrorCode::RateLimited) {
        let header = |description: &str| {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(description))
                .build()
        };
        response = response
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before the key's next request."))
                    .build(),
            )
            .header(
                "RateLimit-Policy",
                header(
                    "The key's quota policy (draft-ietf-httpapi-ratelimit-headers-12): \
                     `\"default\";q=<RATE_LIMIT_PER_KEY>;w=1`.",
                ),
            )
            .header(
                "RateLimit",
                header("The key's quota left and the seconds until it is whole again: `\"default\";r=0;t=<seconds>`."),
            );
    }
    if codes.contains(&ErrorCode::EventConflict) {
        response = response.header(
            "Location",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(
                    "On `event-conflict`: the stored event with this eventId \
                     (`/sessions/{sessionId}/events/{eventId}`).",
                ))
                .build(),
        );
    }
    response.build()
}

/// The problem response components, by HTTP status: `components/responses/{name}`.
const RESPONSES: [(&str, u16); 13] = [
    ("BadRequest", 400),
    ("Unauthorized", 401),
    ("Forbidden", 403),
    ("NotFound", 404),
    ("MethodNotAllowed", 405),
    ("RequestTimeout", 408),
    ("Conflict", 409),
    ("Gone", 410),
    ("PayloadTooLarge", 413),
    ("UnsupportedMediaType", 415),
    ("TooManyRequests", 429),
    ("InternalError", 500),
    ("ServiceUnavailable", 503),
];

/// Every problem response component, by name.
pub fn problem_responses() -> Vec<(&'static str, RefOr<Response>)> {
    RESPONSES
        .iter()
        .map(|&(name, status)| (name, problem_response(status).into()))
        .collect()
}

/// A reference to the problem response of `status`.
pub fn problem_ref(status: u16) -> RefOr<Response> {
    let (name, _) = RESPONSES
        .iter()
        .find(|&&(_, s)| s == status)
        .expect("a problem response exists for every status an ErrorCode has");
    RefOr::Ref(Ref::from_response_name(*name))
}

/// Declares the sets of problems operations answer with, for `responses(…)` in handler
/// annotations: each status refers to its problem response component.
macro_rules! problem_sets {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),*];)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    [$($status),*]
                        .into_iter()
                        .map(|status| (status.to_string(), problem_ref(status)))
                        .collect()
                }
            }
        )*
    };
}

problem_sets!(
    /// Reading a session or its events: bad id or query, no such session/event, an erased
    /// session, storage down.
    ReadProblems = [400, 404, 410, 503];
    /// Finding sessions: a bad query or cursor, storage down.
    ListProblems = [400, 503];
    /// Creating a session: a bad, oversized or non-JSON body, an erased id (409), storage down.
    CreateProblems = [400, 409, 413, 415, 503];
    /// Writing into a session: as creating, plus no such session, the 409s, an erased session.
    WriteProblems = [400, 404, 409, 410, 413, 415, 503];
    /// Erasing a session or redacting an event: bad id, no such session (or event), an erased
    /// session (redaction), storage down.
    EraseProblems = [400, 404, 410, 503];
    /// Asking the store anything: storage down.
    StoreProblems = [503];
    /// Reading or revoking keys: bad query or id, no such key, storage down. (401/403 are
    /// added to every protected operation by `openapi::document`.)
    AdminProblems = [400, 404, 503];
    /// Creating a key or a webhook endpoint: a bad, oversized or non-JSON body, storage down.
    AdminWriteProblems = [400, 413, 415, 503];
    /// Changing a webhook endpoint: as creating, plus no such endpoint.
    AdminChangeProblems = [400, 404, 413, 415, 503];
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_type_and_the_status_of_the_spec() {
        let mut types: Vec<String> = ErrorCode::ALL.iter().map(|c| c.type_uri()).collect();
        types.sort();
        types.dedup();
        assert_eq!(types.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
        }
        assert_eq!(ErrorCode::SessionClosed.status(), StatusCode::CONFLICT);
        assert_eq!(ErrorCode::StorageUnavailable.status().as_u16(), 503);
    }

    #[test]
    fn every_code_is_in_a_problem_response() {
        let documented: String = problem_responses()
            .into_iter()
            .map(|(_, r)| serde_json::to_string(&r).unwrap())
            .collect();
        for code in ErrorCode::ALL {
            assert!(
                documented.contains(&format!("`{}`", code.as_str())),
                "{code:?}"
            );
        }
    }

    #[test]
    fn storage_causes_are_not_in_the_problem() {
        let e = ApiError::from(StorageError::Internal("SQLITE_CORRUPT at page 7".into()));
        let body = serde_json::to_string(&e.to_problem("/x")).unwrap();
        assert!(!body.contains("SQLITE"), "{body}");
        assert_eq!(e.code, ErrorCode::Internal);
        let e = ApiError::from(StorageError::Unavailable("connection refused".into()));
        let body = serde_json::to_string(&e.to_problem("/x")).unwrap();
        assert!(!body.contains("refused"), "{body}");
        assert_eq!(e.code, ErrorCode::StorageUnavailable);
    }
}
