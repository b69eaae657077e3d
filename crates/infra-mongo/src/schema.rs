//! The names the migrations (`migrations/mongo/`) give the collections and indexes that the
//! adapter reads by name. The migrations own them: this module depends on nothing.

/// The collections.
pub(crate) const SESSIONS: &str = "sessions";
pub(crate) const EVENTS: &str = "events";
pub(crate) const API_KEYS: &str = "api_keys";
pub(crate) const WEBHOOK_ENDPOINTS: &str = "webhook_endpoints";
pub(crate) const WEBHOOK_DELIVERIES: &str = "webhook_deliveries";
pub(crate) const META: &str = "meta";
pub(crate) const SCHEMA_MIGRATIONS: &str = "schema_migrations";

/// The indexes of `sessions` that serve the lists (migration `0004_session_lists`).
pub(crate) const BY_CREATED: &str = "project_createdAt_sessionId";
pub(crate) const BY_STATUS: &str = "project_status_createdAt_sessionId";
pub(crate) const BY_LABELS: &str = "project_labels_createdAt_sessionId";

// The other indexes (events' `project_sessionId_seq_unique`, sessions' `updatedAt`
// and `erasedAt`) are named by no query: the planner picks them from the filter alone (no
// hint; see docs/mongodb.md "Every query on its index", checked by tests/store/query_plans.rs).
