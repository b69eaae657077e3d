//! Two server instances on one store (the same MongoDB database with `TEST_STORE=mongo`, the
//! same SQLite file otherwise): requests spread over both give exactly the guarantees of one
//! instance, because idempotency, ordering and the seal live in the store, not in a process.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{TestApp, event, ids, seqs};
use futures_util::future::join_all;
use serde_json::json;

fn pick(apps: &(Arc<TestApp>, Arc<TestApp>), i: usize) -> Arc<TestApp> {
    if i.is_multiple_of(2) {
        apps.0.clone()
    } else {
        apps.1.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_creates_through_two_instances_store_one_session() {
    let apps = TestApp::pair().await;
    let body = json!({"sessionId": "shared-create", "metadata": {"n": 1}});
    let replies = join_all((0..40).map(|i| {
        let (app, body) = (pick(&apps, i), body.clone());
        async move { app.create_session(&body).await }
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let replayed = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!((created, replayed), (1, 39));
    let first = replies[0].json();
    assert!(
        replies.iter().all(|r| r.json() == first),
        "every answer is the same session"
    );
    assert_eq!(
        apps.1.session("shared-create").await["createdAt"],
        first["createdAt"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn identical_appends_through_two_instances_store_one_event() {
    let apps = TestApp::pair().await;
    let session = apps.0.new_session().await;
    let replies = join_all((0..60).map(|i| {
        let (app, session) = (pick(&apps, i), session.clone());
        async move { app.append(&session, &event("same")).await }
    }))
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 59);
    for app in [&apps.0, &apps.1] {
        let events = app.walk(&session, "asc", 50).await;
        assert_eq!(ids(&events), vec!["same".to_owned()]);
        assert_eq!(app.session(&session).await["eventCount"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_appends_through_two_instances_lose_nothing() {
    let apps = TestApp::pair().await;
    let session = apps.0.new_session().await;
    let writers = (0..6).map(|w| {
        let (app, session) = (pick(&apps, w), session.clone());
        let other = pick(&apps, w + 1);
        async move {
            let mut acked = Vec::new();
            for i in 0..20 {
                let id = format!("w{w}-e{i}");
                let first = app.append(&session, &event(&id)).await;
                assert!(
                    first.status == 201 || first.status == 200,
                    "{}",
                    first.text()
                );
                // The retry goes through the other instance.
                let retry = other.append(&session, &event(&id)).await;
                assert_eq!(retry.status, 200, "{}", retry.text());
                assert_eq!(retry.json(), first.json(), "the replay is the stored event");
                acked.push(id);
            }
            acked
        }
    });
    let acked: HashSet<String> = join_all(writers).await.into_iter().flatten().collect();
    let events = apps.1.walk(&session, "asc", 33).await;
    let stored: Vec<String> = ids(&events);
    assert_eq!(stored.len(), 120, "no loss, no duplicate");
    assert_eq!(stored.iter().cloned().collect::<HashSet<_>>(), acked);
    let seq = seqs(&events);
    assert!(
        seq.windows(2).all(|w| w[0] < w[1]),
        "seq strictly increasing: {seq:?}"
    );
    let state = apps.0.session(&session).await;
    assert_eq!(state["eventCount"], 120);
    assert_eq!(state["lastSeq"], *seq.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_complete_on_one_instance_seals_appends_on_the_other() {
    let apps = TestApp::pair().await;
    for round in 0..3 {
        let session = apps.0.new_session().await;
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (app, session) = (pick(&apps, w), session.clone());
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0..60 {
                        let id = format!("r{round}-w{w}-{i}");
                        let reply = app.append(&session, &event(&id)).await;
                        match reply.status {
                            201 | 200 => acked.push(id),
                            409 => {
                                reply.problem(409, "session-closed");
                                break;
                            }
                            other => panic!("unexpected {other}: {}", reply.text()),
                        }
                    }
                    acked
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let done = apps.1.complete(&session, None).await.expect(200);
        assert_eq!(done["status"], "completed");
        // Once complete returned, neither instance acknowledges a new event.
        for app in [&apps.0, &apps.1] {
            app.append(&session, &event("late"))
                .await
                .problem(409, "session-closed");
        }
        let acked: Vec<String> = join_all(writers)
            .await
            .into_iter()
            .flat_map(|r| r.expect("writer"))
            .collect();
        let events = apps.0.walk(&session, "asc", 100).await;
        let stored: HashSet<String> = ids(&events).into_iter().collect();
        for id in &acked {
            assert!(
                stored.contains(id),
                "acknowledged {id} is in the final list"
            );
        }
        assert_eq!(
            stored.len(),
            acked.len(),
            "only acknowledged events are stored"
        );
        let state = apps.1.session(&session).await;
        assert_eq!(state["eventCount"], events.len());
        assert_eq!(state["endedAt"], done["endedAt"]);
    }
}
