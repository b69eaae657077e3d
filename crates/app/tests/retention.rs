//! The retention sweep erases only what is still expired when it erases (SPEC "Retention",
//! decision 33): a session written between the moment the sweep chose it and its erasure is
//! kept and not counted. On a real SQLite file; the write lands through the sweep's `go_on`
//! hook, which the sweep asks right before each erasure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use app::{Lifecycle, Metrics, Retention, StreamCaps, Tail, sweep};
use domain::{
    EventId, EventType, GetSessionError, JsonObject, NewEvent, NewSession, ProjectId, Repository,
    SessionId, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

fn event(id: &str) -> NewEvent {
    NewEvent::new(
        EventId::parse(id).unwrap(),
        EventType::parse("user_speech").unwrap(),
        JsonObject::empty(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_written_after_the_sweep_chose_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("s.db"))).unwrap();
    let repo: Arc<dyn Repository> = Arc::new(store);
    let project = ProjectId::default_project();
    for id in ["first", "second"] {
        let new = NewSession::new(sid(id), None, None, JsonObject::empty(), None).unwrap();
        repo.create_session(&project, new).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let metrics = Arc::new(Metrics::new());
    let caps = StreamCaps {
        max: 10,
        per_project: 10,
    };
    let tail = Tail::new(repo.clone(), caps, Duration::from_millis(100));
    let lifecycle = Lifecycle::new(repo.clone(), tail, metrics);
    let policy = Retention {
        sessions: Some(Duration::from_millis(10)),
        tombstones: Duration::from_secs(3600),
        every: Duration::from_secs(3600),
    };
    // Right before the first erasure (of whichever session the sweep chose first), both
    // sessions get an event: the sweep already chose them as expired.
    let asked = AtomicUsize::new(0);
    let handle = tokio::runtime::Handle::current();
    let go_on = || {
        if asked.fetch_add(1, Ordering::SeqCst) == 0 {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    for id in ["first", "second"] {
                        repo.append_event(&project, &sid(id), event("late"))
                            .await
                            .unwrap();
                    }
                })
            });
        }
        true
    };
    let swept = sweep(&lifecycle, &policy, Timestamp::now(), go_on)
        .await
        .unwrap();
    assert!(
        asked.load(Ordering::SeqCst) >= 2,
        "the sweep chose both sessions"
    );
    assert_eq!(swept.erased, 0, "nothing erased: both were written since");
    for id in ["first", "second"] {
        let session = repo.get_session(&project, &sid(id)).await;
        assert!(
            !matches!(session, Err(GetSessionError::Erased)),
            "{id} kept"
        );
        assert_eq!(session.unwrap().event_count, 1, "{id} keeps its event");
    }
}
