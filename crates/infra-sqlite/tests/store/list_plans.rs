//! Every shape of `GET /sessions` page, and both statements of the retention sweep, are ranges
//! of an index, never a scan of `sessions` or a sort: SQLite's `EXPLAIN QUERY PLAN` of each, on
//! a store with statistics (`ANALYZE`) over thousands of sessions, so a plan change by the
//! statistics fails here too.

use crate::plans::analysed;
use conformance::ListIndex;
use domain::{JsonObject, NewSession, ProjectId, SessionId, SessionRepository, StoreAdmin};
use infra_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_an_index_range() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let project = ProjectId::parse("p1").unwrap();
    for i in 0..2_000 {
        let metadata =
            JsonObject::from_stored(format!(r#"{{"k0":"v","k1":"{}","k2":"v"}}"#, i % 3)).unwrap();
        let new = NewSession::new(
            SessionId::parse(format!("s{i}")).unwrap(),
            None,
            None,
            metadata,
            None,
        )
        .unwrap();
        store.create_session(&project, new).await.unwrap();
    }
    store.close().await;
    let store = analysed(&path);
    for (query, index) in conformance::list_shapes() {
        let index = match index {
            ListIndex::Created => "USING INDEX sessions_by_created",
            ListIndex::Status => "USING INDEX sessions_by_status",
            ListIndex::Labels => "SEARCH d USING PRIMARY KEY",
        };
        let plans = store
            .explain_list_sessions(&project, query.clone())
            .await
            .unwrap();
        assert_eq!(plans.len(), query.filter.statuses().len().max(1));
        for plan in plans {
            let shape = format!("{query:?}\n{plan}");
            eprintln!("{shape}");
            assert!(plan.contains(index), "{shape}");
            assert!(!plan.contains("SCAN"), "a scan: {shape}");
            assert!(!plan.contains("TEMP B-TREE"), "a sort: {shape}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_index_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    conformance::sessions_and_tombstones(&store, 2_000).await;
    store.close().await;
    let plans = analysed(&path).explain_sweep().await.unwrap();
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
