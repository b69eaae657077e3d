//! The HTTP adapter: actix-web routes, request/response bodies, problem+json, OpenAPI and
//! Swagger UI. It talks to storage only through the domain's ports; the storage decorators
//! ([`Bounded`], [`metrics::Instrumented`]) are assembled around the store by the server.
//!
//! Modules, from the leaves up: `problem` (errors → problem+json) · `paths` (locations, path
//! parameters) · `schema` (wire schemas from the domain's rules) · `input` (reading bodies and
//! path ids) · `requests` / `responses` (the bodies) · `body` (strict JSON) · `cursor`, `page`,
//! `listing` · `tail` (live tails) · `stream` (SSE, NDJSON) · `access` (open or keys mode, the
//! key cache) · `state` · `caller` · `auth` (credentials → caller) · `reply` ·
//! `handlers::{sessions, events, admin, operations}` · `openapi` · `middleware` · `router`.

mod access;
mod auth;
mod body;
mod bounded;
mod caller;
mod cursor;
mod handlers;
mod input;
mod listing;
pub mod metrics;
mod middleware;
pub mod openapi;
mod page;
mod paths;
pub mod problem;
mod reply;
mod requests;
mod responses;
pub mod retention;
mod router;
mod schema;
mod state;
mod stream;
mod tail;

pub use access::Access;
pub use body::MAX_DEPTH;
pub use bounded::Bounded;
pub use cursor::CursorCodec;
pub use middleware::REQUEST_ID;
pub use reply::IDEMPOTENT_REPLAYED;
pub use router::app;
pub use state::{AppState, Limits};
pub use tail::Tail;
