//! The names the migrations (`migrations/mongo/`) give the collections and indexes that the
//! adapter reads by name. The migrations own them: this module depends on nothing.

/// The collections.
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const EVENTS: &str = "events";
pub(crate) const API_KEYS: &str = "api_keys";
pub(crate) const META: &str = "meta";
pub(crate) const SCHEMA_MIGRATIONS: &str = "schema_migrations";

/// The unique `(project, sessionId, seq)` index of `events` (migration `0002_projects`).
pub(crate) const SEQ_INDEX: &str = "project_sessionId_seq_unique";

/// The indexes of `sessions` that serve the lists (migration `0004_session_lists`).
pub(crate) const BY_CREATED: &str = "project_createdAt_sessionId";
pub(crate) const BY_STATUS: &str = "project_status_createdAt_sessionId";
pub(crate) const BY_LABELS: &str = "project_labels_createdAt_sessionId";

/// The indexes of `sessions` that serve the retention sweep (migration `0005_erasure`): the
/// time retention counts from, and the tombstones' `erasedAt`.
pub(crate) const BY_RETENTION: &str = "endedAt_updatedAt";
pub(crate) const BY_ERASED: &str = "erasedAt";
