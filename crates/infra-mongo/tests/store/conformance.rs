//! The shared adapter conformance suite, on a real MongoDB-wire server; a database per test.

use std::sync::Arc;

use conformance::Fixture;
use infra_mongo::{MongoOptions, MongoStore};

async fn fixture() -> Fixture {
    let uri = testkit::mongo_uri().await;
    let options = MongoOptions::new(uri, testkit::unique_database("conf"));
    let store = MongoStore::connect(&options)
        .await
        .expect("connect to MongoDB");
    Fixture {
        repo: Arc::new(store),
        guard: Box::new(()),
    }
}

conformance::conformance_suite!(fixture());
