//! Deliveries fanned out after the change (decision 45) with a backlog larger than one step
//! (`FAN_OUT_STEP`, 1 024 messages): the backlog is counted whole before any fan-out, a listing
//! and an endpoint's change fan out every message first, and a claim fans out one step.

use domain::webhook::{DeliveryQuery, Lease, SECRET_BYTES, endpoint::ID_BYTES};
use domain::{
    AppendBatch, Destinations, EventId, EventRepository, EventType, JsonObject, NewEvent,
    NewSession, ProjectId, SessionId, SessionRepository, Timestamp, WebhookChange,
    WebhookDeliveries, WebhookEndpoint, WebhookEvents, WebhookId, WebhookPatch, WebhookRepository,
    WebhookSecret, WebhookUrl,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

/// A store with an endpoint on creations and appends and, not yet fanned out, 2 101 messages:
/// a session's creation and 2 100 appends (21 batches of 100, `e0-0` … `e20-99`).
async fn backlog() -> (SqliteStore, WebhookId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("s.db"))).unwrap();
    let project = ProjectId::default_project();
    let endpoint = WebhookEndpoint::new(
        WebhookId::issue(&[1; ID_BYTES]),
        project.clone(),
        WebhookUrl::parse("https://hooks.example.com/in", Destinations::PublicOnly).unwrap(),
        WebhookEvents::parse(["session.created", "event.appended"]).unwrap(),
        None,
        WebhookSecret::issue(&[2; SECRET_BYTES]),
        Timestamp::now(),
    );
    store.create_webhook(&endpoint).await.unwrap();
    let session = SessionId::parse("s").unwrap();
    let new = NewSession::new(session.clone(), None, None, JsonObject::empty(), None).unwrap();
    store.create_session(&project, new).await.unwrap();
    for batch in 0..21 {
        let events = (0..100)
            .map(|n| {
                NewEvent::new(
                    EventId::parse(format!("e{batch}-{n}")).unwrap(),
                    EventType::parse("system").unwrap(),
                    JsonObject::empty(),
                )
            })
            .collect();
        let batch = AppendBatch::new(events, None).unwrap();
        store
            .append_events(&project, &session, batch)
            .await
            .unwrap();
    }
    (store, endpoint.id, dir)
}

/// (deliveries written, messages not yet fanned out), read from the file.
fn written(dir: &tempfile::TempDir) -> (i64, i64) {
    let conn = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    conn.query_row(
        "SELECT (SELECT count(*) FROM webhook_deliveries),
                (SELECT count(*) FROM webhook_messages
                  WHERE message_id > (SELECT value FROM meta WHERE key = 'webhook_fanned_out'))",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test]
async fn a_backlog_beyond_one_step_is_counted_and_listed_whole() {
    let (store, endpoint, dir) = backlog().await;
    assert_eq!(
        written(&dir),
        (0, 2_101),
        "the changes recorded their messages alone"
    );
    assert_eq!(store.count_backlog().await.unwrap(), 2_101);
    let newest = DeliveryQuery {
        status: None,
        before: None,
        limit: 1,
    };
    let listed = store.list_deliveries(&endpoint, &newest).await.unwrap();
    let event = listed[0].message.event.as_ref().map(EventId::as_str);
    assert_eq!(
        event,
        Some("e20-99"),
        "the newest message, beyond the first step"
    );
    assert_eq!(written(&dir), (2_101, 0));
    assert_eq!(store.count_backlog().await.unwrap(), 2_101);
}

#[tokio::test]
async fn an_endpoint_change_fans_out_the_whole_backlog_first_and_a_claim_one_step() {
    let (store, endpoint, dir) = backlog().await;
    let now = Timestamp::now();
    let lease = Lease {
        token: "t".into(),
        until: now.plus_millis(60_000),
    };
    let claimed = store.claim_deliveries(now, &lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "the session's head");
    assert_eq!(written(&dir), (1_024, 1_077), "one step");
    let describe = WebhookChange::Patch(WebhookPatch {
        description: Some(None),
        ..WebhookPatch::default()
    });
    store
        .change_webhook(&endpoint, &describe, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(written(&dir), (2_101, 0));
}
