//! The shared adapter conformance suite, on a real SQLite file per test.

use std::sync::Arc;

use conformance::Fixture;
use domain::Repository;
use infra_sqlite::{SqliteOptions, SqliteStore};

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions::new(dir.path().join("sessions.db"));
    let store = SqliteStore::open(&options).expect("open");
    Fixture {
        repo: Arc::new(store),
        // A second store on the same file, as a second process would open it.
        other: Box::new(move || {
            let options = options.clone();
            Box::pin(async move {
                Arc::new(SqliteStore::open(&options).expect("open again")) as Arc<dyn Repository>
            })
        }),
        guard: Box::new(dir),
    }
}

conformance::conformance_suite!(fixture());
