//! Behaviour specific to the embedded adapter: the file survives reopening, migrations are
//! applied once even when several stores open at the same moment, and bad folders are refused.

use domain::{
    EventId, EventRepository, EventType, JsonObject, NewEvent, NewSession, Order, PageRequest,
    SessionId, SessionRepository, StorageError,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

fn project() -> domain::ProjectId {
    domain::ProjectId::default_project()
}
fn sid() -> SessionId {
    SessionId::parse("s").unwrap()
}

async fn first_page(store: &SqliteStore, limit: u32) -> domain::EventPage {
    let request = PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit,
    };
    store
        .list_events(&project(), &sid(), request)
        .await
        .unwrap()
}

fn event(i: usize, payload: JsonObject) -> NewEvent {
    NewEvent::new(
        EventId::parse(format!("e{i}")).unwrap(),
        EventType::parse("system").unwrap(),
        payload,
    )
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions::new(dir.path().join("nested/folder/sessions.db"));
    let store = SqliteStore::open(&options).unwrap();
    let secret = domain::StoreAdmin::shared_secret(&store).await.unwrap();
    store
        .create_session(
            &project(),
            NewSession::new(sid(), None, None, JsonObject::empty(), None).unwrap(),
        )
        .await
        .unwrap();
    for i in 0..10 {
        store
            .append_event(&project(), &sid(), event(i, JsonObject::empty()))
            .await
            .unwrap();
    }
    drop(store);

    let store = SqliteStore::open(&options).unwrap();
    let session = store.get_session(&project(), &sid()).await.unwrap();
    assert_eq!((session.event_count, session.last_seq), (10, 10));
    let page = first_page(&store, 100).await;
    assert_eq!(page.events.len(), 10);
    assert_eq!(
        domain::StoreAdmin::shared_secret(&store).await.unwrap(),
        secret,
        "the secret lives in the store"
    );
}

/// Instances starting at once on one new file: each opens it, and the migrations are applied
/// once. Several rounds of 12 (the switch to WAL mode meets another opener's lock now and then:
/// `SQLITE_BUSY` without the busy handler, which a single round of 6 showed in about 1 run in 12).
#[test]
fn concurrent_opens_apply_migrations_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let options = SqliteOptions::new(path.clone());
                std::thread::spawn(move || SqliteStore::open(&options).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        // `meta`: the shared secret (0001) and the webhook fan-out's position (0013), once each.
        assert_eq!(counts(&path), (infra_sqlite::MIGRATIONS.len() as i64, 2));
    }
}

/// (rows in schema_migrations, rows in meta)
fn counts(path: &std::path::Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let migrations = conn
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    let meta = conn
        .query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))
        .unwrap();
    (migrations, meta)
}

#[test]
fn an_unusable_folder_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(&SqliteOptions::new(file.join("sessions.db")))
        .err()
        .expect("a file where the folder should be is refused");
    match err {
        StorageError::Unavailable(message) => {
            assert!(message.contains("not-a-folder"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_size_cap_turns_into_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        max_size_bytes: Some(1 << 20),
        ..SqliteOptions::new(dir.path().join("sessions.db"))
    };
    let store = SqliteStore::open(&options).unwrap();
    store
        .create_session(
            &project(),
            NewSession::new(sid(), None, None, JsonObject::empty(), None).unwrap(),
        )
        .await
        .unwrap();
    let big = serde_json::json!({ "blob": "x".repeat(60 * 1024) });
    let mut result = Ok(());
    for i in 0..100 {
        let payload = JsonObject::from_map(big.as_object().unwrap(), usize::MAX).unwrap();
        if let Err(e) = store
            .append_event(&project(), &sid(), event(i, payload))
            .await
        {
            result = Err(e);
            break;
        }
    }
    match result {
        Err(domain::AppendEventError::Storage(StorageError::Unavailable(_))) => {}
        other => panic!("expected unavailable, got {other:?}"),
    }
    // What was acknowledged is all there.
    let session = store.get_session(&project(), &sid()).await.unwrap();
    let page = first_page(&store, 500).await;
    assert_eq!(page.events.len() as u64, session.event_count);
}
