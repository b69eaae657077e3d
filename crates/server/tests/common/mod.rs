//! The HTTP test harness shared by every test file of this folder.
//!
//! [`TestApp::spawn`] builds the real application (the real configuration code, the real store,
//! the real routes) on `127.0.0.1`, port 0, with a fresh data folder, and serves it on a tokio
//! task. [`Api`] is a cheap, cloneable client of one running server with helpers that read
//! whole responses into a [`Reply`]. [`ServerProcess`] runs the compiled binary instead, for
//! the crash tests.
//!
//! The store under test is chosen in one place: [`store_env`]. It reads `TEST_STORE`:
//! `sqlite` (default) or `mongo` (a MongoDB from `testkit::mongo_uri`, a database per server).

#![allow(dead_code)]

pub mod receiver;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

use server::config::Settings;
use server::startup::Application;

/// Words that must never reach a client (driver names, SQL, panics).
const LEAKS: &[&str] = &[
    "sqlite",
    "rusqlite",
    "panicked",
    "stack backtrace",
    "RUST_BACKTRACE",
];
/// Case-sensitive leaks (`SQL` in upper case is a statement or a driver message).
const LEAKS_EXACT: &[&str] = &["SQL", "SELECT ", "INSERT ", "UPDATE "];

/// The store the tests run against, from `TEST_STORE` (default `sqlite`).
pub fn store_kind() -> String {
    std::env::var("TEST_STORE")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "sqlite".to_owned())
}

/// The environment that selects and configures the store under test, for a server whose
/// private data folder is `data_dir`: the one function that knows the stores. With MongoDB the
/// database is named after the data folder, so a restarted server finds its data again and
/// two tests never share a database.
pub async fn store_env(data_dir: &Path) -> Vec<(String, String)> {
    match store_kind().as_str() {
        "sqlite" => vec![
            ("DATA_DIR".into(), data_dir.display().to_string()),
            // Durability is tested in `crash.rs` with the default (`full`).
            ("SQLITE_SYNCHRONOUS".into(), "full".into()),
        ],
        "mongo" => vec![
            // Not used by a MongoDB server; lets a test force the embedded store.
            ("DATA_DIR".into(), data_dir.display().to_string()),
            ("MONGO_URI".into(), testkit::mongo_uri().await),
            ("MONGO_DB".into(), database_for(data_dir)),
            ("STORAGE_TIMEOUT_MS".into(), "10000".into()),
        ],
        other => panic!("TEST_STORE={other}: the stores are `sqlite` and `mongo`"),
    }
}

/// A MongoDB database name derived from the (unique) temporary folder holding `data_dir`.
pub fn database_for(data_dir: &Path) -> String {
    let folder = data_dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = folder
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("http_{}_{safe}", std::process::id())
}

/// The whole environment of a server under test listening on `port`.
pub async fn server_env(data_dir: &Path, port: u16) -> Vec<(String, String)> {
    let mut env = store_env(data_dir).await;
    env.extend([
        ("HOST".into(), "127.0.0.1".into()),
        ("PORT".into(), port.to_string()),
        ("WORKERS".into(), "2".into()),
        ("SHUTDOWN_GRACE_SECONDS".into(), "1".into()),
        (
            "RUST_LOG".into(),
            std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()),
        ),
    ]);
    env
}

/// A unique id for this test process: `prefix-<n>`.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A well-formed event body.
pub fn event(event_id: &str) -> Value {
    json!({"eventId": event_id, "type": "user_speech", "payload": {"text": format!("said {event_id}")}})
}

/// A real application served on a random port, with its own data folder.
pub struct TestApp {
    pub api: Api,
    pub port: u16,
    pub data_dir: PathBuf,
    _dir: TempDir,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A second instance on the same store as `other` (same SQLite file or MongoDB database),
    /// as another process behind a load balancer would be.
    pub async fn spawn_sharing(other: &TestApp) -> Self {
        Self::spawn_on(Some(other.data_dir.clone()), &[]).await
    }

    /// Like [`TestApp::spawn_sharing`], with extra settings.
    pub async fn spawn_sharing_with(other: &TestApp, extra: &[(&str, &str)]) -> Self {
        Self::spawn_on(Some(other.data_dir.clone()), extra).await
    }

    /// Two instances sharing one store, as behind a load balancer.
    pub async fn pair() -> (std::sync::Arc<TestApp>, std::sync::Arc<TestApp>) {
        let first = Self::spawn().await;
        let second = Self::spawn_sharing(&first).await;
        (std::sync::Arc::new(first), std::sync::Arc::new(second))
    }

    /// Like [`TestApp::spawn`], with extra settings (`("PAYLOAD_LIMIT_BYTES", "100")`).
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        Self::spawn_on(None, extra).await
    }

    async fn spawn_on(shared_data_dir: Option<PathBuf>, extra: &[(&str, &str)]) -> Self {
        if std::env::var("TEST_LOG").is_ok() {
            server::telemetry::init(
                server::config::LogFormat::Pretty,
                &std::env::var("TEST_LOG").unwrap_or_default(),
            );
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let data_dir = shared_data_dir.unwrap_or_else(|| dir.path().join("data"));
        let mut env = server_env(&data_dir, 0).await;
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // The temporary folder also plays the working directory: no `.env` or `service.toml`.
        let settings = Settings::load_from(env, dir.path()).expect("valid test settings");
        let app = Application::build(settings)
            .await
            .expect("the application builds");
        let port = app.port();
        let server = tokio::spawn(app.run());
        let api = Api::new(format!("http://127.0.0.1:{port}"));
        Self {
            api,
            port,
            data_dir,
            _dir: dir,
            server,
        }
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("an ASCII header").to_owned())
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    /// Asserts the status and returns the JSON body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self.json()
    }

    /// Asserts a 201 without `Idempotent-Replayed`, with `Location`; returns the body.
    pub fn created(&self, location: &str) -> Value {
        let body = self.expect(201);
        assert_eq!(self.header("location").as_deref(), Some(location));
        assert_eq!(self.header("idempotent-replayed"), None);
        body
    }

    /// Asserts a 200 with `Idempotent-Replayed: true`; returns the body.
    pub fn replayed(&self) -> Value {
        let body = self.expect(200);
        assert_eq!(
            self.header("idempotent-replayed").as_deref(),
            Some("true"),
            "a replay says so"
        );
        body
    }

    /// Asserts an RFC 9457 problem with this status and code; returns it.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status, self.content_type().as_str()),
            (status, "application/problem+json"),
            "expected a {status} {code} problem; body: {}",
            self.text()
        );
        let problem = self.json();
        assert_problem_shape(&problem);
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status, "{problem}");
        assert_no_leak(&self.text());
        problem
    }

    /// Asserts a `validation-failed` problem naming `field` among its errors.
    pub fn invalid_field(&self, field: &str) -> Value {
        let problem = self.problem(400, "validation-failed");
        assert!(
            error_fields(&problem).iter().any(|f| f == field),
            "the problem names {field}: {problem}"
        );
        problem
    }
}

/// The fields named in a `validation-failed` problem.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("validation-failed has errors: {problem}"))
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            e["field"].as_str().expect("a field name").to_owned()
        })
        .collect()
}

/// `{type, title, status, detail, instance, code}` with the documented types.
pub fn assert_problem_shape(problem: &Value) {
    for key in ["type", "title", "detail", "instance", "code"] {
        assert!(
            problem[key].as_str().is_some_and(|s| !s.is_empty()),
            "problem.{key} is a non-empty string: {problem}"
        );
    }
    assert!(problem["status"].is_u64(), "{problem}");
    let code = problem["code"].as_str().unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with(code),
        "type is the stable URI of the code: {problem}"
    );
    assert!(problem["instance"].as_str().unwrap().starts_with('/'));
    if code == "validation-failed" {
        assert!(!error_fields(problem).is_empty(), "{problem}");
    }
}

/// No internal detail in a body sent to a client.
pub fn assert_no_leak(text: &str) {
    let lower = text.to_lowercase();
    for word in LEAKS {
        assert!(
            !lower.contains(&word.to_lowercase()),
            "a response leaks {word:?}: {text}"
        );
    }
    for word in LEAKS_EXACT {
        assert!(!text.contains(word), "a response leaks {word:?}: {text}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`: UTC with millisecond precision.
pub fn assert_utc_millis(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("a timestamp string: {value}"));
    let b = s.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    let ok = b.len() == 24
        && digits.iter().all(|&i| b[i].is_ascii_digit())
        && [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (23, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| b[i] == c);
    assert!(ok, "{s:?} is not UTC with milliseconds (…sssZ)");
}

/// The `seq` of each event.
pub fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq is a positive integer"))
        .collect()
}

/// The `eventId` of each event.
pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["eventId"].as_str().expect("eventId").to_owned())
        .collect()
}

/// Strictly increasing `seq` (asc) or strictly decreasing (desc), and no id twice.
pub fn assert_ordered(events: &[Value], order: &str) {
    let seqs = seqs(events);
    for pair in seqs.windows(2) {
        let ok = match order {
            "desc" => pair[0] > pair[1],
            _ => pair[0] < pair[1],
        };
        assert!(ok, "seq out of {order} order: {pair:?} in {seqs:?}");
    }
    assert!(seqs.iter().all(|&s| s >= 1), "seq ≥ 1: {seqs:?}");
    let unique: HashSet<String> = ids(events).into_iter().collect();
    assert_eq!(unique.len(), events.len(), "an event appears twice");
}

/// A client of one running server.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        Self { client, base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends and reads the whole response; a transport error is an error.
    pub async fn try_send(&self, request: RequestBuilder) -> Result<Reply, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends and reads the whole response; panics on a transport error.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("request failed: {e:?}"))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(
            path,
            Some("application/json"),
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// A POST with exactly these bytes and this `Content-Type` (none when `None`).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        self.send(self.raw(Method::POST, path, content_type, body))
            .await
    }

    pub fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> RequestBuilder {
        let mut request = self.request(method, path).body(body.into());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request
    }

    pub async fn create_session(&self, body: &Value) -> Reply {
        self.post_json("/sessions", body).await
    }

    /// Creates a session with a unique id (asserting 201) and returns its id.
    pub async fn new_session(&self) -> String {
        let id = unique("session");
        self.create_session(&json!({ "sessionId": id }))
            .await
            .created(&format!("/sessions/{id}"));
        id
    }

    pub async fn append(&self, session: &str, body: &Value) -> Reply {
        self.post_json(&format!("/sessions/{session}/events"), body)
            .await
    }

    /// Appends `event(id)` for each id, asserting 201 each time; returns the stored events.
    pub async fn append_all(&self, session: &str, event_ids: &[String]) -> Vec<Value> {
        let mut stored = Vec::new();
        for id in event_ids {
            let body = self
                .append(session, &event(id))
                .await
                .created(&format!("/sessions/{session}/events/{id}"));
            stored.push(body);
        }
        stored
    }

    /// Appends an event of `type` with the payload `{"pad": pad}` for each id, in batches of
    /// `per_batch` (asserting 201 each time): a session filled fast, e.g. far beyond what the
    /// socket buffers hold.
    pub async fn fill(&self, session: &str, event_ids: &[String], per_batch: usize, pad: &str) {
        for chunk in event_ids.chunks(per_batch) {
            let events: Vec<Value> = chunk
                .iter()
                .map(|id| json!({"eventId": id, "type": "user_speech", "payload": {"pad": pad}}))
                .collect();
            self.post_json(
                &format!("/sessions/{session}/events:batch"),
                &json!({ "events": events }),
            )
            .await
            .expect(201);
        }
    }

    /// `POST /sessions/{id}/complete` with a JSON body, or with no body at all.
    pub async fn complete(&self, session: &str, body: Option<&Value>) -> Reply {
        let path = format!("/sessions/{session}/complete");
        match body {
            Some(body) => self.post_json(&path, body).await,
            None => self.post_raw(&path, None, Vec::new()).await,
        }
    }

    /// `GET /sessions/{id}` without its events page.
    pub async fn session(&self, session: &str) -> Value {
        let mut body = self.get(&format!("/sessions/{session}")).await.expect(200);
        body.as_object_mut().unwrap().remove("events");
        body
    }

    /// One page: `GET /sessions/{id}/events?{query}`.
    pub async fn page(&self, session: &str, query: &str) -> Reply {
        self.get(&format!("/sessions/{session}/events?{query}"))
            .await
    }

    /// Follows `nextCursor` from the first page while `hasMore`, checking each page against
    /// the contract; returns every event seen, in walk order.
    pub async fn walk(&self, session: &str, order: &str, limit: u32) -> Vec<Value> {
        self.walk_pages(session, order, limit)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Like [`Api::walk`], page by page.
    pub async fn walk_pages(&self, session: &str, order: &str, limit: u32) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = format!("order={order}&limit={limit}");
            if let Some(cursor) = &cursor {
                query.push_str(&format!("&cursor={cursor}"));
            }
            let reply = self.page(session, &query).await;
            let body = reply.expect(200);
            let data = body["data"].as_array().expect("data").clone();
            assert!(data.len() <= limit as usize, "a page holds at most limit");
            let has_more = body["hasMore"].as_bool().expect("hasMore");
            let next = body["nextCursor"].as_str().map(str::to_owned);
            if !data.is_empty() || cursor.is_some() {
                assert!(next.is_some(), "nextCursor is set: {body}");
            }
            match (&next, has_more) {
                (Some(next), true) => {
                    let link = reply.header("link").expect("a Link header with hasMore");
                    assert!(link.contains("rel=\"next\""), "{link}");
                    assert!(link.contains(next.as_str()), "{link} names {next}");
                }
                _ => assert_eq!(reply.header("link"), None, "no Link without hasMore"),
            }
            pages.push(data);
            if !has_more {
                return pages;
            }
            assert!(
                pages.last().is_some_and(|p| !p.is_empty()),
                "hasMore on an empty page"
            );
            cursor = next;
        }
    }
}

/// Sends `request` as raw bytes over a fresh connection to `port` and reads the answer until
/// the server closes it (send `Connection: close`). For what an HTTP client library would not
/// send: chunked bodies, broken heads.
pub async fn raw_http(port: u16, request: Vec<u8>) -> Reply {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // the server may answer and close before reading everything
        let _ = stream.write_all(&request);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        parse_http_response(&answer)
    })
    .await
    .expect("the raw request task")
}

fn parse_http_response(answer: &[u8]) -> Reply {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response: {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            headers.append(
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                reqwest::header::HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
    }
    Reply {
        status,
        headers,
        body: answer[split + 4..].to_vec(),
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
/// Calls of the store's `operation` so far, of every outcome, as `/metrics` counts them (the
/// instrumented store's `storage_operation_duration_seconds`).
pub async fn storage_calls(api: &Api, operation: &str) -> u64 {
    let text = api.get("/metrics").await.text();
    let label = format!("operation=\"{operation}\"");
    text.lines()
        .filter(|l| {
            l.starts_with("storage_operation_duration_seconds_count{") && l.contains(&label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The compiled server binary, run as a child process on a given data folder.
pub struct ServerProcess {
    pub child: Child,
    pub api: Api,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `binary` with the store environment of `data_dir` and waits until `/healthz`
    /// answers. Its output goes to `log`.
    pub async fn start(binary: &str, data_dir: &Path, workdir: &Path, log: &Path) -> Self {
        Self::start_with(binary, data_dir, workdir, log, &[]).await
    }

    /// Like [`ServerProcess::start`], with extra variables over the harness's
    /// (`("RUST_LOG", "info")`).
    pub async fn start_with(
        binary: &str,
        data_dir: &Path,
        workdir: &Path,
        log: &Path,
        extra: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log_file = std::fs::File::create(log).expect("a log file");
        let mut env = server_env(data_dir, port).await;
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("a log file"))
            .stderr(log_file)
            .spawn()
            .expect("the server binary starts");
        let mut process = Self {
            child,
            api: Api::new(format!("http://127.0.0.1:{port}")),
            port,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = process.child.try_wait().expect("the child's status") {
                panic!(
                    "the server exited with {status}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            let probe = process
                .api
                .client
                .get(process.api.url("/healthz"))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return process;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM: a graceful stop; the caller waits for the exit.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM the server");
    }

    /// `kill -9`, then reap.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- Keys mode (SPEC "Projects and API keys") ----------------------------------------------
// Existing tests run in open mode (no `ADMIN_KEY`); these start and use servers in keys mode.

/// The admin key of the keys-mode test servers (at least 32 characters).
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijklmnop";

/// A key minted through `POST /admin/keys`: its id, its text, and a client sending it.
pub struct MintedKey {
    pub id: String,
    pub key: String,
    pub api: Api,
}

impl TestApp {
    /// The application in keys mode (`ADMIN_KEY` set), with extra settings.
    pub async fn spawn_with_keys(extra: &[(&str, &str)]) -> Self {
        let mut settings = vec![("ADMIN_KEY", ADMIN_KEY)];
        settings.extend_from_slice(extra);
        Self::spawn_with(&settings).await
    }

    /// Two instances in keys mode sharing one store.
    pub async fn pair_with_keys() -> (TestApp, TestApp) {
        let first = Self::spawn_with_keys(&[]).await;
        let second =
            Self::spawn_on(Some(first.data_dir.clone()), &[("ADMIN_KEY", ADMIN_KEY)]).await;
        (first, second)
    }

    /// This server's client sending the admin key.
    pub fn admin(&self) -> Api {
        self.api
            .with_header("authorization", &format!("Bearer {ADMIN_KEY}"))
    }

    /// Creates a key of `project` with `scopes` (asserting 201).
    pub async fn mint_key(&self, project: &str, scopes: &[&str]) -> MintedKey {
        self.mint_key_with(serde_json::json!({"project": project, "scopes": scopes}))
            .await
    }

    /// Creates a key from this `POST /admin/keys` body (asserting 201).
    pub async fn mint_key_with(&self, body: Value) -> MintedKey {
        let created = self
            .admin()
            .post_json("/admin/keys", &body)
            .await
            .expect(201);
        let key = created["key"].as_str().expect("the key's text").to_owned();
        MintedKey {
            id: created["id"].as_str().expect("the key's id").to_owned(),
            api: self.api.with_bearer(&key),
            key,
        }
    }
}

/// Creates a key of `project` with `scopes` on the server `api` talks to, with the admin key
/// (asserting 201); returns its text.
pub async fn mint_key_on(api: &Api, project: &str, scopes: &[&str]) -> String {
    let body = serde_json::json!({"project": project, "scopes": scopes});
    let created = api
        .with_bearer(ADMIN_KEY)
        .post_json("/admin/keys", &body)
        .await
        .expect(201);
    created["key"].as_str().expect("the key's text").to_owned()
}

impl Api {
    /// A client of the same server sending `Authorization: Bearer <token>`.
    pub fn with_bearer(&self, token: &str) -> Api {
        self.with_header("authorization", &format!("Bearer {token}"))
    }

    /// A client of the same server sending `name: value` with every request (e.g. a bearer
    /// token); every helper of [`Api`] works with it.
    pub fn with_header(&self, name: &str, value: &str) -> Api {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            reqwest::header::HeaderValue::from_str(value).expect("a header value"),
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("a client");
        Api {
            client,
            base: self.base.clone(),
        }
    }
}
