//! The shared adapter conformance suite, on a real SQLite file per test.

use std::sync::Arc;

use conformance::Fixture;
use infra_sqlite::{SqliteOptions, SqliteStore};

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteStore::open(&SqliteOptions::new(dir.path().join("sessions.db"))).expect("open");
    Fixture {
        repo: Arc::new(store),
        guard: Box::new(dir),
    }
}

conformance::conformance_suite!(fixture());
