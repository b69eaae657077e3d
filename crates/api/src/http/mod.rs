//! Speaking HTTP, with no knowledge of routes or handlers: problems, limits, the strict JSON
//! reader, request and response bodies, replies, locations and path parameters, wire schemas,
//! request metrics.
//!
//! Leaves first (each imports only those before it): `schema` · `paths` · `problem` · `limits`
//! · `input` · `body` · `requests` · `responses` · `reply` · `metrics`.

pub mod body;
pub mod input;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod paths;
pub mod problem;
pub mod reply;
pub mod requests;
pub mod responses;
pub mod schema;
