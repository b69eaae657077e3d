//! Hostile input, table-driven: every case gets its 4xx problem with the expected code, leaks
//! nothing internal, and stores nothing.

use crate::common;

use common::{TestApp, event};
use reqwest::Method;
use serde_json::{Value, json};

/// An RFC 3339 time `hours` ahead of now: a client time beyond the hour SPEC allows.
fn hours_ahead(hours: u64) -> String {
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(hours * 3600);
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    domain::Timestamp::from_millis(secs * 1000)
        .unwrap()
        .to_rfc3339()
}

/// The session id every create case would store if it wrongly succeeded.
const PROBE: &str = "probe";

struct Case {
    label: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// For `validation-failed`: the field the problem must name.
    field: Option<String>,
}

struct Table {
    cases: Vec<Case>,
}

impl Table {
    fn raw(
        &mut self,
        label: impl Into<String>,
        path: &str,
        content_type: Option<&'static str>,
        body: impl Into<Vec<u8>>,
        status: u16,
        code: &'static str,
    ) {
        self.cases.push(Case {
            label: label.into(),
            method: Method::POST,
            path: path.to_owned(),
            content_type,
            body: body.into(),
            status,
            code,
            field: None,
        });
    }

    /// Well-formed JSON that breaks a rule on `field`.
    fn invalid(&mut self, label: impl Into<String>, path: &str, body: Value, field: &str) {
        self.cases.push(Case {
            label: label.into(),
            method: Method::POST,
            path: path.to_owned(),
            content_type: Some("application/json"),
            body: serde_json::to_vec(&body).unwrap(),
            status: 400,
            code: "validation-failed",
            field: Some(field.to_owned()),
        });
    }

    fn malformed(&mut self, label: &str, path: &str, body: impl Into<Vec<u8>>) {
        self.raw(
            label,
            path,
            Some("application/json"),
            body,
            400,
            "malformed-json",
        );
    }

    fn get(
        &mut self,
        label: &str,
        path: String,
        status: u16,
        code: &'static str,
        field: Option<&str>,
    ) {
        self.cases.push(Case {
            label: label.to_owned(),
            method: Method::GET,
            path,
            content_type: None,
            body: Vec::new(),
            status,
            code,
            field: field.map(str::to_owned),
        });
    }
}

/// Event `id` with another payload than [`event`] gives it.
fn event_with(id: &str, text: &str) -> Value {
    json!({"eventId": id, "type": "user_speech", "payload": {"text": text}})
}

impl Table {
    /// A request without a body other than a GET (`DELETE`, a bodiless `POST`).
    fn bodiless(
        &mut self,
        method: Method,
        label: &str,
        path: String,
        code: &'static str,
        field: &str,
    ) {
        self.get(label, path, 400, code, Some(field));
        self.cases.last_mut().expect("just pushed").method = method;
    }
}

/// `base` with `key` set to `value`.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut body = base.clone();
    body[key] = value;
    body
}

fn cases(victim: &str) -> Vec<Case> {
    let mut t = Table { cases: Vec::new() };
    let create = "/sessions";
    let append = format!("/sessions/{victim}/events");
    let append = append.as_str();
    let complete = format!("/sessions/{victim}/complete");
    let complete = complete.as_str();
    let session = json!({"sessionId": PROBE});
    let ev = json!({"eventId": PROBE, "type": "user_speech", "payload": {"k": "v"}});

    // ---- not JSON at all
    for (path, body) in [
        (create, r#"{"sessionId":"probe""#),
        (append, r#"{"eventId":"probe","type":"#),
    ] {
        t.malformed(&format!("truncated {path}"), path, body);
    }
    t.malformed("trailing garbage", create, r#"{"sessionId":"probe"} x"#);
    t.malformed(
        "two documents",
        create,
        r#"{"sessionId":"probe"}{"sessionId":"probe"}"#,
    );
    t.malformed("single quotes", create, r#"{'sessionId':'probe'}"#);
    t.malformed("a comment", create, r#"{"sessionId":"probe" /* hi */}"#);
    t.malformed("trailing comma", create, r#"{"sessionId":"probe",}"#);
    t.malformed(
        "NaN",
        append,
        r#"{"eventId":"probe","type":"system","payload":{"n":NaN}}"#,
    );
    t.malformed(
        "Infinity",
        append,
        r#"{"eventId":"probe","type":"system","payload":{"n":Infinity}}"#,
    );
    t.malformed("unquoted key", create, r#"{sessionId:"probe"}"#);
    t.malformed(
        "invalid UTF-8 in a value",
        create,
        b"{\"sessionId\":\"pro\xffbe\"}".to_vec(),
    );
    t.malformed(
        "invalid UTF-8 in a payload key",
        append,
        b"{\"eventId\":\"probe\",\"type\":\"system\",\"payload\":{\"\xc3\x28\":1}}".to_vec(),
    );
    t.malformed(
        "overlong UTF-8",
        create,
        b"{\"sessionId\":\"\xc0\xafprobe\"}".to_vec(),
    );
    t.malformed(
        "a lone surrogate escape",
        append,
        r#"{"eventId":"probe","type":"system","payload":{"s":"\ud800"}}"#,
    );
    t.malformed(
        "a byte order mark",
        create,
        b"\xef\xbb\xbf{\"sessionId\":\"probe\"}".to_vec(),
    );
    t.malformed("empty create body", create, "");
    t.malformed("whitespace create body", create, "  \n ");
    t.malformed("empty append body", append, "");
    t.malformed("broken complete body", complete, "{");
    t.malformed(
        "control character in a string",
        create,
        "{\"sessionId\":\"pro\u{1}be\"}",
    );

    // ---- wrong or missing content type
    let create_body = serde_json::to_vec(&session).unwrap();
    let append_body = serde_json::to_vec(&ev).unwrap();
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
    ] {
        t.raw(
            format!("create as {ct:?}"),
            create,
            ct,
            create_body.clone(),
            415,
            "unsupported-media-type",
        );
        t.raw(
            format!("append as {ct:?}"),
            append,
            ct,
            append_body.clone(),
            415,
            "unsupported-media-type",
        );
    }
    t.raw(
        "form body",
        create,
        Some("application/x-www-form-urlencoded"),
        "sessionId=probe",
        415,
        "unsupported-media-type",
    );
    t.raw(
        "empty create without type",
        create,
        None,
        "",
        415,
        "unsupported-media-type",
    );
    t.raw(
        "complete body without type",
        complete,
        None,
        r#"{"status":"failed"}"#,
        415,
        "unsupported-media-type",
    );
    t.raw(
        "complete body as text",
        complete,
        Some("text/plain"),
        r#"{"status":"failed"}"#,
        415,
        "unsupported-media-type",
    );

    // ---- JSON, but not an object
    for body in [
        json!(null),
        json!([]),
        json!("probe"),
        json!(42),
        json!([{"sessionId": PROBE}]),
    ] {
        t.invalid(format!("create body {body}"), create, body.clone(), "body");
        t.invalid(format!("append body {body}"), append, body.clone(), "body");
    }
    t.invalid("complete body []", complete, json!([]), "body");

    // ---- duplicate keys
    t.raw(
        "duplicate sessionId",
        create,
        Some("application/json"),
        r#"{"sessionId":"probe","sessionId":"probe2"}"#,
        400,
        "validation-failed",
    );
    t.cases.last_mut().unwrap().field = Some("sessionId".into());
    t.raw(
        "duplicate payload key",
        append,
        Some("application/json"),
        r#"{"eventId":"probe","type":"system","payload":{"k":1,"k":2}}"#,
        400,
        "validation-failed",
    );
    t.cases.last_mut().unwrap().field = Some("payload.k".into());
    t.raw(
        "duplicate status",
        complete,
        Some("application/json"),
        r#"{"status":"completed","status":"failed"}"#,
        400,
        "validation-failed",
    );
    t.cases.last_mut().unwrap().field = Some("status".into());

    // ---- ids breaking the pattern, in bodies
    let bad_ids: Vec<Value> = vec![
        json!(""),
        json!("a".repeat(129)),
        json!("../etc/passwd"),
        json!("a/b"),
        json!("a b"),
        json!(" probe"),
        json!("probe\n"),
        json!("probe\u{0}"),
        json!("$gt"),
        json!("-probe"),
        json!(".probe"),
        json!("ｐrobe"),        // fullwidth p
        json!("prоbe"),         // Cyrillic o
        json!("probe\u{200b}"), // zero-width space
        json!("%70robe"),
        json!({"$gt": ""}),
        json!(["probe"]),
        json!(12345),
        json!(true),
        json!(null),
    ];
    for id in &bad_ids {
        t.invalid(
            format!("sessionId {id}"),
            create,
            with(&session, "sessionId", id.clone()),
            "sessionId",
        );
        t.invalid(
            format!("eventId {id}"),
            append,
            with(&ev, "eventId", id.clone()),
            "eventId",
        );
    }

    // ---- missing and unknown fields
    t.invalid(
        "no sessionId",
        create,
        json!({"language": "en"}),
        "sessionId",
    );
    t.invalid("no eventId", append, json!({"type": "system"}), "eventId");
    t.invalid("no type", append, json!({"eventId": PROBE}), "type");
    for field in [
        "extra",
        "id",
        "session_id",
        "SessionId",
        "createdAt",
        "eventCount",
        "$where",
    ] {
        t.invalid(
            format!("unknown create field {field}"),
            create,
            with(&session, field, json!(1)),
            field,
        );
    }
    for field in ["seq", "receivedAt", "sessionId", "event_id", "Type"] {
        t.invalid(
            format!("unknown append field {field}"),
            append,
            with(&ev, field, json!(1)),
            field,
        );
    }
    t.invalid(
        "unknown complete field",
        complete,
        json!({"reason": "x"}),
        "reason",
    );

    // ---- wrong types and values in every field
    for (field, value) in [
        ("language", json!(42)),
        ("language", json!("en_US")),
        ("language", json!("")),
        ("language", json!({"tag": "en"})),
        ("metadata", json!("x")),
        ("metadata", json!([1])),
        ("metadata", json!(null)),
        ("metadata", json!(7)),
        ("startedAt", json!("yesterday")),
        ("startedAt", json!("2024-05-01T12:00:00")),
        ("startedAt", json!("2024-13-01T00:00:00Z")),
        ("startedAt", json!("2024-05-01")),
        ("startedAt", json!(1_714_560_000)),
        ("startedAt", json!(null)),
        ("startedAt", json!(hours_ahead(2))),
        ("startedAt", json!("9999-12-31T00:00:00Z")),
        ("status", json!("completed")),
        ("status", json!("failed")),
        ("status", json!("ACTIVE")),
        ("status", json!("")),
        ("status", json!(1)),
    ] {
        t.invalid(
            format!("create {field}={value}"),
            create,
            with(&session, field, value),
            field,
        );
    }
    for (field, value) in [
        ("type", json!("")),
        ("type", json!("1abc")),
        ("type", json!("user speech")),
        ("type", json!("t".repeat(65))),
        ("type", json!(5)),
        ("type", json!(null)),
        ("payload", json!("x")),
        ("payload", json!([])),
        ("payload", json!(null)),
        ("payload", json!(5)),
        ("timestamp", json!("nope")),
        ("timestamp", json!(0)),
        ("timestamp", json!("2024-05-01")),
        ("timestamp", json!("10000-01-01T00:00:00Z")),
        ("timestamp", json!("2024-02-30T00:00:00Z")),
        ("timestamp", json!("2024-05-01T25:00:00Z")),
        ("timestamp", json!(null)),
        ("timestamp", json!(hours_ahead(2))),
        ("timestamp", json!("9999-12-31T00:00:00Z")),
    ] {
        t.invalid(
            format!("append {field}={value}"),
            append,
            with(&ev, field, value),
            field,
        );
    }
    for (field, value) in [
        ("status", json!("active")),
        ("status", json!("initiated")),
        ("status", json!("done")),
        ("status", json!(1)),
        ("endedAt", json!("soon")),
        ("endedAt", json!(1_714_560_000)),
        ("endedAt", json!(hours_ahead(2))),
        ("endedAt", json!("9999-12-31T00:00:00Z")),
    ] {
        t.invalid(
            format!("complete {field}={value}"),
            complete,
            json!({ field: value }),
            field,
        );
    }

    // ---- corrections (SPEC "Corrections")
    for value in [
        json!(5),
        json!(""),
        json!("bad id!"),
        json!({"eventId": "v1"}),
    ] {
        t.invalid(
            format!("append supersedes={value}"),
            append,
            with(&ev, "supersedes", value),
            "supersedes",
        );
    }
    t.raw(
        "append correcting an event the session does not hold",
        append,
        Some("application/json"),
        serde_json::to_vec(&with(&ev, "supersedes", json!("nothing"))).unwrap(),
        409,
        "supersede-conflict",
    );
    t.raw(
        "append correcting itself",
        append,
        Some("application/json"),
        serde_json::to_vec(&with(&ev, "supersedes", json!(PROBE))).unwrap(),
        409,
        "supersede-conflict",
    );

    // ---- numbers and depth
    t.raw(
        "integer over i64",
        append,
        Some("application/json"),
        r#"{"eventId":"probe","type":"system","payload":{"n":9223372036854775808}}"#,
        400,
        "validation-failed",
    );
    t.raw(
        "30-digit integer",
        create,
        Some("application/json"),
        r#"{"sessionId":"probe","metadata":{"n":-123456789012345678901234567890}}"#,
        400,
        "validation-failed",
    );
    t.raw(
        "nested 40 deep",
        append,
        Some("application/json"),
        format!(
            r#"{{"eventId":"probe","type":"system","payload":{{"v":{}1{}}}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        ),
        400,
        "validation-failed",
    );

    // ---- sizes
    t.raw(
        "metadata over 16 KiB",
        create,
        Some("application/json"),
        serde_json::to_vec(&json!({"sessionId": PROBE, "metadata": {"k": "x".repeat(16 * 1024)}}))
            .unwrap(),
        413,
        "payload-too-large",
    );
    t.raw(
        "payload over 64 KiB",
        append,
        Some("application/json"),
        serde_json::to_vec(
            &json!({"eventId": PROBE, "type": "system", "payload": {"k": "x".repeat(64 * 1024)}}),
        )
        .unwrap(),
        413,
        "payload-too-large",
    );
    t.raw(
        "body over 128 KiB",
        create,
        Some("application/json"),
        serde_json::to_vec(&json!({"sessionId": PROBE, "metadata": {"k": "x".repeat(140 * 1024)}}))
            .unwrap(),
        413,
        "payload-too-large",
    );
    t.raw(
        "whitespace body over the limit",
        append,
        Some("application/json"),
        vec![b' '; 200 * 1024],
        413,
        "payload-too-large",
    );

    // ---- query parameters
    for (query, code, field) in [
        ("limit=0", "validation-failed", Some("limit")),
        ("limit=501", "validation-failed", Some("limit")),
        ("limit=abc", "validation-failed", Some("limit")),
        ("limit=-5", "validation-failed", Some("limit")),
        ("order=sideways", "validation-failed", Some("order")),
        ("order=asc&order=desc", "validation-failed", Some("order")),
        ("where=1", "validation-failed", Some("where")),
        ("view=sideways", "validation-failed", Some("view")),
        ("view=all&view=current", "validation-failed", Some("view")),
        ("cursor=garbage", "invalid-cursor", None),
        ("cursor=%27%20OR%201%3D1", "invalid-cursor", None),
    ] {
        t.get(
            &format!("events?{query}"),
            format!("/sessions/{victim}/events?{query}"),
            400,
            code,
            field,
        );
        t.get(
            &format!("session?{query}"),
            format!("/sessions/{victim}?{query}"),
            400,
            code,
            field,
        );
        t.get(
            &format!("sessions?{query}"),
            format!("/sessions?{query}"),
            400,
            code,
            field,
        );
    }
    // ---- the filters of `GET /sessions`
    let six: String = (0..6).map(|i| format!("metadata.k{i}=v&")).collect();
    for (query, field) in [
        ("status=bogus", "status"),
        ("status=", "status"),
        ("status=active,", "status"),
        ("status=ACTIVE", "status"),
        ("status=active&status=failed", "status"),
        ("createdAfter=yesterday", "createdAfter"),
        ("createdAfter=2026-13-01T00:00:00Z", "createdAfter"),
        ("createdBefore=1700000000", "createdBefore"),
        ("createdBefore=10000-01-01T00:00:00Z", "createdBefore"),
        ("metadata.a=1&metadata.a=2", "metadata.a"),
        (six.trim_end_matches('&'), "metadata"),
        ("metadata=x", "metadata"),
        ("meta.a=x", "meta.a"),
        ("$where=1", "$where"),
    ] {
        t.get(
            &format!("sessions?{query}"),
            format!("/sessions?{query}"),
            400,
            "validation-failed",
            Some(field),
        );
    }

    // ---- ids breaking the pattern, in paths
    for (label, id) in [
        ("$gt", "$gt"),
        ("space", "a%20b"),
        ("129 chars", &"a".repeat(129)),
        ("fullwidth", "%EF%BD%90robe"),
        ("encoded slash", "..%2Fetc"),
        ("quote", "a%27b"),
        ("leading dot", ".hidden"),
    ] {
        t.get(
            &format!("GET session {label}"),
            format!("/sessions/{id}"),
            400,
            "validation-failed",
            Some("sessionId"),
        );
        t.get(
            &format!("GET events {label}"),
            format!("/sessions/{id}/events"),
            400,
            "validation-failed",
            Some("sessionId"),
        );
        t.get(
            &format!("GET event {label}"),
            format!("/sessions/{victim}/events/{id}"),
            400,
            "validation-failed",
            Some("eventId"),
        );
        t.invalid(
            format!("append to {label}"),
            &format!("/sessions/{id}/events"),
            ev.clone(),
            "sessionId",
        );
        t.raw(
            format!("complete {label}"),
            &format!("/sessions/{id}/complete"),
            None,
            "",
            400,
            "validation-failed",
        );
        t.bodiless(
            Method::DELETE,
            &format!("erase {label}"),
            format!("/sessions/{id}"),
            "validation-failed",
            "sessionId",
        );
        t.bodiless(
            Method::POST,
            &format!("redact in session {label}"),
            format!("/sessions/{id}/events/v1/redact"),
            "validation-failed",
            "sessionId",
        );
        t.bodiless(
            Method::POST,
            &format!("redact event {label}"),
            format!("/sessions/{victim}/events/{id}/redact"),
            "validation-failed",
            "eventId",
        );
    }
    // ---- batch appends (and `expectedLastSeq`): each item's problem names `events[i].<field>`
    let batch = format!("/sessions/{victim}/events:batch");
    let batch = batch.as_str();
    let item = event(PROBE);
    let items = |list: Vec<Value>| json!({ "events": list });
    t.invalid("batch body []", batch, json!([]), "body");
    t.invalid("batch without events", batch, json!({}), "events");
    t.invalid("batch of no events", batch, items(vec![]), "events");
    t.invalid(
        "batch of 501 events",
        batch,
        items((0..501).map(|i| event(&format!("{PROBE}{i}"))).collect()),
        "events",
    );
    t.invalid(
        "batch events not an array",
        batch,
        json!({"events": item.clone()}),
        "events",
    );
    t.invalid(
        "batch item not an object",
        batch,
        items(vec![json!(1)]),
        "events[0]",
    );
    t.invalid(
        "batch item without type",
        batch,
        items(vec![json!({"eventId": PROBE})]),
        "events[0].type",
    );
    t.invalid(
        "batch second item invalid",
        batch,
        items(vec![item.clone(), with(&item, "eventId", json!(""))]),
        "events[1].eventId",
    );
    t.invalid(
        "batch item with an unknown field",
        batch,
        items(vec![with(&item, "colour", json!("red"))]),
        "events[0].colour",
    );
    t.invalid(
        "batch item with expectedLastSeq",
        batch,
        items(vec![with(&item, "expectedLastSeq", json!(1))]),
        "events[0].expectedLastSeq",
    );
    t.invalid(
        "batch item payload not an object",
        batch,
        items(vec![with(&item, "payload", json!([1]))]),
        "events[0].payload",
    );
    t.invalid(
        "batch with one id twice, different content",
        batch,
        items(vec![item.clone(), with(&item, "type", json!("bot_speech"))]),
        "events[1].eventId",
    );
    t.invalid(
        "batch with an unknown field",
        batch,
        json!({"events": [item.clone()], "colour": 1}),
        "colour",
    );
    for (label, bad) in [
        ("negative", json!(-1)),
        ("a string", json!("1")),
        ("fractional", json!(1.5)),
        ("null", json!(null)),
    ] {
        t.invalid(
            format!("batch expectedLastSeq {label}"),
            batch,
            json!({"events": [item.clone()], "expectedLastSeq": bad}),
            "expectedLastSeq",
        );
        t.invalid(
            format!("append expectedLastSeq {label}"),
            append,
            with(&item, "expectedLastSeq", bad),
            "expectedLastSeq",
        );
    }
    t.raw(
        "batch without content type",
        batch,
        None,
        serde_json::to_vec(&items(vec![item.clone()])).unwrap(),
        415,
        "unsupported-media-type",
    );
    t.malformed("batch truncated", batch, r#"{"events":[{"eventId":"probe""#);
    // Tiny values cost a parser's tree many times their text (issue 22 item 11): the payload is
    // measured while it is parsed, and refused without being built whole.
    let zeros = |n: usize| format!("[{}0]", "0,".repeat(n - 1));
    t.raw(
        "batch item payload of 2 million zeros (4 MiB body)",
        batch,
        Some("application/json"),
        format!(
            r#"{{"events":[{{"eventId":"probe","type":"system","payload":{{"z":{}}}}}]}}"#,
            zeros(2_000_000)
        ),
        413,
        "payload-too-large",
    );
    t.raw(
        "metadata of 50 000 zeros",
        create,
        Some("application/json"),
        format!(
            r#"{{"sessionId":"{PROBE}","metadata":{{"z":{}}}}}"#,
            zeros(50_000)
        ),
        413,
        "payload-too-large",
    );
    t.raw(
        "batch with a conflicting item",
        batch,
        Some("application/json"),
        serde_json::to_vec(&items(vec![item.clone(), event_with("v1", "other")])).unwrap(),
        409,
        "event-conflict",
    );
    t.raw(
        "batch correcting a later item",
        batch,
        Some("application/json"),
        serde_json::to_vec(&items(vec![
            with(&event("x1"), "supersedes", json!(PROBE)),
            item.clone(),
        ]))
        .unwrap(),
        409,
        "supersede-conflict",
    );
    t.raw(
        "batch correcting one event twice",
        batch,
        Some("application/json"),
        serde_json::to_vec(&items(vec![
            with(&item, "supersedes", json!("v1")),
            with(&event("x2"), "supersedes", json!("v1")),
        ]))
        .unwrap(),
        409,
        "supersede-conflict",
    );
    t.raw(
        "batch expecting a stale lastSeq",
        batch,
        Some("application/json"),
        serde_json::to_vec(&json!({"events": [item.clone()], "expectedLastSeq": 0})).unwrap(),
        409,
        "seq-mismatch",
    );
    t.raw(
        "append expecting a stale lastSeq",
        append,
        Some("application/json"),
        serde_json::to_vec(&with(&item, "expectedLastSeq", json!(5))).unwrap(),
        409,
        "seq-mismatch",
    );
    t.cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_a_problem_and_store_nothing() {
    let app = TestApp::spawn().await;
    let victim = app.new_session().await;
    let stored = app
        .append(&victim, &event("v1"))
        .await
        .created(&format!("/sessions/{victim}/events/v1"));
    let before = app.session(&victim).await;
    let table = cases(&victim);
    assert!(table.len() >= 30, "at least 30 hostile inputs");
    let mut failures = Vec::new();
    for case in &table {
        let request = app.raw(
            case.method.clone(),
            &case.path,
            case.content_type,
            case.body.clone(),
        );
        let reply = app.send(request).await;
        let text = reply.text();
        common::assert_no_leak(&text);
        let ok = reply.status == case.status
            && reply.content_type() == "application/problem+json"
            && serde_json::from_slice::<Value>(&reply.body).is_ok_and(|p| {
                common::assert_problem_shape(&p);
                p["code"] == case.code
                    && p["status"] == case.status
                    && case
                        .field
                        .as_ref()
                        .is_none_or(|f| common::error_fields(&p).iter().any(|named| named == f))
            });
        if !ok {
            failures.push(format!(
                "{}: {} {} → expected {} {} {:?}, got {} {}",
                case.label,
                case.method,
                case.path,
                case.status,
                case.code,
                case.field,
                reply.status,
                text
            ));
        }
    }
    // nothing was stored or changed
    app.get(&format!("/sessions/{PROBE}"))
        .await
        .problem(404, "session-not-found");
    app.get(&format!("/sessions/{victim}/events/{PROBE}"))
        .await
        .problem(404, "event-not-found");
    assert_eq!(
        app.session(&victim).await,
        before,
        "the session is unchanged"
    );
    assert_eq!(
        app.walk(&victim, "asc", 10).await,
        vec![stored],
        "the events are unchanged"
    );
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_server_survives_the_table_and_still_serves() {
    let app = TestApp::spawn().await;
    let victim = app.new_session().await;
    for case in cases(&victim) {
        let request = app.raw(
            case.method.clone(),
            &case.path,
            case.content_type,
            case.body.clone(),
        );
        let _ = app.send(request).await;
    }
    app.append(&victim, &event("after"))
        .await
        .created(&format!("/sessions/{victim}/events/after"));
    app.get("/readyz").await.expect(200);
}

#[tokio::test]
async fn hostile_headers_are_handled() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    // an unusable request id is replaced, never echoed
    for bad in ["a b", "<script>", &"x".repeat(200), "\u{7f}"] {
        let Ok(value) = reqwest::header::HeaderValue::from_str(bad) else {
            continue;
        };
        let reply = app
            .send(
                app.request(Method::GET, &format!("/sessions/{session}"))
                    .header("x-request-id", value),
            )
            .await;
        assert_eq!(reply.status, 200);
        let id = reply.header("x-request-id").expect("a request id");
        assert_ne!(id, bad, "an invalid request id is not echoed");
    }
    // a content type that is not valid text
    let reply = app
        .send(
            app.request(Method::POST, "/sessions")
                .header(
                    "content-type",
                    reqwest::header::HeaderValue::from_bytes(b"application/json\xff").unwrap(),
                )
                .body(r#"{"sessionId":"probe"}"#),
        )
        .await;
    reply.problem(415, "unsupported-media-type");
    // a declared length larger than the limit is refused before reading
    let reply = app
        .send(
            app.request(Method::POST, "/sessions")
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
        )
        .await;
    reply.problem(413, "payload-too-large");
    app.get(&format!("/sessions/{PROBE}"))
        .await
        .problem(404, "session-not-found");
}

/// A chunked body (no `Content-Length`) is held to the same limit and rules.
#[tokio::test]
async fn chunked_bodies_are_limited_and_parsed_like_any_other() {
    let app = TestApp::spawn().await;
    let head = "POST /sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    // 200 KiB in 10 KiB chunks: over the 128 KiB limit
    let mut request = head.as_bytes().to_vec();
    for _ in 0..20 {
        request.extend_from_slice(format!("{:x}\r\n", 10 * 1024).as_bytes());
        request.extend_from_slice(&[b' '; 10 * 1024]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    common::raw_http(app.port, request)
        .await
        .problem(413, "payload-too-large");
    // a truncated document in chunks
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(b"d\r\n{\"sessionId\":\r\n0\r\n\r\n");
    common::raw_http(app.port, request)
        .await
        .problem(400, "malformed-json");
    // a good one
    let body = format!(r#"{{"sessionId":"{PROBE}-chunked"}}"#);
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes());
    common::raw_http(app.port, request)
        .await
        .created(&format!("/sessions/{PROBE}-chunked"));
    app.get(&format!("/sessions/{PROBE}"))
        .await
        .problem(404, "session-not-found");
}

/// Requests that are not valid HTTP/1.1 (an over-long request head, a broken
/// `Content-Length`) are refused by actix's HTTP/1 parser before any application code runs,
/// so they get a bare 400 without a problem body — a known deviation recorded in
/// docs/reliability.md. What must hold: a 4xx, nothing leaked, nothing stored, and the server
/// keeps serving.
#[tokio::test]
async fn requests_refused_at_the_http_layer_are_400_and_harmless() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let long_query = format!(
        "GET /sessions/{session}/events?cursor={} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let bad_length = "POST /sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                      Content-Length: abc\r\nConnection: close\r\n\r\n{\"sessionId\":\"sneaky\"}";
    for (label, request) in [
        ("100 KiB URL", long_query.into_bytes()),
        ("Content-Length: abc", bad_length.as_bytes().to_vec()),
    ] {
        let reply = common::raw_http(app.port, request).await;
        assert_eq!(reply.status, 400, "{label}");
        common::assert_no_leak(&reply.text());
    }
    app.get("/sessions/sneaky")
        .await
        .problem(404, "session-not-found");
    app.get(&format!("/sessions/{session}")).await.expect(200);
}
