//! After the load: read back every session the run touched, over HTTP, and check the contract's
//! invariants against the ledger. [`observe`] does the IO, [`check`] is a pure function of the
//! ledger and what was observed (unit-tested with fabricated data below).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::client::{Conn, Target, encode_query};
use crate::ledger::{Ledger, SessionLedger};
use crate::stats::Progress;

/// What the server said about one session after the load.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Status of `GET /sessions/{id}`.
    pub session_status: u16,
    /// The session object (without its `events` page).
    pub session: Option<Value>,
    /// Every event, walking the `asc` pages with their cursors.
    pub events: Vec<Value>,
    /// Problems found while walking (bad status, `hasMore` on an empty page, missing cursor…).
    pub walk_issues: Vec<String>,
    /// For a session the run completed: the answer to one more append.
    pub probe: Option<Probe>,
}

#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub status: u16,
    pub code: Option<String>,
    /// `eventCount` read after the probe.
    pub event_count_after: Option<u64>,
}

pub const PROBE_EVENT_ID: &str = "zz-verify-probe";

fn closed_for_sure(ledger: &SessionLedger) -> Option<&str> {
    if ledger.close_uncertain {
        None
    } else {
        ledger.closed.as_deref()
    }
}

/// Reads the session, all its pages, and probes a closed session with a new event.
pub async fn observe(
    conn: &mut Conn,
    id: &str,
    ledger: &SessionLedger,
    page_limit: u32,
) -> Observed {
    let mut seen = Observed::default();
    let first = match conn
        .get(&format!("/sessions/{id}?limit={page_limit}"))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            seen.walk_issues
                .push(format!("GET /sessions/{id} failed: {e:#}"));
            return seen;
        }
    };
    seen.session_status = first.status;
    if first.status != 200 {
        return seen;
    }
    let mut session: Value = match serde_json::from_slice(&first.body) {
        Ok(v) => v,
        Err(e) => {
            seen.walk_issues
                .push(format!("GET /sessions/{id}: body is not JSON: {e}"));
            return seen;
        }
    };
    let mut page = session
        .as_object_mut()
        .and_then(|o| o.remove("events"))
        .unwrap_or(Value::Null);
    seen.session = Some(session);
    let mut pages = 1u64;
    loop {
        let data = match page.get_mut("data").map(Value::take) {
            Some(Value::Array(data)) => data,
            _ => {
                seen.walk_issues
                    .push(format!("page {pages} has no data array: {page}"));
                break;
            }
        };
        let has_more = page.get("hasMore").and_then(Value::as_bool);
        let cursor = page
            .get("nextCursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let empty = data.is_empty();
        seen.events.extend(data);
        if !seen.events.is_empty() && cursor.is_none() {
            seen.walk_issues.push(format!(
                "page {pages}: nextCursor is null although the session has events"
            ));
        }
        match has_more {
            Some(false) => break,
            Some(true) => {}
            None => {
                seen.walk_issues
                    .push(format!("page {pages}: hasMore is not a boolean"));
                break;
            }
        }
        if empty {
            seen.walk_issues
                .push(format!("page {pages}: hasMore is true on an empty page"));
            break;
        }
        let Some(cursor) = cursor else { break };
        let path = format!(
            "/sessions/{id}/events?limit={page_limit}&cursor={}",
            encode_query(&cursor)
        );
        pages += 1;
        match conn.get(&path).await {
            Ok(r) if r.status == 200 => match serde_json::from_slice(&r.body) {
                Ok(v) => page = v,
                Err(e) => {
                    seen.walk_issues
                        .push(format!("page {pages}: body is not JSON: {e}"));
                    break;
                }
            },
            Ok(r) => {
                seen.walk_issues.push(format!(
                    "page {pages} answered {}: {}",
                    r.status,
                    snippet(&r.body)
                ));
                break;
            }
            Err(e) => {
                seen.walk_issues.push(format!("page {pages} failed: {e:#}"));
                break;
            }
        }
    }

    if closed_for_sure(ledger).is_some() {
        let body = format!(
            r#"{{"eventId":"{PROBE_EVENT_ID}","type":"system","payload":{{"probe":"closed"}}}}"#
        );
        let mut probe = Probe::default();
        match conn
            .post(&format!("/sessions/{id}/events"), Bytes::from(body))
            .await
        {
            Ok(r) => {
                probe.status = r.status;
                probe.code = serde_json::from_slice::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_owned));
            }
            Err(e) => seen.walk_issues.push(format!("closed probe failed: {e:#}")),
        }
        if let Ok(r) = conn.get(&format!("/sessions/{id}?limit=1")).await {
            probe.event_count_after = serde_json::from_slice::<Value>(&r.body)
                .ok()
                .and_then(|v| v.get("eventCount").and_then(Value::as_u64));
        }
        seen.probe = Some(probe);
    }
    seen
}

pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// Every invariant violated by `seen`, given what the run was told (`ledger`); empty when fine.
pub fn check(id: &str, ledger: &SessionLedger, seen: &Observed) -> Vec<String> {
    let mut failures: Vec<String> = Vec::new();
    let mut fail = |msg: String| failures.push(format!("{id}: {msg}"));
    for issue in &seen.walk_issues {
        fail(issue.clone());
    }
    if seen.session_status == 404 && ledger.create_uncertain && ledger.acked.is_empty() {
        return failures;
    }
    if seen.session_status != 200 {
        fail(format!(
            "GET /sessions/{id} answered {} (expected 200)",
            seen.session_status
        ));
        return failures;
    }
    let Some(session) = &seen.session else {
        fail("no session object".to_owned());
        return failures;
    };

    // The list: seq strictly increasing, each eventId once, all in this session.
    let mut listed: HashMap<&str, (u64, &Value)> = HashMap::new();
    let mut previous = 0u64;
    let mut last_seq = 0u64;
    for event in &seen.events {
        let Some(seq) = event.get("seq").and_then(Value::as_u64) else {
            fail(format!("listed event without an integer seq: {event}"));
            continue;
        };
        let event_id = event.get("eventId").and_then(Value::as_str).unwrap_or("");
        if seq == 0 || seq <= previous {
            fail(format!(
                "seq not strictly increasing: {previous} then {seq} (eventId {event_id})"
            ));
        }
        previous = previous.max(seq);
        last_seq = seq;
        if event.get("sessionId").and_then(Value::as_str) != Some(id) {
            fail(format!(
                "event {event_id} is listed with sessionId {}",
                event.get("sessionId").unwrap_or(&Value::Null)
            ));
        }
        if listed.insert(event_id, (seq, event)).is_some() {
            fail(format!("event {event_id} is listed more than once"));
        }
    }

    // Every acknowledged event: present exactly once, as acknowledged, with what was sent.
    let mut acked_ids: HashSet<&str> = HashSet::new();
    for acked in &ledger.acked {
        if !acked_ids.insert(&acked.event_id) {
            fail(format!(
                "event {} was acknowledged with 201 more than once",
                acked.event_id
            ));
            continue;
        }
        let Some((seq, event)) = listed.get(acked.event_id.as_str()) else {
            fail(format!(
                "acknowledged event {} (seq {}) is missing from the list",
                acked.event_id, acked.seq
            ));
            continue;
        };
        if *seq != acked.seq {
            fail(format!(
                "event {} acknowledged with seq {} but listed with seq {seq}",
                acked.event_id, acked.seq
            ));
        }
        match serde_json::from_slice::<Value>(&acked.response) {
            Ok(ack) if ack == **event => {}
            Ok(ack) => fail(format!(
                "event {} listed as {event} but acknowledged as {ack}",
                acked.event_id
            )),
            Err(e) => fail(format!("201 body of {} is not JSON: {e}", acked.event_id)),
        }
        if let Ok(request) = serde_json::from_slice::<Value>(&acked.request) {
            let empty = Value::Object(serde_json::Map::new());
            let sent_payload = request.get("payload").unwrap_or(&empty);
            if event.get("type") != request.get("type")
                || event.get("payload") != Some(sent_payload)
            {
                fail(format!(
                    "event {} stored as {event} but sent as {request}",
                    acked.event_id
                ));
            }
        }
    }

    // Nothing else: every other listed event is pre-existing or had an unknown outcome.
    let uncertain: HashSet<&str> = ledger.uncertain.iter().map(String::as_str).collect();
    let mut baseline_seen = 0u64;
    for (event_id, (seq, _)) in &listed {
        if ledger.baseline.is_some_and(|b| *seq <= b.last_seq) {
            baseline_seen += 1;
            continue;
        }
        if !acked_ids.contains(event_id) && !uncertain.contains(event_id) {
            fail(format!(
                "event {event_id} (seq {seq}) is stored but was never acknowledged to this run"
            ));
        }
    }
    if let Some(baseline) = ledger.baseline
        && baseline_seen != baseline.event_count
    {
        fail(format!(
            "the session held {} events before the run but {baseline_seen} of them are listed now",
            baseline.event_count
        ));
    }

    // The counters agree with the list.
    let count = seen.events.len() as u64;
    match session.get("eventCount").and_then(Value::as_u64) {
        Some(n) if n == count => {}
        other => fail(format!(
            "eventCount is {} but {count} events are listed",
            other.map_or("missing".to_owned(), |n| n.to_string())
        )),
    }
    match session.get("lastSeq").and_then(Value::as_u64) {
        Some(n) if n == last_seq => {}
        other => fail(format!(
            "lastSeq is {} but the last listed seq is {last_seq}",
            other.map_or("missing".to_owned(), |n| n.to_string())
        )),
    }

    // Status and the seal.
    let status = session.get("status").and_then(Value::as_str).unwrap_or("");
    let ended_at = session.get("endedAt").unwrap_or(&Value::Null);
    if let Some(closed) = closed_for_sure(ledger) {
        if status != closed {
            fail(format!(
                "complete returned {closed} but the status is {status:?}"
            ));
        }
        if ended_at.is_null() {
            fail("closed but endedAt is null".to_owned());
        }
        match &seen.probe {
            Some(p) if p.status == 409 && p.code.as_deref() == Some("session-closed") => {}
            Some(p) => fail(format!(
                "a new event on the closed session answered {} {:?} (expected 409 session-closed)",
                p.status, p.code
            )),
            None => fail("the closed session was not probed".to_owned()),
        }
        if let Some(after) = seen.probe.as_ref().and_then(|p| p.event_count_after)
            && after != count
        {
            fail(format!(
                "eventCount went from {count} to {after} after an append to the closed session"
            ));
        }
    } else if !ledger.close_uncertain {
        if !ledger.acked.is_empty() && status != "active" {
            fail(format!(
                "the session has acknowledged events but its status is {status:?} (expected active)"
            ));
        } else if status != "active" && status != "initiated" {
            fail(format!(
                "the run never completed the session but its status is {status:?}"
            ));
        }
        if !ended_at.is_null() && ledger.baseline.is_none() {
            fail(format!("open session with endedAt {ended_at}"));
        }
    }
    failures
}

#[derive(Debug, Default)]
pub struct Report {
    pub sessions: usize,
    pub events_listed: u64,
    pub failures: Vec<String>,
    pub failed_sessions: usize,
    pub elapsed: Duration,
}

/// Observes and checks every session of `ledger` with `connections` concurrent connections.
pub async fn verify_all(
    target: &Target,
    ledger: Ledger,
    connections: usize,
    page_limit: u32,
    timeout: Duration,
    progress: Arc<Progress>,
) -> Report {
    let started = std::time::Instant::now();
    let mut sessions: Vec<(String, SessionLedger)> = ledger.sessions.into_iter().collect();
    sessions.sort_by(|a, b| a.0.cmp(&b.0));
    let sessions = Arc::new(sessions);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1).min(sessions.len().max(1)) {
        let sessions = Arc::clone(&sessions);
        let next = Arc::clone(&next);
        let progress = Arc::clone(&progress);
        let mut conn = Conn::new(target.clone(), timeout);
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut failed_sessions = 0usize;
            let mut events = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, ledger)) = sessions.get(i) else {
                    break;
                };
                let seen = observe(&mut conn, id, ledger, page_limit).await;
                progress.response(seen.session_status);
                events += seen.events.len() as u64;
                let found = check(id, ledger, &seen);
                if !found.is_empty() {
                    failed_sessions += 1;
                    failures.extend(found);
                }
            }
            (failures, failed_sessions, events)
        }));
    }
    let mut report = Report {
        sessions: sessions.len(),
        ..Report::default()
    };
    for task in tasks {
        match task.await {
            Ok((failures, failed, events)) => {
                report.failures.extend(failures);
                report.failed_sessions += failed;
                report.events_listed += events;
            }
            Err(e) => report.failures.push(format!("verifier task failed: {e}")),
        }
    }
    report.elapsed = started.elapsed();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Acked, Baseline};
    use serde_json::json;

    fn event(session: &str, id: &str, seq: u64) -> Value {
        json!({
            "eventId": id, "sessionId": session, "seq": seq, "type": "user_speech",
            "payload": {"text": id}, "timestamp": "2026-01-01T00:00:00.000Z",
            "receivedAt": "2026-01-01T00:00:00.000Z"
        })
    }

    fn acked(session: &str, id: &str, seq: u64) -> Acked {
        Acked {
            event_id: id.to_owned(),
            seq,
            request: Bytes::from(
                json!({"eventId": id, "type": "user_speech", "payload": {"text": id}}).to_string(),
            ),
            response: Bytes::from(event(session, id, seq).to_string()),
        }
    }

    /// A consistent picture: three acknowledged events, listed, session active.
    fn healthy() -> (SessionLedger, Observed) {
        let ledger = SessionLedger {
            acked: vec![acked("s", "a", 1), acked("s", "b", 2), acked("s", "c", 5)],
            ..SessionLedger::default()
        };
        let seen = Observed {
            session_status: 200,
            session: Some(json!({
                "sessionId": "s", "status": "active", "eventCount": 3, "lastSeq": 5,
                "endedAt": null
            })),
            events: vec![event("s", "a", 1), event("s", "b", 2), event("s", "c", 5)],
            ..Observed::default()
        };
        (ledger, seen)
    }

    fn closed() -> (SessionLedger, Observed) {
        let (mut ledger, mut seen) = healthy();
        ledger.closed = Some("completed".to_owned());
        let session = seen.session.as_mut().unwrap();
        session["status"] = json!("completed");
        session["endedAt"] = json!("2026-01-01T00:01:00.000Z");
        seen.probe = Some(Probe {
            status: 409,
            code: Some("session-closed".to_owned()),
            event_count_after: Some(3),
        });
        (ledger, seen)
    }

    fn assert_fails(ledger: &SessionLedger, seen: &Observed, needle: &str) {
        let failures = check("s", ledger, seen);
        assert!(
            failures.iter().any(|f| f.contains(needle)),
            "expected a failure containing {needle:?}, got {failures:?}"
        );
    }

    #[test]
    fn consistent_sessions_pass() {
        let (ledger, seen) = healthy();
        assert_eq!(check("s", &ledger, &seen), Vec::<String>::new());
        let (ledger, seen) = closed();
        assert_eq!(check("s", &ledger, &seen), Vec::<String>::new());
    }

    #[test]
    fn a_lost_event_fails() {
        let (ledger, mut seen) = healthy();
        seen.events.remove(1);
        seen.session.as_mut().unwrap()["eventCount"] = json!(2);
        assert_fails(&ledger, &seen, "acknowledged event b (seq 2) is missing");
    }

    #[test]
    fn a_duplicated_event_fails() {
        let (ledger, mut seen) = healthy();
        seen.events.push(event("s", "c", 6));
        seen.session.as_mut().unwrap()["eventCount"] = json!(4);
        seen.session.as_mut().unwrap()["lastSeq"] = json!(6);
        assert_fails(&ledger, &seen, "listed more than once");
    }

    #[test]
    fn a_repeated_seq_fails() {
        let (mut ledger, mut seen) = healthy();
        seen.events[2] = event("s", "c", 2);
        ledger.acked[2].seq = 2;
        ledger.acked[2].response = Bytes::from(event("s", "c", 2).to_string());
        seen.session.as_mut().unwrap()["lastSeq"] = json!(2);
        assert_fails(&ledger, &seen, "seq not strictly increasing: 2 then 2");
    }

    #[test]
    fn wrong_counters_fail() {
        let (ledger, mut seen) = healthy();
        seen.session.as_mut().unwrap()["eventCount"] = json!(4);
        assert_fails(&ledger, &seen, "eventCount is 4 but 3 events are listed");
        let (ledger, mut seen) = healthy();
        seen.session.as_mut().unwrap()["lastSeq"] = json!(3);
        assert_fails(&ledger, &seen, "lastSeq is 3 but the last listed seq is 5");
    }

    #[test]
    fn an_unacknowledged_event_fails_unless_its_outcome_was_unknown() {
        let (mut ledger, mut seen) = healthy();
        seen.events.push(event("s", "x", 9));
        let session = seen.session.as_mut().unwrap();
        session["eventCount"] = json!(4);
        session["lastSeq"] = json!(9);
        assert_fails(
            &ledger,
            &seen,
            "event x (seq 9) is stored but was never acknowledged",
        );
        ledger.uncertain.push("x".to_owned());
        assert_eq!(check("s", &ledger, &seen), Vec::<String>::new());
    }

    #[test]
    fn changed_content_fails() {
        let (ledger, mut seen) = healthy();
        seen.events[0]["payload"] = json!({"text": "tampered"});
        assert_fails(&ledger, &seen, "event a listed as");
    }

    #[test]
    fn a_closed_session_that_accepts_events_fails() {
        let (ledger, mut seen) = closed();
        seen.probe = Some(Probe {
            status: 201,
            code: None,
            event_count_after: Some(4),
        });
        assert_fails(&ledger, &seen, "answered 201");
        assert_fails(&ledger, &seen, "eventCount went from 3 to 4");
        let (ledger, mut seen) = closed();
        seen.session.as_mut().unwrap()["status"] = json!("active");
        assert_fails(
            &ledger,
            &seen,
            "complete returned completed but the status is \"active\"",
        );
    }

    #[test]
    fn pre_existing_events_are_accounted_for() {
        let (mut ledger, mut seen) = healthy();
        ledger.baseline = Some(Baseline {
            event_count: 1,
            last_seq: 1,
        });
        ledger.acked.remove(0);
        assert_eq!(check("s", &ledger, &seen), Vec::<String>::new());
        seen.events.remove(0);
        let session = seen.session.as_mut().unwrap();
        session["eventCount"] = json!(2);
        assert_fails(&ledger, &seen, "held 1 events before the run but 0");
    }

    #[test]
    fn walk_problems_and_missing_sessions_fail() {
        let (ledger, mut seen) = healthy();
        seen.walk_issues
            .push("page 2: hasMore is true on an empty page".to_owned());
        assert_fails(&ledger, &seen, "hasMore is true on an empty page");
        let (ledger, mut seen) = healthy();
        seen.session_status = 404;
        assert_fails(&ledger, &seen, "answered 404");
    }
}
