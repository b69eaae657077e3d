//! The retention sweep's queries are served by indexes (`endedAt_updatedAt`, `erasedAt`): the
//! server's `explain` of each has an `IXSCAN` on its index and no `COLLSCAN`.

use domain::{JsonObject, NewSession, ProjectId, SessionId, SessionRepository, Timestamp};
use infra_mongo::{MongoOptions, MongoStore};
use mongodb::bson::{Bson, Document};

/// Every `stage` of the plan tree, with the index name of each `IXSCAN`.
fn stages(plan: &Document, out: &mut Vec<String>) {
    if let Ok(stage) = plan.get_str("stage") {
        match plan.get_str("indexName") {
            Ok(index) => out.push(format!("{stage} {index}")),
            Err(_) => out.push(stage.to_owned()),
        }
    }
    for value in plan.values() {
        match value {
            Bson::Document(d) => stages(d, out),
            Bson::Array(items) => items.iter().for_each(|i| {
                if let Bson::Document(d) = i {
                    stages(d, out)
                }
            }),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_is_served_by_indexes() {
    let uri = testkit::mongo_uri().await;
    let options = MongoOptions::new(uri, testkit::unique_database("sweep"));
    let store = MongoStore::connect(&options).await.expect("connect");
    let project = ProjectId::parse("p1").unwrap();
    for i in 0..50 {
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
    let plans = store.explain_sweep().await.unwrap();
    let indexes = ["endedAt_updatedAt", "endedAt_updatedAt", "erasedAt"];
    assert_eq!(plans.len(), indexes.len());
    for (explained, index) in plans.iter().zip(indexes) {
        let winning = explained
            .get_document("queryPlanner")
            .and_then(|p| p.get_document("winningPlan"))
            .unwrap_or_else(|_| panic!("a winning plan: {explained}"));
        let mut seen = Vec::new();
        stages(winning, &mut seen);
        assert!(seen.contains(&format!("IXSCAN {index}")), "{seen:?}");
        assert!(!seen.iter().any(|s| s == "COLLSCAN"), "{seen:?}");
    }
}
