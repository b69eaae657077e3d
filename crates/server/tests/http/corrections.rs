//! Corrections over HTTP (SPEC "Corrections"): interim transcripts replaced by the final one,
//! a bot utterance cut short by a barge-in, `supersedes`/`supersededBy` on every event,
//! `view=current` pages with their `Link` and cursors bound to the view, and the 409s.

use crate::common;

use common::{TestApp, ids};
use serde_json::{Value, json};

fn speech(id: &str, kind: &str, text: &str, supersedes: Option<&str>) -> Value {
    json!({"eventId": id, "type": kind, "payload": {"text": text}, "supersedes": supersedes})
}

fn event_path(session: &str, id: &str) -> String {
    format!("/sessions/{session}/events/{id}")
}

#[tokio::test]
async fn interim_then_final_and_a_barge_in_read_as_the_transcript_that_stands() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    let post = |body: Value| {
        let app = &app;
        let s = s.clone();
        async move { app.append(&s, &body).await }
    };
    // The recogniser's interims, then its final result.
    post(speech("u1-a", "user_speech", "I need", None))
        .await
        .created(&event_path(&s, "u1-a"));
    let interim = post(speech("u1-b", "user_speech", "I need help", Some("u1-a")))
        .await
        .created(&event_path(&s, "u1-b"));
    assert_eq!(interim["supersedes"], "u1-a");
    assert_eq!(interim["supersededBy"], Value::Null);
    post(speech(
        "u1",
        "user_speech",
        "I need help with my bill",
        Some("u1-b"),
    ))
    .await
    .created(&event_path(&s, "u1"));
    // The bot's answer, cut short by the caller: what was heard replaces what was generated.
    post(speech(
        "b1",
        "bot_speech",
        "Sure, let me look at your last three invoices",
        None,
    ))
    .await
    .created(&event_path(&s, "b1"));
    let heard = json!({"eventId": "b1-heard", "type": "bot_speech",
        "payload": {"text": "Sure, let me", "truncated": true}, "supersedes": "b1"});
    post(heard.clone())
        .await
        .created(&event_path(&s, "b1-heard"));

    let first = app.get(&event_path(&s, "u1-a")).await.expect(200);
    assert_eq!(first["supersededBy"], "u1-b");
    assert_eq!(first["seq"], 1, "the corrected event keeps its place");
    let current = app
        .get(&format!("/sessions/{s}/events?view=current"))
        .await
        .expect(200);
    assert_eq!(
        ids(current["data"].as_array().unwrap()),
        ["u1", "b1-heard"],
        "the transcript as it stands"
    );
    let all = app.get(&format!("/sessions/{s}/events")).await.expect(200);
    assert_eq!(
        all["data"].as_array().unwrap().len(),
        5,
        "view=all keeps every event"
    );
    let session = app
        .get(&format!("/sessions/{s}?view=current"))
        .await
        .expect(200);
    assert_eq!(session["eventCount"], 5, "eventCount counts every event");
    assert_eq!(
        ids(session["events"]["data"].as_array().unwrap()),
        ["u1", "b1-heard"]
    );

    // A retry is a replay; another target under the same id a conflict; a second correction of
    // one event, or of nothing, a supersede-conflict.
    post(heard).await.replayed();
    post(speech("b1-heard", "bot_speech", "Sure, let me", Some("u1")))
        .await
        .problem(409, "event-conflict");
    let twice = post(speech("u1-c", "user_speech", "I need", Some("u1-a")))
        .await
        .problem(409, "supersede-conflict");
    assert!(
        twice["detail"]
            .as_str()
            .unwrap()
            .contains("already superseded by u1-b"),
        "{twice}"
    );
    post(speech("x", "user_speech", "?", Some("nothing")))
        .await
        .problem(409, "supersede-conflict");
    assert_eq!(app.session(&s).await["eventCount"], 5, "nothing stored");

    // A batch corrects its own items.
    let batch = json!({"events": [
        speech("u2-a", "user_speech", "and my", None),
        speech("u2", "user_speech", "and my address", Some("u2-a")),
    ]});
    let reply = app
        .post_json(&format!("/sessions/{s}/events:batch"), &batch)
        .await
        .expect(201);
    assert_eq!(reply["data"][0]["event"]["supersededBy"], "u2", "{reply}");
    // Closed: no more corrections.
    app.complete(&s, None).await.expect(200);
    post(speech("late", "user_speech", "x", Some("u2")))
        .await
        .problem(409, "session-closed");
}

#[tokio::test]
async fn current_pages_carry_their_view_in_link_and_cursor() {
    let app = TestApp::spawn().await;
    let s = app.new_session().await;
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        app.append(&s, &speech(id, "user_speech", id, None))
            .await
            .expect(201);
    }
    for (id, target) in [("c2", "e2"), ("c4", "e4")] {
        app.append(&s, &speech(id, "user_speech", id, Some(target)))
            .await
            .expect(201);
    }
    for (order, expected) in [
        ("asc", vec!["e1", "e3", "e5", "c2", "c4"]),
        ("desc", vec!["c4", "c2", "e5", "e3", "e1"]),
    ] {
        let mut seen = Vec::new();
        let mut path = format!("/sessions/{s}/events?view=current&limit=2&order={order}");
        loop {
            let reply = app.get(&path).await;
            let body = reply.expect(200);
            seen.extend(ids(body["data"].as_array().unwrap()));
            let Some(link) = reply.header("link") else {
                assert_eq!(body["hasMore"], false);
                break;
            };
            assert!(link.contains("view=current"), "{link}");
            let next = link
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned();
            path = next;
        }
        assert_eq!(seen, expected, "{order}");
    }
    // A cursor belongs to its view.
    let page = app
        .get(&format!("/sessions/{s}/events?view=current&limit=1"))
        .await
        .expect(200);
    let cursor = page["nextCursor"].as_str().unwrap();
    app.get(&format!("/sessions/{s}/events?cursor={cursor}"))
        .await
        .problem(400, "invalid-cursor");
    app.get(&format!("/sessions/{s}/events?view=all&cursor={cursor}"))
        .await
        .problem(400, "invalid-cursor");
    app.get(&format!(
        "/sessions/{s}/events?view=current&cursor={cursor}"
    ))
    .await
    .expect(200);
    let all = app
        .get(&format!("/sessions/{s}/events?limit=1"))
        .await
        .expect(200);
    let cursor = all["nextCursor"].as_str().unwrap();
    app.get(&format!(
        "/sessions/{s}/events?view=current&cursor={cursor}"
    ))
    .await
    .problem(400, "invalid-cursor");
}
