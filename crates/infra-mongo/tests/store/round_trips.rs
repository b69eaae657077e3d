//! Database round trips per operation, counted with the driver's command monitoring on a real
//! MongoDB-wire server: the common append is one `insert` and the check that its session is
//! still there (one `find` by `_id`), or the `insert` alone within half of `TOMBSTONE_RETENTION`
//! of the session's last sight (decision 44), a page one `find`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::{
    AppendBatch, EventId, EventRepository, EventType, JsonObject, NewEvent, NewSession, Order,
    PageRequest, SessionId, SessionRepository,
};
use infra_mongo::{MongoOptions, MongoStore};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;

/// The names of the commands sent since the last [`Commands::take`], but the reads of the
/// project's webhook endpoints (made at most once per 2 s per instance, whatever the writes:
/// counted apart, see [`Commands::endpoint_reads`]).
#[derive(Clone, Default)]
struct Commands(Arc<Mutex<Vec<String>>>, Arc<Mutex<usize>>);

impl Commands {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn endpoint_reads(&self) -> usize {
        *self.1.lock().unwrap()
    }
}

/// A store on `database` whose commands are counted from now on.
async fn store(database: &str) -> (MongoStore, Commands) {
    store_keeping_tombstones(database, None).await
}

/// [`store`], told that tombstones are kept `kept` (`TOMBSTONE_RETENTION`).
async fn store_keeping_tombstones(
    database: &str,
    kept: Option<Duration>,
) -> (MongoStore, Commands) {
    let commands = Commands::default();
    let seen = commands.clone();
    let mut options = MongoOptions::new(testkit::mongo_uri().await, database);
    options.tombstone_retention = kept;
    options.command_monitor = Some(EventHandler::callback(move |event: CommandEvent| {
        if let CommandEvent::Started(started) = event {
            if started.command.get_str("find") == Ok("webhook_endpoints") {
                *seen.1.lock().unwrap() += 1;
            } else {
                seen.0.lock().unwrap().push(started.command_name);
            }
        }
    }));
    let store = MongoStore::connect(&options).await.expect("connect");
    commands.take();
    (store, commands)
}

fn project() -> domain::ProjectId {
    domain::ProjectId::default_project()
}
fn sid(s: &str) -> SessionId {
    SessionId::parse(s).unwrap()
}

fn new_event(id: &str) -> NewEvent {
    NewEvent::new(
        EventId::parse(id).unwrap(),
        EventType::parse("user_speech").unwrap(),
        JsonObject::from_stored(format!(r#"{{"text":"{id}"}}"#)).unwrap(),
    )
}

fn new_session(id: &str) -> NewSession {
    NewSession::new(sid(id), None, None, JsonObject::empty(), None).unwrap()
}

/// Creates `session` through `store` and appends `event` to it.
async fn create_with_event(store: &MongoStore, session: &str, event: &str) {
    store
        .create_session(&project(), new_session(session))
        .await
        .unwrap();
    store
        .append_event(&project(), &sid(session), new_event(event))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_is_one_insert_and_its_check_and_a_page_one_find() {
    let (store, commands) = store(&testkit::unique_database("trips")).await;
    let started = std::time::Instant::now();
    store
        .create_session(&project(), new_session("s1"))
        .await
        .unwrap();
    assert_eq!(commands.take(), ["insert"]);
    for i in 0..20 {
        let written = store
            .append_event(&project(), &sid("s1"), new_event(&format!("e{i}")))
            .await
            .unwrap();
        assert_eq!((written.replayed, written.value.seq), (false, i + 1));
        assert_eq!(
            commands.take(),
            ["insert", "find"],
            "append {i}: the insert and the check, in the common case"
        );
    }
    let page = PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit: 50,
    };
    let events = store
        .list_events(&project(), &sid("s1"), page)
        .await
        .unwrap();
    assert_eq!(events.events.len(), 20);
    assert_eq!(commands.take(), ["find"], "a page is one round trip");
    // A full page, with events beyond it: still one `find`, and no cursor left open on the
    // server to be killed afterwards.
    let page = PageRequest {
        view: domain::View::All,
        after: Some(5),
        order: Order::Asc,
        limit: 10,
    };
    let events = store
        .list_events(&project(), &sid("s1"), page)
        .await
        .unwrap();
    assert_eq!((events.events.len(), events.has_more), (10, true));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(commands.take(), ["find"], "a full page is one round trip");
    // The project's webhook endpoints: read by the first write, then again only when the
    // copy is 2 s old.
    let most = 1 + started.elapsed().as_secs() as usize / 2;
    let reads = commands.endpoint_reads();
    assert!(
        (1..=most).contains(&reads),
        "{reads} reads of the endpoints"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_did_not_create_the_session_reads_its_top_once() {
    let database = testkit::unique_database("trips");
    let (creator, _) = store(&database).await;
    create_with_event(&creator, "s2", "first").await;
    // A second instance on the same database: it reads the session and its top once, then
    // inserts and checks.
    let (other, commands) = store(&database).await;
    let written = other
        .append_event(&project(), &sid("s2"), new_event("second"))
        .await
        .unwrap();
    assert_eq!(written.value.seq, 2);
    assert_eq!(commands.take(), ["find", "find", "insert", "find"]);
    // The creator's hint is stale now: its insert at seq 2 is refused, and it finds its way.
    let written = creator
        .append_event(&project(), &sid("s2"), new_event("third"))
        .await
        .unwrap();
    assert_eq!(written.value.seq, 3);
    other
        .append_event(&project(), &sid("s2"), new_event("fourth"))
        .await
        .unwrap();
    assert_eq!(
        commands.take()[..],
        ["insert", "find", "find", "find", "insert", "find"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_short_transaction() {
    let database = testkit::unique_database("trips");
    let (first, commands) = store(&database).await;
    first
        .create_session(&project(), new_session("s3"))
        .await
        .unwrap();
    first
        .append_event(&project(), &sid("s3"), new_event("first"))
        .await
        .unwrap();
    commands.take();
    let batch = |prefix: &str| {
        AppendBatch::new(
            (0..100)
                .map(|i| new_event(&format!("{prefix}{i}")))
                .collect(),
            None,
        )
        .unwrap()
    };
    let written = first
        .append_events(&project(), &sid("s3"), batch("b"))
        .await
        .unwrap();
    assert_eq!(written.len(), 100);
    assert_eq!(
        commands.take(),
        ["find", "insert", "commitTransaction", "find"],
        "with the lane's hint: the batch's ids, the insert of every new event, the commit, the check"
    );
    // Another instance has no hint: it reads the session and its top first.
    let (other, commands) = store(&database).await;
    let written = other
        .append_events(&project(), &sid("s3"), batch("c"))
        .await
        .unwrap();
    assert_eq!(written[0].value.seq, 102);
    assert_eq!(
        commands.take(),
        [
            "find",
            "find",
            "find",
            "insert",
            "commitTransaction",
            "find"
        ]
    );
}

/// Decision 44: with `TOMBSTONE_RETENTION` known, an insert within half of it of the session
/// document's last read needs no check: one round trip. Past that window the check comes back,
/// and a check made opens the window again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_half_the_tombstone_retention_an_append_is_one_insert() {
    let database = testkit::unique_database("trips");
    let kept = Some(Duration::from_secs(3_600));
    let (store, commands) = store_keeping_tombstones(&database, kept).await;
    store
        .create_session(&project(), new_session("s1"))
        .await
        .unwrap();
    assert_eq!(commands.take(), ["insert"]);
    for i in 1..=10 {
        store
            .append_event(&project(), &sid("s1"), new_event(&format!("e{i}")))
            .await
            .unwrap();
        assert_eq!(commands.take(), ["insert"], "append {i}: no check");
    }

    let kept = Some(Duration::from_secs(4));
    let (store, commands) = store_keeping_tombstones(&database, kept).await;
    create_with_event(&store, "s2", "e1").await;
    assert_eq!(commands.take(), ["insert", "insert"], "within 2 s");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    for (i, expected) in [(2, vec!["insert", "find"]), (3, vec!["insert"])] {
        store
            .append_event(&project(), &sid("s2"), new_event(&format!("e{i}")))
            .await
            .unwrap();
        assert_eq!(commands.take(), expected, "append {i}");
    }
}
