//! Erased and redacted content is in no document of the database: after an erasure (the
//! session's metadata and every payload) and a redaction (one payload), a unique marker that was
//! in them is in none of the bytes of any document of any collection, while the content of a
//! session that was neither erased nor redacted still is (the search finds what is there). What
//! the storage engine keeps below the documents until compaction: `docs/privacy.md`.

use conformance::fixtures::new_event;
use domain::{
    EraseIf, EventId, EventRepository, JsonObject, NewSession, ProjectId, SessionId,
    SessionRepository, Timestamp,
};
use futures_util::TryStreamExt;
use infra_mongo::{MongoOptions, MongoStore};
use mongodb::bson::{RawDocumentBuf, doc};
use serde_json::json;

fn project() -> ProjectId {
    ProjectId::default_project()
}

/// A session whose metadata and first event hold `marker`, with a second event `e2`.
async fn session(store: &MongoStore, id: &str, marker: &str) -> SessionId {
    let id = SessionId::parse(id).unwrap();
    let metadata = JsonObject::from_stored(format!(r#"{{"note":"{marker}"}}"#)).unwrap();
    let new = NewSession::new(id.clone(), None, None, metadata, None).unwrap();
    store.create_session(&project(), new).await.unwrap();
    for (event_id, text) in [("e1", marker), ("e2", "nothing to hide")] {
        store
            .append_event(
                &project(),
                &id,
                new_event(event_id, json!({ "text": text })),
            )
            .await
            .unwrap();
    }
    id
}

/// The collections of `database` holding `marker` somewhere in a document's bytes.
async fn collections_holding(uri: &str, database: &str, marker: &str) -> Vec<String> {
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let db = client.database(database);
    let mut holding = Vec::new();
    for name in db.list_collection_names().await.unwrap() {
        let documents: Vec<RawDocumentBuf> = db
            .collection::<RawDocumentBuf>(&name)
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let found = documents.iter().any(|d| {
            d.as_bytes()
                .windows(marker.len())
                .any(|w| w == marker.as_bytes())
        });
        if found {
            holding.push(name);
        }
    }
    holding.sort();
    holding
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_and_redacted_content_is_in_no_document() {
    let uri = testkit::mongo_uri().await;
    let database = testkit::unique_database("erased_content");
    let store = MongoStore::connect(&MongoOptions::new(uri.clone(), &database))
        .await
        .expect("connect");
    let (erased, redacted, kept) = (
        "marker-erased-7c1f0a",
        "marker-redacted-93b2de",
        "marker-kept-5e8a41",
    );
    let a = session(&store, "erase-me", erased).await;
    let b = session(&store, "redact-me", redacted).await;
    session(&store, "keep-me", kept).await;
    for marker in [erased, redacted, kept] {
        assert_eq!(
            collections_holding(&uri, &database, marker).await,
            ["events", "sessions"],
            "{marker} is stored before"
        );
    }

    store
        .erase_session(&project(), &a, Timestamp::now(), EraseIf::Always)
        .await
        .unwrap();
    store
        .redact_event(
            &project(),
            &b,
            &EventId::parse("e1").unwrap(),
            Timestamp::now(),
        )
        .await
        .unwrap();

    assert!(
        collections_holding(&uri, &database, erased)
            .await
            .is_empty(),
        "erased content remains"
    );
    // The redacted payload is gone; the session's metadata was not redacted.
    assert_eq!(
        collections_holding(&uri, &database, redacted).await,
        ["sessions"]
    );
    assert_eq!(
        collections_holding(&uri, &database, kept).await,
        ["events", "sessions"]
    );
}
