//! What the plan tests (`list_plans.rs`, `query_plans.rs`) share.

use infra_sqlite::{SqliteOptions, SqliteStore};

/// The store at `path`, reopened after `ANALYZE` (statistics as a long-running store has them).
pub fn analysed(path: &std::path::Path) -> SqliteStore {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch("ANALYZE")
        .unwrap();
    SqliteStore::open(&SqliteOptions::new(path)).unwrap()
}
