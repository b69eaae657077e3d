//! Fair use (SPEC "Projects and API keys", "Live tail and export"): one project cannot take
//! every stream slot of an instance, and exports count as streams.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Api, TestApp, unique};

const SSE: &str = "text/event-stream";
const NDJSON: &str = "application/x-ndjson";
const SOON: Duration = Duration::from_secs(10);

/// Opens a stream (`accept`: SSE or NDJSON) of `session`'s events, sending `key` when given,
/// with a client that has no total-time limit (streams stay open); the response's head only.
async fn open(api: &Api, key: Option<&str>, session: &str, accept: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(api.url(&format!("/sessions/{session}/events")))
        .header("accept", accept);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("a stream request")
}

/// Asserts a stream that was let in.
fn admitted(response: &reqwest::Response, accept: &str) {
    assert_eq!(response.status(), 200, "{accept} refused");
    assert_eq!(response.headers()["content-type"], accept);
}

/// Asserts 503 `too-many-streams` with `Retry-After`.
async fn refused(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "too-many-streams", "{problem}");
}

/// Opens SSE streams until one is admitted (a slot was released), within [`SOON`].
async fn admitted_soon(api: &Api, key: Option<&str>, session: &str) -> reqwest::Response {
    let deadline = Instant::now() + SOON;
    loop {
        let response = open(api, key, session, SSE).await;
        if response.status() == 200 {
            return response;
        }
        assert!(Instant::now() < deadline, "no stream slot was released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A session of `api`'s project, with no events.
async fn session_of(api: &Api) -> String {
    api.new_session().await
}

#[tokio::test]
async fn one_project_cannot_take_every_stream_slot() {
    let app = TestApp::spawn_with_keys(&[
        ("STREAM_MAX", "3"),
        ("STREAM_MAX_PER_PROJECT", "2"),
        ("STREAM_KEEPALIVE_SECONDS", "1"),
    ])
    .await;
    // The running limits are in the document.
    let doc = app.get("/openapi.json").await.expect(200);
    let described = doc["paths"]["/sessions/{sessionId}/events"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(described.contains("3 in all, 2 per project"), "{described}");
    let a = app.mint_key("tenant-a", &["read", "write"]).await;
    let b = app.mint_key("tenant-b", &["read", "write"]).await;
    let (a_session, b_session) = (session_of(&a.api).await, session_of(&b.api).await);
    let a_key = Some(a.key.as_str());

    let first = open(&a.api, a_key, &a_session, SSE).await;
    admitted(&first, SSE);
    let second = open(&a.api, a_key, &a_session, SSE).await;
    admitted(&second, SSE);
    // Project A holds its share: its next stream and its exports are refused…
    refused(open(&a.api, a_key, &a_session, SSE).await).await;
    refused(open(&a.api, a_key, &a_session, NDJSON).await).await;
    // … while project B is still served, up to the instance's limit.
    let b_stream = open(&b.api, Some(&b.key), &b_session, SSE).await;
    admitted(&b_stream, SSE);
    refused(open(&b.api, Some(&b.key), &b_session, SSE).await).await;
    // A's pages are not streams.
    a.api.page(&a_session, "").await.expect(200);

    // A stream the client leaves frees its slot (noticed at the next keep-alive).
    drop(first);
    let third = admitted_soon(&a.api, a_key, &a_session).await;
    admitted(&third, SSE);
    // A stream the server ends (the session closed) frees its slot too.
    a.api.complete(&a_session, None).await.expect(200);
    let drained = [second, third].map(|s| async move { s.text().await.expect("the stream ends") });
    for text in futures_util::future::join_all(drained).await {
        assert!(text.contains("event: session-closed"), "{text}");
    }
    let a_other = session_of(&a.api).await;
    let again = [
        open(&a.api, a_key, &a_other, SSE).await,
        open(&a.api, a_key, &a_other, SSE).await,
    ];
    for response in &again {
        admitted(response, SSE);
    }
}

#[tokio::test]
async fn an_export_holds_a_stream_slot_until_it_ends() {
    let app = TestApp::spawn_with(&[("STREAM_MAX_PER_PROJECT", "1")]).await;
    // An export far larger than the socket buffers: the server is still writing it while the
    // client does not read.
    let session = app.new_session().await;
    let filler = "x".repeat(16_000);
    let mut stored = 0;
    for _ in 0..10 {
        let events: Vec<Value> = (0..150)
            .map(|_| json!({"eventId": unique("e"), "type": "t", "payload": {"x": filler}}))
            .collect();
        app.post_json(
            &format!("/sessions/{session}/events:batch"),
            &json!({ "events": events }),
        )
        .await
        .expect(201);
        stored += 150;
    }
    let export = open(&app.api, None, &session, NDJSON).await;
    admitted(&export, NDJSON);
    // The export holds the project's one slot: no stream, no second export.
    refused(open(&app.api, None, &session, SSE).await).await;
    refused(open(&app.api, None, &session, NDJSON).await).await;
    // Read to its end, the export releases it.
    let body = export.bytes().await.expect("the whole export");
    assert_eq!(
        body.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        stored
    );
    let stream = admitted_soon(&app.api, None, &session).await;
    admitted(&stream, SSE);
}
