//! Decision 44: an instance trusts a session document it saw live for half of
//! `TOMBSTONE_RETENTION` (no check after its inserts). A session erased and purged by another
//! instance is purged no sooner than `TOMBSTONE_RETENTION` after its erasure, so an instance
//! whose last sight of it is that old checks again, finds it gone, and takes its insert back:
//! nothing is stored and the append is 404. Within the window the erasure's seals and blanks,
//! still there, refuse the insert on the unique index: 410.

use std::time::Duration;

use conformance::fixtures::{new_event, project, sid};
use domain::{
    AppendEventError, EraseIf, EventRepository, JsonObject, NewSession, Order, PageRequest,
    SessionRepository, Timestamp, View,
};
use infra_mongo::{MongoOptions, MongoStore};
use serde_json::json;

const KEPT: Duration = Duration::from_secs(2);

async fn instance(database: &str) -> MongoStore {
    let mut options = MongoOptions::new(testkit::mongo_uri().await, database);
    options.tombstone_retention = Some(KEPT);
    MongoStore::connect(&options).await.expect("connect")
}

async fn append(store: &MongoStore, session: &str, id: &str) -> Result<u64, AppendEventError> {
    let new = new_event(id, json!({}));
    let written = store.append_event(&project(), &sid(session), new).await;
    written.map(|w| w.value.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_trusts_a_session_no_longer_than_its_erasure_and_purge_take() {
    let database = testkit::unique_database("trust");
    let (first, second) = (instance(&database).await, instance(&database).await);
    let p = project();
    for session in ["s", "t"] {
        let new = NewSession::new(sid(session), None, None, JsonObject::empty(), None).unwrap();
        first.create_session(&p, new).await.unwrap();
        append(&first, session, "e1").await.expect("stored");
        second
            .erase_session(&p, &sid(session), Timestamp::now(), EraseIf::Always)
            .await
            .unwrap();
    }
    // Within the first instance's window: refused by the erasure's seal, not by a check.
    assert_eq!(
        append(&first, "t", "e2").await,
        Err(AppendEventError::SessionErased)
    );

    // Once the tombstones are `TOMBSTONE_RETENTION` old they may go, and go; the first
    // instance's hint of `s` is that old too.
    tokio::time::sleep(KEPT + Duration::from_millis(100)).await;
    let cutoff = Timestamp::from_millis(Timestamp::now().millis() - 2_000).unwrap();
    assert_eq!(second.purge_tombstones(cutoff, 100).await, Ok(2));
    assert_eq!(
        append(&first, "s", "e2").await,
        Err(AppendEventError::SessionNotFound)
    );

    let new = NewSession::new(sid("s"), None, None, JsonObject::empty(), None).unwrap();
    second.create_session(&project(), new).await.unwrap();
    let page = PageRequest {
        view: View::All,
        after: None,
        order: Order::Asc,
        limit: 10,
    };
    let events = second.list_events(&project(), &sid("s"), page).await;
    assert_eq!(events.unwrap().events, Vec::new(), "nothing of it was kept");
}
