//! Erased and redacted content is physically gone from the database files as soon as the
//! erasure or the redaction has returned (the store answers only after a `TRUNCATE` checkpoint
//! emptied the WAL): a unique marker that was in a payload is in none of the files (`*.db`,
//! `*.db-wal`, `*.db-shm`), while the content of the other sessions still is (the search finds
//! what is there).

use std::path::Path;
use std::time::{Duration, Instant};

use conformance::fixtures::new_event;
use domain::{
    EraseIf, EventId, EventRepository, JsonObject, NewSession, ProjectId, SessionId,
    SessionRepository, StoreAdmin, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;

fn project() -> ProjectId {
    ProjectId::default_project()
}

/// How many of the database's files hold `marker`.
fn files_holding(db: &Path, marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            found.push(path);
        }
    }
    found
}

/// Right after the call returned: no file holds `marker`.
fn gone(db: &Path, marker: &str) {
    let holding = files_holding(db, marker);
    assert!(holding.is_empty(), "{marker} still readable in {holding:?}");
}

async fn session(store: &SqliteStore, id: &str, texts: &[(&str, &str)]) -> SessionId {
    let id = SessionId::parse(id).unwrap();
    let new = NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
    store.create_session(&project(), new).await.unwrap();
    for (event_id, text) in texts {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_and_redacted_content_is_in_no_database_file_once_the_call_returned() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&db)).unwrap();
    let erased_marker = "ERASE-ME-7f3a9c01d2";
    let redacted_marker = "REDACT-ME-5b8e2d44a1";
    let kept_marker = "KEEP-ME-0c6f1e93b7";
    let filler: Vec<(String, String)> = (0..200)
        .map(|i| (format!("f{i}"), format!("filler {i} {}", "x".repeat(200))))
        .collect();
    let mut texts: Vec<(&str, &str)> = filler
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    texts.push(("secret", erased_marker));
    let victim = session(&store, "victim", &texts).await;
    let other = session(
        &store,
        "other",
        &[("card", redacted_marker), ("fine", kept_marker)],
    )
    .await;
    // Everything is in the files now (WAL or database), as the search shows.
    let deadline = Instant::now() + Duration::from_secs(5);
    while files_holding(&db, kept_marker).is_empty() || files_holding(&db, erased_marker).is_empty()
    {
        assert!(Instant::now() < deadline, "the markers were never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the checkpoint copy them into the database file too (the worst case: two copies).
    tokio::time::sleep(Duration::from_millis(600)).await;

    store
        .erase_session(&project(), &victim, Timestamp::now(), EraseIf::Always)
        .await
        .unwrap();
    gone(&db, erased_marker);

    store
        .redact_event(
            &project(),
            &other,
            &EventId::parse("card").unwrap(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    gone(&db, redacted_marker);

    assert!(
        !files_holding(&db, kept_marker).is_empty(),
        "the content of what was neither erased nor redacted is still there"
    );
    store.close().await;
    assert!(files_holding(&db, erased_marker).is_empty());
    assert!(files_holding(&db, redacted_marker).is_empty());
}
