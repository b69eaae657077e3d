//! The shared adapter conformance suite, on a real MongoDB-wire server; a database per test.

use std::sync::Arc;

use conformance::Fixture;
use domain::Repository;
use infra_mongo::{MongoOptions, MongoStore};

async fn fixture() -> Fixture {
    let uri = testkit::mongo_uri().await;
    let options = MongoOptions::new(uri, testkit::unique_database("conf"));
    let store = MongoStore::connect(&options)
        .await
        .expect("connect to MongoDB");
    Fixture {
        repo: Arc::new(store),
        // A second store on the same database, as a second instance would connect.
        other: Box::new(move || {
            let options = options.clone();
            Box::pin(async move {
                Arc::new(MongoStore::connect(&options).await.expect("connect again"))
                    as Arc<dyn Repository>
            })
        }),
        guard: Box::new(()),
    }
}

conformance::conformance_suite!(fixture());
