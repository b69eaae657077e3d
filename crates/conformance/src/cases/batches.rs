//! Batches and `expectedLastSeq`: consecutive seqs in request order, wholly in or refused, concurrent batches, one winner among writers expecting the same last seq.

use std::collections::HashSet;

use domain::{AppendBatch, AppendEventError, Event, Order, SessionStatus, Written};
use futures_util::future::join_all;
use serde_json::{Value, json};

use super::support::{Repo, append, assert_strictly_increasing, complete, session, walk};
use crate::fixtures::{new_event, project, sid};

fn batch(events: &[(&str, Value)], expected: Option<u64>) -> AppendBatch {
    let events = events
        .iter()
        .map(|(id, payload)| new_event(id, payload.clone()))
        .collect();
    AppendBatch::new(events, expected).expect("a valid batch")
}

/// A batch of `n` events `{prefix}-{i}`.
fn numbered(prefix: &str, n: usize, expected: Option<u64>) -> AppendBatch {
    let events = (0..n)
        .map(|i| new_event(&format!("{prefix}-{i}"), json!({ "i": i })))
        .collect();
    AppendBatch::new(events, expected).expect("a valid batch")
}

async fn append_batch(
    repo: &Repo,
    session: &str,
    batch: AppendBatch,
) -> Result<Vec<Written<Event>>, AppendEventError> {
    repo.append_events(&project(), &sid(session), batch).await
}

fn event_ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.event_id.as_str()).collect()
}

pub async fn batch_stores_new_events_at_consecutive_seqs_in_request_order(repo: Repo) {
    session(&repo, "s").await;
    let x = append(&repo, "s", "x").await.value;
    let answer = append_batch(
        &repo,
        "s",
        batch(
            &[
                ("a", json!({"k": 1})),
                ("x", json!({ "n": "x" })),
                ("b", json!({})),
                ("a", json!({"k": 1})),
            ],
            None,
        ),
    )
    .await
    .expect("stored");
    let seen: Vec<(&str, u64, bool)> = answer
        .iter()
        .map(|w| (w.value.event_id.as_str(), w.value.seq, w.replayed))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", 2, false),
            ("x", 1, true),
            ("b", 3, false),
            ("a", 2, true)
        ]
    );
    assert_eq!(answer[1].value, x, "a replay answers the stored event");
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(
        (s.event_count, s.last_seq, s.status),
        (3, 3, SessionStatus::Active)
    );
    let events = walk(&repo, "s", Order::Asc, 10).await;
    assert_eq!(event_ids(&events), ["x", "a", "b"]);
    assert_eq!(events[1], answer[0].value);
}

pub async fn batch_activates_an_initiated_session(repo: Repo) {
    session(&repo, "s").await;
    append_batch(&repo, "s", numbered("e", 3, Some(0)))
        .await
        .expect("stored");
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(
        (s.event_count, s.last_seq, s.status),
        (3, 3, SessionStatus::Active)
    );
}

pub async fn batch_of_replays_only_is_answered_whatever_expected_or_closed(repo: Repo) {
    session(&repo, "s").await;
    let stored = append_batch(&repo, "s", numbered("e", 3, None))
        .await
        .unwrap();
    for expected in [None, Some(0), Some(3), Some(99)] {
        let again = append_batch(&repo, "s", numbered("e", 3, expected))
            .await
            .expect("replays");
        assert!(again.iter().all(|w| w.replayed));
        let values: Vec<&Event> = again.iter().map(|w| &w.value).collect();
        assert_eq!(values, stored.iter().map(|w| &w.value).collect::<Vec<_>>());
    }
    repo.complete_session(&project(), &sid("s"), complete())
        .await
        .unwrap();
    let again = append_batch(&repo, "s", numbered("e", 2, Some(7)))
        .await
        .expect("replays after the close");
    assert!(again.iter().all(|w| w.replayed));
}

pub async fn batch_with_a_conflicting_item_stores_nothing(repo: Repo) {
    session(&repo, "s").await;
    let x = append(&repo, "s", "x").await.value;
    let r = append_batch(
        &repo,
        "s",
        batch(
            &[
                ("new", json!({})),
                ("x", json!({"other": true})),
                ("n2", json!({})),
            ],
            None,
        ),
    )
    .await;
    assert_eq!(
        r,
        Err(AppendEventError::Conflict {
            index: 1,
            stored: Box::new(x)
        })
    );
    assert_eq!(event_ids(&walk(&repo, "s", Order::Asc, 10).await), ["x"]);
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!((s.event_count, s.last_seq), (1, 1));
}

pub async fn batch_into_a_closed_or_unknown_session_stores_nothing(repo: Repo) {
    let r = append_batch(&repo, "nope", numbered("e", 2, None)).await;
    assert_eq!(r, Err(AppendEventError::SessionNotFound));
    session(&repo, "s").await;
    append(&repo, "s", "x").await;
    repo.complete_session(&project(), &sid("s"), complete())
        .await
        .unwrap();
    let r = append_batch(
        &repo,
        "s",
        batch(&[("x", json!({ "n": "x" })), ("new", json!({}))], None),
    )
    .await;
    assert_eq!(r, Err(AppendEventError::SessionClosed));
    assert_eq!(event_ids(&walk(&repo, "s", Order::Asc, 10).await), ["x"]);
}

pub async fn expected_last_seq_guards_single_and_batch_appends(repo: Repo) {
    session(&repo, "s").await;
    let single = |id: &str, expected| AppendBatch::single(new_event(id, json!({})), expected);
    let first = append_batch(&repo, "s", single("a", Some(0)))
        .await
        .expect("lastSeq 0 as expected");
    assert_eq!(first[0].value.seq, 1);
    for expected in [0, 2, 100] {
        assert_eq!(
            append_batch(&repo, "s", single("b", Some(expected))).await,
            Err(AppendEventError::SeqMismatch { last_seq: 1 })
        );
        assert_eq!(
            append_batch(&repo, "s", numbered("m", 3, Some(expected))).await,
            Err(AppendEventError::SeqMismatch { last_seq: 1 })
        );
    }
    assert_eq!(event_ids(&walk(&repo, "s", Order::Asc, 10).await), ["a"]);
    let stored = append_batch(&repo, "s", numbered("m", 3, Some(1)))
        .await
        .expect("lastSeq 1 as expected");
    let seqs: Vec<u64> = stored.iter().map(|w| w.value.seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    // A mix of a replay and a new event is checked like any new event.
    assert_eq!(
        append_batch(
            &repo,
            "s",
            batch(&[("a", json!({})), ("c", json!({}))], Some(1))
        )
        .await,
        Err(AppendEventError::SeqMismatch { last_seq: 4 })
    );
}

pub async fn concurrent_batches_take_consecutive_seqs(repo: Repo) {
    session(&repo, "s").await;
    let tasks = (0..20).map(|b| {
        let repo = repo.clone();
        tokio::spawn(
            async move { append_batch(&repo, "s", numbered(&format!("b{b}"), 50, None)).await },
        )
    });
    let mut answered = Vec::new();
    for task in join_all(tasks).await {
        answered.push(task.expect("task").expect("batch stored"));
    }
    let events = walk(&repo, "s", Order::Asc, 500).await;
    assert_eq!(events.len(), 1000);
    assert_strictly_increasing(&events);
    let distinct: HashSet<&str> = event_ids(&events).into_iter().collect();
    assert_eq!(distinct.len(), 1000);
    for written in &answered {
        assert!(written.iter().all(|w| !w.replayed));
        let seqs: Vec<u64> = written.iter().map(|w| w.value.seq).collect();
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "a batch's seqs are consecutive");
        }
    }
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(s.event_count, 1000);
}

pub async fn batches_racing_a_complete_are_wholly_in_or_refused(repo: Repo) {
    session(&repo, "s").await;
    let batches = (0..12).map(|b| {
        let repo = repo.clone();
        tokio::spawn(async move {
            if b % 4 == 3 {
                tokio::task::yield_now().await;
            }
            (
                b,
                append_batch(&repo, "s", numbered(&format!("b{b}"), 20, None)).await,
            )
        })
    });
    let closer = {
        let repo = repo.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            repo.complete_session(&project(), &sid("s"), complete())
                .await
                .expect("complete")
        })
    };
    let results = join_all(batches).await;
    let closed = closer.await.expect("task");
    let events = walk(&repo, "s", Order::Asc, 500).await;
    assert_strictly_increasing(&events);
    assert_eq!(closed.value.last_seq, events.len() as u64);
    for result in results {
        let (b, result) = result.expect("task");
        let prefix = format!("b{b}-");
        let mine = events
            .iter()
            .filter(|e| e.event_id.as_str().starts_with(&prefix))
            .count();
        match result {
            Ok(written) => {
                assert_eq!(mine, 20, "batch {b} answered stored is wholly in the list");
                assert!(written.iter().all(|w| !w.replayed));
            }
            Err(AppendEventError::SessionClosed) => {
                assert_eq!(mine, 0, "batch {b} refused has nothing in the list")
            }
            Err(e) => panic!("batch {b}: {e}"),
        }
    }
    let after = walk(&repo, "s", Order::Asc, 500).await;
    assert_eq!(after, events, "the list is final");
}

pub async fn of_writers_expecting_the_same_last_seq_exactly_one_wins(repo: Repo) {
    session(&repo, "s").await;
    append(&repo, "s", "x").await;
    for round in 0..3u64 {
        let last_seq = repo
            .get_session(&project(), &sid("s"))
            .await
            .unwrap()
            .last_seq;
        let writers = (0..8).map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let batch = if w % 2 == 0 {
                    AppendBatch::single(
                        new_event(&format!("r{round}-w{w}"), json!({})),
                        Some(last_seq),
                    )
                } else {
                    numbered(&format!("r{round}-w{w}"), 3, Some(last_seq))
                };
                append_batch(&repo, "s", batch).await
            })
        });
        let mut wins = 0;
        for result in join_all(writers).await {
            match result.expect("task") {
                Ok(written) => {
                    wins += 1;
                    assert_eq!(written[0].value.seq, last_seq + 1);
                }
                Err(AppendEventError::SeqMismatch { last_seq: now }) => assert!(now > last_seq),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}: exactly one writer wins");
    }
}
