//! Payloads and metadata come back exactly as sent (JSON value equality), whatever their keys
//! and values; numbers that cannot be stored exactly and nesting deeper than 32 levels are
//! refused with 400 and store nothing.

use crate::common;

use common::{TestApp, unique};
use serde_json::{Value, json};

fn awkward_payloads() -> Vec<Value> {
    vec![
        json!({"$where": "function() { return true; }", "$gt": {"$ne": null}}),
        json!({"a.b": 1, "a": {"b": 2}, "..": ".", "a.b.c.": [1]}),
        json!({"": "empty key", " ": "space key", "\t\n": "control whitespace"}),
        json!({"ключ": "значение", "日本語": "テキスト", "emoji 🎙️": "🗣️ hello 👋", "ü": "ÿ"}),
        json!({"zero width\u{200b}": "\u{feff}bom\u{200d}", "rtl": "\u{202e}abc"}),
        json!({"nul": "a\u{0000}b", "escapes": "\"\\/\u{0008}\u{000c}\n\r\t", "ctrl": "\u{001f}"}),
        json!({"max": i64::MAX, "min": i64::MIN, "zero": 0, "neg": -1, "u32": u32::MAX}),
        json!({"floats": [1.5, -0.25, 1.2345678901234567, 1e-7, 6.02e23, -2.5e-3, 0.1]}),
        json!({"nested": [[1, [2, [3, [4, []]]]], {"a": [{"b": [{}]}]}], "empty": {}, "arr": []}),
        json!({"bools": [true, false], "null": null, "mixed": [1, "1", 1.5, null, true, {"k": []}]}),
        json!({"__proto__": {"polluted": true}, "constructor": {"prototype": {}}, "toString": 1}),
        json!({"'; DROP TABLE events; --": "x", "sql": "SELECT * FROM sessions WHERE 1=1"}),
        json!({"long key ".repeat(100): "v".repeat(5000)}),
        json!({"dup-looking": 1, "Dup-Looking": 2, "dup-looking ": 3}),
    ]
}

#[tokio::test]
async fn payloads_come_back_exactly_as_sent() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    for (i, payload) in awkward_payloads().into_iter().enumerate() {
        let id = format!("e{i}");
        let body = json!({"eventId": id, "type": "system", "payload": payload});
        let created = app
            .append(&session, &body)
            .await
            .created(&format!("/sessions/{session}/events/{id}"));
        assert_eq!(created["payload"], payload, "201 body");
        let fetched = app
            .get(&format!("/sessions/{session}/events/{id}"))
            .await
            .expect(200);
        assert_eq!(fetched["payload"], payload, "GET one event");
        // and the retry is a replay: the stored payload equals the sent one
        let replay = app.append(&session, &body).await.replayed();
        assert_eq!(replay["payload"], payload, "replay");
    }
    let listed = app.walk(&session, "asc", 5).await;
    for (i, payload) in awkward_payloads().into_iter().enumerate() {
        assert_eq!(listed[i]["payload"], payload, "listed e{i}");
    }
}

#[tokio::test]
async fn metadata_comes_back_exactly_as_sent() {
    let app = TestApp::spawn().await;
    for metadata in awkward_payloads() {
        let id = unique("meta");
        let body = json!({"sessionId": id, "metadata": metadata});
        let created = app
            .create_session(&body)
            .await
            .created(&format!("/sessions/{id}"));
        assert_eq!(created["metadata"], metadata);
        assert_eq!(app.session(&id).await["metadata"], metadata);
        assert_eq!(
            app.create_session(&body).await.replayed()["metadata"],
            metadata
        );
    }
}

#[tokio::test]
async fn numbers_are_kept_exactly_in_the_raw_text() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    // written by hand: exactly these literals
    let raw = r#"{"eventId":"n","type":"system","payload":{"max":9223372036854775807,"min":-9223372036854775808,"big":[9007199254740993,-9007199254740993],"f":0.5,"neg0":-0}}"#;
    let reply = app
        .post_raw(
            &format!("/sessions/{session}/events"),
            Some("application/json"),
            raw,
        )
        .await;
    let created = reply.created(&format!("/sessions/{session}/events/n"));
    let text = reply.text();
    for literal in [
        "9223372036854775807",
        "-9223372036854775808",
        "9007199254740993",
        "-9007199254740993",
    ] {
        assert!(
            text.contains(literal),
            "{literal} is returned as written: {text}"
        );
    }
    assert_eq!(created["payload"]["max"].as_i64(), Some(i64::MAX));
    assert_eq!(created["payload"]["min"].as_i64(), Some(i64::MIN));
    assert_eq!(
        created["payload"]["big"][0].as_i64(),
        Some(9_007_199_254_740_993)
    );
    let fetched = app.get(&format!("/sessions/{session}/events/n")).await;
    assert!(fetched.text().contains("9007199254740993"));
    assert_eq!(fetched.json()["payload"], created["payload"]);
}

#[tokio::test]
async fn integers_outside_i64_are_refused_not_rounded() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let id = unique("meta");
    let literals = [
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
    ];
    for literal in literals {
        for (path, body) in [
            (
                format!("/sessions/{session}/events"),
                format!(r#"{{"eventId":"big","type":"system","payload":{{"n":{literal}}}}}"#),
            ),
            (
                format!("/sessions/{session}/events"),
                format!(
                    r#"{{"eventId":"big","type":"system","payload":{{"deep":[[{{"n":[1,{literal}]}}]]}}}}"#
                ),
            ),
            (
                "/sessions".to_owned(),
                format!(r#"{{"sessionId":"{id}","metadata":{{"n":{literal}}}}}"#),
            ),
        ] {
            let reply = app
                .post_raw(&path, Some("application/json"), body.clone())
                .await;
            let p = reply.problem(400, "validation-failed");
            let fields = common::error_fields(&p);
            assert!(
                fields
                    .iter()
                    .any(|f| f.starts_with("payload") || f.starts_with("metadata")),
                "{body}: names the field: {p}"
            );
        }
    }
    // nothing stored
    app.get(&format!("/sessions/{session}/events/big"))
        .await
        .problem(404, "event-not-found");
    app.get(&format!("/sessions/{id}"))
        .await
        .problem(404, "session-not-found");
    // inside strings, the same digits are just text
    let body = json!({"eventId": "s", "type": "system", "payload": {"n": "123456789012345678901234567890"}});
    app.append(&session, &body)
        .await
        .created(&format!("/sessions/{session}/events/s"));
    assert_eq!(app.session(&session).await["eventCount"], 1);
}

/// `depth` nested arrays around `1`.
fn nested_arrays(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects around `1`.
fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

#[tokio::test]
async fn nesting_deeper_than_32_levels_is_refused() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let path = format!("/sessions/{session}/events");
    // The body object is level 1 and the payload object level 2: a payload holding 30 more
    // levels makes a 32-level document.
    for (i, inner) in [nested_arrays(30), nested_objects(30)].iter().enumerate() {
        let body = format!(r#"{{"eventId":"ok{i}","type":"system","payload":{{"v":{inner}}}}}"#);
        let reply = app
            .post_raw(&path, Some("application/json"), body.clone())
            .await;
        let created = reply.created(&format!("/sessions/{session}/events/ok{i}"));
        let sent: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(created["payload"], sent["payload"]);
    }
    for (i, inner) in [
        nested_arrays(31),
        nested_objects(31),
        nested_arrays(100),
        nested_objects(100),
        nested_arrays(20_000),
    ]
    .iter()
    .enumerate()
    {
        let body = format!(r#"{{"eventId":"deep{i}","type":"system","payload":{{"v":{inner}}}}}"#);
        let reply = app.post_raw(&path, Some("application/json"), body).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        reply.problem(400, "validation-failed");
        app.get(&format!("/sessions/{session}/events/deep{i}"))
            .await
            .problem(404, "event-not-found");
    }
    // metadata too
    let id = unique("deep");
    let body = format!(
        r#"{{"sessionId":"{id}","metadata":{{"v":{}}}}}"#,
        nested_objects(40)
    );
    app.post_raw("/sessions", Some("application/json"), body)
        .await
        .problem(400, "validation-failed");
    app.get(&format!("/sessions/{id}"))
        .await
        .problem(404, "session-not-found");
    assert_eq!(app.session(&session).await["eventCount"], 2);
}

#[tokio::test]
async fn key_order_is_preserved() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let raw = r#"{"eventId":"o","type":"system","payload":{"z":1,"a":2,"m":{"y":1,"b":2}}}"#;
    let reply = app
        .post_raw(
            &format!("/sessions/{session}/events"),
            Some("application/json"),
            raw,
        )
        .await;
    reply.created(&format!("/sessions/{session}/events/o"));
    let text = app
        .get(&format!("/sessions/{session}/events/o"))
        .await
        .text();
    assert!(
        text.contains(r#""payload":{"z":1,"a":2,"m":{"y":1,"b":2}}"#),
        "keys keep the order they were sent in: {text}"
    );
}
