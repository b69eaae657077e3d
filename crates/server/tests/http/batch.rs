//! `POST /sessions/{sessionId}/events:batch` and `expectedLastSeq`: every rule of the SPEC over
//! HTTP, on the store `TEST_STORE` names.

use crate::common;

use std::sync::Arc;

use common::{TestApp, event, ids, seqs};
use futures_util::future::join_all;
use serde_json::{Value, json};

fn batch_path(session: &str) -> String {
    format!("/sessions/{session}/events:batch")
}

/// A batch body of `event(id)` for each id.
fn batch_of(event_ids: &[&str]) -> Value {
    json!({ "events": event_ids.iter().map(|id| event(id)).collect::<Vec<_>>() })
}

/// `(eventId, seq, replayed)` of each item of a batch answer.
fn items(answer: &Value) -> Vec<(String, u64, bool)> {
    answer["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|item| {
            (
                item["event"]["eventId"].as_str().unwrap().to_owned(),
                item["event"]["seq"].as_u64().unwrap(),
                item["replayed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn item(id: &str, seq: u64, replayed: bool) -> (String, u64, bool) {
    (id.to_owned(), seq, replayed)
}

#[tokio::test]
async fn a_batch_stores_its_new_events_at_consecutive_seqs_and_answers_each_item() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    let v0 = app.append_all(&s, &["v0".into()]).await.remove(0);
    let reply = app
        .post_json(&batch_path(&s), &batch_of(&["a", "v0", "b", "a"]))
        .await;
    let answer = reply.expect(201);
    assert_eq!(reply.header("idempotent-replayed"), None);
    assert_eq!(
        items(&answer),
        [
            item("a", 2, false),
            item("v0", 1, true),
            item("b", 3, false),
            item("a", 2, true)
        ]
    );
    assert_eq!(
        answer["data"][1]["event"], v0,
        "a replay is the stored event"
    );
    let events = app.walk(&s, "asc", 10).await;
    assert_eq!(ids(&events), ["v0", "a", "b"]);
    assert_eq!(events[1], answer["data"][0]["event"]);
    let session = app.session(&s).await;
    assert_eq!(
        (
            &session["lastSeq"],
            &session["eventCount"],
            &session["status"]
        ),
        (&json!(3), &json!(3), &json!("active"))
    );
}

#[tokio::test]
async fn a_batch_of_replays_is_200_whatever_expected_last_seq_says() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    let first = app
        .post_json(&batch_path(&s), &batch_of(&["a", "b"]))
        .await
        .expect(201);
    for expected in [json!(0), json!(2), json!(41)] {
        let mut body = batch_of(&["b", "a"]);
        body["expectedLastSeq"] = expected;
        let again = app.post_json(&batch_path(&s), &body).await.replayed();
        assert_eq!(items(&again), [item("b", 2, true), item("a", 1, true)]);
        assert_eq!(again["data"][1]["event"], first["data"][0]["event"]);
    }
    app.complete(&s, None).await.expect(200);
    app.post_json(&batch_path(&s), &batch_of(&["a"]))
        .await
        .replayed();
}

#[tokio::test]
async fn a_batch_is_refused_whole_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    app.append_all(&s, &["v0".into()]).await;
    let before = app.session(&s).await;

    let conflicting = json!({"events": [
        event("new1"),
        {"eventId": "v0", "type": "user_speech", "payload": {"other": true}},
    ]});
    let reply = app.post_json(&batch_path(&s), &conflicting).await;
    let problem = reply.problem(409, "event-conflict");
    assert_eq!(common::error_fields(&problem), ["events[1]"]);
    assert_eq!(
        reply.header("location").as_deref(),
        Some(format!("/sessions/{s}/events/v0").as_str())
    );

    let problem = app
        .post_json(
            &batch_path(&s),
            &json!({"events": [event("new1"), {"eventId": "new2", "type": ""}]}),
        )
        .await
        .invalid_field("events[1].type");
    assert_eq!(common::error_fields(&problem), ["events[1].type"]);

    let mut stale = batch_of(&["new1", "new2"]);
    stale["expectedLastSeq"] = json!(0);
    let problem = app
        .post_json(&batch_path(&s), &stale)
        .await
        .problem(409, "seq-mismatch");
    assert_eq!(
        problem["lastSeq"], 1,
        "the problem carries the current lastSeq"
    );

    app.post_json(&batch_path("no-such-session"), &batch_of(&["x"]))
        .await
        .problem(404, "session-not-found");

    assert_eq!(app.session(&s).await, before);
    assert_eq!(ids(&app.walk(&s, "asc", 10).await), ["v0"]);

    app.complete(&s, None).await.expect(200);
    app.post_json(&batch_path(&s), &batch_of(&["v0", "new1"]))
        .await
        .problem(409, "session-closed");
    assert_eq!(ids(&app.walk(&s, "asc", 10).await), ["v0"]);
}

#[tokio::test]
async fn expected_last_seq_guards_the_single_append() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    let with_expected = |id: &str, expected: u64| {
        let mut body = event(id);
        body["expectedLastSeq"] = json!(expected);
        body
    };
    app.append(&s, &with_expected("a", 0))
        .await
        .created(&format!("/sessions/{s}/events/a"));
    let problem = app
        .append(&s, &with_expected("b", 0))
        .await
        .problem(409, "seq-mismatch");
    assert_eq!(problem["lastSeq"], 1);
    // A replay answers 200 whatever it expects.
    app.append(&s, &with_expected("a", 7)).await.replayed();
    app.append(&s, &with_expected("b", 1))
        .await
        .created(&format!("/sessions/{s}/events/b"));
    assert_eq!(ids(&app.walk(&s, "asc", 10).await), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_batches_of_fifty_are_never_interleaved() {
    let app = Arc::new(TestApp::spawn().await);
    let s = app.new_session().await;
    let tasks = (0..20).map(|b| {
        let (app, s) = (app.clone(), s.clone());
        tokio::spawn(async move {
            let names: Vec<String> = (0..50).map(|i| format!("b{b}-{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            app.post_json(&batch_path(&s), &batch_of(&names))
                .await
                .expect(201)
        })
    });
    for answer in join_all(tasks).await {
        let answer = answer.expect("task");
        let seqs: Vec<u64> = items(&answer).into_iter().map(|(_, seq, _)| seq).collect();
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "a batch's seqs are consecutive");
        }
    }
    let events = app.walk(&s, "asc", 500).await;
    assert_eq!(events.len(), 1000);
    assert_eq!(seqs(&events), (1..=1000).collect::<Vec<u64>>());
    assert_eq!(app.session(&s).await["eventCount"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_writers_holding_the_same_last_seq_exactly_one_wins() {
    let app = Arc::new(TestApp::spawn().await);
    let s = app.new_session().await;
    app.append_all(&s, &["v0".into()]).await;
    let writers = (0..10).map(|w| {
        let (app, s) = (app.clone(), s.clone());
        tokio::spawn(async move {
            let name = format!("w{w}");
            if w % 2 == 0 {
                let mut body = event(&name);
                body["expectedLastSeq"] = json!(1);
                app.append(&s, &body).await
            } else {
                let mut body = batch_of(&[&name, &format!("{name}-2")]);
                body["expectedLastSeq"] = json!(1);
                app.post_json(&batch_path(&s), &body).await
            }
        })
    });
    let replies: Vec<common::Reply> = join_all(writers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let wins = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(wins, 1, "exactly one writer wins");
    for reply in replies.iter().filter(|r| r.status != 201) {
        let problem = reply.problem(409, "seq-mismatch");
        assert!(problem["lastSeq"].as_u64().unwrap() > 1);
    }
}

#[tokio::test]
async fn the_batch_body_limit_is_its_own_setting() {
    let app = TestApp::spawn_with(&[
        ("BODY_LIMIT_BYTES", "2000"),
        ("PAYLOAD_LIMIT_BYTES", "1990"),
        ("METADATA_LIMIT_BYTES", "100"),
        ("BATCH_BODY_LIMIT_BYTES", "20000"),
    ])
    .await;
    let s = app.new_session().await;
    let names: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let body = batch_of(&names);
    let size = serde_json::to_vec(&body).unwrap().len();
    assert!((2000..20000).contains(&size), "{size}");
    app.post_json(&batch_path(&s), &body).await.expect(201);
    // Over BODY_LIMIT_BYTES with a payload within its limit: refused alone, taken in a batch.
    let mut big = event("big");
    big["payload"] = json!({"text": "x".repeat(1960)});
    assert!(serde_json::to_vec(&big).unwrap().len() > 2000);
    app.append(&s, &big).await.problem(413, "payload-too-large");
    app.post_json(&batch_path(&s), &json!({ "events": [big] }))
        .await
        .expect(201);
    let names: Vec<String> = (0..400).map(|i| format!("f{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    app.post_json(&batch_path(&s), &batch_of(&names))
        .await
        .problem(413, "payload-too-large");
    assert_eq!(app.session(&s).await["eventCount"], 41);
}

#[tokio::test]
async fn the_batch_route_is_its_own_resource() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    let reply = app.get(&batch_path(&s)).await;
    reply.problem(405, "method-not-allowed");
    assert_eq!(reply.header("allow").as_deref(), Some("POST"));
    app.get(&format!("/sessions/{s}/events/batch"))
        .await
        .problem(404, "event-not-found");
    let doc = app.get("/openapi.json").await.expect(200);
    let operation = &doc["paths"]["/sessions/{sessionId}/events:batch"]["post"];
    assert_eq!(operation["operationId"], "appendEvents");
    assert!(operation["responses"]["201"].is_object());
    assert_eq!(
        doc["components"]["schemas"]["Problem"]["properties"]["lastSeq"]["type"],
        "integer"
    );
}
