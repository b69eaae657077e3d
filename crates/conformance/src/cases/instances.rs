//! Cases of two instances of one store (two processes of the service on the same file or
//! database, each with its own caches): what one instance remembers of a session never lets it
//! write into a session that another has erased (SPEC: once erased, nothing of the session
//! remains, and a session created again under its id starts empty).

use std::collections::HashSet;

use domain::webhook::{AfterAttempt, Attempt, AttemptResult, Lease};
use domain::{AppendBatch, AppendEventError, EraseIf, Event, Order, Timestamp, Written};
use serde_json::json;

use super::support::{Repo, append, described, lease, session, settle, status, subscribe, walk};
use crate::fixtures::{new_event, project, sid};

fn batch(ids: &[&str]) -> AppendBatch {
    let events = ids
        .iter()
        .map(|id| new_event(id, json!({ "n": id })))
        .collect();
    AppendBatch::new(events, None).expect("a valid batch")
}

async fn append_one(
    repo: &Repo,
    session: &str,
    event: &str,
) -> Result<Written<Event>, AppendEventError> {
    repo.append_event(
        &project(),
        &sid(session),
        new_event(event, json!({ "n": event })),
    )
    .await
}

async fn append_batch(
    repo: &Repo,
    session: &str,
    ids: &[&str],
) -> Result<Vec<Written<Event>>, AppendEventError> {
    repo.append_events(&project(), &sid(session), batch(ids))
        .await
}

/// `repo` erases the sessions and purges their tombstones.
async fn erase_and_purge(repo: &Repo, sessions: &[&str]) {
    for id in sessions {
        repo.erase_session(&project(), &sid(id), Timestamp::now(), EraseIf::Always)
            .await
            .expect("erase");
    }
    let later = Timestamp::from_millis(Timestamp::now().millis() + 1_000).expect("valid");
    assert_eq!(
        repo.purge_tombstones(later, 100).await,
        Ok(sessions.len() as u64),
        "the tombstones are purged"
    );
}

fn seqs(events: &[Event]) -> Vec<(&str, u64)> {
    events
        .iter()
        .map(|e| (e.event_id.as_str(), e.seq))
        .collect()
}

pub async fn erased_then_purged_sessions_take_no_appends_from_other_instances(
    repo: Repo,
    other: Repo,
) {
    session(&repo, "single").await;
    session(&repo, "batch").await;
    // The other instance writes into both: it now knows their tops.
    append(&other, "single", "e1").await;
    append_batch(&other, "single", &["e2", "e3"])
        .await
        .expect("batch");
    append(&other, "batch", "e1").await;
    append_batch(&other, "batch", &["e2", "e3"])
        .await
        .expect("batch");

    erase_and_purge(&repo, &["single", "batch"]).await;

    assert_eq!(
        append_one(&other, "single", "e4").await,
        Err(AppendEventError::SessionNotFound),
        "an append into a session that is gone"
    );
    assert_eq!(
        append_batch(&other, "batch", &["e4", "e5"]).await,
        Err(AppendEventError::SessionNotFound),
        "a batch into a session that is gone"
    );
    // Created again: nothing of the other instance's writes is in it.
    for id in ["single", "batch"] {
        session(&repo, id).await;
        assert!(
            walk(&repo, id, Order::Asc, 100).await.is_empty(),
            "{id} starts empty"
        );
        assert!(
            walk(&other, id, Order::Asc, 100).await.is_empty(),
            "{id}, read by the other"
        );
    }
}

pub async fn a_recreated_session_takes_another_instances_appends_from_its_first_seq(
    repo: Repo,
    other: Repo,
) {
    session(&repo, "single").await;
    session(&repo, "batch").await;
    for id in ["single", "batch"] {
        append(&other, id, "e1").await;
        append_batch(&other, id, &["e2", "e3"])
            .await
            .expect("batch");
    }
    erase_and_purge(&repo, &["single", "batch"]).await;
    session(&repo, "single").await;
    session(&repo, "batch").await;

    // What the other instance remembers (a top at seq 3) belongs to the session erased.
    let one = append_one(&other, "single", "e4").await.expect("append");
    assert!(!one.replayed);
    assert_eq!(one.value.seq, 1, "the first event of the new session");
    let many = append_batch(&other, "batch", &["e4", "e5"])
        .await
        .expect("batch");
    assert_eq!(
        many.iter().map(|w| w.value.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        seqs(&walk(&repo, "single", Order::Asc, 100).await),
        vec![("e4", 1)]
    );
    assert_eq!(
        seqs(&walk(&repo, "batch", Order::Asc, 100).await),
        vec![("e4", 1), ("e5", 2)]
    );
}

/// Instances sweeping at once erase the same expired sessions at the same instant (their
/// clocks agree to the millisecond): for each session exactly one erasure is the one that
/// removed it (not `replayed`), the others are answered "erased before" — the retention
/// count (`sessions_erased_total`) counts each session once over all instances.
pub async fn retention_erasures_racing_on_two_instances_count_once(repo: Repo, other: Repo) {
    let ids: Vec<String> = (0..12).map(|i| format!("expired{i}")).collect();
    for id in &ids {
        session(&repo, id).await;
        append(&repo, id, "e1").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let at = Timestamp::now();
    let only = EraseIf::ExpiredBefore(cutoff);
    for id in &ids {
        let erasures = [&repo, &other, &repo, &other].map(|instance| {
            let instance = instance.clone();
            let id = id.clone();
            async move {
                instance
                    .erase_session(&project(), &sid(&id), at, only)
                    .await
                    .expect("erase")
            }
        });
        let results = futures_util::future::join_all(erasures).await;
        let removed = results.iter().filter(|w| !w.replayed).count();
        assert_eq!(
            removed, 1,
            "{id}: exactly one erasure removed it: {results:?}"
        );
        assert!(results.iter().all(|w| w.value == at), "{id}: one tombstone");
    }
}

/// Two instances correcting one event at once: exactly one correction wins.
pub async fn corrections_of_one_event_on_two_instances_one_wins(repo: Repo, other: Repo) {
    for round in 0..4 {
        let id = format!("s{round}");
        session(&repo, &id).await;
        append(&repo, &id, "target").await;
        let tries = (0..6).map(|i| {
            let instance = if i % 2 == 0 {
                repo.clone()
            } else {
                other.clone()
            };
            let id = id.clone();
            async move {
                let new = crate::fixtures::new_event(&format!("c{i}"), json!({}))
                    .with_supersedes(Some(domain::EventId::parse("target").expect("valid")));
                instance.append_event(&project(), &sid(&id), new).await
            }
        });
        let results = futures_util::future::join_all(tries).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{id}: {results:?}");
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(_) | Err(AppendEventError::SupersedeConflict { .. }))),
            "{results:?}"
        );
        assert_eq!(walk(&other, &id, Order::Asc, 100).await.len(), 2);
    }
}

pub async fn two_instances_claim_each_delivery_once(repo: Repo, other: Repo) {
    subscribe(&repo, &project(), 1, &["session.created", "event.appended"]).await;
    for n in 0..6 {
        session(&repo, &format!("a{n}")).await;
        session(&other, &format!("b{n}")).await;
    }
    append(&other, "a0", "e1").await;
    append(&repo, "b0", "e1").await;
    // Both instances claim at once, round after round, and deliver what they claimed.
    let mut delivered = HashSet::new();
    for round in 0..20 {
        let now = Timestamp::now();
        let claims = futures_util::future::join_all([&repo, &other].into_iter().enumerate().map(
            |(n, store)| async move {
                let hold = Lease {
                    token: format!("{round}-{n}"),
                    until: now.plus_millis(60_000),
                };
                let claimed = store.claim_deliveries(now, &hold, 4).await.unwrap();
                for d in &claimed {
                    let attempt = Attempt {
                        at: now,
                        result: AttemptResult::Status(204),
                        duration_ms: 1,
                    };
                    let settled = store
                        .settle_delivery(
                            &d.endpoint,
                            &d.message.id,
                            &hold,
                            &attempt,
                            AfterAttempt::Delivered,
                        )
                        .await
                        .unwrap();
                    assert!(settled);
                }
                claimed
            },
        ))
        .await;
        let claimed: Vec<_> = claims.into_iter().flatten().collect();
        if claimed.is_empty() {
            break;
        }
        for d in claimed {
            assert!(
                delivered.insert(d.message.id.clone()),
                "{} attempted twice",
                d.message.id
            );
        }
    }
    assert_eq!(delivered.len(), 14, "12 creations and 2 appends, each once");
}

/// One dispatcher settling a queue's head while another claims (and so moves the messages
/// waiting behind that head out of the way, on MongoDB): the next message goes at once, it is
/// never left waiting for the other's claim lease.
pub async fn a_queue_moves_on_at_once_while_another_instance_claims(repo: Repo, other: Repo) {
    subscribe(&repo, &project(), 1, &["session.created", "event.appended"]).await;
    for round in 0..30 {
        let s = format!("r{round}");
        session(&repo, &s).await;
        append(&repo, &s, "e0").await;
        let now = Timestamp::now();
        let first = lease(&format!("a{round}"), now.plus_millis(60_000));
        let head = repo.claim_deliveries(now, &first, 10).await.unwrap();
        assert_eq!(
            head.iter().map(described).collect::<Vec<_>>(),
            ["session.created"]
        );
        let second = lease(&format!("b{round}"), now.plus_millis(60_000));
        let (settled, by_other) = tokio::join!(
            settle(
                &repo,
                &head[0],
                &first,
                status(200, now),
                AfterAttempt::Delivered
            ),
            other.claim_deliveries(now, &second, 10),
        );
        assert!(settled);
        let mut next: Vec<String> = by_other.unwrap().iter().map(described).collect();
        if next.is_empty() {
            let third = lease(&format!("c{round}"), now.plus_millis(60_000));
            let again = repo
                .claim_deliveries(Timestamp::now(), &third, 10)
                .await
                .unwrap();
            next = again.iter().map(described).collect();
        }
        assert_eq!(next, ["event.appended e0"], "round {round}");
    }
}
