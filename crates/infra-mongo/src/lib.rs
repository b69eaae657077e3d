//! The MongoDB storage adapter.
//!
//! Idempotency, ordering and the seal come from unique indexes, never from application locks:
//! `sessions(sessionId)`, `events(sessionId, eventId)` and `events(sessionId, seq)`. Every write
//! is insert-first; a duplicate-key error is answered by reading what won. No multi-document
//! transaction is used (see `docs/mongodb.md`), so any number of stateless instances can share
//! one database.

mod announce;
mod clock;
mod deliveries;
mod documents;
mod drivers;
mod erasure;
mod error;
mod keys;
mod lane;
mod migrate;
mod outbox;
mod schema;
mod sessions_list;
mod store;
pub mod uri;
mod webhooks;
mod writes;

pub use migrate::MIGRATIONS;
pub use store::{MongoOptions, MongoStore, TRUSTED_AT_MOST, write_concern};
