//! What operators see: exact Prometheus counters after known traffic, and structured JSON logs
//! with one line per request whose request id joins every line of that request.

use crate::common;

use std::time::Duration;

use common::{ServerProcess, TestApp, event};
use serde_json::{Value, json};

/// The value of the sample named exactly `series` (`name{labels}`), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test]
async fn metrics_count_exactly_what_happened() {
    let app = TestApp::spawn().await;
    let store = if common::store_kind() == "mongo" {
        "mongodb"
    } else {
        "sqlite"
    };
    let session = app.new_session().await;
    app.create_session(&json!({"sessionId": session}))
        .await
        .replayed();
    app.append(&session, &event("e1")).await.expect(201);
    app.append(&session, &event("e1")).await.replayed();
    app.append(&session, &json!({"eventId": "e1", "type": "system"}))
        .await
        .problem(409, "event-conflict");
    app.complete(&session, Some(&json!({"status": "failed"})))
        .await
        .expect(200);
    app.append(&session, &event("e2"))
        .await
        .problem(409, "session-closed");
    app.complete(&session, None)
        .await
        .problem(409, "session-state-conflict");

    let text = app.get("/metrics").await.text();
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in {text}"));
    let route = "route=\"/sessions/{sessionId}/events\"";
    assert_eq!(
        count(&format!(
            "http_requests_total{{method=\"POST\",{route},status=\"201\"}}"
        )),
        1.0
    );
    assert_eq!(
        count(&format!(
            "http_requests_total{{method=\"POST\",{route},status=\"200\"}}"
        )),
        1.0
    );
    assert_eq!(
        count(&format!(
            "http_requests_total{{method=\"POST\",{route},status=\"409\"}}"
        )),
        2.0
    );
    assert_eq!(
        count(&format!(
            "http_request_duration_seconds_count{{method=\"POST\",{route},status=\"201\"}}"
        )),
        1.0
    );
    assert_eq!(
        count("idempotent_replays_total{operation=\"append_event\"}"),
        1.0
    );
    assert_eq!(
        count("idempotent_replays_total{operation=\"create_session\"}"),
        1.0
    );
    assert_eq!(count("conflicts_total{code=\"event-conflict\"}"), 1.0);
    assert_eq!(count("conflicts_total{code=\"session-closed\"}"), 1.0);
    assert_eq!(
        count("conflicts_total{code=\"session-state-conflict\"}"),
        1.0
    );
    assert_eq!(count("sessions_created_total"), 1.0);
    assert_eq!(count("sessions_completed_total{status=\"failed\"}"), 1.0);
    assert_eq!(count("events_appended_total"), 1.0);
    let appends = format!(
        "storage_operation_duration_seconds_count{{operation=\"append_event\",outcome=\"ok\",store=\"{store}\"}}"
    );
    assert_eq!(count(&appends), 2.0, "the new event and the replay");
}

#[tokio::test]
async fn metrics_count_the_events_of_batches() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let path = format!("/sessions/{session}/events:batch");
    let batch = json!({"events": [event("a"), event("b"), event("c")]});
    app.post_json(&path, &batch).await.expect(201);
    app.post_json(&path, &batch).await.replayed();
    let stale = json!({"events": [event("d"), event("e")], "expectedLastSeq": 1});
    app.post_json(&path, &stale)
        .await
        .problem(409, "seq-mismatch");

    let text = app.get("/metrics").await.text();
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in {text}"));
    let route = "route=\"/sessions/{sessionId}/events:batch\"";
    assert_eq!(
        count(&format!(
            "http_requests_total{{method=\"POST\",{route},status=\"201\"}}"
        )),
        1.0
    );
    assert_eq!(
        count("events_appended_total"),
        3.0,
        "every event of the batch"
    );
    assert_eq!(
        count("idempotent_replays_total{operation=\"append_batch\"}"),
        1.0
    );
    assert_eq!(count("conflicts_total{code=\"seq-mismatch\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_have_one_line_per_request_joined_by_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    // LOG_FORMAT through the working directory's .env (the harness does not set it); RUST_LOG
    // over the harness's `warn` in the environment, which beats .env.
    std::fs::write(dir.path().join(".env"), "LOG_FORMAT=json\n").unwrap();
    let server = ServerProcess::start_with(
        env!("CARGO_BIN_EXE_server"),
        &data_dir,
        dir.path(),
        &log,
        &[("RUST_LOG", "info")],
    )
    .await;
    let api = &server.api;
    let session = api.new_session().await;
    let tagged = |path: &str| {
        api.request(reqwest::Method::POST, path)
            .header("x-request-id", "trace-abc.123")
            .header("content-type", "application/json")
    };
    let reply = api
        .send(tagged(&format!("/sessions/{session}/events")).body(event("e1").to_string()))
        .await;
    assert_eq!(reply.status, 201);
    assert_eq!(
        reply.header("x-request-id").as_deref(),
        Some("trace-abc.123")
    );
    api.get("/sessions/nope")
        .await
        .problem(404, "session-not-found");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    let ours: Vec<&&Value> = requests
        .iter()
        .filter(|l| l["span"]["request_id"] == "trace-abc.123")
        .collect();
    assert_eq!(ours.len(), 1, "one line for the tagged request: {text}");
    let line = ours[0];
    assert_eq!(line["method"], "POST");
    assert_eq!(line["route"], "/sessions/{sessionId}/events");
    assert_eq!(line["status"], 201);
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert!(
        line["level"] == "INFO" && line["timestamp"].is_string(),
        "{line}"
    );
    let not_found = requests
        .iter()
        .find(|l| l["route"] == "/sessions/{sessionId}" && l["status"] == 404)
        .expect("the 404 is logged");
    let generated = not_found["span"]["request_id"].as_str().unwrap();
    assert_eq!(generated.len(), 36, "a generated UUID: {generated}");
    // Every line logged inside a request carries the id of that request.
    for l in lines.iter().filter(|l| l.get("span").is_some()) {
        assert!(l["span"]["request_id"].is_string(), "{l}");
    }
}

/// No label value comes from client input unbounded (issue "Trust at the seams", 1): requests
/// with made-up methods, on a known route and on unknown paths, share one `method` value and one
/// `route` value, so the series do not grow with them.
#[tokio::test]
async fn made_up_methods_and_paths_share_one_label_value_each() {
    let app = TestApp::spawn().await;
    let made_up = |from: usize, to: usize| {
        let app = &app;
        async move {
            for i in from..to {
                let method = reqwest::Method::from_bytes(format!("XXXX{i}").as_bytes()).unwrap();
                app.api
                    .send(app.api.request(method.clone(), "/healthz"))
                    .await;
                app.api
                    .send(app.api.request(method, &format!("/made-up-{i}")))
                    .await;
            }
            app.get("/metrics").await.text()
        }
    };
    // The HTTP request series: those whose labels come from requests (the store's series
    // grow by themselves as background work — the retention sweep, live tails — first runs).
    let series = |text: &str| text.lines().filter(|l| l.starts_with("http_")).count();
    app.get("/metrics").await.text(); // its own series exist from here on
    let first = made_up(0, 10).await;
    let text = made_up(10, 210).await;
    assert!(!text.contains("XXXX"), "a made-up method became a label");
    assert!(!text.contains("made-up-"), "a made-up path became a label");
    let other: f64 = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{method=\"OTHER\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(other, 420.0, "{text}");
    assert_eq!(
        series(&first),
        series(&text),
        "the series grew with the requests"
    );
}

/// Logs written to a file or a pipe carry no terminal colour codes (issue "Trust at the seams",
/// 14): the pretty format colours only a terminal.
#[tokio::test]
async fn pretty_logs_to_a_file_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_with(
        env!("CARGO_BIN_EXE_server"),
        &dir.path().join("data"),
        dir.path(),
        &log,
        &[("RUST_LOG", "info"), ("LOG_FORMAT", "pretty")],
    )
    .await;
    let session = server.api.new_session().await;
    server
        .api
        .get(&format!("/sessions/{session}"))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("request"), "requests are logged: {text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");
}
