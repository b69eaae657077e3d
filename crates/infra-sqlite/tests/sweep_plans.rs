//! The retention sweep reads ranges of its indexes, never a scan of `sessions` or `tombstones`:
//! SQLite's `EXPLAIN QUERY PLAN` of both its statements on a store with statistics (`ANALYZE`)
//! over thousands of sessions and tombstones.

use domain::{
    JsonObject, NewSession, ProjectId, SessionId, SessionRepository, StoreAdmin, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_index_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let project = ProjectId::parse("p1").unwrap();
    for i in 0..2_000 {
        let id = SessionId::parse(format!("s{i}")).unwrap();
        let new = NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
        store.create_session(&project, new).await.unwrap();
        if i % 4 == 0 {
            store
                .erase_session(&project, &id, Timestamp::now())
                .await
                .unwrap();
        }
    }
    store.close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("ANALYZE")
        .unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let plans = store.explain_sweep().await.unwrap();
    eprintln!("{plans:#?}");
    assert!(
        plans[0].contains("INDEX sessions_by_retention"),
        "{}",
        plans[0]
    );
    assert!(plans[1].contains("tombstones_by_erased"), "{}", plans[1]);
    for plan in &plans {
        assert!(!plan.contains("SCAN"), "a scan: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "a sort: {plan}");
    }
}
