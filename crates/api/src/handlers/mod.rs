//! The HTTP handlers, one module per resource: read the input, call a port, answer. Every
//! error is an [`crate::http::problem::ApiError`]. Each handler's `#[utoipa::path]` is its contract:
//! summary and description, parameters, body, and responses (problems by reference to
//! `components/responses`).

pub mod admin;
pub mod events;
pub mod operations;
pub mod sessions;
pub mod webhooks;
