//! A MongoDB outage under load: the database stops and starts again on the same data while
//! clients append. While it is down every request answers 503 `storage-unavailable` within the
//! configured bound (no hang, no 500), `/readyz` is 503 and `/healthz` 200; afterwards the
//! service recovers by itself and every acknowledged event is there exactly once.
//!
//! It runs its own MongoDB-wire server (SecantusDB, `SECANTUSD_BIN`, set by `./scripts/test`)
//! so that it can stop it.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestApp, event, free_port, ids};
use tokio::sync::Mutex;

const BOUND: Duration = Duration::from_millis(1500);

struct Database {
    binary: String,
    port: u16,
    storage: PathBuf,
    child: Option<Child>,
}

impl Database {
    fn start(binary: &str, storage: &Path) -> Self {
        let mut db = Self {
            binary: binary.to_owned(),
            port: free_port(),
            storage: storage.to_owned(),
            child: None,
        };
        db.restart();
        db
    }

    fn restart(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--storage-path")
            .arg(&self.storage)
            .args(["--log-level", "WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("SecantusDB starts");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "SecantusDB listens"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?retryWrites=false", self.port)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_outage_answers_503_then_recovers_without_loss() {
    let binary = std::env::var("SECANTUSD_BIN").unwrap_or_else(|_| {
        panic!(
            "the outage test runs its own MongoDB-wire server: set SECANTUSD_BIN to secantusd-py \
             (./scripts/test does)"
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let mut db = tokio::task::block_in_place(|| Database::start(&binary, &dir.path().join("db")));
    let app = Arc::new(
        TestApp::spawn_with(&[
            ("MONGO_URI", &db.uri()),
            ("MONGO_DB", "outage"),
            ("STORAGE_TIMEOUT_MS", &BOUND.as_millis().to_string()),
        ])
        .await,
    );
    let session = app.new_session().await;

    // Writers append without pause; they record what was acknowledged and every refusal.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, session, stop) = (app.clone(), session.clone(), stop.clone());
            let (acked, refusals) = (acked.clone(), refusals.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("w{w}-{i}");
                    let started = Instant::now();
                    let reply = app.append(&session, &event(&id)).await;
                    let took = started.elapsed();
                    match reply.status {
                        200 | 201 => {
                            acked.lock().await.insert(id);
                            i += 1;
                        }
                        _ => {
                            reply.problem(503, "storage-unavailable");
                            refusals.lock().await.push(took);
                            // retried with the same id: a replay or a first store later
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::task::block_in_place(|| db.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Down: bounded 503s, not ready, still alive.
    let started = Instant::now();
    app.get(&format!("/sessions/{session}"))
        .await
        .problem(503, "storage-unavailable");
    assert!(
        started.elapsed() < BOUND + Duration::from_secs(2),
        "bounded: {:?}",
        started.elapsed()
    );
    app.get("/readyz").await.problem(503, "storage-unavailable");
    app.get("/healthz").await.expect(200);
    tokio::time::sleep(Duration::from_secs(2)).await;

    tokio::task::block_in_place(|| db.restart());
    let started = Instant::now();
    while app.get("/readyz").await.status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "recovers without a restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let refusals = refusals.lock().await;
    assert!(!refusals.is_empty(), "the writers saw the outage");
    let slowest = refusals.iter().max().unwrap();
    assert!(
        *slowest < BOUND + Duration::from_secs(2),
        "every 503 within the bound: {slowest:?}"
    );
    let acked = acked.lock().await;
    let events = app.walk(&session, "asc", 500).await;
    let stored = ids(&events);
    let unique: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(unique.len(), stored.len(), "no duplicate");
    for id in acked.iter() {
        assert!(unique.contains(id), "acknowledged {id} survived the outage");
    }
    let state = app.session(&session).await;
    assert_eq!(state["eventCount"], stored.len());
    eprintln!(
        "outage: {} acknowledged, {} stored, {} refusals (slowest {slowest:?})",
        acked.len(),
        stored.len(),
        refusals.len()
    );
}
