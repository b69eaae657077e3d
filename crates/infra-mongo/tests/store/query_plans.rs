//! Every query the adapter sends is served by an index. A store does every kind of operation
//! while the driver's command monitoring records each command it sends; each command with a
//! query (`find`, `aggregate`, the filter of an `update` or a `delete`) is explained by the
//! server (`queryPlanner`): its winning plan has an `IXSCAN` on the expected index, never a
//! `COLLSCAN` (no blocking `SORT` either, where the server reports sorts truly, see
//! `plans::sorts_reported_truly`). The table in `docs/mongodb.md` ("Every query on its index")
//! lists the same queries.
//!
//! No query carries a `hint`: SecantusDB walks a hinted index whole (every session's documents)
//! while its `explain` reports an `IXSCAN`, so a hint would hide the very cost measured here.
//! The filter alone must lead the planner to the index. A write's filter is explained as the
//! `find` of the same filter (SecantusDB explains only `find` and `aggregate`; both servers plan
//! a write's filter as a `find`'s).
//!
//! Lists of sessions are `list_plans.rs`'s.

use crate::plans;

use std::sync::{Arc, Mutex};

use conformance::fixtures::{new_event, project, sid};
use domain::{
    AppendBatch, CompleteRequest, EraseIf, EventId, EventRepository, KeyRepository, NewApiKey,
    NewSession, Order, PageRequest, Scope, SessionRepository, StoreAdmin, Timestamp, Watch, keys,
};
use domain::{
    Destinations, WebhookChange, WebhookDeliveries, WebhookEndpoint, WebhookEvents, WebhookId,
    WebhookPatch, WebhookRepository, WebhookSecret, WebhookUrl, webhook,
};
use infra_mongo::{MongoOptions, MongoStore};
use mongodb::bson::{Bson, Document, doc};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use serde_json::json;

const BY_KEY: &str = "project_sessionId_unique";
const BY_SEQ: &str = "project_sessionId_seq_unique";
const BY_EVENT_ID: &str = "project_sessionId_eventId_unique";
const BY_CURRENT: &str = "project_sessionId_supersededBy_seq";
/// The check after an insert of events: the session document by its `_id`.
const CHECK: (&str, &str) = ("find sessions {_id}", "_id_");

/// The commands a store sent, recorded by the driver's command monitoring.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<Document>>>);

impl Sent {
    fn take(&self) -> Vec<Document> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// One query the store sent: what it is, and the `explain` command of it.
struct Query {
    what: String,
    explain: Document,
}

/// The queries among `commands`: each `find` and `aggregate` as sent (without the driver's
/// session and cluster fields), each statement of an `update` or `delete` as a `find` of its
/// filter. Inserts, commits and `ping`s carry no query.
fn queries(commands: Vec<Document>) -> Vec<Query> {
    let mut found = Vec::new();
    for command in commands {
        let Some((name, Bson::String(collection))) = command.iter().next() else {
            continue;
        };
        let (name, collection) = (name.clone(), collection.clone());
        let copy = |keys: &[&str]| {
            let mut explained = doc! { name.as_str(): collection.as_str() };
            for key in keys {
                if let Some(value) = command.get(*key) {
                    explained.insert(*key, value.clone());
                }
            }
            explained
        };
        let statements = |field: &str, filter: &str| -> Vec<Document> {
            command
                .get_array(field)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Bson::as_document)
                        .map(|s| doc! { "find": collection.as_str(), "filter": s.get_document(filter).cloned().unwrap_or_default() })
                        .collect()
                })
                .unwrap_or_default()
        };
        let explained = match name.as_str() {
            "find" => vec![copy(&["filter", "sort", "projection", "limit", "hint"])],
            "aggregate" => {
                let mut aggregate = copy(&["pipeline", "hint"]);
                aggregate.insert("cursor", Document::new());
                vec![aggregate]
            }
            "update" => statements("updates", "q"),
            "delete" => statements("deletes", "q"),
            // Explained as the `find` of its query.
            "findAndModify" => {
                let query = command.get_document("query").cloned().unwrap_or_default();
                vec![doc! { "find": collection.as_str(), "filter": query }]
            }
            _ => vec![],
        };
        for explain in explained {
            let shape = explain
                .get_document("filter")
                .map(|f| f.keys().cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_else(|_| "pipeline".into());
            found.push(Query {
                what: format!("{name} {collection} {{{shape}}}"),
                explain,
            });
        }
    }
    found
}

/// A store on a fresh database whose commands are recorded, and what explains them.
struct Probe {
    store: MongoStore,
    sent: Sent,
    db: mongodb::Database,
    sorts_reported_truly: bool,
}

impl Probe {
    async fn new() -> Self {
        let uri = testkit::mongo_uri().await;
        let database = testkit::unique_database("queries");
        let sent = Sent::default();
        let seen = sent.clone();
        let mut options = MongoOptions::new(uri.clone(), database.clone());
        options.command_monitor = Some(EventHandler::callback(move |event: CommandEvent| {
            if let CommandEvent::Started(started) = event {
                seen.0.lock().unwrap().push(started.command);
            }
        }));
        let store = MongoStore::connect(&options).await.expect("connect");
        sent.take();
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        Self {
            store,
            sent,
            db: client.database(&database),
            sorts_reported_truly: plans::sorts_reported_truly(&uri).await,
        }
    }

    /// The queries sent since the last call, each with the index that serves it (sorted),
    /// checked: no hint, one `IXSCAN`, no `COLLSCAN`, no blocking `SORT` (where reported
    /// truly). `operation` names them in a failure.
    async fn served(&self, operation: &str) -> Vec<(String, String)> {
        let mut served = Vec::new();
        for query in queries(self.sent.take()) {
            let what = format!("{operation}: {}\n{}", query.what, query.explain);
            assert!(!query.explain.contains_key("hint"), "a hint: {what}");
            let explained = self
                .db
                .run_command(doc! { "explain": query.explain.clone(), "verbosity": "queryPlanner" })
                .await
                .unwrap_or_else(|e| panic!("explain: {e}\n{what}"));
            let seen = plans::winning_stages(&explained);
            let what = format!("{what}\n{seen:?}");
            assert!(!seen.iter().any(|s| s == "COLLSCAN"), "a COLLSCAN: {what}");
            if self.sorts_reported_truly {
                assert!(!seen.iter().any(|s| s == "SORT"), "a blocking sort: {what}");
            }
            let scans: Vec<&str> = seen
                .iter()
                .filter_map(|s| s.strip_prefix("IXSCAN "))
                .collect();
            assert_eq!(scans.len(), 1, "one index scan: {what}");
            served.push((query.what, scans[0].to_owned()));
        }
        // Reads joined in one step (a session's document and its top) go out in either order.
        served.sort();
        served
    }
}

/// `(query, index)` rows, as [`Probe::served`] answers them.
fn rows(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = expected
        .iter()
        .map(|(what, index)| ((*what).to_owned(), (*index).to_owned()))
        .collect();
    rows.sort();
    rows
}

fn new_session(id: &str) -> NewSession {
    NewSession::new(sid(id), None, None, domain::JsonObject::empty(), None).unwrap()
}

/// `served` without the reads of the project's webhook endpoints that writes make (at most one
/// per 2 s and instance: how many fall into a test's writes depends on its pace), each checked
/// to be on the endpoints' project index, and at least one of them there.
fn without_endpoint_reads(served: Vec<(String, String)>) -> Vec<(String, String)> {
    let (reads, rest): (Vec<_>, Vec<_>) = served
        .into_iter()
        .partition(|(what, _)| what.starts_with("find webhook_endpoints"));
    assert!(!reads.is_empty(), "the writes read the project's endpoints");
    for (what, index) in &reads {
        assert_eq!(
            (what.as_str(), index.as_str()),
            (
                "find webhook_endpoints {project}",
                "project_createdAt_webhookId"
            )
        );
    }
    rest
}

fn page(order: Order, after: Option<u64>) -> PageRequest {
    PageRequest {
        view: domain::View::All,
        after,
        order,
        limit: 10,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_and_write_of_sessions_and_events_is_on_its_index() {
    let probe = Probe::new().await;
    let store = &probe.store;
    let p = project();
    store.create_session(&p, new_session("s1")).await.unwrap();
    for i in 0..30 {
        let event = new_event(&format!("e{i}"), json!({ "n": i }));
        store.append_event(&p, &sid("s1"), event).await.unwrap();
    }
    // Created and written through this store: inserts (its lane knows the top), each checked.
    let served = without_endpoint_reads(probe.served("create, appends").await);
    assert_eq!(served, rows(&[CHECK; 30]));

    let session_read = [
        ("find sessions {project,sessionId}", BY_KEY),
        ("find events {project,sessionId,seq}", BY_SEQ),
    ];
    let created = store.get_session(&p, &sid("s1")).await.unwrap().created_at;
    assert_eq!(probe.served("session read").await, rows(&session_read));

    // A page is its range read alone: its events tell the session's incarnation.
    let page_read = [("find events {project,sessionId,seq}", BY_SEQ)];
    for (order, after) in [
        (Order::Asc, None),
        (Order::Asc, Some(12)),
        (Order::Desc, None),
        (Order::Desc, Some(25)),
    ] {
        let events = store
            .list_events(&p, &sid("s1"), page(order, after))
            .await
            .unwrap();
        assert_eq!(events.events.len(), 10);
        assert_eq!(events.incarnation, created);
        let what = format!("page {order:?} after {after:?}");
        assert_eq!(probe.served(&what).await, rows(&page_read));
    }
    // An empty page past the end: the session is looked up once more.
    let events = store
        .list_events(&p, &sid("s1"), page(Order::Asc, Some(30)))
        .await
        .unwrap();
    assert!(events.events.is_empty());
    assert_eq!(
        probe.served("empty page").await,
        rows(&[
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("find sessions {project,sessionId}", BY_KEY),
        ])
    );

    let by_id = [("find events {project,sessionId,eventId}", BY_EVENT_ID)];
    store
        .get_event(&p, &sid("s1"), &EventId::parse("e3").unwrap())
        .await
        .unwrap();
    assert_eq!(probe.served("event by id").await, rows(&by_id));

    let batch = AppendBatch::new(
        vec![
            new_event("b1", json!({})),
            new_event("e4", json!({ "n": 4 })),
        ],
        None,
    )
    .unwrap();
    store.append_events(&p, &sid("s1"), batch).await.unwrap();
    assert_eq!(probe.served("batch").await, rows(&[by_id[0], CHECK]));

    store
        .redact_event(
            &p,
            &sid("s1"),
            &EventId::parse("e5").unwrap(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        probe.served("redaction").await,
        rows(&[
            ("find events {project,sessionId,eventId}", BY_EVENT_ID),
            ("update events {project,sessionId,eventId}", BY_EVENT_ID),
        ])
    );

    // A correction: the ids and the target read at once, the target updated in the
    // transaction with the insert, the insert checked.
    let correction =
        new_event("c1", json!({})).with_supersedes(Some(EventId::parse("e6").unwrap()));
    store
        .append_event(&p, &sid("s1"), correction)
        .await
        .unwrap();
    assert_eq!(
        probe.served("correction").await,
        rows(&[
            by_id[0],
            ("update events {project,sessionId,eventId}", BY_EVENT_ID),
            CHECK,
        ])
    );
    // `view=current` pages: a range of their index, whatever the order and position.
    for (order, after, shape) in [
        (Order::Asc, None, "{project,sessionId,supersededBy}"),
        (Order::Asc, Some(3), "{project,sessionId,supersededBy,seq}"),
        (Order::Desc, None, "{project,sessionId,supersededBy}"),
        (
            Order::Desc,
            Some(20),
            "{project,sessionId,supersededBy,seq}",
        ),
    ] {
        let request = PageRequest {
            view: domain::View::Current,
            ..page(order, after)
        };
        let events = store.list_events(&p, &sid("s1"), request).await.unwrap();
        assert_eq!(events.events.len(), 10);
        assert!(events.events.iter().all(|e| e.event_id.as_str() != "e6"));
        let what = format!("current page {order:?} after {after:?}");
        assert_eq!(
            probe.served(&what).await,
            rows(&[(&format!("find events {shape}"), BY_CURRENT)])
        );
    }

    let watches = [
        Watch {
            project: p.clone(),
            session: sid("s1"),
            known: 3,
        },
        Watch {
            project: p.clone(),
            session: sid("s2"),
            known: 0,
        },
    ];
    store.changed_sessions(&watches).await.unwrap();
    changed_sessions_branches(&probe).await;

    store
        .complete_session(&p, &sid("s1"), CompleteRequest::new(None, None).unwrap())
        .await
        .unwrap();
    assert_eq!(
        probe.served("complete").await,
        rows(&[
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("update sessions {project,sessionId}", BY_KEY),
        ])
    );
    // A page that reaches the seal: the seal is read with the events and left out.
    let events = store
        .list_events(&p, &sid("s1"), page(Order::Desc, None))
        .await
        .unwrap();
    assert_eq!(events.events[0].seq, 32);
    assert_eq!(
        probe.served("page of a sealed session").await,
        rows(&page_read)
    );

    // Events stored before they carried it: the page reads the session's document too.
    probe
        .db
        .collection::<Document>("events")
        .update_many(
            doc! { "seq": { "$lte": 5 } },
            doc! { "$unset": { "incarnation": "" } },
        )
        .await
        .unwrap();
    probe.served("events made older").await;
    let older = store
        .list_events(&p, &sid("s1"), page(Order::Asc, None))
        .await
        .unwrap();
    assert_eq!(older.incarnation, created);
    assert_eq!(
        probe.served("page of older events").await,
        rows(&[
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("find sessions {project,sessionId}", BY_KEY),
        ])
    );

    store
        .erase_session(&p, &sid("s1"), Timestamp::now(), EraseIf::Always)
        .await
        .unwrap();
    assert_eq!(
        probe.served("erasure").await,
        rows(&[
            ("update sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("update events {project,sessionId,seq}", BY_SEQ),
        ])
    );
    // Every method of an erased session: the key read, then the tombstone's.
    store.get_session(&p, &sid("s1")).await.unwrap_err();
    assert_eq!(
        probe.served("read of an erased session").await,
        rows(&[
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("find sessions {project,sessionId}", BY_KEY),
        ])
    );
}

/// `changed_sessions` asks about every watch in one aggregation: a `$match` of one index range
/// per watch (`$or`). MongoDB plans it as an `OR` of `IXSCAN`s; SecantusDB plans no `$or` on
/// an index (it scans the collection: the open limit written in `docs/mongodb.md`), so there
/// each range is explained as its own `find`.
async fn changed_sessions_branches(probe: &Probe) {
    let sent = probe.sent.take();
    let aggregate = sent
        .iter()
        .find(|c| c.contains_key("aggregate"))
        .expect("an aggregation");
    let pipeline = aggregate.get_array("pipeline").unwrap();
    let branches = pipeline[0]
        .as_document()
        .and_then(|m| m.get_document("$match").ok())
        .and_then(|m| m.get_array("$or").ok())
        .expect("a $match of $or");
    assert_eq!(branches.len(), 2);
    if probe.sorts_reported_truly {
        probe.sent.0.lock().unwrap().extend(sent.clone());
        let served = probe.served("changed sessions").await;
        assert_eq!(served, rows(&[("aggregate events {pipeline}", BY_SEQ)]));
        return;
    }
    for branch in branches {
        let filter = branch.as_document().unwrap().clone();
        probe
            .sent
            .0
            .lock()
            .unwrap()
            .push(doc! { "find": "events", "filter": filter });
    }
    assert_eq!(
        probe.served("changed sessions, each range").await,
        rows(&[
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("find events {project,sessionId,seq}", BY_SEQ),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_without_a_hint_reads_the_top_on_its_index() {
    let probe = Probe::new().await;
    let p = project();
    // Created by another instance: this store's lane has no hint of the top.
    let creator = MongoStore::connect(&MongoOptions::new(
        testkit::mongo_uri().await,
        probe.db.name(),
    ))
    .await
    .unwrap();
    creator.create_session(&p, new_session("s2")).await.unwrap();
    creator
        .append_event(&p, &sid("s2"), new_event("first", json!({})))
        .await
        .unwrap();
    probe
        .store
        .append_event(&p, &sid("s2"), new_event("second", json!({})))
        .await
        .unwrap();
    assert_eq!(
        without_endpoint_reads(probe.served("append without a hint").await),
        rows(&[
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            CHECK,
        ])
    );
    let batch = AppendBatch::new(vec![new_event("third", json!({}))], Some(2)).unwrap();
    creator.append_events(&p, &sid("s2"), batch).await.unwrap();
    let batch = AppendBatch::new(vec![new_event("fourth", json!({}))], Some(3)).unwrap();
    probe
        .store
        .append_events(&p, &sid("s2"), batch)
        .await
        .unwrap();
    assert_eq!(
        probe.served("batch with a stale hint").await,
        rows(&[
            ("find events {project,sessionId,eventId}", BY_EVENT_ID),
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("find events {project,sessionId,eventId}", BY_EVENT_ID),
            CHECK,
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_into_a_session_that_is_gone_are_on_their_indexes() {
    let probe = Probe::new().await;
    let p = project();
    probe
        .store
        .create_session(&p, new_session("s3"))
        .await
        .unwrap();
    probe
        .store
        .append_event(&p, &sid("s3"), new_event("first", json!({})))
        .await
        .unwrap();
    // Another instance erases the session and purges its tombstone: the probe's hint is stale.
    let other = MongoStore::connect(&MongoOptions::new(
        testkit::mongo_uri().await,
        probe.db.name(),
    ))
    .await
    .unwrap();
    other
        .erase_session(&p, &sid("s3"), Timestamp::now(), EraseIf::Always)
        .await
        .unwrap();
    let later = Timestamp::from_millis(Timestamp::now().millis() + 1_000).unwrap();
    assert_eq!(other.purge_tombstones(later, 10).await.unwrap(), 1);
    probe.sent.take();
    probe
        .store
        .append_event(&p, &sid("s3"), new_event("second", json!({})))
        .await
        .unwrap_err();
    assert_eq!(
        probe.served("append into a session that is gone").await,
        rows(&[
            CHECK,
            ("delete events {_id}", "_id_"),
            ("find sessions {project,sessionId}", BY_KEY),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_and_the_purge_are_on_their_indexes() {
    let probe = Probe::new().await;
    let p = project();
    let store = &probe.store;
    for id in ["kept", "gone"] {
        store.create_session(&p, new_session(id)).await.unwrap();
        store
            .append_event(&p, &sid(id), new_event("e1", json!({})))
            .await
            .unwrap();
    }
    store
        .erase_session(&p, &sid("gone"), Timestamp::now(), EraseIf::Always)
        .await
        .unwrap();
    probe.sent.take();
    let later = Timestamp::from_millis(Timestamp::now().millis() + 60_000).unwrap();
    let expired = store.expired_sessions(later, 10).await.unwrap();
    assert_eq!(expired, [(p.clone(), sid("kept"))]);
    assert_eq!(
        probe.served("expired sessions").await,
        rows(&[
            ("find sessions {updatedAt}", "updatedAt"),
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
        ])
    );
    // Its erasure by retention: the session and its top read, then (in one transaction) the
    // seal above that top and the tombstone in place of the document read.
    store
        .erase_session(
            &p,
            &sid("kept"),
            Timestamp::now(),
            EraseIf::ExpiredBefore(later),
        )
        .await
        .unwrap();
    assert_eq!(
        probe.served("erasure by retention").await,
        rows(&[
            ("find sessions {project,sessionId}", BY_KEY),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("update sessions {_id}", "_id_"),
            ("find events {project,sessionId,seq}", BY_SEQ),
            ("update events {project,sessionId,seq}", BY_SEQ),
        ])
    );
    assert_eq!(store.purge_tombstones(later, 10).await.unwrap(), 2);
    assert_eq!(
        probe.served("purge").await,
        rows(&[
            ("find sessions {erasedAt}", "erasedAt"),
            ("delete events {project,sessionId,seq}", BY_SEQ),
            ("delete sessions {_id}", "_id_"),
            ("delete events {project,sessionId,seq}", BY_SEQ),
            ("delete sessions {_id}", "_id_"),
        ])
    );
    store.shared_secret().await.unwrap();
    assert_eq!(
        probe.served("shared secret").await,
        rows(&[("find meta {_id}", "_id_")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lookups_are_on_their_indexes() {
    let probe = Probe::new().await;
    let store = &probe.store;
    let new = NewApiKey::new(
        project(),
        [Scope::Read].into_iter().collect(),
        None,
        None,
        Timestamp::now(),
    )
    .unwrap();
    let (key, _) = new.issue(
        &[7; keys::ID_BYTES],
        &[8; keys::SECRET_BYTES],
        Timestamp::now(),
    );
    store.create_key(&key).await.unwrap();
    store.find_key(&key.id).await.unwrap().expect("found");
    store.list_keys(Some(&project())).await.unwrap();
    store.revoke_key(&key.id, Timestamp::now()).await.unwrap();
    assert_eq!(
        probe.served("keys").await,
        rows(&[
            ("find api_keys {keyId}", "keyId_unique"),
            ("find api_keys {project}", "project_createdAt_keyId"),
            ("update api_keys {keyId}", "keyId_unique"),
            ("find api_keys {keyId}", "keyId_unique"),
        ])
    );
}

/// An endpoint of the project subscribed to `kind`.
fn endpoint(kinds: &[&str]) -> WebhookEndpoint {
    WebhookEndpoint::new(
        WebhookId::issue(&[7; webhook::endpoint::ID_BYTES]),
        project(),
        WebhookUrl::parse("https://hooks.example.com/", Destinations::PublicOnly).unwrap(),
        WebhookEvents::parse(kinds.iter().copied()).unwrap(),
        None,
        WebhookSecret::issue(&[8; webhook::SECRET_BYTES]),
        Timestamp::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoint_lookups_are_on_their_indexes() {
    let probe = Probe::new().await;
    let store = &probe.store;
    let endpoint = endpoint(&["session.created"]);
    store.create_webhook(&endpoint).await.unwrap();
    store
        .create_session(&project(), new_session("s1"))
        .await
        .unwrap();
    probe.sent.take();
    store
        .find_webhook(&endpoint.id)
        .await
        .unwrap()
        .expect("found");
    store.list_webhooks(&project()).await.unwrap();
    let disable = WebhookChange::Patch(WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    });
    store
        .change_webhook(&endpoint.id, &disable, Timestamp::now())
        .await
        .unwrap();
    // A claim moves the disabled endpoint's backlog out of its way; enabling brings it back.
    let now = Timestamp::now();
    let lease = webhook::Lease {
        token: "plans".into(),
        until: now.plus_millis(60_000),
    };
    assert!(
        store
            .claim_deliveries(now, &lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let enable = WebhookChange::Patch(WebhookPatch {
        enabled: Some(true),
        ..WebhookPatch::default()
    });
    store
        .change_webhook(&endpoint.id, &enable, Timestamp::now())
        .await
        .unwrap();
    store.delete_webhook(&endpoint.id).await.unwrap();
    assert_eq!(
        probe.served("webhooks").await,
        rows(&[
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            (
                "find webhook_endpoints {project}",
                "project_createdAt_webhookId"
            ),
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            ("update webhook_endpoints {webhookId}", "webhookId_unique"),
            ("find webhook_deliveries {status,dueAt}", "status_dueAt"),
            ("find webhook_deliveries {status,dueAt}", "status_dueAt"),
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            (
                "update webhook_deliveries {webhookId,status}",
                "webhookId_status_messageId"
            ),
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            ("update webhook_endpoints {webhookId}", "webhookId_unique"),
            (
                "update webhook_deliveries {webhookId,status}",
                "webhookId_status_messageId"
            ),
            ("delete webhook_endpoints {webhookId}", "webhookId_unique"),
            (
                "delete webhook_deliveries {webhookId}",
                "webhookId_messageId_unique"
            ),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_recorded_claimed_and_settled_on_their_indexes() {
    let probe = Probe::new().await;
    let store = &probe.store;
    let endpoint = endpoint(&["session.created", "session.completed"]);
    store.create_webhook(&endpoint).await.unwrap();
    store
        .create_session(&project(), new_session("s1"))
        .await
        .unwrap();
    store
        .complete_session(
            &project(),
            &sid("s1"),
            CompleteRequest::new(None, None).unwrap(),
        )
        .await
        .unwrap();
    probe.sent.take();
    let now = Timestamp::now();
    let lease = webhook::Lease {
        token: "plans".into(),
        until: now.plus_millis(60_000),
    };
    let claimed = store.claim_deliveries(now, &lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // Another claim meets the message waiting behind the held head and moves it out of the way.
    let other = webhook::Lease {
        token: "other".into(),
        until: now.plus_millis(60_000),
    };
    assert!(
        store
            .claim_deliveries(now, &other, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let attempt = webhook::Attempt {
        at: now,
        result: webhook::AttemptResult::Status(200),
        duration_ms: 1,
    };
    let settled = store
        .settle_delivery(
            &endpoint.id,
            &claimed[0].message.id,
            &lease,
            &attempt,
            webhook::AfterAttempt::Delivered,
        )
        .await
        .unwrap();
    assert!(settled);
    assert_eq!(
        probe.served("deliveries").await,
        rows(&[
            ("find webhook_deliveries {status,dueAt}", "status_dueAt"),
            (
                "find webhook_deliveries {webhookId,project,sessionId,status}",
                "queue"
            ),
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            ("findAndModify webhook_deliveries {_id}", "_id_"),
            ("find webhook_deliveries {status,dueAt}", "status_dueAt"),
            ("find webhook_deliveries {status,dueAt}", "status_dueAt"),
            (
                "find webhook_deliveries {webhookId,project,sessionId,status}",
                "queue"
            ),
            ("find webhook_endpoints {webhookId}", "webhookId_unique"),
            (
                "update webhook_deliveries {webhookId,project,sessionId,status}",
                "queue"
            ),
            (
                "findAndModify webhook_deliveries {webhookId,messageId}",
                "webhookId_messageId_unique"
            ),
            (
                "findAndModify webhook_deliveries {webhookId,project,sessionId,status}",
                "queue"
            ),
        ])
    );
}

#[tokio::test]
async fn webhook_deliveries_are_listed_sent_again_and_counted_on_their_indexes() {
    let probe = Probe::new().await;
    let store = &probe.store;
    let endpoint = endpoint(&["session.created"]);
    store.create_webhook(&endpoint).await.unwrap();
    for s in ["s1", "s2"] {
        store
            .create_session(&project(), new_session(s))
            .await
            .unwrap();
    }
    probe.sent.take();
    let all = webhook::DeliveryQuery {
        status: None,
        before: None,
        limit: 10,
    };
    let listed = store.list_deliveries(&endpoint.id, &all).await.unwrap();
    assert_eq!(listed.len(), 2);
    let pending = webhook::DeliveryQuery {
        status: Some(webhook::DeliveryStatus::Pending),
        before: Some(listed[0].message.id.clone()),
        limit: 10,
    };
    assert_eq!(
        store
            .list_deliveries(&endpoint.id, &pending)
            .await
            .unwrap()
            .len(),
        1
    );
    let now = Timestamp::now();
    let one = webhook::Resend::Message(listed[1].message.id.clone());
    assert_eq!(
        store
            .resend_deliveries(&endpoint.id, &one, now)
            .await
            .unwrap(),
        1
    );
    let since = webhook::Resend::Since(listed[1].message.recorded_at);
    assert_eq!(
        store
            .resend_deliveries(&endpoint.id, &since, now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.count_backlog().await.unwrap(), 2);
    let after_all = Timestamp::now().plus_millis(1);
    assert_eq!(store.prune_messages(after_all, 10).await.unwrap(), 2);
    assert_eq!(
        probe.served("repair").await,
        rows(&[
            ("find webhook_deliveries {recordedAt}", "recordedAt"),
            ("delete webhook_deliveries {messageId}", "messageId"),
            ("aggregate webhook_deliveries {pipeline}", "status_dueAt"),
            (
                "find webhook_deliveries {webhookId,status,messageId}",
                "webhookId_status_messageId"
            ),
            (
                "find webhook_deliveries {webhookId}",
                "webhookId_messageId_unique"
            ),
            (
                "update webhook_deliveries {webhookId,messageId}",
                "webhookId_messageId_unique"
            ),
            (
                "update webhook_deliveries {webhookId,recordedAt}",
                "webhookId_recordedAt"
            ),
        ])
    );
}
