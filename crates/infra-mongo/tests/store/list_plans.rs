//! Every shape of `GET /sessions` page, and each query of the retention sweep, is served by an
//! index: the server's `explain` of each (`queryPlanner`) has an `IXSCAN` on the expected index
//! in its winning plan, never a `COLLSCAN`, on a real MongoDB-wire server.

use crate::plans::{sorts_reported_truly, winning_stages};
use conformance::ListIndex;
use domain::{JsonObject, NewSession, ProjectId, SessionId, SessionRepository};
use infra_mongo::{MongoOptions, MongoStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_is_served_by_indexes() {
    let uri = testkit::mongo_uri().await;
    let options = MongoOptions::new(uri, testkit::unique_database("sweep"));
    let store = MongoStore::connect(&options).await.expect("connect");
    conformance::sessions_and_tombstones(&store, 50).await;
    let plans = store.explain_sweep().await.unwrap();
    let indexes = ["updatedAt", "erasedAt"];
    assert_eq!(plans.len(), indexes.len());
    for (explained, index) in plans.iter().zip(indexes) {
        let seen = winning_stages(explained);
        assert!(seen.contains(&format!("IXSCAN {index}")), "{seen:?}");
        assert!(!seen.iter().any(|s| s == "COLLSCAN"), "{seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_an_index_scan() {
    let uri = testkit::mongo_uri().await;
    // The SORT check applies where the server can tell (see `plans::sorts_reported_truly`).
    let sorts_reported_truly = sorts_reported_truly(&uri).await;
    let options = MongoOptions::new(uri, testkit::unique_database("plans"));
    let store = MongoStore::connect(&options).await.expect("connect");
    let project = ProjectId::parse("p1").unwrap();
    for i in 0..50 {
        let metadata =
            JsonObject::from_stored(format!(r#"{{"k0":"v","k1":"{}"}}"#, i % 3)).unwrap();
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
    for (query, index) in conformance::list_shapes() {
        let index = match index {
            ListIndex::Created => "project_createdAt_sessionId",
            ListIndex::Status => "project_status_createdAt_sessionId",
            ListIndex::Labels => "project_labels_createdAt_sessionId",
        };
        let explained = store.explain_list_sessions(&project, &query).await.unwrap();
        let seen = winning_stages(&explained);
        let shape = format!("{query:?}\n{seen:?}");
        assert!(seen.contains(&format!("IXSCAN {index}")), "{shape}");
        assert!(!seen.iter().any(|s| s == "COLLSCAN"), "{shape}");
        if sorts_reported_truly {
            assert!(
                !seen.iter().any(|s| s == "SORT"),
                "a blocking sort: {shape}"
            );
        }
    }
}
