//! Concurrent duplicates and races: no duplicate, no loss, unique increasing `seq`, and the
//! seal of a completed session.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Reply, TestApp, assert_ordered, event, ids, seqs, unique};
use serde_json::json;
use tokio::sync::Barrier;

/// Runs `n` copies of `task` at once (lined up on a barrier); returns their results in order.
async fn all_at_once<F, Fut, T>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let work = task(i);
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("a task panicked"));
    }
    out
}

fn count_status(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_identical_creates_make_one_session() {
    let app = TestApp::spawn().await;
    let id = unique("call");
    let body = json!({"sessionId": id, "language": "en-US", "metadata": {"k": "v"}});
    let api = app.api.clone();
    let replies = all_at_once(50, |_| {
        let (api, body) = (api.clone(), body.clone());
        async move { api.create_session(&body).await }
    })
    .await;
    assert_eq!(count_status(&replies, 201), 1, "exactly one 201");
    assert_eq!(count_status(&replies, 200), 49, "49 replays");
    let created = replies.iter().find(|r| r.status == 201).unwrap().json();
    for reply in &replies {
        let body = if reply.status == 201 {
            reply.created(&format!("/sessions/{id}"))
        } else {
            reply.replayed()
        };
        assert_eq!(body, created, "every response carries the same session");
    }
    assert_eq!(app.session(&id).await, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_identical_appends_store_one_event() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let body =
        json!({"eventId": "e1", "type": "user_speech", "payload": {"text": "hi", "n": [1, 2]}});
    let api = app.api.clone();
    let replies = {
        let session = session.clone();
        all_at_once(100, move |_| {
            let (api, body, session) = (api.clone(), body.clone(), session.clone());
            async move { api.append(&session, &body).await }
        })
        .await
    };
    assert_eq!(count_status(&replies, 201), 1, "exactly one 201");
    assert_eq!(count_status(&replies, 200), 99, "the rest are replays");
    let stored = replies.iter().find(|r| r.status == 201).unwrap().json();
    for reply in replies.iter().filter(|r| r.status == 200) {
        assert_eq!(reply.replayed(), stored);
    }
    let events = app.walk(&session, "asc", 500).await;
    assert_eq!(events, vec![stored]);
    let s = app.session(&session).await;
    assert_eq!(
        (s["eventCount"].as_u64(), s["lastSeq"].as_u64()),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_concurrent_appends_lose_nothing_and_duplicate_nothing() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 50;
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    let api = app.api.clone();
    // Task t appends its own events t-0..t-49 and, interleaved, retries the events of task
    // t+1: every event is sent twice, by two tasks racing each other.
    let results = {
        let session = session.clone();
        all_at_once(TASKS, move |t| {
            let (api, session) = (api.clone(), session.clone());
            async move {
                let mut seen = Vec::new();
                for i in 0..PER_TASK {
                    for owner in [t, (t + 1) % TASKS] {
                        let id = format!("t{owner}-{i}");
                        let reply = api.append(&session, &event(&id)).await;
                        assert!(
                            matches!(reply.status, 200 | 201),
                            "{id}: {} {}",
                            reply.status,
                            reply.text()
                        );
                        seen.push((id, reply.status, reply.json()));
                    }
                }
                seen
            }
        })
        .await
    };
    let mut created: HashMap<String, u64> = HashMap::new();
    let mut answers: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for (id, status, body) in results.into_iter().flatten() {
        if status == 201 {
            let seq = body["seq"].as_u64().unwrap();
            assert!(
                created.insert(id.clone(), seq).is_none(),
                "{id} created twice"
            );
        }
        answers.entry(id).or_default().push(body);
    }
    assert_eq!(
        created.len(),
        TASKS * PER_TASK,
        "every event created exactly once"
    );
    for (id, bodies) in &answers {
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{id}: all answers agree"
        );
    }
    let created_seqs: HashSet<u64> = created.values().copied().collect();
    assert_eq!(
        created_seqs.len(),
        created.len(),
        "no two events share a seq"
    );

    let events = app.walk(&session, "asc", 37).await;
    assert_ordered(&events, "asc");
    assert_eq!(events.len(), TASKS * PER_TASK, "no loss, no duplicate");
    for e in &events {
        let id = e["eventId"].as_str().unwrap();
        assert_eq!(Some(&e["seq"].as_u64().unwrap()), created.get(id), "{id}");
        assert_eq!(&answers[id][0], e, "{id}: stored as acknowledged");
    }
    let s = app.session(&session).await;
    let last = *seqs(&events).last().unwrap();
    assert_eq!(s["eventCount"].as_u64(), Some(events.len() as u64));
    assert_eq!(s["lastSeq"].as_u64(), Some(last));
    if last == events.len() as u64 {
        // no gaps: seq runs 1..=n
        assert_eq!(seqs(&events), (1..=last).collect::<Vec<_>>());
    }
    // the walk backwards is the same list reversed
    let mut back = app.walk(&session, "desc", 41).await;
    back.reverse();
    assert_eq!(back, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_to_many_sessions_stay_separate() {
    let app = TestApp::spawn().await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(app.new_session().await);
    }
    let api = app.api.clone();
    let sessions_for_tasks = sessions.clone();
    all_at_once(8, move |t| {
        let (api, session) = (api.clone(), sessions_for_tasks[t % 4].clone());
        async move {
            for i in 0..25 {
                let id = format!("t{t}-{i}");
                let reply = api.append(&session, &event(&id)).await;
                reply.created(&format!("/sessions/{session}/events/{id}"));
            }
        }
    })
    .await;
    for (n, session) in sessions.iter().enumerate() {
        let events = app.walk(session, "asc", 100).await;
        assert_ordered(&events, "asc");
        assert_eq!(events.len(), 50);
        assert!(events.iter().all(|e| e["sessionId"] == *session));
        let mut got: Vec<String> = ids(&events);
        got.sort();
        let mut want: Vec<String> = [n, n + 4]
            .iter()
            .flat_map(|t| (0..25).map(move |i| format!("t{t}-{i}")))
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
}

#[derive(Debug)]
struct Attempt {
    event_id: String,
    sent: Instant,
    answered: Instant,
    status: u16,
    code: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_racing_a_complete_respect_the_seal() {
    let app = TestApp::spawn().await;
    for round in 0..3 {
        let session = app.new_session().await;
        let api = app.api.clone();
        let stop_after = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let appenders: Vec<_> = (0..6)
            .map(|t| {
                let (api, session, stop_after) = (api.clone(), session.clone(), stop_after.clone());
                tokio::spawn(async move {
                    let mut attempts = Vec::new();
                    for i in 0.. {
                        let event_id = format!("r{round}-t{t}-{i}");
                        let sent = Instant::now();
                        let reply = api.append(&session, &event(&event_id)).await;
                        let answered = Instant::now();
                        let code = (reply.status >= 400)
                            .then(|| reply.json()["code"].as_str().unwrap_or("").to_owned());
                        attempts.push(Attempt {
                            event_id,
                            sent,
                            answered,
                            status: reply.status,
                            code,
                        });
                        // keep going a little after the complete returned
                        let done = stop_after
                            .lock()
                            .unwrap()
                            .is_some_and(|t: Instant| sent > t + Duration::from_millis(30));
                        if done {
                            break;
                        }
                    }
                    attempts
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(60 + 40 * round)).await;
        let complete_sent = Instant::now();
        let done = app.complete(&session, None).await.expect(200);
        let complete_returned = Instant::now();
        *stop_after.lock().unwrap() = Some(complete_returned);
        assert_eq!(done["status"], "completed");

        let mut attempts = Vec::new();
        for handle in appenders {
            attempts.extend(handle.await.expect("an appender panicked"));
        }
        let acknowledged: HashSet<&str> = attempts
            .iter()
            .filter(|a| a.status == 201)
            .map(|a| a.event_id.as_str())
            .collect();
        assert!(
            !acknowledged.is_empty(),
            "some appends landed before the complete"
        );
        for a in &attempts {
            match a.status {
                201 => assert!(
                    a.sent < complete_returned,
                    "{} acknowledged though sent after the complete returned",
                    a.event_id
                ),
                409 => {
                    assert_eq!(a.code.as_deref(), Some("session-closed"), "{a:?}");
                    assert!(
                        a.answered > complete_sent,
                        "closed before the complete: {a:?}"
                    );
                }
                other => panic!("unexpected status {other}: {a:?}"),
            }
            if a.sent > complete_returned {
                assert_eq!(
                    a.status, 409,
                    "no new event after the complete returned: {a:?}"
                );
            }
        }
        let events = app.walk(&session, "asc", 50).await;
        assert_ordered(&events, "asc");
        let stored: HashSet<&str> = events
            .iter()
            .map(|e| e["eventId"].as_str().unwrap())
            .collect();
        assert_eq!(
            stored, acknowledged,
            "the final list is exactly the acknowledged events"
        );
        let s = app.session(&session).await;
        assert_eq!(s["eventCount"].as_u64(), Some(events.len() as u64));
        assert_eq!(s["lastSeq"].as_u64(), seqs(&events).last().copied());
        assert_eq!(s["endedAt"], done["endedAt"]);
        assert_eq!(
            s["eventCount"], done["eventCount"],
            "the complete saw the final list"
        );

        // the list stays final
        app.append(&session, &event("after-the-end"))
            .await
            .problem(409, "session-closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(app.walk(&session, "asc", 50).await, events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completes_agree() {
    let app = TestApp::spawn().await;
    let session = app.new_session().await;
    app.append(&session, &event("e1"))
        .await
        .created(&format!("/sessions/{session}/events/e1"));
    let api = app.api.clone();
    let replies = {
        let session = session.clone();
        all_at_once(20, move |i| {
            let (api, session) = (api.clone(), session.clone());
            async move {
                let status = if i % 2 == 0 { "completed" } else { "failed" };
                let reply = api
                    .complete(&session, Some(&json!({ "status": status })))
                    .await;
                (status, reply)
            }
        })
        .await
    };
    let winners: Vec<_> = replies
        .iter()
        .filter(|(_, r)| r.status == 200 && r.header("idempotent-replayed").is_none())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one complete wins");
    let (won_status, won) = winners[0];
    let stored = won.json();
    assert_eq!(stored["status"], *won_status);
    for (status, reply) in &replies {
        if status == won_status {
            assert_eq!(reply.expect(200), stored, "all responses agree");
        } else {
            reply.problem(409, "session-state-conflict");
        }
    }
    assert_eq!(app.session(&session).await, stored);
}
