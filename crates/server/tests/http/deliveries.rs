//! Webhook delivery end to end (SPEC "Webhooks"): a real receiver on a real port, started by
//! the test, gets every message type with its documented body, signed (checked here with HMAC
//! from RustCrypto, not the service's code), in order per session; a failed attempt comes again
//! with the same `webhook-id`, `Retry-After` is honoured, a 410 disables the endpoint, a
//! receiver hanging on one session holds no other, and two instances send each message once.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common;
use common::TestApp;
use common::receiver::{Answer, Received, Receiver, answer, assert_signed, of_session};

pub(super) const SETTINGS: [(&str, &str); 2] = [
    ("WEBHOOK_ALLOW_PRIVATE", "true"),
    ("WEBHOOK_RETRY_SCHEDULE", "300ms,300ms"),
];

/// Registers an endpoint of `acme` at `url` for `events`: its id and its secret's bytes.
pub(super) async fn register(app: &TestApp, url: &str, events: &[&str]) -> (String, Vec<u8>) {
    common::receiver::register(&app.admin(), "acme", url, events).await
}

/// Waits (up to 20 s) until the endpoint `id` reads as disabled.
pub(super) async fn until_disabled(app: &TestApp, id: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let endpoint = app
            .admin()
            .get(&format!("/admin/webhooks/{id}"))
            .await
            .expect(200);
        if endpoint["enabled"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "{why}: {endpoint}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_type_is_delivered_signed_in_order_with_its_body() {
    let receiver = Receiver::start(|_, _| answer(204)).await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    let key = app.mint_key("acme", &["read", "write", "delete"]).await;
    let every = common::receiver::EVERY_TYPE;
    let (_, secret) = register(&app, &receiver.url, &every).await;
    let api = &key.api;
    api.create_session(&json!({"sessionId": "call-1", "metadata": {"agent": "a"}}))
        .await
        .expect(201);
    api.append("call-1", &common::event("e1")).await.expect(201);
    api.post_json(
        "/sessions/call-1/events:batch",
        &json!({"events": [common::event("e2"), common::event("e3")]}),
    )
    .await
    .expect(201);
    let redacted = api
        .send(api.request(reqwest::Method::POST, "/sessions/call-1/events/e1/redact"))
        .await;
    assert_eq!(redacted.status, 200);
    api.post_json("/sessions/call-1/complete", &json!({}))
        .await
        .expect(200);
    api.create_session(&json!({"sessionId": "call-2"}))
        .await
        .expect(201);
    api.post_json("/sessions/call-2/complete", &json!({"status": "failed"}))
        .await
        .expect(200);
    let erased = api
        .send(api.request(reqwest::Method::DELETE, "/sessions/call-2"))
        .await;
    assert!(erased.status < 300, "{}", erased.status);

    let got = receiver.until("9 messages", |got| got.len() >= 9).await;
    for r in &got {
        assert_signed(r, &secret);
    }
    let of = |session| of_session(&got, session);
    assert_eq!(
        of("call-1"),
        [
            "call-1 session.created",
            "call-1 event.appended e1",
            "call-1 event.appended e2",
            "call-1 event.appended e3",
            "call-1 event.redacted e1",
            "call-1 session.completed",
        ],
        "in order per session"
    );
    assert_eq!(
        of("call-2"),
        [
            "call-2 session.created",
            "call-2 session.failed",
            "call-2 session.erased",
        ]
    );
    // The bodies: the session (without events) and the event as GET serves them; an erased
    // session's messages carry ids only.
    let completed = got
        .iter()
        .find(|r| r.kind() == "session.completed")
        .unwrap();
    let session = api.get("/sessions/call-1").await.expect(200);
    let mut served = session.clone();
    served.as_object_mut().unwrap().remove("events");
    assert_eq!(completed.body["data"]["session"], served);
    assert!(completed.body["data"].get("event").is_none());
    common::assert_utc_millis(&completed.body["timestamp"]);
    let redacted = got.iter().find(|r| r.kind() == "event.redacted").unwrap();
    let e1 = api.get("/sessions/call-1/events/e1").await.expect(200);
    assert_eq!(redacted.body["data"]["event"], e1);
    let gone = got.iter().find(|r| r.kind() == "session.erased").unwrap();
    assert_eq!(
        gone.body["data"],
        json!({"session": {"sessionId": "call-2"}})
    );
    let ids: std::collections::HashSet<&str> = got.iter().map(Received::id).collect();
    assert_eq!(ids.len(), got.len(), "one webhook-id per message");
}

#[tokio::test]
async fn a_failed_attempt_comes_again_with_the_same_id_and_a_410_disables() {
    // The first attempt of every message fails (500), the second succeeds.
    let receiver = Receiver::start(|_, before| answer(if before == 0 { 500 } else { 200 })).await;
    let gone = Receiver::start(|_, _| answer(410)).await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    register(&app, &receiver.url, &["session.created"]).await;
    let (gone_id, _) = register(&app, &gone.url, &["session.created"]).await;
    key.api
        .create_session(&json!({"sessionId": "s1"}))
        .await
        .expect(201);
    let got = receiver.until("two attempts", |got| got.len() >= 2).await;
    assert_eq!(got[0].id(), got[1].id(), "the same webhook-id again");
    assert_eq!(got[0].raw, got[1].raw, "the same body");
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(250),
        "retried after {waited:?}"
    );
    gone.until("one attempt", |got| !got.is_empty()).await;
    until_disabled(&app, &gone_id, "a 410 disables the endpoint").await;
    // Disabled: nothing more is attempted, not even the retry of its message.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gone.got().len(), 1);
    assert_eq!(receiver.got().len(), 2, "delivered: no third attempt");
    // Counted: two retries (the 500, the 410), one delivered; two first attempts timed.
    let metrics = app.get("/metrics").await.text();
    for line in [
        "webhook_deliveries_total{result=\"delivered\"} 1",
        "webhook_deliveries_total{result=\"retry\"} 2",
        "webhook_first_attempt_delay_seconds_count 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let receiver = Receiver::start(|_, before| match before {
        0 => Answer {
            headers: vec![("retry-after", "2".into())],
            ..answer(503)
        },
        _ => answer(200),
    })
    .await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    register(&app, &receiver.url, &["session.created"]).await;
    key.api
        .create_session(&json!({"sessionId": "s1"}))
        .await
        .expect(201);
    let got = receiver.until("two attempts", |got| got.len() >= 2).await;
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1_900),
        "the schedule says 300 ms, Retry-After 2 s: {waited:?}"
    );
}

#[tokio::test]
async fn a_receiver_hanging_on_one_session_holds_no_other() {
    // Session `slow`'s first message hangs past WEBHOOK_TIMEOUT; everything else is answered.
    let receiver = Receiver::start(|r, before| {
        let hang = r.session() == "slow" && r.kind() == "session.created" && before == 0;
        Answer {
            delay: if hang {
                Duration::from_secs(3)
            } else {
                Duration::ZERO
            },
            ..answer(200)
        }
    })
    .await;
    let mut settings = SETTINGS.to_vec();
    settings.push(("WEBHOOK_TIMEOUT", "1s"));
    let app = TestApp::spawn_with_keys(&settings).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    register(&app, &receiver.url, &["session.created", "event.appended"]).await;
    let api = &key.api;
    api.create_session(&json!({"sessionId": "slow"}))
        .await
        .expect(201);
    api.append("slow", &common::event("s-e1")).await.expect(201);
    tokio::time::sleep(Duration::from_millis(200)).await;
    api.create_session(&json!({"sessionId": "fast"}))
        .await
        .expect(201);
    api.append("fast", &common::event("f-e1")).await.expect(201);
    let got = receiver
        .until("fast's two messages", |got| {
            got.iter().filter(|r| r.session() == "fast").count() >= 2
        })
        .await;
    let slow = of_session(&got, "slow");
    assert_eq!(
        slow,
        ["slow session.created"],
        "fast went on while slow's head hung; slow's next waits for it"
    );
    let got = receiver
        .until("slow's message again, then its event", |got| {
            got.iter().filter(|r| r.session() == "slow").count() >= 3
        })
        .await;
    let slow = of_session(&got, "slow");
    assert_eq!(
        slow,
        [
            "slow session.created",
            "slow session.created",
            "slow event.appended s-e1"
        ]
    );
}

#[tokio::test]
async fn two_instances_send_each_message_once() {
    let receiver = Receiver::start(|_, _| answer(200)).await;
    let first = TestApp::spawn_with_keys(&SETTINGS).await;
    let second = TestApp::spawn_sharing_with(
        &first,
        &[
            ("ADMIN_KEY", common::ADMIN_KEY),
            ("WEBHOOK_ALLOW_PRIVATE", "true"),
            ("WEBHOOK_RETRY_SCHEDULE", "300ms,300ms"),
        ],
    )
    .await;
    let key = first.mint_key("acme", &["read", "write"]).await;
    register(
        &first,
        &receiver.url,
        &["session.created", "event.appended"],
    )
    .await;
    // Both instances see the endpoint before writing (MongoDB's copy is at most 2 s old).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let apis = [key.api.clone(), second.api.with_bearer(&key.key)];
    for n in 0..10 {
        let api = &apis[n % 2];
        let session = format!("s{n}");
        api.create_session(&json!({"sessionId": session}))
            .await
            .expect(201);
        for e in 0..3 {
            api.append(&session, &common::event(&format!("e{e}")))
                .await
                .expect(201);
        }
    }
    let got = receiver.until("40 messages", |got| got.len() >= 40).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let got_later = receiver.got();
    assert_eq!(got_later.len(), 40, "nothing sent twice");
    let ids: std::collections::HashSet<&str> = got.iter().map(Received::id).collect();
    assert_eq!(ids.len(), 40);
}

/// Claims of webhook deliveries made so far (`claim_deliveries` through the instrumented store).
async fn claims(app: &TestApp) -> u64 {
    common::storage_calls(&app.api, "claim_deliveries").await
}

#[tokio::test]
async fn changes_nobody_listens_to_wake_no_claim() {
    // An endpoint of another project: webhooks are in use, just not by `acme`.
    let receiver = Receiver::start(|_, _| answer(204)).await;
    let app = TestApp::spawn_with_keys(&SETTINGS).await;
    app.mint_key("other", &["read"]).await;
    common::receiver::register(&app.admin(), "other", &receiver.url, &["event.appended"]).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    let api = &key.api;
    api.create_session(&json!({"sessionId": "quiet"}))
        .await
        .expect(201);
    let before = claims(&app).await;
    let started = Instant::now();
    const WRITES: u64 = 40;
    for n in 0..WRITES {
        api.append("quiet", &common::event(&format!("e{n}")))
            .await
            .expect(201);
    }
    let elapsed = started.elapsed();
    let made = claims(&app).await - before;
    // The dispatcher polls once a second: those claims, and nothing per write.
    let polls = elapsed.as_secs() + 2;
    assert!(
        made <= polls,
        "{made} claims for {WRITES} appends nobody listens to in {elapsed:?}"
    );
}
