//! Event pages (both orders and both views, from the start and from a position), session reads, event reads
//! by id, the tombstone read and the live tails' version read are ranges of a primary key or an
//! index, never a scan or a sort: SQLite's `EXPLAIN QUERY PLAN` of each statement the adapter
//! prepares, on a store with statistics (`ANALYZE`) over 200 sessions of 50 events and some
//! tombstones. Each statement is checked to be the adapter's own (its text is in `src/`), so a
//! changed statement fails here until its plan is checked again. Lists of sessions and the
//! retention sweep are `list_plans.rs`'s.

use crate::plans;

use conformance::fixtures::{new_event, project, sid};
use domain::{
    EraseIf, EventRepository, JsonObject, NewSession, SessionRepository, StoreAdmin, Timestamp,
};
use infra_sqlite::{SqliteOptions, SqliteStore};
use serde_json::json;

/// Every statement (its table and its clause after `FROM table`) and the primary key or index
/// that must serve it (`EXPLAIN QUERY PLAN`'s words). The clause is the adapter's, verbatim.
const STATEMENTS: &[(&str, &str, &str, &str)] = &[
    (
        "page asc",
        "events",
        "WHERE project = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq ASC",
        "SEARCH events USING PRIMARY KEY (project=? AND session_id=? AND seq>?)",
    ),
    (
        "page desc",
        "events",
        "WHERE project = ?1 AND session_id = ?2 AND seq < ?3 ORDER BY seq DESC",
        "SEARCH events USING PRIMARY KEY (project=? AND session_id=? AND seq<?)",
    ),
    (
        "page current asc",
        "events",
        "INDEXED BY events_current WHERE project = ?1 AND session_id = ?2 AND seq > ?3 AND superseded_by IS NULL ORDER BY seq ASC",
        "SEARCH events USING COVERING INDEX events_current (project=? AND session_id=? AND seq>?)",
    ),
    (
        "page current desc",
        "events",
        "INDEXED BY events_current WHERE project = ?1 AND session_id = ?2 AND seq < ?3 AND superseded_by IS NULL ORDER BY seq DESC",
        "SEARCH events USING COVERING INDEX events_current (project=? AND session_id=? AND seq<?)",
    ),
    (
        "session read",
        "sessions",
        "WHERE project = ?1 AND session_id = ?2",
        "SEARCH sessions USING PRIMARY KEY (project=? AND session_id=?)",
    ),
    (
        "event by id",
        "events",
        "WHERE project = ?1 AND session_id = ?2 AND event_id = ?3",
        "(project=? AND session_id=? AND event_id=?)",
    ),
    (
        "tombstone",
        "tombstones",
        "WHERE project = ?1 AND session_id = ?2",
        "SEARCH tombstones USING PRIMARY KEY (project=? AND session_id=?)",
    ),
];

/// The text of every source file of the adapter.
fn adapter_source() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    text
}

/// The `EXPLAIN QUERY PLAN` of `sql` (its lines joined by `; `).
fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let count = stmt.parameter_count();
    let params: Vec<i64> = vec![1; count];
    stmt.query_map(rusqlite::params_from_iter(params), |r| {
        r.get::<_, String>(3)
    })
    .unwrap()
    .collect::<rusqlite::Result<Vec<String>>>()
    .unwrap()
    .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_pages_and_session_reads_are_index_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let p = project();
    for s in 0..200 {
        let id = sid(&format!("s{s}"));
        let new = NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
        store.create_session(&p, new).await.unwrap();
        let events = (0..50).map(|e| new_event(&format!("e{e}"), json!({ "n": e })));
        let batch = domain::AppendBatch::new(events.collect(), None).unwrap();
        store.append_events(&p, &id, batch).await.unwrap();
        if s % 10 == 0 {
            store
                .erase_session(&p, &id, Timestamp::now(), EraseIf::Always)
                .await
                .unwrap();
        }
    }
    store.close().await;
    drop(plans::analysed(&path));
    let source = adapter_source();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (what, table, clause, served_by) in STATEMENTS {
        assert!(
            source.contains(clause),
            "{what}: not the adapter's statement: {clause}"
        );
        let plan = plan(&conn, &format!("SELECT * FROM {table} {clause}"));
        eprintln!("{what}: {plan}");
        assert!(plan.contains(served_by), "{what}: {plan}");
        assert!(!plan.contains("SCAN"), "{what}: a scan: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{what}: a sort: {plan}");
    }
    // The live tails' read of many sessions' versions: one primary-key search per watch.
    let versions = "SELECT w.column1, w.column2, s.last_seq, s.status
           FROM (VALUES (?, ?), (?, ?)) AS w
           LEFT JOIN sessions AS s ON s.project = w.column1 AND s.session_id = w.column2
           LEFT JOIN tombstones AS t ON t.project = w.column1 AND t.session_id = w.column2
          WHERE s.session_id IS NOT NULL OR t.session_id IS NOT NULL";
    assert!(
        source.contains(
            "LEFT JOIN sessions AS s ON s.project = w.column1 AND s.session_id = w.column2"
        ),
        "versions: not the adapter's statement"
    );
    let plan = plan(&conn, versions);
    eprintln!("versions: {plan}");
    assert!(
        plan.contains("SEARCH s USING PRIMARY KEY (project=? AND session_id=?)"),
        "{plan}"
    );
    assert!(
        plan.contains("SEARCH t USING PRIMARY KEY (project=? AND session_id=?)"),
        "{plan}"
    );
    assert!(
        !plan.contains("SCAN s") && !plan.contains("SCAN t"),
        "a scan: {plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "a sort: {plan}");
}

/// The claim's statement (`outbox.rs`, its columns aside).
const CLAIM: &str = "SELECT d.message_id FROM webhook_queues AS q INDEXED BY webhook_queues_due
               JOIN webhook_deliveries AS d ON d.webhook_id = q.webhook_id AND d.message_id = q.head
               JOIN webhook_endpoints AS w ON w.webhook_id = q.webhook_id
               JOIN webhook_messages AS m ON m.message_id = q.head
              WHERE q.due_at <= ?1 AND (q.lease_until IS NULL OR q.lease_until <= ?1)
                AND w.enabled = 1
              ORDER BY q.due_at LIMIT ?2";

/// The deliveries' pages (all, or of one status) and their attempts are ranges of the
/// deliveries' primary key or of `webhook_deliveries_status`, newest first without a sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_pages_are_index_ranges() {
    use domain::{
        Destinations, WebhookEndpoint, WebhookEvents, WebhookId, WebhookRepository, WebhookSecret,
        WebhookUrl,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let p = project();
    for n in 1..=3_u8 {
        let endpoint = WebhookEndpoint::new(
            WebhookId::issue(&[n; 8]),
            p.clone(),
            WebhookUrl::parse("https://hooks.example.com/in", Destinations::AllowPrivate).unwrap(),
            WebhookEvents::parse(["session.created", "event.appended"]).unwrap(),
            None,
            WebhookSecret::issue(&[n; 32]),
            Timestamp::now(),
        );
        store.create_webhook(&endpoint).await.unwrap();
    }
    for s in 0..100 {
        let id = sid(&format!("s{s}"));
        let new = NewSession::new(id.clone(), None, None, JsonObject::empty(), None).unwrap();
        store.create_session(&p, new).await.unwrap();
        let events = (0..5).map(|e| new_event(&format!("e{e}"), json!({ "n": e })));
        let batch = domain::AppendBatch::new(events.collect(), None).unwrap();
        store.append_events(&p, &id, batch).await.unwrap();
    }
    store.close().await;
    drop(plans::analysed(&path));
    let source = adapter_source();
    let conn = rusqlite::Connection::open(&path).unwrap();
    for fragment in [
        "WHERE d.webhook_id = ?1 AND d.message_id < ?2{filter}",
        "ORDER BY d.message_id DESC",
        "\" AND d.status = '{}'\"",
        "INDEXED BY webhook_deliveries_status",
        "WHERE webhook_id = ?1 AND message_id = ?2 ORDER BY n",
        "FROM webhook_queues AS q INDEXED BY webhook_queues_due",
        "FROM webhook_messages INDEXED BY webhook_messages_recorded",
        "WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2",
        "SELECT webhook_id FROM webhook_endpoints WHERE project = ?2",
        "WHERE webhook_id IN ({endpoints}) AND message_id = ?1",
    ] {
        assert!(source.contains(fragment), "not the adapter's: {fragment}");
    }
    let page = |index: &str, filter: &str| {
        format!(
            "SELECT d.message_id, m.type, d.status FROM webhook_deliveries AS d {index}
               JOIN webhook_messages AS m ON m.message_id = d.message_id
              WHERE d.webhook_id = ?1 AND d.message_id < ?2{filter}
              ORDER BY d.message_id DESC LIMIT ?3"
        )
    };
    let by_key = "SEARCH d USING PRIMARY KEY (webhook_id=? AND message_id<?)";
    for (what, sql, served_by) in [
        ("all", page("", ""), by_key),
        (
            "delivered",
            page(
                "INDEXED BY webhook_deliveries_status",
                " AND d.status = 'delivered'",
            ),
            "SEARCH d USING COVERING INDEX webhook_deliveries_status (webhook_id=? AND status=? AND message_id<?)",
        ),
        (
            "pending",
            page(
                "INDEXED BY webhook_deliveries_status",
                " AND d.status = 'pending'",
            ),
            "SEARCH d USING COVERING INDEX webhook_deliveries_status (webhook_id=? AND status=? AND message_id<?)",
        ),
        (
            "attempts",
            "SELECT at, status_code, error, duration_ms FROM webhook_attempts
              WHERE webhook_id = ?1 AND message_id = ?2 ORDER BY n"
                .to_owned(),
            "SEARCH webhook_attempts USING PRIMARY KEY (webhook_id=? AND message_id=?)",
        ),
        (
            "claim",
            CLAIM.to_owned(),
            "SEARCH q USING INDEX webhook_queues_due (due_at<?)",
        ),
        (
            "prune: the oldest messages",
            "SELECT message_id, project, session_id
               FROM webhook_messages INDEXED BY webhook_messages_recorded
              WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2"
                .to_owned(),
            "SEARCH webhook_messages USING INDEX webhook_messages_recorded (recorded_at<?)",
        ),
        (
            "prune: a message's deliveries",
            "DELETE FROM webhook_deliveries WHERE webhook_id IN
               (SELECT webhook_id FROM webhook_endpoints WHERE project = ?2) AND message_id = ?1"
                .to_owned(),
            "SEARCH webhook_deliveries USING PRIMARY KEY (webhook_id=? AND message_id=?)",
        ),
        (
            "prune: their attempts",
            "DELETE FROM webhook_attempts WHERE webhook_id IN
               (SELECT webhook_id FROM webhook_endpoints WHERE project = ?2) AND message_id = ?1"
                .to_owned(),
            "SEARCH webhook_attempts USING PRIMARY KEY (webhook_id=? AND message_id=?)",
        ),
    ] {
        let plan = plan(&conn, &sql);
        eprintln!("{what}: {plan}");
        assert!(plan.contains(served_by), "{what}: {plan}");
        assert!(!plan.contains("SCAN"), "{what}: a scan: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{what}: a sort: {plan}");
    }
}

/// A claim costs what it can claim: the queues of a disabled endpoint (a backlog left by a long
/// outage) are out of its range, not read and passed over by every claim in the writer thread
/// (decision 40); enabled again, they are due as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_reads_no_queue_of_a_disabled_endpoint() {
    use domain::webhook::Lease;
    use domain::{
        Destinations, WebhookChange, WebhookDeliveries, WebhookEndpoint, WebhookEvents, WebhookId,
        WebhookPatch, WebhookRepository, WebhookSecret, WebhookUrl,
    };
    const QUEUES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let open = || SqliteStore::open(&SqliteOptions::new(&path)).unwrap();
    let store = open();
    let p = project();
    let paused = WebhookEndpoint::new(
        WebhookId::issue(&[1; 8]),
        p.clone(),
        WebhookUrl::parse("https://hooks.example.com/in", Destinations::AllowPrivate).unwrap(),
        WebhookEvents::parse(["session.created"]).unwrap(),
        None,
        WebhookSecret::issue(&[1; 32]),
        Timestamp::now(),
    );
    store.create_webhook(&paused).await.unwrap();
    for s in 0..QUEUES {
        let new = NewSession::new(sid(&format!("s{s}")), None, None, JsonObject::empty(), None);
        store.create_session(&p, new.unwrap()).await.unwrap();
    }
    let switched = |enabled| {
        WebhookChange::Patch(WebhookPatch {
            enabled: Some(enabled),
            ..WebhookPatch::default()
        })
    };
    store
        .change_webhook(&paused.id, &switched(false), Timestamp::now())
        .await
        .unwrap();
    store.close().await;

    let later = Timestamp::now().plus_millis(60_000);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut claim = conn.prepare(CLAIM).unwrap();
    let claimed = claim
        .query_map(rusqlite::params![later.millis(), 10], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
        .count();
    let steps = claim.get_status(rusqlite::StatementStatus::VmStep);
    assert_eq!(claimed, 0);
    assert!(
        steps < QUEUES as i32,
        "{steps} steps of SQLite's machine for a claim of nothing over {QUEUES} disabled queues"
    );
    drop(claim);
    drop(conn);

    let store = open();
    store
        .change_webhook(&paused.id, &switched(true), Timestamp::now())
        .await
        .unwrap();
    let lease = Lease {
        token: "after".into(),
        until: later.plus_millis(60_000),
    };
    let heads = store.claim_deliveries(later, &lease, 1_000).await.unwrap();
    assert_eq!(heads.len(), QUEUES, "enabled again, every queue is due");
    store.close().await;
}
