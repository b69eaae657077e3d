//! The process around the API: start-up refusals, graceful shutdown, slow clients, a store that
//! runs out of space. Each runs the real binary or the real application.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ServerProcess, TestApp, event};
use serde_json::json;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_server")
}

/// Runs the binary with `env` until it exits; returns (exit code, stderr).
fn run_to_exit(env: &[(&str, &str)], workdir: &std::path::Path) -> (i32, String) {
    let mut child = Command::new(binary())
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("status") {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code().unwrap_or(-1), stderr);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server should have stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the server process to exit, at most `limit` after `since`, and asserts exit code 0
/// (the log in the message otherwise).
async fn exits_with_0_within(
    server: &mut ServerProcess,
    since: Instant,
    limit: Duration,
    log: &std::path::Path,
) {
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            since.elapsed() < limit,
            "no exit within {limit:?} of the signal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(log).unwrap()
    );
}

/// Opens a connection and sends an append's head and the first `sent` bytes of its body.
fn start_append(port: u16, session: &str, body: &[u8], sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /sessions/{session}/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body[..sent]).unwrap();
    stream.flush().unwrap();
    stream
}

#[test]
fn an_unusable_data_dir_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let data_dir = file.join("data");
    let (code, stderr) = run_to_exit(
        &[("DATA_DIR", data_dir.to_str().unwrap()), ("PORT", "0")],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: DATA_DIR="), "{stderr}");
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = run_to_exit(&[("PORT", "eighty")], dir.path());
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("PORT") && stderr.contains("eighty"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    let mut server = ServerProcess::start(binary(), &data_dir, dir.path(), &log).await;
    let session = server.api.new_session().await;

    // A request in flight: head and half of the body sent.
    let body = serde_json::to_vec(&event("in-flight")).unwrap();
    let mut stream = start_append(server.port, &session, &body, body.len() / 2);
    stream.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections are refused while the in-flight request still completes.
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "the listener is closed after SIGTERM"
    );
    stream.write_all(&body[body.len() / 2..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    exits_with_0_within(&mut server, Instant::now(), Duration::from_secs(10), &log).await;

    // The acknowledged event is in the store after a restart.
    let server = ServerProcess::start(binary(), &data_dir, dir.path(), &log).await;
    let events = server.api.walk(&session, "asc", 10).await;
    assert_eq!(common::ids(&events), vec!["in-flight".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_live_streams_and_exits_well_within_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server =
        ServerProcess::start(binary(), &dir.path().join("data"), dir.path(), &log).await;
    let session = server.api.new_session().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /sessions/{session}/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 512];
    let n = stream.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");

    let signalled = Instant::now();
    server.terminate();
    // The stream ends (the server closes it) instead of holding the exit up for the grace
    // period (30 s by default).
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the stream ends cleanly, not by a read timeout");
    exits_with_0_within(&mut server, signalled, Duration::from_secs(5), &log).await;
}

#[tokio::test]
async fn a_slow_body_gets_408_and_stores_nothing() {
    let app = TestApp::spawn_with(&[("REQUEST_BODY_TIMEOUT_MS", "1000")]).await;
    let session = app.new_session().await;
    let body = serde_json::to_vec(&event("slow")).unwrap();
    let port = app.port;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = start_append(port, &session, &body, 5);
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        (answer, session)
    })
    .await
    .unwrap();
    let (answer, session) = answer;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"code\":\"request-timeout\""), "{answer}");
    assert!(
        app.walk(&session, "asc", 10).await.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let app = TestApp::spawn_with(&[("REQUEST_HEADER_TIMEOUT_MS", "2000")]).await;
    let port = app.port;
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap();
    let (answer, waited) = answer;
    assert!(
        waited < Duration::from_secs(5),
        "cut off after the timeout, waited {waited:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    app.get("/healthz").await.expect(200);
}

#[tokio::test]
async fn a_full_embedded_store_answers_503_and_keeps_serving_reads() {
    // A size cap is a property of the embedded store, whatever TEST_STORE says (MongoDB
    // outages: outage.rs); an empty MONGO_URI selects it.
    let app = TestApp::spawn_with(&[("SQLITE_MAX_SIZE_MB", "1"), ("MONGO_URI", "")]).await;
    let session = app.new_session().await;
    let big = "x".repeat(60 * 1024);
    let mut stored = 0;
    let mut refusal = None;
    for i in 0..100 {
        let body = json!({"eventId": format!("e{i}"), "type": "system", "payload": {"blob": big}});
        let reply = app.append(&session, &body).await;
        match reply.status {
            201 => stored += 1,
            _ => {
                refusal = Some(reply);
                break;
            }
        }
    }
    let refusal = refusal.expect("a 1 MiB store fills up");
    refusal.problem(503, "storage-unavailable");
    assert!(stored > 0);
    // Reads and health still work; the refused event was not stored.
    assert_eq!(app.walk(&session, "asc", 500).await.len(), stored);
    assert_eq!(app.session(&session).await["eventCount"], stored);
    app.get("/healthz").await.expect(200);
    app.get("/readyz").await.expect(200);
}

#[test]
fn open_mode_off_loopback_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();
    let (code, stderr) = run_to_exit(
        &[("HOST", "0.0.0.0"), ("PORT", "0"), ("DATA_DIR", data_dir)],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HOST=0.0.0.0")
            && stderr.contains("ADMIN_KEY")
            && stderr.contains("ALLOW_OPEN"),
        "{stderr}"
    );
    let (code, stderr) = run_to_exit(
        &[
            ("ADMIN_KEY", "too-short-secret"),
            ("PORT", "0"),
            ("DATA_DIR", data_dir),
        ],
        dir.path(),
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ADMIN_KEY"), "{stderr}");
    assert!(
        !stderr.contains("too-short-secret"),
        "the value is never shown: {stderr}"
    );
}
