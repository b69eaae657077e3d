//! One hot session under many concurrent writers (a call pipeline's retry storm): 48 clients send
//! 150 new events and a resend of each, shuffled, into one session, through one instance or two
//! sharing the store. Every request is answered 201 or 200 (never 503: contention queues, it
//! does not fail), each event is stored once, seqs strictly increase, and a complete racing the
//! writers still seals the session. Runs on the store `TEST_STORE` selects.

mod common;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Reply, TestApp, event, ids, seqs};
use futures_util::future::join_all;

const NEW_EVENTS: usize = 150;
const CLIENTS: usize = 48;

/// Each of the 150 ids twice (the original and a resend), in a fixed shuffled order.
fn workload() -> VecDeque<String> {
    let mut ids: Vec<String> = (0..NEW_EVENTS)
        .flat_map(|i| [format!("e{i}"), format!("e{i}")])
        .collect();
    // Fisher–Yates with a fixed xorshift: the same order on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..ids.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ids.swap(i, (state % (i as u64 + 1)) as usize);
    }
    ids.into()
}

/// `CLIENTS` clients, client `c` talking to `apps[c % apps.len()]`, each taking the next id of
/// the shared workload until none is left. Returns every (id, reply), in completion order.
async fn storm(apps: &[Arc<TestApp>], session: &str) -> Vec<(String, Reply)> {
    let work = Arc::new(Mutex::new(workload()));
    let clients = (0..CLIENTS).map(|c| {
        let (app, work, session) = (
            apps[c % apps.len()].clone(),
            work.clone(),
            session.to_owned(),
        );
        tokio::spawn(async move {
            let mut replies = Vec::new();
            loop {
                let Some(id) = work.lock().unwrap().pop_front() else {
                    return replies;
                };
                let reply = app.append(&session, &event(&id)).await;
                replies.push((id, reply));
            }
        })
    });
    join_all(clients)
        .await
        .into_iter()
        .flat_map(|r| r.expect("a client task"))
        .collect()
}

/// Every id answered once 201 and once 200 with the same stored event; exactly the 150 events
/// stored once each, seqs strictly increasing, and the session counts 150.
async fn assert_all_stored_once(app: &TestApp, session: &str, replies: &[(String, Reply)]) {
    let mut by_id: HashMap<&str, Vec<&Reply>> = HashMap::new();
    for (id, reply) in replies {
        assert!(
            reply.status == 201 || reply.status == 200,
            "{id}: every append is answered 201 or 200 under contention, got {}: {}",
            reply.status,
            reply.text()
        );
        by_id.entry(id).or_default().push(reply);
    }
    assert_eq!(by_id.len(), NEW_EVENTS);
    for (id, replies) in &by_id {
        let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "{id}: one create and one replay");
        assert_eq!(
            replies[0].json(),
            replies[1].json(),
            "{id}: the replay is the stored event"
        );
    }
    let events = app.walk(session, "asc", 100).await;
    let stored: HashSet<String> = ids(&events).into_iter().collect();
    assert_eq!(events.len(), NEW_EVENTS, "each event stored exactly once");
    assert_eq!(stored.len(), NEW_EVENTS);
    let seq = seqs(&events);
    assert!(
        seq.windows(2).all(|w| w[0] < w[1]),
        "seq strictly increasing: {seq:?}"
    );
    let state = app.session(session).await;
    assert_eq!(state["eventCount"], NEW_EVENTS);
    assert_eq!(state["lastSeq"], *seq.last().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_eight_clients_into_one_session_all_succeed() {
    let app = Arc::new(TestApp::spawn().await);
    let session = app.new_session().await;
    let replies = storm(std::slice::from_ref(&app), &session).await;
    assert_eq!(replies.len(), 2 * NEW_EVENTS);
    assert_all_stored_once(&app, &session, &replies).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_storm_over_two_instances_all_succeed() {
    let (first, second) = TestApp::pair().await;
    let session = first.new_session().await;
    // Clients alternate between the instances: 24 + 24.
    let replies = storm(&[first.clone(), second.clone()], &session).await;
    assert_eq!(replies.len(), 2 * NEW_EVENTS);
    assert_all_stored_once(&second, &session, &replies).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_complete_racing_the_storm_still_seals() {
    let (first, second) = TestApp::pair().await;
    let session = first.new_session().await;
    let apps = [first.clone(), second.clone()];
    let writers = {
        let session = session.clone();
        tokio::spawn(async move { storm(&apps, &session).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let done = second.complete(&session, None).await.expect(200);
    assert_eq!(done["status"], "completed");
    // Once complete returned, nothing new is acknowledged, by either instance.
    for app in [&first, &second] {
        app.append(&session, &event("late"))
            .await
            .problem(409, "session-closed");
    }
    let replies = writers.await.expect("the writers");
    let mut acked = HashSet::new();
    for (id, reply) in &replies {
        match reply.status {
            200 | 201 => {
                acked.insert(id.clone());
            }
            409 => {
                reply.problem(409, "session-closed");
            }
            other => panic!("{id}: unexpected {other}: {}", reply.text()),
        }
    }
    let events = first.walk(&session, "asc", 100).await;
    let stored: HashSet<String> = ids(&events).into_iter().collect();
    assert_eq!(
        stored, acked,
        "every acknowledged event is stored, nothing else"
    );
    let state = second.session(&session).await;
    assert_eq!(state["status"], "completed");
    assert_eq!(state["eventCount"], events.len());
    assert_eq!(state["endedAt"], done["endedAt"]);
}
