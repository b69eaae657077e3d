//! `kill -9` while clients write: every acknowledged write survives, exactly once, in order.
//!
//! Runs the compiled binary (`CARGO_BIN_EXE_server`) on one data folder, kills it with SIGKILL
//! in the middle of concurrent appends and creates, restarts it, and checks the ledger of
//! what was acknowledged. Three rounds, then normal service. The server runs in keys mode: the
//! project key minted in the first round keeps working after every crash. Some clients append
//! batches: after every restart each batch is whole (at consecutive seqs) or absent.
//!
//! A webhook endpoint of the project, registered in the first round, subscribes to every type;
//! its receiver (the test's, on a real port) runs through every crash. After the last restart
//! every acknowledged change has been announced at least once, nothing that did not commit was
//! announced, a session's messages arrived in its order (a message attempted again after a crash
//! only before the session's next), and a `webhook-id` always named the same change, signed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::receiver::{Received, Receiver, answer, assert_signed};
use common::{Api, ServerProcess, assert_ordered, event, ids, seqs};
use serde_json::{Value, json};

const SESSIONS: usize = 4;
/// With the session creator and the batchers, 18 concurrent clients.
const APPENDERS: usize = 14;
/// Clients appending batches of [`BATCH`] events.
const BATCHERS: usize = 3;
const BATCH: usize = 10;
const ROUNDS: usize = 3;

/// The server's settings: keys mode, webhooks to the test's receiver on 127.0.0.1, a short
/// attempt timeout (and so a short lease: a crash's attempt in flight is attempted again soon),
/// quick retries.
const SETTINGS: [(&str, &str); 4] = [
    ("ADMIN_KEY", common::ADMIN_KEY),
    ("WEBHOOK_ALLOW_PRIVATE", "true"),
    ("WEBHOOK_TIMEOUT", "2s"),
    ("WEBHOOK_RETRY_SCHEDULE", "100ms,200ms,500ms,1s,1s,1s,1s,1s"),
];
/// The server's MongoDB `appName` (`infra-mongo`'s default), naming its connections.
const SERVER_APP_NAME: &str = "conversation-sessions";
/// How long, after the last restart, every acknowledged change may take to be announced.
const DELIVERY_WAIT: Duration = Duration::from_secs(120);

/// What the clients were told.
#[derive(Default)]
struct Ledger {
    /// Acknowledged events per session: event id → the event as answered.
    events: BTreeMap<String, BTreeMap<String, Value>>,
    /// Sent, but the answer was lost to the crash: stored or not, never twice.
    in_flight: BTreeMap<String, HashSet<String>>,
    /// Sessions acknowledged by a create.
    sessions: HashSet<String>,
    /// Session creates whose answer was lost.
    sessions_in_flight: HashSet<String>,
    /// Sessions whose complete was acknowledged: the session as answered.
    completed: BTreeMap<String, Value>,
    /// Every batch sent (acknowledged or lost): its session and event ids.
    batches: Vec<(String, Vec<String>)>,
    /// Batches whose answer was lost: stored whole or not at all.
    batches_in_flight: Vec<(String, Vec<String>)>,
}

enum Outcome {
    Appended {
        session: String,
        id: String,
        body: Value,
    },
    Created {
        session: String,
    },
    Lost {
        session: String,
        id: Option<String>,
    },
    Batched {
        session: String,
        events: Vec<Value>,
    },
    BatchLost {
        session: String,
        ids: Vec<String>,
    },
}

/// Every batch is whole, at consecutive seqs, or absent (and then its answer was lost).
fn verify_batches(ledger: &Ledger, stored: &BTreeMap<String, Vec<Value>>, round: usize) {
    for (session, batch) in &ledger.batches {
        let events = &stored[session];
        let found: Vec<u64> = batch
            .iter()
            .filter_map(|id| events.iter().find(|e| e["eventId"] == id.as_str()))
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        if found.is_empty() {
            assert!(
                ledger
                    .batches_in_flight
                    .iter()
                    .any(|(_, lost)| lost == batch),
                "round {round}: acknowledged batch {session}/{} was lost",
                batch[0]
            );
            continue;
        }
        assert_eq!(
            found.len(),
            batch.len(),
            "round {round}: batch {session}/{} is whole or absent",
            batch[0]
        );
        for pair in found.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] + 1,
                "round {round}: a batch's seqs are consecutive"
            );
        }
    }
}

/// Checks the server's state against the ledger.
async fn verify(api: &Api, ledger: &Ledger, round: usize) {
    let mut all = BTreeMap::new();
    for (session, answered) in &ledger.completed {
        assert_eq!(
            &api.session(session).await,
            answered,
            "round {round}: {session} stays completed as acknowledged"
        );
        api.append(session, &event("late"))
            .await
            .problem(409, "session-closed");
    }
    for session in &ledger.sessions {
        api.get(&format!("/sessions/{session}")).await.expect(200);
    }
    for (session, acked) in &ledger.events {
        let events = api.walk(session, "asc", 100).await;
        assert_ordered(&events, "asc");
        let stored: HashSet<String> = ids(&events).into_iter().collect();
        for (id, answered) in acked {
            let found = events.iter().find(|e| e["eventId"] == id.as_str());
            let found = found.unwrap_or_else(|| {
                panic!("round {round}: acknowledged event {session}/{id} was lost")
            });
            assert_eq!(
                found, answered,
                "round {round}: {session}/{id} as acknowledged"
            );
        }
        let mut unknown = ledger.in_flight.get(session).cloned().unwrap_or_default();
        for (_, ids) in ledger
            .batches_in_flight
            .iter()
            .filter(|(s, _)| s == session)
        {
            unknown.extend(ids.iter().cloned());
        }
        for id in &stored {
            assert!(
                acked.contains_key(id) || unknown.contains(id),
                "round {round}: {session}/{id} was never sent"
            );
        }
        let s = api.get(&format!("/sessions/{session}")).await.expect(200);
        assert_eq!(
            s["eventCount"].as_u64(),
            Some(events.len() as u64),
            "round {round}: {session} eventCount"
        );
        assert_eq!(
            s["lastSeq"].as_u64(),
            Some(seqs(&events).last().copied().unwrap_or(0)),
            "round {round}: {session} lastSeq"
        );
        let desc = api.walk(session, "desc", 33).await;
        assert_eq!(desc.into_iter().rev().collect::<Vec<_>>(), events);
        all.insert(session.clone(), events);
    }
    verify_batches(ledger, &all, round);
}

/// What a message announces: its type, session and event (for the event types).
type Change = (String, String, Option<String>);

fn change(r: &Received) -> Change {
    (
        r.kind().to_owned(),
        r.session().to_owned(),
        r.event().map(str::to_owned),
    )
}

/// The changes acknowledged to the clients, each of which must be announced.
fn acknowledged_changes(ledger: &Ledger) -> BTreeSet<Change> {
    let created = ledger
        .sessions
        .iter()
        .map(|s| ("session.created".to_owned(), s.clone(), None));
    let appended = ledger.events.iter().flat_map(|(s, events)| {
        events
            .keys()
            .map(|e| ("event.appended".to_owned(), s.clone(), Some(e.clone())))
    });
    let completed = ledger
        .completed
        .keys()
        .map(|s| ("session.completed".to_owned(), s.clone(), None));
    created.chain(appended).chain(completed).collect()
}

/// Waits (at most [`DELIVERY_WAIT`]) until every acknowledged change was received; returns
/// everything received, in arrival order.
async fn await_announcements(receiver: &Receiver, ledger: &Ledger) -> Vec<Received> {
    let expected = acknowledged_changes(ledger);
    let started = Instant::now();
    loop {
        let got = receiver.got();
        let seen: HashSet<Change> = got.iter().map(change).collect();
        let missing: Vec<&Change> = expected.iter().filter(|c| !seen.contains(c)).collect();
        if missing.is_empty() {
            eprintln!(
                "webhooks: {} acknowledged changes announced {:.1} s after the last restart",
                expected.len(),
                started.elapsed().as_secs_f64()
            );
            return got;
        }
        assert!(
            started.elapsed() < DELIVERY_WAIT,
            "{} of {} acknowledged changes not announced {DELIVERY_WAIT:?} after the last \
             restart ({} requests received), e.g. {:?}",
            missing.len(),
            expected.len(),
            got.len(),
            &missing[..missing.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A message's place in its session's order: the creation first, then each event at its seq,
/// the completion last.
fn rank(r: &Received) -> u64 {
    match r.kind() {
        "session.created" => 0,
        "event.appended" => r.body["data"]["event"]["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}: an event with its seq: {}", r.described(), r.body)),
        "session.completed" => u64::MAX,
        other => panic!("{}: no {other} in this test", r.described()),
    }
}

/// Checks what the receiver got against the store as it stands: every request is signed and
/// names a session and event that are stored (its event exactly as `GET` serves it), so nothing
/// was announced of a write that did not commit; each `webhook-id` names one change and each
/// change has one `webhook-id`; each session's arrivals never go back in its order (a message
/// comes again, after a crash lost its attempt's outcome, only before the session's next).
async fn verify_announcements(api: &Api, got: &[Received], secret: &[u8]) {
    let mut stored: HashMap<&str, Vec<Value>> = HashMap::new();
    for r in got {
        assert_signed(r, secret);
        let session = r.session();
        if !stored.contains_key(session) {
            let reply = api.get(&format!("/sessions/{session}")).await;
            assert_eq!(
                reply.status,
                200,
                "{} announced, but the session is not stored",
                r.described()
            );
            stored.insert(session, api.walk(session, "asc", 500).await);
        }
        if let Some(id) = r.event() {
            let event = stored[session].iter().find(|e| e["eventId"] == id);
            let event = event.unwrap_or_else(|| {
                panic!("{} announced, but the event is not stored", r.described())
            });
            assert_eq!(&r.body["data"]["event"], event, "{}", r.described());
        }
    }
    let mut ids: HashMap<&str, (Change, &Value)> = HashMap::new();
    let mut changes: HashMap<Change, &str> = HashMap::new();
    for r in got {
        let (id, this) = (r.id(), change(r));
        let first = ids
            .entry(id)
            .or_insert((this.clone(), &r.body["timestamp"]));
        assert_eq!(
            (&first.0, first.1),
            (&this, &r.body["timestamp"]),
            "webhook-id {id} is one change, every time it is sent"
        );
        let announced = *changes.entry(this.clone()).or_insert(id);
        assert_eq!(announced, id, "{this:?} announced by two messages");
    }
    let mut last: HashMap<&str, (u64, &Received)> = HashMap::new();
    for r in got {
        let rank = rank(r);
        if let Some((before, previous)) = last.get(r.session()) {
            assert!(
                rank > *before || previous.id() == r.id(),
                "{} (at {rank}) arrived after {} (at {before}): a session's messages go in order",
                r.described(),
                previous.described()
            );
        }
        last.insert(r.session(), (rank, r));
    }
    eprintln!(
        "webhooks: {} requests, {} messages, {} sessions",
        got.len(),
        ids.len(),
        last.len()
    );
}

/// Appends batches of [`BATCH`] events `r{round}-t{t}-{i}` until the server dies.
async fn batcher(api: Api, session: String, round: usize, t: usize) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for b in 0.. {
        let ids: Vec<String> = (0..BATCH)
            .map(|k| format!("r{round}-t{t}-{}", b * BATCH + k))
            .collect();
        let body = json!({ "events": ids.iter().map(|id| ledger_body(id)).collect::<Vec<_>>() });
        match api
            .try_send(api.raw(
                reqwest::Method::POST,
                &format!("/sessions/{session}/events:batch"),
                Some("application/json"),
                serde_json::to_vec(&body).unwrap(),
            ))
            .await
        {
            Ok(reply) if reply.status == 201 => {
                let answer = reply.json();
                let events = answer["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|item| item["event"].clone())
                    .collect();
                outcomes.push(Outcome::Batched {
                    session: session.clone(),
                    events,
                });
            }
            Ok(reply) if reply.status >= 500 => {
                outcomes.push(Outcome::BatchLost {
                    session: session.clone(),
                    ids,
                });
                break;
            }
            Ok(reply) => panic!(
                "{session}/batch {b}: unexpected {} {}",
                reply.status,
                reply.text()
            ),
            Err(_) => {
                outcomes.push(Outcome::BatchLost {
                    session: session.clone(),
                    ids,
                });
                break;
            }
        }
    }
    outcomes
}

/// Appends `r{round}-t{t}-{i}` until the server dies.
async fn appender(
    api: Api,
    session: String,
    round: usize,
    t: usize,
    acks: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for i in 0.. {
        let id = format!("r{round}-t{t}-{i}");
        let body = ledger_body(&id);
        match api
            .try_send(api.raw(
                reqwest::Method::POST,
                &format!("/sessions/{session}/events"),
                Some("application/json"),
                serde_json::to_vec(&body).unwrap(),
            ))
            .await
        {
            Ok(reply) if reply.status == 201 => {
                acks.fetch_add(1, Ordering::Relaxed);
                outcomes.push(Outcome::Appended {
                    session: session.clone(),
                    id,
                    body: reply.json(),
                });
            }
            Ok(reply) if reply.status >= 500 => {
                // the store may refuse while the process dies; the write did not happen or
                // will be replayed below
                outcomes.push(Outcome::Lost {
                    session: session.clone(),
                    id: Some(id),
                });
                break;
            }
            Ok(reply) => panic!(
                "{session}/{id}: unexpected {} {}",
                reply.status,
                reply.text()
            ),
            Err(_) => {
                outcomes.push(Outcome::Lost {
                    session: session.clone(),
                    id: Some(id),
                });
                break;
            }
        }
    }
    outcomes
}

/// Creates `r{round}-new-{i}` sessions until the server dies.
async fn creator(api: Api, round: usize) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for i in 0.. {
        let session = format!("r{round}-new-{i}");
        match api
            .try_send(api.raw(
                reqwest::Method::POST,
                "/sessions",
                Some("application/json"),
                serde_json::to_vec(&json!({"sessionId": session})).unwrap(),
            ))
            .await
        {
            Ok(reply) if reply.status == 201 => outcomes.push(Outcome::Created { session }),
            Ok(reply) if reply.status >= 500 => {
                outcomes.push(Outcome::Lost { session, id: None });
                break;
            }
            Ok(reply) => panic!("{session}: unexpected {} {}", reply.status, reply.text()),
            Err(_) => {
                outcomes.push(Outcome::Lost { session, id: None });
                break;
            }
        }
    }
    outcomes
}

/// On MongoDB, a transaction that the kill cut between its insert and its commit (a batch's, or
/// with an endpoint listening any append's: its announcement is written with it) stays open on
/// the server, holding its seqs, until the server aborts it after `transactionLifetimeLimitSeconds`
/// (60 s by default; see `docs/mongodb.md`). The test does now what the server does then: it
/// ends the dead process's sessions, aborting their transactions (nothing else uses this test's
/// server meanwhile) — once the server is done with the dead process's connections: a command it
/// had sent (a transaction's insert) may still be running, and would start a transaction after
/// the abort. Nothing to do on SQLite, whose transactions die with the process.
async fn end_abandoned_transactions() {
    if common::store_kind() != "mongo" {
        return;
    }
    let client = mongodb::Client::with_uri_str(testkit::mongo_uri().await)
        .await
        .expect("a MongoDB client");
    let admin = client.database("admin");
    let started = Instant::now();
    loop {
        let ops = admin
            .run_command(mongodb::bson::doc! { "currentOp": 1, "$all": true })
            .await
            .expect("currentOp");
        let theirs = ops
            .get_array("inprog")
            .expect("currentOp's inprog")
            .iter()
            .filter_map(|op| op.as_document()?.get_document("clientMetadata").ok())
            .filter_map(|client| client.get_document("application").ok())
            .filter(|app| app.get_str("name") == Ok(SERVER_APP_NAME))
            .count();
        if theirs == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "MongoDB still serves {theirs} connections of the killed server after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin
        .run_command(mongodb::bson::doc! { "killAllSessions": [] })
        .await
        .expect("killAllSessions");
}

fn log_path(dir: &Path, n: usize) -> std::path::PathBuf {
    dir.join(format!("server-{n}.log"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let binary = env!("CARGO_BIN_EXE_server");
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut ledger = Ledger::default();
    let sessions: Vec<String> = (0..SESSIONS).map(|n| format!("crash-{n}")).collect();

    let mut tail: Option<(String, usize)> = None;
    let receiver = Receiver::start(|_, _| answer(204)).await;
    // In keys mode: the project key minted in round 0 survives every crash with the data, and
    // so does the endpoint registered then (its secret with it).
    let mut key: Option<String> = None;
    let mut secret: Option<Vec<u8>> = None;
    for round in 0..ROUNDS {
        let log = log_path(dir.path(), round);
        let mut server =
            ServerProcess::start_with(binary, &data_dir, dir.path(), &log, &SETTINGS).await;
        if key.is_none() {
            key = Some(common::mint_key_on(&server.api, "crash", &["read", "write"]).await);
            let admin = server.api.with_bearer(common::ADMIN_KEY);
            let endpoint = common::receiver::register(
                &admin,
                "crash",
                &receiver.url,
                &common::receiver::EVERY_TYPE,
            )
            .await;
            secret = Some(endpoint.1);
        }
        let api = server.api.with_bearer(key.as_deref().expect("minted"));
        // a cursor issued before the crash still reads on after it
        if let Some((cursor, seen)) = tail.take() {
            let page = api
                .page(&sessions[0], &format!("limit=500&cursor={cursor}"))
                .await
                .expect(200);
            let all = api.walk(&sessions[0], "asc", 500).await;
            let after: Vec<Value> = all.into_iter().skip(seen).collect();
            assert_eq!(
                page["data"].as_array().unwrap(),
                &after,
                "round {round}: the old cursor continues where it stopped"
            );
        }
        if round == 0 {
            for session in &sessions {
                api.create_session(&json!({"sessionId": session}))
                    .await
                    .created(&format!("/sessions/{session}"));
                ledger.sessions.insert(session.clone());
                ledger.events.insert(session.clone(), BTreeMap::new());
            }
        }
        verify(&api, &ledger, round).await;

        // what was in flight at the last crash is retried: a replay or a first store,
        // never a conflict and never a duplicate
        for (session, lost) in std::mem::take(&mut ledger.in_flight) {
            for id in lost {
                let reply = api.append(&session, &ledger_body(&id)).await;
                assert!(
                    matches!(reply.status, 200 | 201),
                    "retry {session}/{id}: {} {}",
                    reply.status,
                    reply.text()
                );
                ledger
                    .events
                    .get_mut(&session)
                    .unwrap()
                    .insert(id, reply.json());
            }
        }
        for (session, ids) in std::mem::take(&mut ledger.batches_in_flight) {
            let body =
                json!({ "events": ids.iter().map(|id| ledger_body(id)).collect::<Vec<_>>() });
            let reply = api
                .post_json(&format!("/sessions/{session}/events:batch"), &body)
                .await;
            assert!(
                matches!(reply.status, 200 | 201),
                "retry batch {session}/{}: {} {}",
                ids[0],
                reply.status,
                reply.text()
            );
            for (id, item) in ids
                .into_iter()
                .zip(reply.json()["data"].as_array().unwrap())
            {
                let stored = ledger.events.get_mut(&session).unwrap();
                stored.insert(id, item["event"].clone());
            }
        }
        for session in std::mem::take(&mut ledger.sessions_in_flight) {
            let reply = api.create_session(&json!({"sessionId": session})).await;
            assert!(
                matches!(reply.status, 200 | 201),
                "retry {session}: {}",
                reply.text()
            );
            ledger.sessions.insert(session);
        }
        verify(&api, &ledger, round).await;
        let first = api.page(&sessions[0], "limit=5").await.expect(200);
        let seen = first["data"].as_array().unwrap().len();
        if let Some(cursor) = first["nextCursor"].as_str() {
            tail = Some((cursor.to_owned(), seen));
        }
        // a session ended just before the crash stays ended
        let ended = format!("ended-{round}");
        api.create_session(&json!({ "sessionId": ended }))
            .await
            .created(&format!("/sessions/{ended}"));
        let e1 = api
            .append(&ended, &event("e1"))
            .await
            .created(&format!("/sessions/{ended}/events/e1"));
        let done = api.complete(&ended, None).await.expect(200);
        ledger.sessions.insert(ended.clone());
        let e1 = BTreeMap::from([("e1".to_owned(), e1)]);
        ledger.events.insert(ended.clone(), e1);
        ledger.completed.insert(ended, done);

        // write hard, then kill -9 in the middle of it
        let acks = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for t in 0..APPENDERS {
            tasks.push(tokio::spawn(appender(
                api.clone(),
                sessions[t % SESSIONS].clone(),
                round,
                t,
                acks.clone(),
            )));
        }
        for b in 0..BATCHERS {
            tasks.push(tokio::spawn(batcher(
                api.clone(),
                sessions[b % SESSIONS].clone(),
                round,
                APPENDERS + b,
            )));
        }
        tasks.push(tokio::spawn(creator(api.clone(), round)));
        let started = Instant::now();
        while acks.load(Ordering::Relaxed) < 60 + 40 * round
            && started.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(7 * round as u64)).await;
        server.kill();
        let killed_at = Instant::now();
        end_abandoned_transactions().await;
        for task in tasks {
            for outcome in task.await.expect("a client task panicked") {
                match outcome {
                    Outcome::Appended { session, id, body } => {
                        ledger.events.get_mut(&session).unwrap().insert(id, body);
                    }
                    Outcome::Created { session } => {
                        ledger.sessions.insert(session);
                    }
                    Outcome::Lost {
                        session,
                        id: Some(id),
                    } => {
                        ledger.in_flight.entry(session).or_default().insert(id);
                    }
                    Outcome::Lost { session, id: None } => {
                        ledger.sessions_in_flight.insert(session);
                    }
                    Outcome::Batched { session, events } => {
                        let ids = events
                            .iter()
                            .map(|e| e["eventId"].as_str().unwrap().to_owned())
                            .collect();
                        let stored = ledger.events.get_mut(&session).unwrap();
                        for event in events {
                            let id = event["eventId"].as_str().unwrap().to_owned();
                            stored.insert(id, event);
                        }
                        ledger.batches.push((session, ids));
                    }
                    Outcome::BatchLost { session, ids } => {
                        ledger.batches.push((session.clone(), ids.clone()));
                        ledger.batches_in_flight.push((session, ids));
                    }
                }
            }
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "clients noticed the crash"
        );
        assert!(
            acks.load(Ordering::Relaxed) >= 60,
            "round {round}: the clients wrote before the crash"
        );
        eprintln!(
            "round {round}: {} events acknowledged so far, {} appends, {} batches and {} creates lost in flight",
            ledger.events.values().map(BTreeMap::len).sum::<usize>(),
            ledger.in_flight.values().map(HashSet::len).sum::<usize>(),
            ledger.batches_in_flight.len(),
            ledger.sessions_in_flight.len()
        );
    }

    // after the last crash: everything acknowledged is there, and the service works normally
    let log = log_path(dir.path(), ROUNDS);
    let server = ServerProcess::start_with(binary, &data_dir, dir.path(), &log, &SETTINGS).await;
    let api = server.api.with_bearer(key.as_deref().expect("minted"));
    verify(&api, &ledger, ROUNDS).await;
    for session in &ledger.sessions {
        api.get(&format!("/sessions/{session}")).await.expect(200);
    }
    api.get("/readyz").await.expect(200);
    for session in &sessions {
        let before = api.get(&format!("/sessions/{session}")).await.expect(200);
        let e = api
            .append(session, &event("after-the-crashes"))
            .await
            .created(&format!("/sessions/{session}/events/after-the-crashes"));
        assert!(e["seq"].as_u64().unwrap() > before["lastSeq"].as_u64().unwrap());
        let stored = ledger.events.get_mut(session).unwrap();
        stored.insert("after-the-crashes".to_owned(), e);
        let done = api.complete(session, None).await.expect(200);
        assert_eq!(done["status"], "completed");
        assert_eq!(
            done["eventCount"].as_u64(),
            Some(before["eventCount"].as_u64().unwrap() + 1)
        );
        api.append(session, &event("too-late"))
            .await
            .problem(409, "session-closed");
        ledger.completed.insert(session.clone(), done);
    }
    let fresh = api.new_session().await;
    let e1 = api
        .append(&fresh, &event("e1"))
        .await
        .created(&format!("/sessions/{fresh}/events/e1"));
    ledger.sessions.insert(fresh.clone());
    ledger
        .events
        .insert(fresh, BTreeMap::from([("e1".to_owned(), e1)]));

    let got = await_announcements(&receiver, &ledger).await;
    verify_announcements(&api, &got, secret.as_deref().expect("registered")).await;
}

/// The body an appender sent for `id` (`r{round}-t{t}-{i}`), rebuilt for a retry.
fn ledger_body(id: &str) -> Value {
    let parts: Vec<&str> = id.split('-').collect();
    let round: usize = parts[0][1..].parse().unwrap();
    let task: usize = parts[1][1..].parse().unwrap();
    let i: usize = parts[2].parse().unwrap();
    json!({"eventId": id, "type": "user_speech", "payload": {"round": round, "task": task, "i": i}})
}
