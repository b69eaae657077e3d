//! The retention sweep with second-scale durations (own binary: three instances share a store
//! to themselves). Every instance sweeps; sessions that ended, or were last updated, longer
//! ago than `RETENTION` are erased (410 afterwards), each exactly once over all instances
//! (`sessions_erased_total{reason="retention"}` summed over them equals the number of
//! sessions), a session kept busy is kept, and once `TOMBSTONE_RETENTION` has passed the ids
//! can be created again. Webhook messages go with retention too: one recorded longer ago than
//! `RETENTION` is no longer listed, with its deliveries (decision 41).

mod common;

use std::time::{Duration, Instant};

use common::receiver::{Receiver, answer};
use common::{TestApp, event};
use serde_json::json;

const SETTINGS: &[(&str, &str)] = &[
    ("RETENTION", "2s"),
    ("RETENTION_SWEEP_INTERVAL", "200ms"),
    ("TOMBSTONE_RETENTION", "3s"),
];

fn retention_erasures(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("sessions_erased_total{reason=\"retention\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_sweeping_at_once_erase_each_expired_session_once() {
    let first = TestApp::spawn_with(SETTINGS).await;
    let second = TestApp::spawn_sharing_with(&first, SETTINGS).await;
    let third = TestApp::spawn_sharing_with(&first, SETTINGS).await;
    let apps = [&first, &second, &third];
    let mut expiring = Vec::new();
    for i in 0..30 {
        let id = first.new_session().await;
        first.append(&id, &event("e1")).await.expect(201);
        if i % 2 == 0 {
            first.complete(&id, None).await.expect(200);
        }
        expiring.push(id);
    }
    let busy = first.new_session().await;
    let started = Instant::now();
    let mut n = 0;
    // Until every expiring session is erased: the busy one gets an event every 300 ms.
    let mut left: Vec<String> = expiring.clone();
    while !left.is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{} sessions still there after 15 s",
            left.len()
        );
        n += 1;
        apps[n % 3]
            .append(&busy, &event(&format!("b{n}")))
            .await
            .expect(201);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut still = Vec::new();
        for id in left {
            let reply = apps[n % 3].get(&format!("/sessions/{id}")).await;
            match reply.status {
                200 => still.push(id),
                410 => {
                    reply.problem(410, "session-erased");
                }
                other => panic!("{id}: {other} {}", reply.text()),
            }
        }
        left = still;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "nothing is erased before RETENTION has passed"
    );
    // The busy session is kept; every expired one was erased exactly once.
    first.get(&format!("/sessions/{busy}")).await.expect(200);
    // A session answers 410 from the erasure's first step (MongoDB: the tombstone), and the
    // erasure is counted when it returns: wait for the count to reach every session, then let
    // the instances sweep a few more times, and it must not have grown.
    let total = || async {
        let mut total = 0;
        for app in apps {
            total += retention_erasures(&app.get("/metrics").await.text());
        }
        total
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while total().await < expiring.len() as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        total().await,
        expiring.len() as u64,
        "each erasure counted once"
    );
    // Once the tombstones expired, the ids are free again.
    let deadline = Instant::now() + Duration::from_secs(15);
    for id in &expiring {
        loop {
            let reply = second.create_session(&json!({"sessionId": id})).await;
            if reply.status == 201 {
                // A new, empty session (it will expire in turn).
                assert_eq!(reply.json()["eventCount"], 0, "{}", reply.text());
                break;
            }
            reply.problem(409, "session-erased");
            assert!(Instant::now() < deadline, "{id}: tombstone never purged");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_messages_older_than_retention_are_pruned() {
    let receiver = Receiver::start(|_, _| answer(204)).await;
    let mut settings = SETTINGS.to_vec();
    settings.push(("WEBHOOK_ALLOW_PRIVATE", "true"));
    let app = TestApp::spawn_with_keys(&settings).await;
    let key = app.mint_key("acme", &["read", "write"]).await;
    let (hook, _) =
        common::receiver::register(&app.admin(), "acme", &receiver.url, &["session.created"]).await;
    let listed = || async {
        let page = app
            .admin()
            .get(&format!("/admin/webhooks/{hook}/deliveries?limit=100"))
            .await
            .expect(200);
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["sessionId"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    key.api
        .create_session(&json!({"sessionId": "old"}))
        .await
        .expect(201);
    receiver
        .until("the first message", |got| !got.is_empty())
        .await;
    let started = Instant::now();
    // A session created every 300 ms, until "old"'s message is gone.
    for n in 0.. {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the message of `old` still listed after 15 s"
        );
        key.api
            .create_session(&json!({ "sessionId": format!("new-{n}") }))
            .await
            .expect(201);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !listed().await.contains(&"old".to_owned()) {
            break;
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "pruned before RETENTION had passed"
    );
    let left = listed().await;
    assert!(
        !left.is_empty() && left.iter().all(|s| s.starts_with("new-")),
        "younger messages stay: {left:?}"
    );
}
