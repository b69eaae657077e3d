//! What an erasure costs (`docs/performance.md`, "An erasure waits for the WAL to be emptied"):
//! 400 sessions of 10 events of ~210 bytes on a fresh store file; 200 erased one after the
//! other, then 200 sixteen at a time; prints the latencies and the erasures per second.
//!
//! `cargo run --release -p infra-sqlite --example erase_cost`

use std::time::{Duration, Instant};

use domain::{
    EraseIf, EventId, EventRepository, EventType, JsonObject, NewEvent, NewSession, ProjectId,
    SessionId, SessionRepository, StoreAdmin, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

fn project() -> ProjectId {
    ProjectId::default_project()
}

async fn session(store: &SqliteStore, id: &str, texts: &[(&str, &str)]) -> SessionId {
    let id = SessionId::parse(id).unwrap();
    let new = NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
    store.create_session(&project(), new).await.unwrap();
    for (event_id, text) in texts {
        let payload =
            JsonObject::from_stored(serde_json::json!({ "text": text }).to_string()).unwrap();
        let event = NewEvent::new(
            EventId::parse(*event_id).unwrap(),
            EventType::parse("user_speech").unwrap(),
            payload,
        );
        store.append_event(&project(), &id, event).await.unwrap();
    }
    id
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&db)).unwrap();
    let texts: Vec<(String, String)> = (0..10)
        .map(|i| (format!("e{i}"), format!("text {i} {}", "y".repeat(200))))
        .collect();
    let texts: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let mut ids = Vec::new();
    for i in 0..400 {
        ids.push(session(&store, &format!("s{i}"), &texts).await);
    }
    let (one_by_one, concurrent) = ids.split_at(200);

    let mut took = Vec::new();
    let started = Instant::now();
    for id in one_by_one {
        let t = Instant::now();
        let erased = store
            .erase_session(&project(), id, Timestamp::now(), EraseIf::Always)
            .await;
        took.push(t.elapsed());
        assert!(!erased.unwrap().replayed);
    }
    let total = started.elapsed();
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "one at a time: p50 {:.2} ms, p99 {:.2} ms, {:.0} erasures/s",
        ms(took[took.len() / 2]),
        ms(took[took.len() * 99 / 100]),
        one_by_one.len() as f64 / total.as_secs_f64()
    );

    let started = Instant::now();
    for chunk in concurrent.chunks(16) {
        let calls = chunk.iter().map(|id| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .erase_session(&project(), &id, Timestamp::now(), EraseIf::Always)
                    .await
            })
        });
        for call in calls.collect::<Vec<_>>() {
            assert!(!call.await.unwrap().unwrap().replayed);
        }
    }
    println!(
        "16 at a time: {:.0} erasures/s",
        concurrent.len() as f64 / started.elapsed().as_secs_f64()
    );
    store.close().await;
}
