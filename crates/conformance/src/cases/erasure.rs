//! Cases of erasure, redaction and retention (SPEC "`DELETE /sessions/{sessionId}`",
//! "`…/redact`", "Retention"). Each takes a fresh, empty store.

use std::sync::Arc;
use std::time::Duration;

use domain::{
    AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError, CreateSessionError,
    EraseIf, EraseSessionError, EventId, GetEventError, GetSessionError, JsonObject,
    ListEventsError, NewSession, Order, PageRequest, ProjectId, RedactEventError, Repository,
    SessionFilter, SessionQuery, Timestamp,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::fixtures::{new_event, project, sid};

type Repo = Arc<dyn Repository>;

fn eid(s: &str) -> EventId {
    EventId::parse(s).expect("valid event id")
}

async fn create(repo: &Repo, project: &ProjectId, id: &str) {
    let new = NewSession::new(sid(id), None, None, JsonObject::empty(), None).expect("valid");
    repo.create_session(project, new).await.expect("create");
}

async fn append(repo: &Repo, id: &str, event: &str, payload: Value) -> domain::Event {
    repo.append_event(&project(), &sid(id), new_event(event, payload))
        .await
        .expect("append")
        .value
}

fn first_page() -> PageRequest {
    PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit: 100,
    }
}

fn complete() -> CompleteRequest {
    CompleteRequest::new(None, None).expect("valid")
}

/// Every method answers "erased" for the session.
async fn assert_erased(repo: &Repo, id: &str) {
    let (p, s) = (project(), sid(id));
    assert_eq!(repo.get_session(&p, &s).await, Err(GetSessionError::Erased));
    assert_eq!(
        repo.get_event(&p, &s, &eid("e1")).await,
        Err(GetEventError::SessionErased)
    );
    assert_eq!(
        repo.list_events(&p, &s, first_page()).await,
        Err(ListEventsError::SessionErased)
    );
    assert_eq!(
        repo.append_event(&p, &s, new_event("late", json!({})))
            .await,
        Err(AppendEventError::SessionErased)
    );
    // Batches and appends expecting a lastSeq take another path in some stores.
    let late = |id: &str| new_event(id, json!({}));
    let batch = AppendBatch::new(vec![late("late"), late("later")], None).expect("valid");
    assert_eq!(
        repo.append_events(&p, &s, batch).await,
        Err(AppendEventError::SessionErased)
    );
    let expecting = AppendBatch::single(late("late"), Some(1));
    assert_eq!(
        repo.append_events(&p, &s, expecting).await,
        Err(AppendEventError::SessionErased)
    );
    assert_eq!(
        repo.complete_session(&p, &s, complete()).await,
        Err(CompleteSessionError::Erased)
    );
    assert_eq!(
        repo.redact_event(&p, &s, &eid("e1"), Timestamp::now())
            .await,
        Err(RedactEventError::SessionErased)
    );
    let new = NewSession::new(s.clone(), None, None, JsonObject::empty(), None).expect("valid");
    assert_eq!(
        repo.create_session(&p, new).await,
        Err(CreateSessionError::Erased)
    );
}

pub async fn erase_leaves_only_a_tombstone(repo: Repo) {
    let other = ProjectId::parse("p2").expect("valid");
    for (id, close) in [("open", false), ("closed", true)] {
        create(&repo, &project(), id).await;
        create(&repo, &other, id).await;
        for e in ["e1", "e2", "e3"] {
            append(&repo, id, e, json!({ "said": "my card is 4111" })).await;
        }
        if close {
            repo.complete_session(&project(), &sid(id), complete())
                .await
                .expect("complete");
        }
        let at = Timestamp::now();
        let erased = repo
            .erase_session(&project(), &sid(id), at, EraseIf::Always)
            .await
            .expect("erase");
        assert!(!erased.replayed, "the first erasure removes the session");
        assert_eq!(erased.value, at);
        assert_erased(&repo, id).await;
        // Erasing again: the same tombstone.
        let again = repo
            .erase_session(&project(), &sid(id), Timestamp::now(), EraseIf::Always)
            .await
            .expect("erase again");
        assert!(again.replayed);
        assert_eq!(again.value, at);
        // The same id in another project is another session.
        assert!(repo.get_session(&other, &sid(id)).await.is_ok());
    }
    let all = SessionQuery {
        filter: SessionFilter::default(),
        order: Order::Asc,
        limit: 10,
        after: None,
    };
    let listed = repo.list_sessions(&project(), all).await.expect("list");
    assert!(listed.sessions.is_empty(), "{:?}", listed.sessions);
    assert_eq!(
        repo.erase_session(&project(), &sid("never"), Timestamp::now(), EraseIf::Always)
            .await,
        Err(EraseSessionError::NotFound)
    );
}

pub async fn concurrent_erasures_erase_once(repo: Repo) {
    create(&repo, &project(), "s").await;
    append(&repo, "s", "e1", json!({})).await;
    let erasures = (0..10).map(|_| {
        let repo = repo.clone();
        async move {
            repo.erase_session(&project(), &sid("s"), Timestamp::now(), EraseIf::Always)
                .await
                .expect("erase")
        }
    });
    let results = join_all(erasures).await;
    let removed = results.iter().filter(|w| !w.replayed).count();
    assert_eq!(removed, 1, "exactly one erasure removes the session");
    let at = results[0].value;
    assert!(results.iter().all(|w| w.value == at), "one tombstone");
    assert_erased(&repo, "s").await;
}

pub async fn erasure_racing_appends_and_completes(repo: Repo) {
    for round in 0..3 {
        let id = format!("race{round}");
        create(&repo, &project(), &id).await;
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let (repo, id) = (repo.clone(), id.clone());
                tokio::spawn(async move {
                    for i in 0..200 {
                        let event = new_event(&format!("w{w}-{i}"), json!({ "i": i }));
                        match repo.append_event(&project(), &sid(&id), event).await {
                            Ok(_) => {}
                            // A complete (round 1) may win before the erasure.
                            Err(AppendEventError::SessionClosed) if round == 1 => {}
                            Err(AppendEventError::SessionErased) => return,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        if round == 1 {
            let repo = repo.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let _ = repo
                    .complete_session(&project(), &sid(&id), complete())
                    .await;
            });
        }
        repo.erase_session(&project(), &sid(&id), Timestamp::now(), EraseIf::Always)
            .await
            .expect("erase");
        // Once the erasure has returned, nothing can be added, by anyone.
        assert_erased(&repo, &id).await;
        for w in writers {
            w.await.expect("writer");
        }
        assert_erased(&repo, &id).await;
    }
}

pub async fn redaction_keeps_idempotency(repo: Repo) {
    create(&repo, &project(), "s").await;
    let original =
        json!({ "text": "my card is 4111 1111 1111 1111", "n": [1, { "b": 2, "a": 1 }] });
    append(&repo, "s", "e0", json!({})).await;
    let stored = append(&repo, "s", "e1", original.clone()).await;
    let at = Timestamp::now();
    let (p, s) = (project(), sid("s"));
    let redacted = repo
        .redact_event(&p, &s, &eid("e1"), at)
        .await
        .expect("redact");
    assert!(!redacted.replayed);
    let event = redacted.value;
    assert_eq!(event.payload, JsonObject::empty());
    assert_eq!(event.redaction.map(|r| r.at), Some(at));
    assert_eq!(
        (
            &event.event_id,
            event.seq,
            &event.event_type,
            event.timestamp,
            event.received_at
        ),
        (
            &stored.event_id,
            stored.seq,
            &stored.event_type,
            stored.timestamp,
            stored.received_at
        )
    );
    // Redacting again: unchanged.
    let again = repo
        .redact_event(&p, &s, &eid("e1"), Timestamp::now())
        .await
        .expect("redact again");
    assert!(again.replayed);
    assert_eq!(again.value, event);
    // Every read gives the redacted event.
    assert_eq!(repo.get_event(&p, &s, &eid("e1")).await, Ok(event.clone()));
    let page = repo.list_events(&p, &s, first_page()).await.expect("page");
    assert_eq!(page.events[1], event);
    // A retry of the original append (keys in another order): a replay, with the redacted event.
    let retry = repo
        .append_event(
            &p,
            &s,
            new_event(
                "e1",
                json!({ "n": [1, { "a": 1, "b": 2 }], "text": "my card is 4111 1111 1111 1111" }),
            ),
        )
        .await
        .expect("replay");
    assert!(retry.replayed);
    assert_eq!(retry.value, event);
    // Other content, also the redacted payload itself: a conflict.
    for other in [json!({ "text": "something else" }), json!({})] {
        assert!(matches!(
            repo.append_event(&p, &s, new_event("e1", other)).await,
            Err(AppendEventError::Conflict { .. })
        ));
    }
    // The session is unchanged.
    let session = repo.get_session(&p, &s).await.expect("session");
    assert_eq!((session.event_count, session.last_seq), (2, 2));
    // Closed sessions too; unknown event or session.
    repo.complete_session(&p, &s, complete())
        .await
        .expect("complete");
    let closed = repo
        .redact_event(&p, &s, &eid("e0"), Timestamp::now())
        .await
        .expect("redact in a closed session");
    assert!(!closed.replayed);
    assert_eq!(closed.value.seq, 1);
    assert_eq!(
        repo.redact_event(&p, &s, &eid("nope"), Timestamp::now())
            .await,
        Err(RedactEventError::EventNotFound)
    );
    assert_eq!(
        repo.redact_event(&p, &sid("nope"), &eid("e1"), Timestamp::now())
            .await,
        Err(RedactEventError::SessionNotFound)
    );
}

/// Redaction does not change a replay's answer (issue 22 item 5). The case: `{"x":-0.0}`
/// stored, the retry `{"x":0.0}` is a replay before the redaction and after it. Then retries with
/// the same numbers written otherwise (`0`, `1` for `1.0`, keys in another order) replay before
/// and after, and another number conflicts before and after.
pub async fn redaction_keeps_the_answer_to_equal_numbers(repo: Repo) {
    create(&repo, &project(), "s").await;
    let (p, s) = (project(), sid("s"));
    append(&repo, "s", "e1", json!({ "x": -0.0 })).await;
    append(&repo, "s", "e2", json!({ "x": -0.0, "n": [1.0, 2] })).await;
    let replayed = |event: &'static str, payload: Value, redacted: bool| {
        let repo = repo.clone();
        let (p, s) = (p.clone(), s.clone());
        async move {
            let retry = repo
                .append_event(&p, &s, new_event(event, payload.clone()))
                .await
                .unwrap_or_else(|e| panic!("{event} {payload} (redacted: {redacted}): {e:?}"));
            assert!(retry.replayed, "{event} {payload} (redacted: {redacted})");
            assert_eq!(retry.value.redaction.is_some(), redacted);
        }
    };
    let conflicts = |event: &'static str, payload: Value, redacted: bool| {
        let repo = repo.clone();
        let (p, s) = (p.clone(), s.clone());
        async move {
            let answer = repo
                .append_event(&p, &s, new_event(event, payload.clone()))
                .await;
            assert!(
                matches!(answer, Err(AppendEventError::Conflict { .. })),
                "{event} {payload} (redacted: {redacted})"
            );
        }
    };
    let redact = |event: &'static str| {
        let repo = repo.clone();
        let (p, s) = (p.clone(), s.clone());
        async move {
            repo.redact_event(&p, &s, &eid(event), Timestamp::now())
                .await
                .expect("redact");
        }
    };
    // The case.
    replayed("e1", json!({ "x": 0.0 }), false).await;
    redact("e1").await;
    replayed("e1", json!({ "x": 0.0 }), true).await;
    conflicts("e1", json!({ "x": 0.5 }), true).await;
    // The same numbers written otherwise, and another number.
    for redacted in [false, true] {
        if redacted {
            redact("e2").await;
        }
        for payload in [
            json!({ "x": 0.0, "n": [1.0, 2] }),
            json!({ "n": [1, 2.0], "x": 0 }),
        ] {
            replayed("e2", payload, redacted).await;
        }
        conflicts("e2", json!({ "x": 0, "n": [1, 3] }), redacted).await;
    }
    let session = repo.get_session(&p, &s).await.expect("session");
    assert_eq!((session.event_count, session.last_seq), (2, 2));
}

pub async fn concurrent_redactions_redact_once(repo: Repo) {
    create(&repo, &project(), "s").await;
    append(&repo, "s", "e1", json!({ "secret": 1 })).await;
    let redactions = (0..10).map(|_| {
        let repo = repo.clone();
        async move {
            repo.redact_event(&project(), &sid("s"), &eid("e1"), Timestamp::now())
                .await
                .expect("redact")
        }
    });
    let results = join_all(redactions).await;
    assert_eq!(results.iter().filter(|w| !w.replayed).count(), 1);
    assert!(results.iter().all(|w| w.value == results[0].value));
}

pub async fn retention_finds_expired_sessions_and_purges_tombstones(repo: Repo) {
    let p = project();
    create(&repo, &p, "ended").await;
    create(&repo, &p, "idle").await;
    create(&repo, &p, "busy").await;
    repo.complete_session(&p, &sid("ended"), complete())
        .await
        .expect("complete");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Updated after the cutoff (by an append) or created after it: not expired.
    append(&repo, "busy", "e1", json!({})).await;
    create(&repo, &p, "young").await;
    let mut expired: Vec<String> = repo
        .expired_sessions(cutoff, 100)
        .await
        .expect("expired")
        .into_iter()
        .map(|(project, id)| {
            assert_eq!(project, p);
            id.to_string()
        })
        .collect();
    expired.sort();
    assert_eq!(expired, ["ended", "idle"]);
    assert_eq!(
        repo.expired_sessions(cutoff, 1)
            .await
            .expect("bounded")
            .len(),
        1
    );
    // Asked again, the same answer (nothing was erased).
    assert_eq!(
        repo.expired_sessions(cutoff, 100)
            .await
            .expect("again")
            .len(),
        2
    );

    let erased_at = Timestamp::now();
    repo.erase_session(&p, &sid("ended"), erased_at, EraseIf::Always)
        .await
        .expect("erase");
    assert_eq!(
        repo.purge_tombstones(erased_at, 100).await,
        Ok(0),
        "not expired yet"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(repo.purge_tombstones(Timestamp::now(), 100).await, Ok(1));
    // The id is free again: a new, empty session.
    create(&repo, &p, "ended").await;
    let page = repo
        .list_events(&p, &sid("ended"), first_page())
        .await
        .expect("page");
    assert!(page.events.is_empty());
    assert_eq!(
        repo.get_session(&p, &sid("ended"))
            .await
            .map(|s| s.last_seq),
        Ok(0)
    );
}

pub async fn changed_sessions_reports_an_erasure(repo: Repo) {
    create(&repo, &project(), "s").await;
    append(&repo, "s", "e1", json!({})).await;
    let watch = domain::Watch {
        project: project(),
        session: sid("s"),
        known: 1,
    };
    assert_eq!(
        repo.changed_sessions(std::slice::from_ref(&watch)).await,
        Ok(vec![])
    );
    repo.erase_session(&project(), &sid("s"), Timestamp::now(), EraseIf::Always)
        .await
        .expect("erase");
    let changed = repo.changed_sessions(&[watch]).await.expect("changed");
    assert!(
        matches!(changed.as_slice(), [(0, version)] if *version > 1),
        "an erased session's tails are woken: {changed:?}"
    );
}

/// Retention counts from the server's clock at the `complete`, never from the client's
/// `endedAt` (SPEC "Retention"): a session its client says ended 30 days ago, or says ends in
/// 50 minutes, is closed now for retention; its `endedAt` is kept as the client gave it.
pub async fn retention_counts_from_the_servers_clock_at_the_complete(repo: Repo) {
    const MINUTE: i64 = 60_000;
    let p = project();
    let now = Timestamp::now().millis();
    let at = |ms: i64| Timestamp::from_millis(now + ms).expect("valid time");
    for (id, ended) in [
        ("backdated", -30 * 24 * 60 * MINUTE),
        ("ahead", 50 * MINUTE),
    ] {
        create(&repo, &p, id).await;
        let request = CompleteRequest::new(None, Some(at(ended))).expect("valid");
        let closed = repo
            .complete_session(&p, &sid(id), request)
            .await
            .expect("complete")
            .value;
        assert_eq!(closed.ended_at, Some(at(ended)), "{id}: endedAt as given");
    }
    // RETENTION = 1 h, swept now: neither has expired.
    let an_hour_ago = at(-60 * MINUTE);
    assert_eq!(
        repo.expired_sessions(an_hour_ago, 100).await,
        Ok(vec![]),
        "completed now, whatever endedAt says"
    );
    // Swept once the server's clock has passed both completes: both have.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut expired: Vec<String> = repo
        .expired_sessions(Timestamp::now(), 100)
        .await
        .expect("expired")
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect();
    expired.sort();
    assert_eq!(
        expired,
        ["ahead", "backdated"],
        "endedAt ahead does not defer it"
    );
}

/// The retention sweep's erasure checks the expiry again inside itself (SPEC "Retention"):
/// sessions chosen as expired at a cutoff, then appended to or completed, are kept by the
/// erasure with that cutoff (`NotExpired`, nothing changed); one left alone is erased.
pub async fn the_retention_erasure_keeps_a_session_written_since_the_cutoff(repo: Repo) {
    let p = project();
    for id in ["appended", "completed", "idle"] {
        create(&repo, &p, id).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut chosen: Vec<String> = (repo.expired_sessions(cutoff, 100).await)
        .expect("expired")
        .into_iter()
        .map(|(_, id)| id.to_string())
        .collect();
    chosen.sort();
    assert_eq!(chosen, ["appended", "completed", "idle"]);
    // Written after the sweep chose them, before their erasure.
    append(&repo, "appended", "e1", json!({"kept": true})).await;
    repo.complete_session(&p, &sid("completed"), complete())
        .await
        .expect("complete");
    let by_retention = EraseIf::ExpiredBefore(cutoff);
    for id in ["appended", "completed"] {
        assert_eq!(
            repo.erase_session(&p, &sid(id), Timestamp::now(), by_retention)
                .await,
            Err(EraseSessionError::NotExpired),
            "{id} was written after the cutoff"
        );
    }
    let page = repo
        .list_events(&p, &sid("appended"), first_page())
        .await
        .expect("kept with its event");
    let ids: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e1"]);
    let completed = repo.get_session(&p, &sid("completed")).await.expect("kept");
    assert_eq!(completed.status, domain::SessionStatus::Completed);
    // Left alone, still expired: erased, once.
    let erased = repo
        .erase_session(&p, &sid("idle"), Timestamp::now(), by_retention)
        .await
        .expect("erase");
    assert!(!erased.replayed);
    assert_erased(&repo, "idle").await;
    let again = repo
        .erase_session(&p, &sid("idle"), Timestamp::now(), by_retention)
        .await
        .expect("erased before");
    assert!(again.replayed);
}

/// The re-check is atomic with the removal: appends racing the retention erasure of an
/// expired session either land before it (the session is kept, every acknowledged event is
/// stored) or are refused (the session is erased): never acknowledged, then erased.
pub async fn the_retention_erasure_racing_appends_never_erases_an_acknowledged_one(repo: Repo) {
    for round in 0..8 {
        let id = format!("race{round}");
        create(&repo, &project(), &id).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let cutoff = Timestamp::now();
        let start = Arc::new(tokio::sync::Barrier::new(5));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (repo, id, start) = (repo.clone(), id.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let mut acknowledged = Vec::new();
                    for i in 0..20 {
                        let event = format!("w{w}-{i}");
                        match repo
                            .append_event(&project(), &sid(&id), new_event(&event, json!({})))
                            .await
                        {
                            Ok(_) => acknowledged.push(event),
                            Err(AppendEventError::SessionErased) => break,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    acknowledged
                })
            })
            .collect();
        // Released together; later rounds let the appends run a little first.
        start.wait().await;
        for _ in 0..round {
            tokio::task::yield_now().await;
        }
        let erased = repo
            .erase_session(
                &project(),
                &sid(&id),
                Timestamp::now(),
                EraseIf::ExpiredBefore(cutoff),
            )
            .await;
        let mut acknowledged = Vec::new();
        for w in writers {
            acknowledged.extend(w.await.expect("writer"));
        }
        match erased {
            Ok(written) => {
                assert!(!written.replayed);
                assert_eq!(
                    acknowledged,
                    Vec::<String>::new(),
                    "{id}: acknowledged, then erased"
                );
                assert_erased(&repo, &id).await;
            }
            Err(EraseSessionError::NotExpired) => {
                assert!(
                    !acknowledged.is_empty(),
                    "{id}: kept though nothing was written"
                );
                let stored = repo
                    .list_events(&project(), &sid(&id), first_page())
                    .await
                    .expect("kept");
                let mut stored: Vec<String> = stored
                    .events
                    .iter()
                    .map(|e| e.event_id.to_string())
                    .collect();
                stored.sort();
                acknowledged.sort();
                assert_eq!(
                    stored, acknowledged,
                    "{id}: every acknowledged event is kept"
                );
            }
            Err(e) => panic!("{id}: {e:?}"),
        }
    }
}
