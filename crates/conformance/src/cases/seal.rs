//! Completing a session: the seal, its replays and conflicts, concurrent completes, appends racing a complete.

use std::collections::HashSet;

use domain::{
    AppendEventError, CompleteRequest, CompleteSessionError, Event, Order, Session, SessionStatus,
    Timestamp, Written,
};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{Repo, append, assert_strictly_increasing, complete, session, walk};
use crate::fixtures::{new_event, project, sid};

pub async fn complete_seals_the_session(repo: Repo) {
    session(&repo, "s").await;
    let e1 = append(&repo, "s", "e1").await.value;
    let done = repo
        .complete_session(&project(), &sid("s"), complete())
        .await
        .unwrap();
    assert!(!done.replayed);
    assert_eq!(done.value.status, SessionStatus::Completed);
    assert!(done.value.ended_at.is_some());
    assert_eq!(
        repo.append_event(&project(), &sid("s"), new_event("e2", json!({})))
            .await,
        Err(AppendEventError::SessionClosed)
    );
    let replay = append(&repo, "s", "e1").await;
    assert!(replay.replayed, "replays are answered forever");
    assert_eq!(replay.value, e1);
    assert_eq!(walk(&repo, "s", Order::Asc, 10).await, vec![e1]);
    assert_eq!(
        repo.get_session(&project(), &sid("s"))
            .await
            .unwrap()
            .event_count,
        1
    );
}

pub async fn complete_replay_and_state_conflict(repo: Repo) {
    session(&repo, "s").await;
    let ended = Timestamp::from_millis(1_700_000_000_000).unwrap();
    let failed = CompleteRequest::new(Some(SessionStatus::Failed), Some(ended)).unwrap();
    let first = repo
        .complete_session(&project(), &sid("s"), failed)
        .await
        .unwrap()
        .value;
    assert_eq!(
        (first.status, first.ended_at),
        (SessionStatus::Failed, Some(ended))
    );
    let again = CompleteRequest::new(Some(SessionStatus::Failed), None).unwrap();
    let replay = repo
        .complete_session(&project(), &sid("s"), again)
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(
        replay.value, first,
        "the stored session, unchanged (same endedAt)"
    );
    match repo
        .complete_session(&project(), &sid("s"), complete())
        .await
    {
        Err(CompleteSessionError::StateConflict(stored)) => assert_eq!(*stored, first),
        other => panic!("expected a state conflict, got {other:?}"),
    }
}

pub async fn complete_unknown_session(repo: Repo) {
    assert_eq!(
        repo.complete_session(&project(), &sid("nope"), complete())
            .await,
        Err(CompleteSessionError::NotFound)
    );
}

pub async fn concurrent_completes_agree(repo: Repo) {
    session(&repo, "s").await;
    let results = join_all((0..20).map(|_| {
        let repo = repo.clone();
        tokio::spawn(async move {
            repo.complete_session(&project(), &sid("s"), complete())
                .await
                .unwrap()
        })
    }))
    .await;
    let results: Vec<Written<Session>> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        results.iter().filter(|w| !w.replayed).count(),
        1,
        "exactly one wins"
    );
    let ended: HashSet<_> = results.iter().map(|w| w.value.ended_at).collect();
    assert_eq!(ended.len(), 1, "all responses agree");
}

pub async fn appends_racing_complete_respect_the_seal(repo: Repo) {
    for round in 0..3 {
        let id = format!("race{round}");
        session(&repo, &id).await;
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let (repo, id) = (repo.clone(), id.clone());
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0..40 {
                        let eid = format!("w{w}-{i}");
                        match repo
                            .append_event(&project(), &sid(&id), new_event(&eid, json!({})))
                            .await
                        {
                            Ok(w) => acked.push(w.value),
                            Err(AppendEventError::SessionClosed) => break,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    acked
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        repo.complete_session(&project(), &sid(&id), complete())
            .await
            .unwrap();
        // Once complete returned, nothing new is acknowledged.
        assert_eq!(
            repo.append_event(&project(), &sid(&id), new_event("late", json!({})))
                .await,
            Err(AppendEventError::SessionClosed)
        );
        let acked: Vec<Event> = join_all(writers)
            .await
            .into_iter()
            .flat_map(|r| r.unwrap())
            .collect();
        let events = walk(&repo, &id, Order::Asc, 100).await;
        assert_strictly_increasing(&events);
        let stored: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        for a in &acked {
            assert!(
                stored.contains(a.event_id.as_str()),
                "acknowledged {} was lost",
                a.event_id
            );
        }
        assert_eq!(
            events.len(),
            acked.len(),
            "only acknowledged events are stored"
        );
        let s = repo.get_session(&project(), &sid(&id)).await.unwrap();
        assert_eq!(s.event_count as usize, events.len());
        // The list is final.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(walk(&repo, &id, Order::Asc, 100).await, events);
    }
}
