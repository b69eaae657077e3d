//! The HTTP adapter: actix-web routes, request/response bodies, problem+json, OpenAPI and
//! Swagger UI. A handler reads the request, makes one call to the application's services
//! (`app`), and writes the response; it never touches storage itself.
//!
//! Folders, from the leaves up: `http` (problems, limits, bodies, replies, paths, schemas,
//! request metrics) · `paging` (cursors, query parameters, page bodies) · `stream` (SSE,
//! NDJSON) · `state` · `auth` (credentials → caller) · `handlers::{sessions, events, admin,
//! operations}` · `openapi` · `middleware` · `router`.

mod auth;
mod handlers;
mod http;
mod middleware;
mod openapi;
mod paging;
mod router;
mod state;
mod stream;

pub use http::limits::Limits;
pub use http::messages::MessageBodies;
pub use router::app;
pub use state::AppState;
