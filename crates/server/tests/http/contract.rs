//! Every endpoint, status and error code of SPEC.md, one behaviour per test.

use crate::common;

use common::{TestApp, assert_utc_millis, event, unique};
use reqwest::Method;
use serde_json::{Value, json};

fn session_path(id: &str) -> String {
    format!("/sessions/{id}")
}

fn event_path(session: &str, event: &str) -> String {
    format!("/sessions/{session}/events/{event}")
}

fn assert_session_timestamps(s: &Value) {
    for key in ["startedAt", "createdAt", "updatedAt"] {
        assert_utc_millis(&s[key]);
    }
    if !s["endedAt"].is_null() {
        assert_utc_millis(&s["endedAt"]);
    }
}

// ---------------------------------------------------------------- POST /sessions

#[tokio::test]
async fn create_returns_201_with_location_and_the_session() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    let reply = app.create_session(&json!({ "sessionId": id })).await;
    let s = reply.created(&session_path(&id));
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(s["sessionId"], id);
    assert_eq!(s["status"], "initiated");
    assert_eq!(s["language"], Value::Null);
    assert_eq!(s["metadata"], json!({}));
    assert_eq!(s["endedAt"], Value::Null);
    assert_eq!(
        (s["eventCount"].as_u64(), s["lastSeq"].as_u64()),
        (Some(0), Some(0))
    );
    assert_session_timestamps(&s);
    assert_eq!(
        s["startedAt"], s["createdAt"],
        "startedAt defaults to the store time"
    );
    assert_eq!(s["createdAt"], s["updatedAt"]);
    let mut keys: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "endedAt",
            "eventCount",
            "language",
            "lastSeq",
            "metadata",
            "sessionId",
            "startedAt",
            "status",
            "updatedAt"
        ]
    );
    // GET returns the same session
    assert_eq!(app.session(&id).await, s);
}

#[tokio::test]
async fn create_with_every_field_stores_them_and_normalizes_started_at_to_utc_millis() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    let body = json!({
        "sessionId": id,
        "language": "hi-IN",
        "metadata": {"caller": "+15550100", "tags": ["a", "b"], "n": 3},
        "startedAt": "2024-05-01T14:00:00.123456+02:00",
        "status": "active",
    });
    let s = app.create_session(&body).await.created(&session_path(&id));
    assert_eq!(s["language"], "hi-IN");
    assert_eq!(s["metadata"], body["metadata"]);
    assert_eq!(s["startedAt"], "2024-05-01T12:00:00.123Z");
    assert_eq!(s["status"], "active");
    assert_session_timestamps(&s);
    // language null counts as absent
    let id2 = unique("call");
    let s2 = app
        .create_session(&json!({"sessionId": id2, "language": null, "status": "initiated"}))
        .await
        .created(&session_path(&id2));
    assert_eq!(
        (s2["language"].clone(), s2["status"].clone()),
        (Value::Null, json!("initiated"))
    );
}

#[tokio::test]
async fn create_again_returns_200_replayed_with_the_stored_session_unchanged() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    let first = app
        .create_session(&json!({"sessionId": id, "language": "en", "metadata": {"v": 1}}))
        .await
        .created(&session_path(&id));
    // identical retry
    let again = app
        .create_session(&json!({"sessionId": id, "language": "en", "metadata": {"v": 1}}))
        .await
        .replayed();
    assert_eq!(again, first);
    // a different body: first write wins, nothing is modified
    let other = app
        .create_session(
            &json!({"sessionId": id, "language": "de", "metadata": {"v": 2}, "status": "active"}),
        )
        .await
        .replayed();
    assert_eq!(other, first);
    assert_eq!(app.session(&id).await, first);
}

#[tokio::test]
async fn create_with_unknown_or_invalid_fields_is_400_naming_each_field() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    let p = app
        .create_session(&json!({"sessionId": id, "colour": "red"}))
        .await
        .invalid_field("colour");
    assert_eq!(p["instance"], "/sessions");
    // every offending field is named
    let p = app
        .create_session(&json!({"sessionId": "", "language": 7, "status": "completed", "x": 1}))
        .await
        .problem(400, "validation-failed");
    let mut fields = common::error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["language", "sessionId", "status", "x"]);
    // missing sessionId
    app.create_session(&json!({}))
        .await
        .invalid_field("sessionId");
    // nothing was stored
    app.get(&session_path(&id))
        .await
        .problem(404, "session-not-found");
}

#[tokio::test]
async fn session_not_found_is_404() {
    let app = TestApp::spawn().await;
    let p = app
        .get("/sessions/nobody-here")
        .await
        .problem(404, "session-not-found");
    assert_eq!(p["instance"], "/sessions/nobody-here");
    app.get("/sessions/nobody-here/events")
        .await
        .problem(404, "session-not-found");
    app.get("/sessions/nobody-here/events/e1")
        .await
        .problem(404, "session-not-found");
    app.append("nobody-here", &event("e1"))
        .await
        .problem(404, "session-not-found");
    app.complete("nobody-here", None)
        .await
        .problem(404, "session-not-found");
    // and the failed append created nothing
    app.get("/sessions/nobody-here")
        .await
        .problem(404, "session-not-found");
}

// ---------------------------------------------------------------- POST /sessions/{id}/events

#[tokio::test]
async fn append_returns_201_with_location_and_the_event() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let reply = app
        .append(
            &session,
            &json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "hello"}}),
        )
        .await;
    let e = reply.created(&event_path(&session, "e1"));
    assert_eq!(e["eventId"], "e1");
    assert_eq!(e["sessionId"], session);
    assert_eq!(e["seq"], 1);
    assert_eq!(e["type"], "user_speech");
    assert_eq!(e["payload"], json!({"text": "hello"}));
    assert_utc_millis(&e["timestamp"]);
    assert_utc_millis(&e["receivedAt"]);
    assert_eq!(
        e["timestamp"], e["receivedAt"],
        "timestamp defaults to receivedAt"
    );
    let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "eventId",
            "payload",
            "receivedAt",
            "redactedAt",
            "seq",
            "sessionId",
            "supersededBy",
            "supersedes",
            "timestamp",
            "type"
        ]
    );
    assert_eq!(e["redactedAt"], Value::Null, "not redacted");
    assert_eq!(e["supersedes"], Value::Null, "corrects nothing");
    assert_eq!(e["supersededBy"], Value::Null, "corrected by nothing");
    // GET one event
    assert_eq!(app.get(&event_path(&session, "e1")).await.expect(200), e);

    // payload defaults to {}, timestamp is normalized to UTC millis, other types are accepted
    let e2 = app
        .append(
            &session,
            &json!({"eventId": "e2", "type": "TRANSCRIPT", "timestamp": "2024-05-01T08:30:00-04:00"}),
        )
        .await
        .created(&event_path(&session, "e2"));
    assert_eq!(e2["payload"], json!({}));
    assert_eq!(e2["timestamp"], "2024-05-01T12:30:00.000Z");
    assert_eq!(e2["seq"], 2);
    for t in ["bot_speech", "system", "a.b:c-d_e"] {
        let id = unique("t");
        app.append(&session, &json!({"eventId": id, "type": t}))
            .await
            .created(&event_path(&session, &id));
    }
}

#[tokio::test]
async fn append_replay_returns_200_with_the_stored_event() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let body = json!({"eventId": "e1", "type": "bot_speech", "payload": {"a": 1, "b": [1, 2]},
                      "timestamp": "2024-05-01T12:00:00.000Z"});
    let stored = app
        .append(&session, &body)
        .await
        .created(&event_path(&session, "e1"));
    // identical retry
    assert_eq!(app.append(&session, &body).await.replayed(), stored);
    // same content, other key order and the same instant written differently
    let same = json!({"type": "bot_speech", "eventId": "e1", "payload": {"b": [1, 2], "a": 1},
                      "timestamp": "2024-05-01T14:00:00+02:00"});
    assert_eq!(app.append(&session, &same).await.replayed(), stored);
    // a retry without timestamp matches whatever timestamp was stored
    let no_ts = json!({"eventId": "e1", "type": "bot_speech", "payload": {"a": 1, "b": [1, 2]}});
    assert_eq!(app.append(&session, &no_ts).await.replayed(), stored);
    let s = app.session(&session).await;
    assert_eq!(
        (s["eventCount"].as_u64(), s["lastSeq"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn append_with_the_same_id_and_other_content_is_409_naming_the_stored_event() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let body = json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "hi"},
                      "timestamp": "2024-05-01T12:00:00.000Z"});
    let stored = app
        .append(&session, &body)
        .await
        .created(&event_path(&session, "e1"));
    let before = app.session(&session).await;
    for changed in [
        json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "bye"}}),
        json!({"eventId": "e1", "type": "bot_speech", "payload": {"text": "hi"}}),
        json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "hi"},
               "timestamp": "2024-05-01T12:00:00.001Z"}),
        json!({"eventId": "e1", "type": "user_speech"}),
    ] {
        let reply = app.append(&session, &changed).await;
        let p = reply.problem(409, "event-conflict");
        let location = event_path(&session, "e1");
        assert_eq!(reply.header("location").as_deref(), Some(location.as_str()));
        assert!(
            p["detail"].as_str().unwrap().contains(&location),
            "the problem names the stored event: {p}"
        );
    }
    assert_eq!(
        app.get(&event_path(&session, "e1")).await.expect(200),
        stored
    );
    assert_eq!(app.session(&session).await, before, "nothing changed");
}

#[tokio::test]
async fn event_ids_are_unique_per_session_only() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.new_session().await, app.new_session().await);
    let ea = app
        .append(&a, &event("same"))
        .await
        .created(&event_path(&a, "same"));
    let eb = app
        .append(&b, &event("same"))
        .await
        .created(&event_path(&b, "same"));
    assert_eq!((ea["seq"].clone(), eb["seq"].clone()), (json!(1), json!(1)));
    assert_eq!(eb["sessionId"], b);
}

#[tokio::test]
async fn append_with_unknown_fields_is_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let mut body = event("e1");
    body["seq"] = json!(7);
    body["sessionId"] = json!(session);
    let p = app
        .append(&session, &body)
        .await
        .problem(400, "validation-failed");
    let mut fields = common::error_fields(&p);
    fields.sort();
    assert_eq!(fields, ["seq", "sessionId"]);
    app.append(&session, &json!({"eventId": "e1"}))
        .await
        .invalid_field("type");
    app.append(&session, &json!({"type": "system"}))
        .await
        .invalid_field("eventId");
    app.get(&event_path(&session, "e1"))
        .await
        .problem(404, "event-not-found");
}

#[tokio::test]
async fn the_first_event_activates_the_session_and_counts_follow_every_append() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let created = app.session(&session).await;
    assert_eq!(created["status"], "initiated");
    for n in 1..=3u64 {
        let e = app
            .append(&session, &event(&format!("e{n}")))
            .await
            .created(&event_path(&session, &format!("e{n}")));
        assert_eq!(e["seq"], n);
        let s = app.session(&session).await;
        assert_eq!(s["status"], "active");
        assert_eq!(
            (s["eventCount"].as_u64(), s["lastSeq"].as_u64()),
            (Some(n), Some(n))
        );
        assert_session_timestamps(&s);
        assert_eq!(s["createdAt"], created["createdAt"]);
        assert_eq!(s["startedAt"], created["startedAt"]);
    }
    // a replay changes no counter
    app.append(&session, &event("e1")).await.replayed();
    let s = app.session(&session).await;
    assert_eq!(
        (s["eventCount"].as_u64(), s["lastSeq"].as_u64()),
        (Some(3), Some(3))
    );
    // a session created active stays active
    let active = unique("call");
    app.create_session(&json!({"sessionId": active, "status": "active"}))
        .await
        .created(&session_path(&active));
    app.append(&active, &event("e1"))
        .await
        .created(&event_path(&active, "e1"));
    assert_eq!(app.session(&active).await["status"], "active");
}

// ---------------------------------------------------------------- GET one event

#[tokio::test]
async fn get_event_is_200_or_404_event_not_found() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let e = app
        .append(&session, &event("e1"))
        .await
        .created(&event_path(&session, "e1"));
    assert_eq!(app.get(&event_path(&session, "e1")).await.expect(200), e);
    let p = app
        .get(&event_path(&session, "e2"))
        .await
        .problem(404, "event-not-found");
    assert_eq!(p["instance"], event_path(&session, "e2"));
    app.get(&event_path("no-such-session", "e1"))
        .await
        .problem(404, "session-not-found");
}

// ---------------------------------------------------------------- POST /sessions/{id}/complete

#[tokio::test]
async fn complete_ends_the_session_and_a_replay_keeps_ended_at() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    app.append(&session, &event("e1"))
        .await
        .created(&event_path(&session, "e1"));
    let reply = app.complete(&session, Some(&json!({}))).await;
    let done = reply.expect(200);
    assert_eq!(reply.header("idempotent-replayed"), None);
    assert_eq!(done["status"], "completed");
    assert_utc_millis(&done["endedAt"]);
    assert_session_timestamps(&done);
    assert_eq!(
        (done["eventCount"].as_u64(), done["lastSeq"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(app.session(&session).await, done);

    // replays: no body, an explicit status, even another endedAt: the stored session, unchanged
    for body in [
        None,
        Some(json!({"status": "completed"})),
        Some(json!({"status": "completed", "endedAt": "2020-01-01T00:00:00Z"})),
    ] {
        let again = app.complete(&session, body.as_ref()).await.replayed();
        assert_eq!(again, done);
    }
    // the other terminal status conflicts
    let p = app
        .complete(&session, Some(&json!({"status": "failed"})))
        .await
        .problem(409, "session-state-conflict");
    assert_eq!(p["instance"], format!("/sessions/{session}/complete"));
    assert_eq!(app.session(&session).await, done);
    // a create retried after the end is a replay of the ended session
    let again = app
        .create_session(&json!({ "sessionId": session }))
        .await
        .replayed();
    assert_eq!(again, done);
}

#[tokio::test]
async fn ids_with_every_allowed_character_and_the_longest_length_work() {
    let app = TestApp::spawn().await;
    let long = format!("S{}", "a".repeat(127));
    for id in ["0", "a:b.c_d-E9", "urn:call:2024.05.01_x-y", long.as_str()] {
        app.create_session(&json!({ "sessionId": id }))
            .await
            .created(&session_path(id));
        let body = json!({"eventId": id, "type": format!("T{}", "x".repeat(63)), "payload": {}});
        let e = app.append(id, &body).await.created(&event_path(id, id));
        assert_eq!(e["eventId"], id);
        assert_eq!(app.get(&event_path(id, id)).await.expect(200), e);
        assert_eq!(app.walk(id, "asc", 10).await, vec![e]);
        assert_eq!(app.complete(id, None).await.expect(200)["sessionId"], id);
    }
    let lang = "zh-Hant-TW-abcdefgh-12345678-abcd";
    let id = unique("lang");
    let s = app
        .create_session(&json!({"sessionId": id, "language": lang}))
        .await
        .created(&session_path(&id));
    assert_eq!(s["language"], lang, "stored as given");
}

#[tokio::test]
async fn complete_as_failed_then_completed_conflicts() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let failed = app
        .complete(
            &session,
            Some(&json!({"status": "failed", "endedAt": "2024-05-01T14:00:00.5+02:00"})),
        )
        .await
        .expect(200);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["endedAt"], "2024-05-01T12:00:00.500Z");
    assert_eq!(
        app.complete(&session, Some(&json!({"status": "failed"})))
            .await
            .replayed(),
        failed
    );
    app.complete(&session, None)
        .await
        .problem(409, "session-state-conflict");
    app.complete(&session, Some(&json!({"status": "completed"})))
        .await
        .problem(409, "session-state-conflict");
    app.append(&session, &event("late"))
        .await
        .problem(409, "session-closed");
    assert_eq!(app.session(&session).await, failed);
}

#[tokio::test]
async fn complete_takes_an_empty_body_without_content_type() {
    let app = TestApp::spawn().await;
    // no body, no content type
    let a = app.new_session().await;
    let reply = app
        .post_raw(&format!("/sessions/{a}/complete"), None, "")
        .await;
    assert_eq!(reply.expect(200)["status"], "completed");
    // empty body with a JSON content type
    let b = app.new_session().await;
    let reply = app
        .post_raw(
            &format!("/sessions/{b}/complete"),
            Some("application/json"),
            "",
        )
        .await;
    assert_eq!(reply.expect(200)["status"], "completed");
    // a body needs the JSON content type
    let c = app.new_session().await;
    app.post_raw(&format!("/sessions/{c}/complete"), None, "{}")
        .await
        .problem(415, "unsupported-media-type");
    app.post_raw(&format!("/sessions/{c}/complete"), Some("text/plain"), "{}")
        .await
        .problem(415, "unsupported-media-type");
    assert_eq!(app.session(&c).await["status"], "initiated");
    // a body that is sent must be the documented object: `null` is not "no body"
    app.post_raw(
        &format!("/sessions/{c}/complete"),
        Some("application/json"),
        "null",
    )
    .await
    .invalid_field("body");
    assert_eq!(app.session(&c).await["status"], "initiated");
    // unknown fields and non-terminal statuses are refused
    app.complete(&c, Some(&json!({"reason": "x"})))
        .await
        .invalid_field("reason");
    app.complete(&c, Some(&json!({"status": "active"})))
        .await
        .invalid_field("status");
    assert_eq!(app.session(&c).await["status"], "initiated");
}

#[tokio::test]
async fn a_closed_session_refuses_new_events_but_replays_stored_ones() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let e1 = app
        .append(&session, &event("e1"))
        .await
        .created(&event_path(&session, "e1"));
    let done = app.complete(&session, None).await.expect(200);
    // a new event
    let p = app
        .append(&session, &event("e2"))
        .await
        .problem(409, "session-closed");
    assert_eq!(p["instance"], format!("/sessions/{session}/events"));
    // a retry of an event stored before: still a replay, forever
    assert_eq!(app.append(&session, &event("e1")).await.replayed(), e1);
    // the same id with other content: still a conflict
    app.append(
        &session,
        &json!({"eventId": "e1", "type": "system", "payload": {}}),
    )
    .await
    .problem(409, "event-conflict");
    // the list is final
    let events = app.walk(&session, "asc", 50).await;
    assert_eq!(events, vec![e1]);
    assert_eq!(app.session(&session).await, done);
    app.get(&event_path(&session, "e2"))
        .await
        .problem(404, "event-not-found");
}

// ---------------------------------------------------------------- routing errors

#[tokio::test]
async fn unknown_routes_are_404_not_found() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    for path in [
        "/",
        "/nope",
        "/sessions/",
        "/session",
        &format!("/sessions/{session}/events/e1/extra"),
        &format!("/sessions/{session}/other"),
        "/healthz/x",
        "/swagger-ui/no-such-file.js",
    ] {
        let p = app.get(path).await.problem(404, "not-found");
        assert_eq!(p["instance"], path.split('?').next().unwrap());
    }
    app.post_json("/nope", &json!({}))
        .await
        .problem(404, "not-found");
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    app.append(&session, &event("e1"))
        .await
        .created(&event_path(&session, "e1"));
    let cases = [
        (Method::PUT, "/sessions".to_owned(), "GET, POST"),
        (Method::DELETE, "/sessions".to_owned(), "GET, POST"),
        (Method::PATCH, session_path(&session), "GET, DELETE"),
        (Method::PUT, session_path(&session), "GET, DELETE"),
        (Method::POST, session_path(&session), "GET, DELETE"),
        (
            Method::GET,
            format!("{}/redact", event_path(&session, "e1")),
            "POST",
        ),
        (Method::GET, format!("/sessions/{session}/complete"), "POST"),
        (
            Method::PATCH,
            format!("/sessions/{session}/events"),
            "GET, POST",
        ),
        (Method::DELETE, event_path(&session, "e1"), "GET"),
        (Method::POST, event_path(&session, "e1"), "GET"),
        (Method::POST, "/healthz".to_owned(), "GET"),
        (Method::DELETE, "/readyz".to_owned(), "GET"),
    ];
    for (method, path, allow) in cases {
        let reply = app
            .send(app.raw(method.clone(), &path, Some("application/json"), "{}"))
            .await;
        let p = reply.problem(405, "method-not-allowed");
        assert_eq!(p["instance"], path);
        let allowed = reply.header("allow").unwrap_or_default();
        for m in allow.split(", ") {
            assert!(
                allowed.contains(m),
                "{method} {path}: Allow {allowed:?} has {m}"
            );
        }
    }
    // nothing was deleted or changed
    assert_eq!(app.session(&session).await["eventCount"], 1);
    app.get(&event_path(&session, "e1")).await.expect(200);
}

// ---------------------------------------------------------------- media type and size

#[tokio::test]
async fn bodies_must_be_application_json() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let id = unique("call");
    let create = serde_json::to_vec(&json!({"sessionId": id})).unwrap();
    let append = serde_json::to_vec(&event("e1")).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/problem+json"),
        Some("application/jsonp"),
        Some("text/json"),
        Some("multipart/form-data; boundary=x"),
    ] {
        app.post_raw("/sessions", content_type, create.clone())
            .await
            .problem(415, "unsupported-media-type");
        app.post_raw(
            &format!("/sessions/{session}/events"),
            content_type,
            append.clone(),
        )
        .await
        .problem(415, "unsupported-media-type");
    }
    app.get(&session_path(&id))
        .await
        .problem(404, "session-not-found");
    app.get(&event_path(&session, "e1"))
        .await
        .problem(404, "event-not-found");
    // a charset parameter or other casing is fine
    app.post_raw(
        "/sessions",
        Some("application/json; charset=utf-8"),
        create.clone(),
    )
    .await
    .created(&session_path(&id));
    app.post_raw(
        &format!("/sessions/{session}/events"),
        Some("Application/JSON;charset=UTF-8"),
        append,
    )
    .await
    .created(&event_path(&session, "e1"));
}

/// A payload of exactly `size` bytes serialized.
fn payload_of(size: usize) -> Value {
    let overhead = r#"{"k":""}"#.len();
    json!({ "k": "x".repeat(size - overhead) })
}

#[tokio::test]
async fn payload_and_metadata_limits_are_413() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    // exactly 64 KiB is fine
    let at_limit = payload_of(64 * 1024);
    assert_eq!(serde_json::to_string(&at_limit).unwrap().len(), 65_536);
    let e = app
        .append(
            &session,
            &json!({"eventId": "big", "type": "system", "payload": at_limit}),
        )
        .await
        .created(&event_path(&session, "big"));
    assert_eq!(e["payload"], at_limit);
    // one byte more is not
    let over = payload_of(64 * 1024 + 1);
    app.append(
        &session,
        &json!({"eventId": "bigger", "type": "system", "payload": over}),
    )
    .await
    .problem(413, "payload-too-large");
    app.get(&event_path(&session, "bigger"))
        .await
        .problem(404, "event-not-found");
    // metadata: 16 KiB
    let id = unique("call");
    app.create_session(&json!({"sessionId": id, "metadata": payload_of(16 * 1024 + 1)}))
        .await
        .problem(413, "payload-too-large");
    app.get(&session_path(&id))
        .await
        .problem(404, "session-not-found");
    app.create_session(&json!({"sessionId": id, "metadata": payload_of(16 * 1024)}))
        .await
        .created(&session_path(&id));
    assert_eq!(app.session(&session).await["eventCount"], 1);
}

#[tokio::test]
async fn bodies_over_the_body_limit_are_413() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    // the default body limit is 128 KiB
    let huge = json!({"eventId": "huge", "type": "system", "payload": {"k": "x".repeat(200_000)}});
    app.append(&session, &huge)
        .await
        .problem(413, "payload-too-large");
    let id = unique("call");
    let huge = json!({"sessionId": id, "metadata": {"k": "x".repeat(200_000)}});
    app.create_session(&huge)
        .await
        .problem(413, "payload-too-large");
    app.post_raw(
        &format!("/sessions/{session}/complete"),
        Some("application/json"),
        format!("{{\"status\":\"completed\"{}}}", " ".repeat(140_000)),
    )
    .await
    .problem(413, "payload-too-large");
    // nothing stored, and the server still serves
    app.get(&session_path(&id))
        .await
        .problem(404, "session-not-found");
    let s = app.session(&session).await;
    assert_eq!(
        (s["eventCount"].as_u64(), s["status"].as_str()),
        (Some(0), Some("initiated"))
    );
}

#[tokio::test]
async fn limits_follow_the_configuration() {
    let app = TestApp::spawn_with(&[
        ("PAYLOAD_LIMIT_BYTES", "100"),
        ("METADATA_LIMIT_BYTES", "50"),
        ("BODY_LIMIT_BYTES", "1000"),
    ])
    .await;
    let session = app.new_session().await;
    app.append(
        &session,
        &json!({"eventId": "ok", "type": "system", "payload": payload_of(100)}),
    )
    .await
    .created(&event_path(&session, "ok"));
    app.append(
        &session,
        &json!({"eventId": "no", "type": "system", "payload": payload_of(101)}),
    )
    .await
    .problem(413, "payload-too-large");
    app.create_session(&json!({"sessionId": unique("m"), "metadata": payload_of(51)}))
        .await
        .problem(413, "payload-too-large");
    app.post_raw("/sessions", Some("application/json"), vec![b' '; 1001])
        .await
        .problem(413, "payload-too-large");
}

// ---------------------------------------------------------------- headers and formats

#[tokio::test]
async fn x_request_id_is_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let echoed = app
        .send(
            app.request(Method::GET, &session_path(&session))
                .header("x-request-id", "req-abc.123:Z_9"),
        )
        .await;
    assert_eq!(echoed.status, 200);
    assert_eq!(
        echoed.header("x-request-id").as_deref(),
        Some("req-abc.123:Z_9")
    );
    // errors too
    let echoed = app
        .send(
            app.request(Method::GET, "/sessions/nope")
                .header("x-request-id", "trace-404"),
        )
        .await;
    echoed.problem(404, "session-not-found");
    assert_eq!(echoed.header("x-request-id").as_deref(), Some("trace-404"));
    // generated otherwise, one per request
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/healthz",
        "/healthz",
        "/readyz",
        "/nope",
        "/openapi.json",
        "/swagger-ui/",
        "/metrics",
        &session_path(&session),
        &format!("{}/events", session_path(&session)),
    ] {
        let reply = app.get(path).await;
        let id = reply
            .header("x-request-id")
            .expect("a generated X-Request-Id");
        assert!(!id.is_empty());
        assert!(seen.insert(id), "request ids are unique");
    }
    let reply = app.append(&session, &event("e1")).await;
    assert!(reply.header("x-request-id").is_some());
}

#[tokio::test]
async fn timestamps_are_utc_with_milliseconds_everywhere() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    app.create_session(&json!({"sessionId": id, "startedAt": "2024-02-29T23:59:59+05:30"}))
        .await
        .created(&session_path(&id));
    let e = app
        .append(&id, &json!({"eventId": "e1", "type": "system", "timestamp": "2024-05-01T12:00:00.987654321Z"}))
        .await
        .created(&event_path(&id, "e1"));
    assert_eq!(e["timestamp"], "2024-05-01T12:00:00.987Z");
    app.append(&id, &event("e2"))
        .await
        .created(&event_path(&id, "e2"));
    let done = app.complete(&id, None).await.expect(200);
    assert_eq!(done["startedAt"], "2024-02-29T18:29:59.000Z");
    assert_session_timestamps(&done);
    let full = app.get(&session_path(&id)).await.expect(200);
    assert_session_timestamps(&full);
    for e in full["events"]["data"].as_array().unwrap() {
        assert_utc_millis(&e["timestamp"]);
        assert_utc_millis(&e["receivedAt"]);
    }
}

// ---------------------------------------------------------------- operations

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = TestApp::spawn().await;
    let h = app.get("/healthz").await;
    assert_eq!(h.expect(200)["status"], "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.expect(200)["status"], "ready");
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn openapi_is_3_1_and_documents_every_route_status_and_problem() {
    let app = TestApp::spawn().await;
    let reply = app.get("/openapi.json").await;
    let doc = reply.expect(200);
    assert!(reply.content_type().starts_with("application/json"));
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let expected: &[(&str, &str, &[&str])] = &[
        ("/sessions", "post", &["200", "201", "400", "413", "415"]),
        ("/sessions/{sessionId}", "get", &["200", "400", "404"]),
        (
            "/sessions/{sessionId}/complete",
            "post",
            &["200", "400", "404", "409", "415"],
        ),
        (
            "/sessions/{sessionId}/events",
            "post",
            &["200", "201", "400", "404", "409", "413", "415"],
        ),
        (
            "/sessions/{sessionId}/events",
            "get",
            &["200", "400", "404"],
        ),
        (
            "/sessions/{sessionId}/events/{eventId}",
            "get",
            &["200", "404"],
        ),
        ("/admin/webhooks", "post", &["201", "400", "413", "415"]),
        ("/admin/webhooks", "get", &["200", "400"]),
        ("/admin/webhooks/{webhookId}", "get", &["200", "400", "404"]),
        (
            "/admin/webhooks/{webhookId}",
            "patch",
            &["200", "400", "404", "413", "415"],
        ),
        (
            "/admin/webhooks/{webhookId}",
            "delete",
            &["204", "400", "404"],
        ),
        (
            "/admin/webhooks/{webhookId}/rotate-secret",
            "post",
            &["200", "400", "404"],
        ),
        (
            "/admin/webhooks/{webhookId}/deliveries",
            "get",
            &["200", "400", "404"],
        ),
        (
            "/admin/webhooks/{webhookId}/deliveries/{messageId}/resend",
            "post",
            &["202", "400", "404"],
        ),
        (
            "/admin/webhooks/{webhookId}/replay",
            "post",
            &["202", "400", "404", "413", "415"],
        ),
        ("/healthz", "get", &["200"]),
        ("/readyz", "get", &["200", "503"]),
    ];
    for (path, method, statuses) in expected {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is documented"))[*method];
        assert!(op.is_object(), "{method} {path} is documented");
        for status in *statuses {
            assert!(
                op["responses"].get(*status).is_some(),
                "{method} {path} documents {status}"
            );
        }
    }
    for schema in [
        "Problem",
        "FieldError",
        "Session",
        "Event",
        "EventPage",
        "SessionWithEvents",
        "SessionStatus",
        "WebhookInfo",
        "WebhookWithSecret",
        "WebhookEventType",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema}"
        );
    }
    let text = reply.text();
    for code in [
        "validation-failed",
        "invalid-cursor",
        "malformed-json",
        "unsupported-media-type",
        "payload-too-large",
        "session-not-found",
        "event-not-found",
        "not-found",
        "method-not-allowed",
        "event-conflict",
        "session-closed",
        "session-state-conflict",
        "supersede-conflict",
        "storage-unavailable",
        "internal",
    ] {
        assert!(text.contains(code), "the document names the problem {code}");
    }
}

/// Corrections as generated clients see them: `supersedes` on the append bodies, both links on
/// the event, and `view` (all, current) on the event list and the session read.
#[tokio::test]
async fn openapi_documents_corrections_and_the_view() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("AppendEventRequest", "supersedes"),
        ("BatchEvent", "supersedes"),
        ("Event", "supersedes"),
        ("Event", "supersededBy"),
    ] {
        assert!(
            schemas[schema]["properties"].get(field).is_some(),
            "{schema}.{field}: {}",
            schemas[schema]
        );
    }
    for (path, method) in [
        ("/sessions/{sessionId}/events", "get"),
        ("/sessions/{sessionId}", "get"),
    ] {
        let parameters = doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} has parameters"));
        let view = parameters
            .iter()
            .find(|p| p["name"] == "view")
            .unwrap_or_else(|| panic!("{method} {path} documents view"));
        assert_eq!(view["in"], "query");
        assert_eq!(
            view["schema"]["enum"],
            serde_json::json!(["all", "current"])
        );
    }
}

/// SPEC: `payload` and `metadata` are optional (default `{}`); the request schemas must not
/// mark them required, or generated clients refuse valid requests.
#[tokio::test]
async fn openapi_request_schemas_require_only_the_required_fields() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        let mut r: Vec<String> = schemas[name]["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        r.sort();
        r
    };
    assert_eq!(
        required("CreateSessionRequest"),
        ["sessionId"],
        "{}",
        schemas["CreateSessionRequest"]
    );
    assert_eq!(
        required("AppendEventRequest"),
        ["eventId", "type"],
        "{}",
        schemas["AppendEventRequest"]
    );
    assert!(required("CompleteSessionRequest").is_empty());
}

/// The document states the running limits (not the defaults) and the domain's id rules.
#[tokio::test]
async fn openapi_states_the_running_limits_and_the_domain_rules() {
    let app = TestApp::spawn_with(&[
        ("PAYLOAD_LIMIT_BYTES", "1234"),
        ("METADATA_LIMIT_BYTES", "567"),
        ("BODY_LIMIT_BYTES", "8910"),
        ("PAGE_DEFAULT_LIMIT", "7"),
        ("PAGE_MAX_LIMIT", "77"),
    ])
    .await;
    let doc = app.get("/openapi.json").await.expect(200);
    for path in ["/sessions/{sessionId}", "/sessions/{sessionId}/events"] {
        let limit = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path} documents limit"));
        assert_eq!(limit["schema"]["maximum"], 77, "{limit}");
        assert_eq!(limit["schema"]["default"], 7, "{limit}");
    }
    let schemas = &doc["components"]["schemas"];
    let described = |pointer: &str, number: &str| {
        let text = doc.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        assert!(text.contains(number), "{pointer} states {number}: {text:?}");
    };
    described(
        "/components/schemas/AppendEventRequest/properties/payload/description",
        "1234",
    );
    described(
        "/components/schemas/CreateSessionRequest/properties/metadata/description",
        "567",
    );
    for path in ["/sessions", "/sessions/{sessionId}/events"] {
        let pointer = format!(
            "/paths/{}/post/requestBody/description",
            path.replace('/', "~1")
        );
        described(&pointer, "8910");
    }
    assert_eq!(
        schemas["SessionId"]["pattern"],
        "^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    );
    assert_eq!(schemas["SessionId"]["maxLength"], 128);
    assert_eq!(schemas["EventType"]["maxLength"], 64);
    assert_eq!(
        schemas["SessionStatus"]["enum"],
        json!(["initiated", "active", "completed", "failed"])
    );
}

/// What generated clients need (issue 9): camelCase operation ids, free-form payloads, an
/// optional complete body without a `null` schema, always-sent fields required, `X-Request-Id`
/// on every response, problems by reference, links from the 201s.
/// Issue 22 item 15: a client generated from the document (openapi-typescript + openapi-fetch)
/// typed the 200 of `listEvents` as `EventPage | string`, as every media type of a success
/// response joins the type of its data. Each success response has one media type, JSON where
/// there is JSON; the other representations of an operation (the SSE stream and the NDJSON
/// export of `listEvents`) stay documented beside it, in `x-representations`, with their
/// schemas and examples.
#[tokio::test]
async fn openapi_success_responses_have_one_media_type_and_the_streams_stay_documented() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if !status.starts_with('2') {
                    continue;
                }
                if let Some(content) = response.get("content").and_then(Value::as_object) {
                    assert_eq!(
                        content.len(),
                        1,
                        "{method} {path} {status}: one media type, not {:?}",
                        content.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    let ok = &doc["paths"]["/sessions/{sessionId}/events"]["get"]["responses"]["200"];
    assert_eq!(
        ok["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["application/json"]
    );
    assert_eq!(
        ok["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EventPage"
    );
    let aside = ok["x-representations"]
        .as_object()
        .expect("x-representations");
    let mut media: Vec<&String> = aside.keys().collect();
    media.sort();
    assert_eq!(media, ["application/x-ndjson", "text/event-stream"]);
    for (media, representation) in aside {
        assert_eq!(representation["schema"]["type"], "string", "{media}");
        assert!(
            representation["example"]
                .as_str()
                .is_some_and(|e| e.contains("\"eventId\"")),
            "{media} has an example"
        );
    }
}

#[tokio::test]
async fn openapi_is_what_client_generators_need() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ids.push(op["operationId"].as_str().unwrap().to_owned());
            assert!(
                op["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path} has a description"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                let headers = match response.get("$ref") {
                    Some(r) => {
                        let name = r.as_str().unwrap().rsplit('/').next().unwrap();
                        &doc["components"]["responses"][name]["headers"]
                    }
                    None => &response["headers"],
                };
                assert!(
                    headers.get("X-Request-Id").is_some(),
                    "{method} {path} {status} declares X-Request-Id"
                );
            }
        }
    }
    ids.sort();
    assert_eq!(
        ids,
        [
            "appendEvent",
            "appendEvents",
            "completeSession",
            "createKey",
            "createSession",
            "createWebhook",
            "deleteWebhook",
            "eraseSession",
            "getEvent",
            "getSession",
            "getWebhook",
            "healthz",
            "listEvents",
            "listKeys",
            "listSessions",
            "listWebhookDeliveries",
            "listWebhooks",
            "metrics",
            "readyz",
            "redactEvent",
            "replayWebhookMessages",
            "resendWebhookMessage",
            "revokeKey",
            "rotateWebhookSecret",
            "updateWebhook"
        ]
    );
    let complete = &doc["paths"]["/sessions/{sessionId}/complete"]["post"]["requestBody"];
    assert_eq!(complete["required"], false, "{complete}");
    assert_eq!(
        complete["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/CompleteSessionRequest"})
    );
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["JsonObject"]["additionalProperties"], true);
    for (schema, field) in [
        ("Session", "language"),
        ("Session", "endedAt"),
        ("EventPage", "nextCursor"),
        ("SessionPage", "nextCursor"),
        ("WebhookInfo", "description"),
        ("CreateWebhookRequest", "url"),
    ] {
        let required = schemas[schema]["required"].as_array().unwrap();
        assert!(
            required.contains(&json!(field)),
            "{schema}.{field} is required"
        );
    }
    assert_eq!(schemas["IdempotentReplayed"]["enum"], json!(["true"]));
    let conflict = &doc["components"]["responses"]["Conflict"];
    assert!(conflict["headers"].get("Location").is_some(), "{conflict}");
    let created = &doc["paths"]["/sessions/{sessionId}/events"]["post"]["responses"]["201"];
    assert_eq!(
        created["links"]["getEvent"]["operationId"], "getEvent",
        "{created}"
    );
    assert!(doc["servers"].is_array() && doc["security"].is_array());
    assert!(doc["info"]["contact"].is_object() && doc["info"]["license"].is_object());
}

#[tokio::test]
async fn swagger_ui_serves_html() {
    let app = TestApp::spawn().await;
    let reply = app.get("/swagger-ui/").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.content_type().starts_with("text/html"),
        "{}",
        reply.content_type()
    );
    assert!(reply.text().to_lowercase().contains("swagger"));
}

/// SPEC: `GET /metrics` — Prometheus text with request counts and latency histograms by
/// route and status, storage latencies, idempotent replays and conflicts.
#[tokio::test]
async fn metrics_serves_prometheus_text() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    app.append(&session, &event("e1"))
        .await
        .created(&event_path(&session, "e1"));
    app.append(&session, &event("e1")).await.replayed();
    app.append(&session, &json!({"eventId": "e1", "type": "system"}))
        .await
        .problem(409, "event-conflict");
    app.get("/no-such-route-xyz")
        .await
        .problem(404, "not-found");
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200, "GET /metrics: {}", reply.text());
    assert!(
        reply.content_type().starts_with("text/plain"),
        "{}",
        reply.content_type()
    );
    let text = reply.text();
    assert!(
        text.contains("# TYPE"),
        "Prometheus exposition format: {text}"
    );
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let has = |what: &[&str]| {
        samples
            .iter()
            .any(|l| what.iter().all(|w| l.contains(w)) && !l.ends_with(" 0"))
    };
    assert!(has(&["_bucket{"]), "latency histograms: {text}");
    assert!(
        has(&["request", "/sessions/{sessionId}/events", "201"]),
        "requests by route template and status: {text}"
    );
    assert!(has(&["storage"]), "storage operation latencies: {text}");
    assert!(has(&["replay"]), "idempotent replays: {text}");
    assert!(has(&["conflict"]), "conflicts: {text}");
    // labels are route templates, not raw paths: no unbounded cardinality
    assert!(!text.contains(&session), "no session id in a label: {text}");
    assert!(
        !text.contains("no-such-route-xyz"),
        "no raw unknown path in a label"
    );
    let doc = app.get("/openapi.json").await.expect(200);
    assert!(
        doc["paths"]["/metrics"]["get"].is_object(),
        "/metrics is documented"
    );
}

/// Each message type is documented under `webhooks` (OpenAPI 3.1): the `POST` an endpoint
/// receives, its Standard Webhooks headers, and its body (the `GET` shapes, or ids once erased).
#[tokio::test]
async fn every_webhook_message_type_is_documented() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await.expect(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let webhooks = doc["webhooks"].as_object().expect("webhooks");
    let types: Vec<&str> = webhooks.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "session.created",
            "session.completed",
            "session.failed",
            "session.erased",
            "event.appended",
            "event.redacted"
        ]
    );
    for (kind, item) in webhooks {
        let post = &item["post"];
        let headers: Vec<&str> = post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
        let body = &post["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["type"]["const"], kind.as_str());
        let session = &body["properties"]["data"]["properties"]["session"]["oneOf"];
        assert_eq!(session[0]["$ref"], "#/components/schemas/Session");
        let carries_event = kind.starts_with("event.");
        assert_eq!(
            body["properties"]["data"]["properties"]
                .get("event")
                .is_some(),
            carries_event,
            "{kind}"
        );
    }
    for schema in ["Session", "Event", "SessionIds", "EventIds", "SessionId"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} referenced and defined"
        );
    }
}
