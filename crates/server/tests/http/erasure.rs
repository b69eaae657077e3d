//! Erasure and redaction over HTTP (SPEC "`DELETE /sessions/{sessionId}`", "`…/redact`"): the
//! answers of every endpoint for an erased session, the tombstone's 409 on create, redaction
//! keeping idempotency, the metrics, and erasure racing appends and completes.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestApp, event};
use reqwest::Method;
use serde_json::{Value, json};

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn erase(app: &TestApp, session: &str) -> common::Reply {
    app.send(app.request(Method::DELETE, &format!("/sessions/{session}")))
        .await
}

async fn redact(app: &TestApp, session: &str, event_id: &str) -> common::Reply {
    app.send(app.request(
        Method::POST,
        &format!("/sessions/{session}/events/{event_id}/redact"),
    ))
    .await
}

/// Every read, stream and write of `session` answers `session-erased`: 410, 409 on create.
async fn assert_erased(app: &TestApp, session: &str) {
    let gone = [
        (Method::GET, format!("/sessions/{session}"), None),
        (Method::GET, format!("/sessions/{session}/events"), None),
        (
            Method::GET,
            format!("/sessions/{session}/events"),
            Some("text/event-stream"),
        ),
        (
            Method::GET,
            format!("/sessions/{session}/events"),
            Some("application/x-ndjson"),
        ),
        (Method::GET, format!("/sessions/{session}/events/e1"), None),
        (
            Method::POST,
            format!("/sessions/{session}/events/e1/redact"),
            None,
        ),
        (Method::POST, format!("/sessions/{session}/complete"), None),
    ];
    for (method, path, accept) in gone {
        let mut request = app.request(method.clone(), &path);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let reply = app.send(request).await;
        reply.problem(410, "session-erased");
        assert!(
            !reply.text().contains("secret"),
            "{method} {path}: {}",
            reply.text()
        );
    }
    app.append(session, &event("late"))
        .await
        .problem(410, "session-erased");
    let mut expecting = event("late");
    expecting["expectedLastSeq"] = json!(1);
    app.append(session, &expecting)
        .await
        .problem(410, "session-erased");
    let batch = json!({"events": [event("late"), event("later")]});
    app.post_json(&format!("/sessions/{session}/events:batch"), &batch)
        .await
        .problem(410, "session-erased");
    app.create_session(&json!({"sessionId": session}))
        .await
        .problem(409, "session-erased");
}

#[tokio::test]
async fn an_erased_session_answers_410_everywhere_and_409_on_create() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let kept = app.new_session().await;
    for id in ["e1", "e2"] {
        let body = json!({"eventId": id, "type": "user_speech", "payload": {"text": "my secret"}});
        app.append(&session, &body).await.expect(201);
    }
    app.append(&kept, &event("e1")).await.expect(201);

    let reply = erase(&app, &session).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert_erased(&app, &session).await;
    // Again: 204, counted once.
    assert_eq!(erase(&app, &session).await.status, 204);
    erase(&app, &common::unique("never"))
        .await
        .problem(404, "session-not-found");
    // Other sessions are untouched; the erased one is in no list.
    assert_eq!(app.walk(&kept, "asc", 10).await.len(), 1);
    let list = app.get("/sessions?limit=500").await.expect(200);
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&session.as_str()), "{list}");
    assert!(ids.contains(&kept.as_str()), "{list}");

    let metrics = app.get("/metrics").await.text();
    assert_eq!(
        metric(&metrics, "sessions_erased_total{reason=\"request\"}"),
        1,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_redacted_event_keeps_its_place_and_its_idempotency() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let original =
        json!({"eventId": "e1", "type": "user_speech", "payload": {"card": "4111 1111 1111 1111"}});
    let stored = app.append(&session, &original).await.expect(201);
    app.append(&session, &event("e2")).await.expect(201);

    let reply = redact(&app, &session, "e1").await;
    let redacted = reply.expect(200);
    assert!(reply.header("idempotent-replayed").is_none());
    assert_eq!(redacted["payload"], json!({}));
    common::assert_utc_millis(&redacted["redactedAt"]);
    for field in [
        "eventId",
        "sessionId",
        "seq",
        "type",
        "timestamp",
        "receivedAt",
    ] {
        assert_eq!(redacted[field], stored[field], "{field} is kept");
    }
    // Again: unchanged, a replay.
    let again = redact(&app, &session, "e1").await;
    assert_eq!(again.replayed(), redacted);
    // Every read shows the redacted event; the original content is nowhere in an answer.
    let path = format!("/sessions/{session}/events/e1");
    assert_eq!(app.get(&path).await.expect(200), redacted);
    let events = app.walk(&session, "asc", 10).await;
    assert_eq!(events[0], redacted);
    assert_eq!(events[1]["redactedAt"], Value::Null);
    // A retry of the original append: 200 replayed with the redacted event; other content 409.
    let retry = app.append(&session, &original).await;
    assert_eq!(retry.replayed(), redacted);
    let other = json!({"eventId": "e1", "type": "user_speech", "payload": {"card": "5500"}});
    app.append(&session, &other)
        .await
        .problem(409, "event-conflict");
    // Closed sessions too; their list stays final.
    app.complete(&session, None).await.expect(200);
    let closed = redact(&app, &session, "e2").await.expect(200);
    assert_eq!(closed["seq"], 2);
    assert_eq!(app.session(&session).await["lastSeq"], 2);
    redact(&app, &session, "nope")
        .await
        .problem(404, "event-not-found");
    redact(&app, &common::unique("nope"), "e1")
        .await
        .problem(404, "session-not-found");

    let metrics = app.get("/metrics").await.text();
    assert_eq!(metric(&metrics, "events_redacted_total"), 2, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erasure_racing_appends_and_completes_leaves_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    for round in 0..2 {
        let session = app.new_session().await;
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (app, session) = (app.clone(), session.clone());
                tokio::spawn(async move {
                    for i in 0..100 {
                        let reply = app.append(&session, &event(&format!("w{w}-{i}"))).await;
                        match reply.status {
                            201 => {}
                            409 if round == 1 => {
                                reply.problem(409, "session-closed");
                            }
                            410 => return,
                            _ => panic!("unexpected answer {} {}", reply.status, reply.text()),
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(30)).await;
        if round == 1 {
            let (app, session) = (app.clone(), session.clone());
            tokio::spawn(async move { app.complete(&session, None).await });
        }
        assert_eq!(erase(&app, &session).await.status, 204);
        // From here on nothing of the session remains or can be added.
        assert_erased(&app, &session).await;
        for w in writers {
            w.await.expect("writer");
        }
        assert_erased(&app, &session).await;
    }
}
