//! Fair use (SPEC "Projects and API keys", "Live tail and export"): one project cannot take
//! every stream slot of an instance, and exports count as streams; `RATE_LIMIT_PER_KEY`; a flood
//! of made-up key ids does not cost a valid key its place in the key cache.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::common::{Api, Reply, TestApp, unique};

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
    let ids: Vec<String> = (0..1_500).map(|_| unique("e")).collect();
    app.fill(&session, &ids, 150, &"x".repeat(16_000)).await;
    let stored = ids.len();
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

/// Sends `GET /sessions` with `api` until the first 429; returns the statuses before it and the
/// 429, with the time the sequence took.
async fn until_limited(api: &Api) -> (Vec<u16>, Reply, Duration) {
    let started = Instant::now();
    let mut served = Vec::new();
    loop {
        let reply = api.get("/sessions").await;
        if reply.status == 429 {
            return (served, reply, started.elapsed());
        }
        served.push(reply.status);
        assert!(served.len() < 1_000, "never limited");
    }
}

#[tokio::test]
async fn a_key_beyond_its_rate_is_429_with_the_ratelimit_fields_and_others_are_served() {
    let app = TestApp::spawn_with_keys(&[("RATE_LIMIT_PER_KEY", "5")]).await;
    let first = app.mint_key("tenant-a", &["read"]).await;
    let second = app.mint_key("tenant-a", &["read"]).await;
    let other = app.mint_key("tenant-b", &["read"]).await;

    // The document says so, on the operations of /sessions only.
    let doc = app.get("/openapi.json").await.expect(200);
    assert!(doc["paths"]["/sessions"]["get"]["responses"]["429"].is_object());
    assert!(doc["paths"]["/admin/keys"]["get"]["responses"]["429"].is_null());

    let (served, limited, took) = until_limited(&first.api).await;
    // The burst (5), plus one per 200 ms the requests themselves took.
    let refilled = (took.as_millis() / 200) as usize;
    assert!(
        (5..=5 + refilled).contains(&served.len()),
        "{} served in {took:?}",
        served.len()
    );
    assert!(served.iter().all(|&s| s == 200), "{served:?}");
    limited.problem(429, "rate-limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    assert_eq!(
        limited.header("ratelimit-policy").as_deref(),
        Some("\"default\";q=5;w=1")
    );
    assert_eq!(
        limited.header("ratelimit"),
        Some(format!("\"default\";r=0;t={retry}"))
    );

    // Another key of the same project, and a key of another project: served.
    let reply = second.api.get("/sessions").await;
    reply.expect(200);
    assert_eq!(
        reply.header("ratelimit-policy").as_deref(),
        Some("\"default\";q=5;w=1")
    );
    assert_eq!(
        reply.header("ratelimit").as_deref(),
        Some("\"default\";r=4;t=1")
    );
    other.api.get("/sessions").await.expect(200);
    // Unauthenticated requests are not counted against anyone, and never limited.
    for _ in 0..20 {
        app.get("/sessions").await.problem(401, "unauthorized");
    }

    // After the wait the server asked for, the key is served again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    first.api.get("/sessions").await.expect(200);
}

#[tokio::test]
async fn without_rate_limit_per_key_nothing_is_limited() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let key = app.mint_key("tenant-a", &["read"]).await;
    let replies = futures_util::future::join_all((0..50).map(|_| key.api.get("/sessions"))).await;
    for reply in replies {
        reply.expect(200);
        assert_eq!(reply.header("ratelimit"), None);
    }
}

/// Storage lookups of keys so far (`find_key` calls through the instrumented store).
async fn key_lookups(api: &Api) -> u64 {
    crate::common::storage_calls(api, "find_key").await
}

#[tokio::test]
async fn a_flood_of_made_up_key_ids_neither_evicts_nor_slows_a_valid_key() {
    let app = TestApp::spawn_with_keys(&[]).await;
    let key = app.mint_key("tenant-a", &["read"]).await;
    let before = key_lookups(&app.api).await;
    key.api.get("/sessions").await.expect(200);
    let started = Instant::now();
    // Well-formed keys whose ids no store holds, each sent once, 64 at a time, while the valid
    // key keeps asking.
    const MADE_UP: usize = 3_000;
    let flood = futures_util::stream::iter(0..MADE_UP)
        .map(|n| {
            let api = app.api.with_bearer(&format!(
                "ak_{:016x}.{}",
                (n as u64) | (1 << 60),
                "0".repeat(64)
            ));
            async move { api.get("/sessions").await.status }
        })
        .buffer_unordered(64)
        .collect::<Vec<u16>>();
    let valid = async {
        let mut statuses = Vec::new();
        for _ in 0..200 {
            statuses.push(key.api.get("/sessions").await.status);
        }
        statuses
    };
    let (flooded, served) = tokio::join!(flood, valid);
    let took = started.elapsed();
    assert!(flooded.iter().all(|&s| s == 401), "made-up keys are 401");
    assert!(
        served.iter().all(|&s| s == 200),
        "the valid key is served: {served:?}"
    );
    key.api.get("/sessions").await.expect(200);
    // One lookup per made-up id, and for the valid key one, plus one per cache lifetime (2 s)
    // the flood lasted: never one per eviction.
    let lookups = key_lookups(&app.api).await - before;
    let valid_lookups = lookups - MADE_UP as u64;
    let lifetimes = took.as_millis() as u64 / 2_000 + 1;
    assert!(
        (1..=lifetimes + 1).contains(&valid_lookups),
        "{valid_lookups} lookups of the valid key in {took:?}"
    );
}
