//! A webhook receiver for the tests (SPEC "Webhooks"): an HTTP/1.1 server on a real port of
//! 127.0.0.1, started by the test, that records every request and answers as the test's script
//! says; registering an endpoint with the admin key; checking a message's Standard Webhooks
//! signature with HMAC from RustCrypto (not the service's code). Used by the `http` binary's
//! `deliveries` module and by `crash.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Api;

/// Every message type (an endpoint subscribed to all of them).
pub const EVERY_TYPE: [&str; 6] = [
    "session.created",
    "session.completed",
    "session.failed",
    "session.erased",
    "event.appended",
    "event.redacted",
];

/// What the receiver answers to one request: a status, extra headers, a delay first.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
}

/// An answer with this status, at once, without extra headers.
pub fn answer(status: u16) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        delay: Duration::ZERO,
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub raw: Vec<u8>,
    pub body: Value,
    /// When it was read whole.
    pub at: Instant,
    /// The same, by the wall clock (what `webhook-timestamp` is compared with).
    pub wall: SystemTime,
}

impl Received {
    pub fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    pub fn session(&self) -> &str {
        self.body["data"]["session"]["sessionId"]
            .as_str()
            .unwrap_or_default()
    }

    /// The event's id, for the event types.
    pub fn event(&self) -> Option<&str> {
        self.body["data"]["event"]["eventId"].as_str()
    }

    /// `"{session} {type}"`, then ` {eventId}` for the event types.
    pub fn described(&self) -> String {
        match self.event() {
            Some(event) => format!("{} {} {event}", self.session(), self.kind()),
            None => format!("{} {}", self.session(), self.kind()),
        }
    }
}

/// What was received of `session`, described, in order.
pub fn of_session(got: &[Received], session: &str) -> Vec<String> {
    got.iter()
        .filter(|r| r.session() == session)
        .map(Received::described)
        .collect()
}

type Script = dyn Fn(&Received, usize) -> Answer + Send + Sync;

/// An HTTP/1.1 receiver on 127.0.0.1: records every request, answers as `script` says (given
/// the request and how many with its `webhook-id` came before). Requests are recorded in the
/// order they were read whole, before they are answered.
pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request: its headers (names in lower case) and its body (`Content-Length`).
async fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((headers, buffer[head_end..head_end + length].to_vec()))
}

impl Receiver {
    pub async fn start(
        script: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook",
            listener.local_addr().unwrap().port()
        );
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let seen = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    let Some((headers, raw)) = read_request(&mut stream).await else {
                        return;
                    };
                    let received = Received {
                        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                        headers,
                        raw,
                        at: Instant::now(),
                        wall: SystemTime::now(),
                    };
                    let before = {
                        let mut got = seen.lock().unwrap();
                        let before = got
                            .iter()
                            .filter(|r| {
                                r.headers.get("webhook-id") == received.headers.get("webhook-id")
                            })
                            .count();
                        got.push(received.clone());
                        before
                    };
                    let answer = script(&received, before);
                    tokio::time::sleep(answer.delay).await;
                    let mut reply = format!(
                        "HTTP/1.1 {} X\r\ncontent-length: 0\r\nconnection: close\r\n",
                        answer.status
                    );
                    for (name, value) in &answer.headers {
                        reply.push_str(&format!("{name}: {value}\r\n"));
                    }
                    reply.push_str("\r\n");
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { url, got, task }
    }

    /// Everything received so far, in arrival order.
    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `done` holds of what was received; returns it.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.got();
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "waited 30 s for {what}; got {:?}",
                got.iter().map(Received::described).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Registers an endpoint of `project` at `url` for `events` through `admin` (a client sending
/// the admin key), asserting 201: its id and its secret's bytes.
pub async fn register(admin: &Api, project: &str, url: &str, events: &[&str]) -> (String, Vec<u8>) {
    let created = admin
        .post_json(
            "/admin/webhooks",
            &json!({"project": project, "url": url, "events": events}),
        )
        .await
        .expect(201);
    let secret = created["secret"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    (created["id"].as_str().unwrap().to_owned(), bytes)
}

/// Checks Standard Webhooks' signature of a request with `secret`, and that its
/// `webhook-timestamp` was within a minute of its arrival.
pub fn assert_signed(r: &Received, secret: &[u8]) {
    let (id, timestamp) = (&r.headers["webhook-id"], &r.headers["webhook-timestamp"]);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&r.raw);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let signatures: Vec<&str> = r.headers["webhook-signature"].split(' ').collect();
    assert!(signatures.contains(&expected.as_str()), "{signatures:?}");
    let sent: i64 = timestamp.parse().unwrap();
    let arrived = r
        .wall
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (arrived - sent).abs() < 60,
        "webhook-timestamp {sent} vs arrival {arrived}"
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(id.starts_with("msg_") && id.len() >= 20, "webhook-id {id}");
}
