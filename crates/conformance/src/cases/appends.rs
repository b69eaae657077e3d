//! Single appends: counting, activation, replays and conflicts, ids scoped to their session, concurrent duplicates and mixed writers, reading one event.

use std::collections::HashSet;

use domain::{
    AppendEventError, Event, EventId, EventType, GetEventError, Order, SessionStatus, Timestamp,
    Written,
};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{Repo, append, assert_strictly_increasing, session, walk};
use crate::fixtures::{new_event, object, project, sid};

pub async fn append_counts_and_activates(repo: Repo) {
    session(&repo, "s").await;
    let e1 = append(&repo, "s", "e1").await;
    assert!(!e1.replayed);
    assert!(e1.value.seq >= 1);
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(s.status, SessionStatus::Active, "the first event activates");
    assert_eq!((s.event_count, s.last_seq), (1, e1.value.seq));
    let e2 = append(&repo, "s", "e2").await;
    assert!(e2.value.seq > e1.value.seq);
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!((s.event_count, s.last_seq), (2, e2.value.seq));
    assert!(s.updated_at >= s.created_at);
}

pub async fn append_to_unknown_session(repo: Repo) {
    let r = repo
        .append_event(&project(), &sid("nope"), new_event("e", json!({})))
        .await;
    assert_eq!(r, Err(AppendEventError::SessionNotFound));
}

pub async fn append_replay_and_conflict(repo: Repo) {
    session(&repo, "s").await;
    let mut event = new_event("e1", json!({"text": "hi", "n": 1}));
    event.timestamp = Some(Timestamp::from_millis(1_700_000_000_123).unwrap());
    let stored = repo
        .append_event(&project(), &sid("s"), event.clone())
        .await
        .unwrap()
        .value;

    let replay = repo
        .append_event(&project(), &sid("s"), event.clone())
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.value, stored);

    let mut without_timestamp = event.clone();
    without_timestamp.timestamp = None;
    let replay = repo
        .append_event(&project(), &sid("s"), without_timestamp)
        .await
        .unwrap();
    assert!(replay.replayed, "a retry without timestamp matches");

    let mut other_payload = event.clone();
    other_payload.payload = object(json!({"text": "bye"}));
    let mut other_type = event.clone();
    other_type.event_type = EventType::parse("bot_speech").unwrap();
    let mut other_time = event.clone();
    other_time.timestamp = Some(Timestamp::from_millis(1).unwrap());
    for conflicting in [other_payload, other_type, other_time] {
        match repo.append_event(&project(), &sid("s"), conflicting).await {
            Err(AppendEventError::Conflict {
                index: 0,
                stored: existing,
            }) => {
                assert_eq!(*existing, stored)
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(s.event_count, 1, "nothing changes on replays and conflicts");
    assert_eq!(walk(&repo, "s", Order::Asc, 10).await, vec![stored]);
}

pub async fn event_ids_are_scoped_to_their_session(repo: Repo) {
    session(&repo, "a").await;
    session(&repo, "b").await;
    let in_a = append(&repo, "a", "same").await;
    let in_b = append(&repo, "b", "same").await;
    assert!(!in_a.replayed && !in_b.replayed);
    assert_eq!(in_b.value.session_id.as_str(), "b");
    assert_eq!(
        repo.get_session(&project(), &sid("a"))
            .await
            .unwrap()
            .event_count,
        1
    );
}

pub async fn concurrent_identical_appends_store_one(repo: Repo) {
    session(&repo, "s").await;
    let results = join_all((0..100).map(|_| {
        let repo = repo.clone();
        tokio::spawn(async move {
            repo.append_event(&project(), &sid("s"), new_event("e", json!({"same": true})))
                .await
                .unwrap()
        })
    }))
    .await;
    let results: Vec<Written<Event>> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results.iter().filter(|w| !w.replayed).count(), 1);
    assert!(results.iter().all(|w| w.value == results[0].value));
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(s.event_count, 1);
    assert_eq!(walk(&repo, "s", Order::Asc, 50).await.len(), 1);
}

pub async fn concurrent_mixed_appends_lose_nothing(repo: Repo) {
    session(&repo, "s").await;
    // 8 writers × 25 events, each event sent twice (a retry), interleaved.
    let tasks = (0..8).map(|w| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                for _ in 0..2 {
                    let id = format!("w{w}-e{i}");
                    let r = repo
                        .append_event(&project(), &sid("s"), new_event(&id, json!({ "id": id })))
                        .await
                        .unwrap();
                    acked.push(r.value);
                }
            }
            acked
        })
    });
    let acked: Vec<Event> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    let events = walk(&repo, "s", Order::Asc, 37).await;
    assert_eq!(events.len(), 200, "no loss, no duplicate");
    assert_strictly_increasing(&events);
    let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), 200);
    for a in &acked {
        assert!(
            events.contains(a),
            "acknowledged {} is stored as acknowledged",
            a.event_id
        );
    }
    let s = repo.get_session(&project(), &sid("s")).await.unwrap();
    assert_eq!(s.event_count, 200);
    assert_eq!(s.last_seq, events.last().unwrap().seq);
}

pub async fn get_event_found_and_not_found(repo: Repo) {
    session(&repo, "s").await;
    let e = append(&repo, "s", "e1").await.value;
    assert_eq!(
        repo.get_event(&project(), &sid("s"), &e.event_id)
            .await
            .unwrap(),
        e
    );
    let missing = EventId::parse("missing").unwrap();
    assert_eq!(
        repo.get_event(&project(), &sid("s"), &missing).await,
        Err(GetEventError::EventNotFound)
    );
    assert_eq!(
        repo.get_event(&project(), &sid("nope"), &e.event_id).await,
        Err(GetEventError::SessionNotFound)
    );
}
