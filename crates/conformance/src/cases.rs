//! The cases of the suite. Each takes a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;

use domain::{
    AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError, Event, EventId,
    EventType, GetEventError, GetSessionError, JsonObject, Label, ListEventsError, NewSession,
    Order, PageRequest, ProjectId, Repository, Session, SessionFilter, SessionPosition,
    SessionQuery, SessionStatus, Timestamp, Watch, Written,
};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::fixtures::{new_event, object, project, sid};

type Repo = Arc<dyn Repository>;

fn new_session(id: &str) -> NewSession {
    NewSession::new(sid(id), None, None, JsonObject::empty(), None).expect("valid")
}

async fn session(repo: &Repo, id: &str) -> Session {
    repo.create_session(&project(), new_session(id))
        .await
        .expect("create")
        .value
}

async fn append(repo: &Repo, session: &str, event: &str) -> Written<Event> {
    repo.append_event(
        &project(),
        &sid(session),
        new_event(event, json!({ "n": event })),
    )
    .await
    .expect("append")
}

fn complete() -> CompleteRequest {
    CompleteRequest::new(None, None).expect("valid")
}

/// Every event of a session, walking pages of `limit` in `order`.
async fn walk(repo: &Repo, session: &str, order: Order, limit: u32) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest {
            after,
            order,
            limit,
        };
        let page = repo
            .list_events(&project(), &sid(session), request)
            .await
            .expect("page");
        assert!(page.events.len() <= limit as usize);
        after = request.next_position(&page.events);
        let empty = page.events.is_empty();
        out.extend(page.events);
        if !page.has_more {
            break;
        }
        assert!(!empty, "hasMore with an empty page");
    }
    out
}

fn assert_strictly_increasing(events: &[Event]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "seq must strictly increase: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
}

pub async fn create_then_get(repo: Repo) {
    let created = repo
        .create_session(&project(), new_session("s1"))
        .await
        .unwrap();
    assert!(!created.replayed);
    let s = created.value;
    assert_eq!(s.id.as_str(), "s1");
    assert_eq!(s.status, SessionStatus::Initiated);
    assert_eq!((s.event_count, s.last_seq, s.ended_at), (0, 0, None));
    assert_eq!(repo.get_session(&project(), &sid("s1")).await.unwrap(), s);
}

pub async fn create_replays_the_first_write(repo: Repo) {
    let first = NewSession::new(
        sid("s1"),
        Some(SessionStatus::Active),
        Some(domain::Language::parse("en-US").unwrap()),
        object(json!({"first": true})),
        None,
    )
    .unwrap();
    let stored = repo.create_session(&project(), first).await.unwrap().value;
    let retry =
        NewSession::new(sid("s1"), None, None, object(json!({"first": false})), None).unwrap();
    let replay = repo.create_session(&project(), retry).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.value, stored, "a retry never modifies a session");
    assert_eq!(
        repo.get_session(&project(), &sid("s1")).await.unwrap(),
        stored
    );
}

pub async fn concurrent_identical_creates_store_one(repo: Repo) {
    let results = join_all((0..50).map(|_| {
        let repo = repo.clone();
        tokio::spawn(async move {
            repo.create_session(&project(), new_session("dup"))
                .await
                .unwrap()
        })
    }))
    .await;
    let results: Vec<Written<Session>> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(results.iter().filter(|w| !w.replayed).count(), 1);
    let first = &results[0].value;
    assert!(
        results.iter().all(|w| &w.value == first),
        "every answer carries the same session"
    );
}

pub async fn get_unknown_session(repo: Repo) {
    assert_eq!(
        repo.get_session(&project(), &sid("nope")).await,
        Err(GetSessionError::NotFound)
    );
}

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

pub async fn pages_walk_both_orders(repo: Repo) {
    session(&repo, "s").await;
    let mut appended = Vec::new();
    for i in 0..23 {
        appended.push(append(&repo, "s", &format!("e{i:02}")).await.value);
    }
    for limit in [1, 5, 10, 23, 100] {
        assert_eq!(
            walk(&repo, "s", Order::Asc, limit).await,
            appended,
            "asc limit {limit}"
        );
        let mut reversed = appended.clone();
        reversed.reverse();
        assert_eq!(
            walk(&repo, "s", Order::Desc, limit).await,
            reversed,
            "desc limit {limit}"
        );
    }
    // has_more is exact at the boundary.
    let full = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                after: None,
                order: Order::Asc,
                limit: 23,
            },
        )
        .await
        .unwrap();
    assert!(!full.has_more);
    let short = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                after: None,
                order: Order::Asc,
                limit: 22,
            },
        )
        .await
        .unwrap();
    assert!(short.has_more);
    // A position past the end yields an empty page.
    let last = appended.last().unwrap().seq;
    let tail = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                after: Some(last),
                order: Order::Asc,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert!(tail.events.is_empty() && !tail.has_more);
    let head = repo
        .list_events(
            &project(),
            &sid("s"),
            PageRequest {
                after: Some(appended[0].seq),
                order: Order::Desc,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert!(head.events.is_empty() && !head.has_more);
}

pub async fn page_of_unknown_and_empty_sessions(repo: Repo) {
    let request = PageRequest {
        after: None,
        order: Order::Asc,
        limit: 10,
    };
    assert_eq!(
        repo.list_events(&project(), &sid("nope"), request).await,
        Err(ListEventsError::SessionNotFound)
    );
    session(&repo, "empty").await;
    let page = repo
        .list_events(&project(), &sid("empty"), request)
        .await
        .unwrap();
    assert!(page.events.is_empty() && !page.has_more);
    assert_eq!(request.next_position(&page.events), None);
}

pub async fn walk_during_appends_is_exact_and_tail_safe(repo: Repo) {
    session(&repo, "s").await;
    for i in 0..30 {
        append(&repo, "s", &format!("before{i}")).await;
    }
    let before = walk(&repo, "s", Order::Asc, 100).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    append(&repo, "s", &format!("during-{w}-{i}")).await;
                }
            })
        })
        .collect();
    // Walk with small pages while the writers append, then keep tailing until quiet.
    let mut seen: Vec<Event> = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest {
            after,
            order: Order::Asc,
            limit: 7,
        };
        let page = repo
            .list_events(&project(), &sid("s"), request)
            .await
            .unwrap();
        after = request.next_position(&page.events);
        let done = page.events.is_empty() && writers.iter().all(|w| w.is_finished());
        seen.extend(page.events);
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // Tail once more after the writers finished.
    let request = PageRequest {
        after,
        order: Order::Asc,
        limit: 500,
    };
    seen.extend(
        repo.list_events(&project(), &sid("s"), request)
            .await
            .unwrap()
            .events,
    );
    assert_strictly_increasing(&seen);
    assert_eq!(
        &seen[..before.len()],
        &before[..],
        "events stored before the walk, in order"
    );
    assert_eq!(
        seen,
        walk(&repo, "s", Order::Asc, 500).await,
        "the tail saw every event once"
    );
    assert_eq!(seen.len(), 130);
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

pub async fn payload_and_metadata_fidelity(repo: Repo) {
    let tricky = json!({
        "$where": "1 == 1",
        "a.b": {"$gt": ""},
        "": "empty key",
        "ключ": "значение 日本語 🎙️",
        "max": i64::MAX,
        "min": i64::MIN,
        "float": 0.1,
        "nested": [[1, [2, [3, {"x": null}]]], [], {}],
        "bool": false,
        "_id": "not an id",
    });
    let new = NewSession::new(sid("s"), None, None, object(tricky.clone()), None).unwrap();
    let created = repo.create_session(&project(), new).await.unwrap().value;
    assert_eq!(created.metadata.to_value().unwrap(), tricky);
    assert_eq!(
        repo.get_session(&project(), &sid("s"))
            .await
            .unwrap()
            .metadata
            .to_value()
            .unwrap(),
        tricky
    );
    let stored = repo
        .append_event(&project(), &sid("s"), new_event("e", tricky.clone()))
        .await
        .unwrap();
    assert_eq!(stored.value.payload.to_value().unwrap(), tricky);
    let read = repo
        .get_event(&project(), &sid("s"), &stored.value.event_id)
        .await
        .unwrap();
    assert_eq!(read.payload.to_value().unwrap(), tricky);
    let replay = repo
        .append_event(&project(), &sid("s"), new_event("e", tricky))
        .await
        .unwrap();
    assert!(replay.replayed, "a payload with tricky keys replays");
}

pub async fn timestamps_and_defaults(repo: Repo) {
    let started = Timestamp::from_millis(1_600_000_000_000).unwrap();
    let new = NewSession::new(sid("s"), None, None, JsonObject::empty(), Some(started)).unwrap();
    let s = repo.create_session(&project(), new).await.unwrap().value;
    assert_eq!(s.started_at, started);
    assert!(s.created_at > started);
    let before = Timestamp::now();
    let e = append(&repo, "s", "e1").await.value;
    assert!(e.received_at >= before && e.received_at <= Timestamp::now());
    assert_eq!(
        e.timestamp, e.received_at,
        "timestamp defaults to receivedAt"
    );
    let mut given = new_event("e2", json!({}));
    given.timestamp = Some(Timestamp::from_millis(5).unwrap());
    let e2 = repo
        .append_event(&project(), &sid("s"), given)
        .await
        .unwrap()
        .value;
    assert_eq!(e2.timestamp.millis(), 5);
    assert!(e2.received_at >= e.received_at);
}

pub async fn ping_and_shared_secret(repo: Repo) {
    repo.ping().await.unwrap();
    let a = repo.shared_secret().await.unwrap();
    assert!(a.len() >= 16);
    assert_eq!(repo.shared_secret().await.unwrap(), a);
    assert!(!repo.kind().is_empty());
}

/// The same `sessionId` in two projects is two sessions: created, appended to, paged and
/// completed independently; neither sees the other's events.
pub async fn the_same_session_id_in_two_projects_is_two_sessions(repo: Repo) {
    let (a, b) = (project(), ProjectId::parse("p2").unwrap());
    let id = sid("shared");
    let in_a = NewSession::new(id.clone(), None, None, object(json!({"p": "a"})), None).unwrap();
    let in_b = NewSession::new(id.clone(), None, None, object(json!({"p": "b"})), None).unwrap();
    assert!(!repo.create_session(&a, in_a).await.unwrap().replayed);
    let created_b = repo.create_session(&b, in_b).await.unwrap();
    assert!(!created_b.replayed, "another project: a new session");
    assert_eq!(
        created_b.value.metadata.to_value().unwrap(),
        json!({"p": "b"})
    );

    // The same event id, other content, in each: no conflict across projects.
    let ea = repo
        .append_event(&a, &id, new_event("e1", json!({"in": "a"})))
        .await
        .unwrap();
    let eb = repo
        .append_event(&b, &id, new_event("e1", json!({"in": "b"})))
        .await
        .unwrap();
    assert!(!ea.replayed && !eb.replayed);
    assert_eq!((ea.value.seq, eb.value.seq), (1, 1));
    repo.append_event(&a, &id, new_event("e2", json!({})))
        .await
        .unwrap();

    let page = |p: &ProjectId| {
        let (repo, p) = (repo.clone(), p.clone());
        let id = id.clone();
        async move {
            let request = PageRequest {
                after: None,
                order: Order::Asc,
                limit: 10,
            };
            repo.list_events(&p, &id, request).await.unwrap().events
        }
    };
    let ids = |events: Vec<Event>| -> Vec<String> {
        events.iter().map(|e| e.event_id.to_string()).collect()
    };
    assert_eq!(ids(page(&a).await), ["e1", "e2"]);
    assert_eq!(ids(page(&b).await), ["e1"]);
    let read_b = repo
        .get_event(&b, &id, &EventId::parse("e1").unwrap())
        .await
        .unwrap();
    assert_eq!(read_b.payload.to_value().unwrap(), json!({"in": "b"}));

    // Completing one leaves the other open.
    repo.complete_session(&b, &id, complete()).await.unwrap();
    let sa = repo.get_session(&a, &id).await.unwrap();
    assert_eq!((sa.status, sa.event_count), (SessionStatus::Active, 2));
    assert!(
        !repo
            .append_event(&a, &id, new_event("e3", json!({})))
            .await
            .unwrap()
            .replayed
    );
    assert!(matches!(
        repo.append_event(&b, &id, new_event("e3", json!({}))).await,
        Err(AppendEventError::SessionClosed)
    ));
    assert_eq!(
        repo.get_session(&b, &id).await.unwrap().status,
        SessionStatus::Completed
    );
}

/// A session of another project is, to every method, an absent one.
pub async fn another_projects_session_is_absent(repo: Repo) {
    let other = ProjectId::parse("intruder").unwrap();
    session(&repo, "mine").await;
    append(&repo, "mine", "e1").await;
    let id = sid("mine");
    assert_eq!(
        repo.get_session(&other, &id).await,
        Err(GetSessionError::NotFound)
    );
    assert_eq!(
        repo.get_event(&other, &id, &EventId::parse("e1").unwrap())
            .await,
        Err(GetEventError::SessionNotFound)
    );
    let request = PageRequest {
        after: None,
        order: Order::Asc,
        limit: 10,
    };
    assert!(matches!(
        repo.list_events(&other, &id, request).await,
        Err(ListEventsError::SessionNotFound)
    ));
    assert!(matches!(
        repo.append_event(&other, &id, new_event("e2", json!({})))
            .await,
        Err(AppendEventError::SessionNotFound)
    ));
    assert!(matches!(
        repo.complete_session(&other, &id, complete()).await,
        Err(CompleteSessionError::NotFound)
    ));
    // Nothing of the attempts reached the owner's session.
    let s = repo.get_session(&project(), &id).await.unwrap();
    assert_eq!((s.status, s.event_count), (SessionStatus::Active, 1));
}

/// Live tails ask which watched sessions changed beyond a known version: every append and the
/// close raise the version; absent sessions and other projects' sessions are left out.
pub async fn changed_sessions_reports_appends_and_the_close(repo: Repo) {
    let watch = |s: &str, known: u64| Watch {
        project: project(),
        session: sid(s),
        known,
    };
    let changed = |watches: Vec<Watch>| {
        let repo = repo.clone();
        async move {
            let mut found = repo.changed_sessions(&watches).await.unwrap();
            found.sort();
            found
        }
    };
    session(&repo, "quiet").await;
    session(&repo, "busy").await;
    assert_eq!(changed(vec![watch("quiet", 0), watch("busy", 0)]).await, []);
    append(&repo, "busy", "e1").await;
    append(&repo, "busy", "e2").await;
    let watches = vec![
        watch("quiet", 0),
        watch("busy", 0),
        watch("absent", 0),
        Watch {
            project: ProjectId::parse("elsewhere").unwrap(),
            session: sid("busy"),
            known: 0,
        },
    ];
    assert_eq!(changed(watches).await, [(1, 2)]);
    assert_eq!(changed(vec![watch("busy", 2)]).await, []);
    let closed = repo
        .complete_session(&project(), &sid("busy"), complete())
        .await
        .unwrap()
        .value;
    assert_eq!(closed.version(), 3, "the close counts once");
    assert_eq!(changed(vec![watch("busy", 2)]).await, [(0, 3)]);
    assert_eq!(changed(vec![watch("busy", 3)]).await, []);
    assert_eq!(
        repo.get_session(&project(), &sid("busy"))
            .await
            .unwrap()
            .version(),
        3
    );
    // Many watches at once (more than one round of the adapter's batching).
    let mut many: Vec<Watch> = (0..450).map(|i| watch(&format!("none-{i}"), 0)).collect();
    many.push(watch("busy", 1));
    assert_eq!(changed(many).await, [(450, 3)]);
}

// ---- Finding sessions (`list_sessions`) ----

fn labelled(id: &str, metadata: Value) -> NewSession {
    NewSession::new(sid(id), None, None, object(metadata), None).expect("valid")
}

fn filter(
    statuses: &[SessionStatus],
    after: Option<Timestamp>,
    before: Option<Timestamp>,
    labels: &[(&str, &str)],
) -> SessionFilter {
    SessionFilter::new(
        statuses.to_vec(),
        after,
        before,
        labels.iter().map(|(k, v)| Label::new(*k, *v)).collect(),
    )
    .expect("a valid filter")
}

/// Every session of `project` passing `filter`, walking pages of `limit` in `order`; checks
/// each page's size and that positions move strictly in the walk's direction.
async fn walk_sessions(
    repo: &Repo,
    project: &ProjectId,
    filter: &SessionFilter,
    order: Order,
    limit: u32,
) -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let mut after = None;
    loop {
        let query = SessionQuery {
            filter: filter.clone(),
            order,
            limit,
            after,
        };
        let page = repo
            .list_sessions(project, query.clone())
            .await
            .expect("page");
        assert!(page.sessions.len() <= limit as usize);
        after = query.next_position(&page);
        let empty = page.sessions.is_empty();
        out.extend(page.sessions);
        if !page.has_more {
            break;
        }
        assert!(!empty, "hasMore with an empty page");
    }
    assert_in_walk_order(&out, order);
    out
}

/// Every session of the project, walking pages of `limit` in `order`.
async fn walk_all(repo: &Repo, order: Order, limit: u32) -> Vec<Session> {
    walk_sessions(repo, &project(), &SessionFilter::default(), order, limit).await
}

fn assert_in_walk_order(sessions: &[Session], order: Order) {
    for pair in sessions.windows(2) {
        let (a, b) = (SessionPosition::of(&pair[0]), SessionPosition::of(&pair[1]));
        match order {
            Order::Asc => assert!(a < b, "{a:?} then {b:?} in an ascending walk"),
            Order::Desc => assert!(a > b, "{a:?} then {b:?} in a descending walk"),
        }
    }
}

fn ids(sessions: &[Session]) -> Vec<String> {
    sessions.iter().map(|s| s.id.to_string()).collect()
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i:02}")).collect()
}

pub async fn sessions_list_in_both_orders(repo: Repo) {
    let empty = walk_all(&repo, Order::Desc, 10).await;
    assert!(empty.is_empty(), "a project without sessions lists none");
    // Created one after the other: each sorts after the one before, whatever the clock says.
    for id in names("s", 0..12) {
        session(&repo, &id).await;
    }
    let asc = walk_all(&repo, Order::Asc, 5).await;
    assert_eq!(ids(&asc), names("s", 0..12), "oldest first");
    let mut newest_first = names("s", 0..12);
    newest_first.reverse();
    for limit in [1, 5, 12, 500] {
        let desc = walk_all(&repo, Order::Desc, limit).await;
        assert_eq!(ids(&desc), newest_first, "newest first, pages of {limit}");
    }
    // A page that ends exactly at the last session says there is no more.
    let query = SessionQuery {
        filter: SessionFilter::default(),
        order: Order::Desc,
        limit: 12,
        after: None,
    };
    let page = repo.list_sessions(&project(), query.clone()).await.unwrap();
    assert_eq!(page.sessions.len(), 12);
    assert!(!page.has_more);
    // Sessions carry what `get_session` says of them.
    session(&repo, "with-events").await;
    append(&repo, "with-events", "e1").await;
    let listed = repo
        .list_sessions(&project(), SessionQuery { limit: 1, ..query })
        .await
        .unwrap();
    let got = repo
        .get_session(&project(), &sid("with-events"))
        .await
        .unwrap();
    assert_eq!(listed.sessions, vec![got]);
    assert!(listed.has_more);
}

pub async fn sessions_list_filters_by_status(repo: Repo) {
    let mut by_status: Vec<(SessionStatus, Vec<String>)> = SessionStatus::ALL
        .iter()
        .map(|s| (*s, Vec::new()))
        .collect();
    for i in 0..16 {
        let id = format!("s{i:02}");
        session(&repo, &id).await;
        let status = SessionStatus::ALL[i % 4];
        if status != SessionStatus::Initiated {
            append(&repo, &id, "e1").await;
        }
        if status.is_terminal() {
            let request = CompleteRequest::new(Some(status), None).unwrap();
            repo.complete_session(&project(), &sid(&id), request)
                .await
                .unwrap();
        }
        by_status[i % 4].1.push(id);
    }
    for (status, expected) in &by_status {
        let f = filter(&[*status], None, None, &[]);
        let got = walk_sessions(&repo, &project(), &f, Order::Asc, 3).await;
        assert_eq!(&ids(&got), expected, "{status:?}");
        assert!(got.iter().all(|s| s.status == *status));
    }
    // Several statuses: the union, in walk order, in both orders.
    let f = filter(
        &[SessionStatus::Failed, SessionStatus::Initiated],
        None,
        None,
        &[],
    );
    let mut expected: Vec<String> = by_status[0]
        .1
        .iter()
        .chain(&by_status[3].1)
        .cloned()
        .collect();
    expected.sort();
    for limit in [1, 3, 100] {
        let got = walk_sessions(&repo, &project(), &f, Order::Asc, limit).await;
        assert_eq!(ids(&got), expected);
        let mut got = ids(&walk_sessions(&repo, &project(), &f, Order::Desc, limit).await);
        got.reverse();
        assert_eq!(got, expected);
    }
}

pub async fn sessions_list_filters_by_creation_time(repo: Repo) {
    for id in names("s", 0..10) {
        session(&repo, &id).await;
    }
    let all = walk_all(&repo, Order::Asc, 100).await;
    let (lo, hi) = (all[2].created_at, all[7].created_at);
    // Bounds are exclusive; sessions sharing a millisecond with a bound fall on its side.
    let expected: Vec<String> = all
        .iter()
        .filter(|s| s.created_at > lo && s.created_at < hi)
        .map(|s| s.id.to_string())
        .collect();
    for order in [Order::Asc, Order::Desc] {
        let f = filter(&[], Some(lo), Some(hi), &[]);
        let mut got = ids(&walk_sessions(&repo, &project(), &f, order, 2).await);
        if order == Order::Desc {
            got.reverse();
        }
        assert_eq!(got, expected, "{order:?}");
    }
    let after_only = filter(&[], Some(lo), None, &[]);
    let got = walk_sessions(&repo, &project(), &after_only, Order::Desc, 4).await;
    assert!(got.iter().all(|s| s.created_at > lo));
    assert_eq!(got.len(), all.iter().filter(|s| s.created_at > lo).count());
    let before_only = filter(&[], None, Some(hi), &[]);
    let got = walk_sessions(&repo, &project(), &before_only, Order::Asc, 4).await;
    assert_eq!(got.len(), all.iter().filter(|s| s.created_at < hi).count());
    let nothing = filter(&[], Some(hi), Some(lo), &[]);
    assert!(
        walk_sessions(&repo, &project(), &nothing, Order::Asc, 4)
            .await
            .is_empty()
    );
}

pub async fn sessions_list_filters_by_metadata(repo: Repo) {
    let sessions = [
        ("a", json!({"agent": "ann", "campaign": "spring", "n": "1"})),
        ("b", json!({"agent": "bob", "campaign": "spring"})),
        ("c", json!({"agent": "ann", "campaign": "fall", "tier": ""})),
        (
            "d",
            json!({"agent": "ann", "n": 1, "nested": {"agent": "bob"}}),
        ),
        (
            "e",
            json!({"k=v": "w", "k": "v=w", "a.b": "dotted", "ключ": "значение"}),
        ),
        ("f", json!({})),
    ];
    for (id, metadata) in &sessions {
        repo.create_session(&project(), labelled(id, metadata.clone()))
            .await
            .unwrap();
    }
    append(&repo, "c", "e1").await;
    // (labels, statuses, the sessions listed)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [SessionStatus], Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (vec![("agent", "ann")], &[], vec!["a", "c", "d"]),
        (
            vec![("agent", "ann"), ("campaign", "spring")],
            &[],
            vec!["a"],
        ),
        (vec![("campaign", "spring")], &[], vec!["a", "b"]),
        // strings only, top level only, exact
        (vec![("n", "1")], &[], vec!["a"]),
        (vec![("agent", "bob")], &[], vec!["b"]),
        (vec![("agent", "Ann")], &[], vec![]),
        (vec![("tier", "")], &[], vec!["c"]),
        (vec![("k=v", "w")], &[], vec!["e"]),
        (vec![("k", "v=w")], &[], vec!["e"]),
        (vec![("k", "v")], &[], vec![]),
        (vec![("a.b", "dotted")], &[], vec!["e"]),
        (vec![("ключ", "значение")], &[], vec!["e"]),
        (vec![("missing", "x")], &[], vec![]),
        // with a status
        (vec![("agent", "ann")], &[SessionStatus::Active], vec!["c"]),
        (
            vec![("agent", "ann")],
            &[SessionStatus::Initiated],
            vec!["a", "d"],
        ),
        // five at once
        (
            vec![
                ("agent", "ann"),
                ("campaign", "fall"),
                ("tier", ""),
                ("x", "1"),
                ("y", "2"),
            ],
            &[],
            vec![],
        ),
        (
            vec![
                ("k=v", "w"),
                ("k", "v=w"),
                ("a.b", "dotted"),
                ("ключ", "значение"),
            ],
            &[],
            vec!["e"],
        ),
    ];
    for (labels, statuses, expected) in cases {
        let f = filter(statuses, None, None, &labels);
        for order in [Order::Asc, Order::Desc] {
            let mut got = ids(&walk_sessions(&repo, &project(), &f, order, 1).await);
            if order == Order::Desc {
                got.reverse();
            }
            assert_eq!(got, expected, "{labels:?} {statuses:?} {order:?}");
        }
    }
}

pub async fn sessions_list_shows_only_the_projects_sessions(repo: Repo) {
    let other = ProjectId::parse("p2").unwrap();
    for id in ["a", "b", "c"] {
        let metadata = json!({"agent": "ann"});
        repo.create_session(&project(), labelled(id, metadata.clone()))
            .await
            .unwrap();
        repo.create_session(&other, labelled(id, metadata))
            .await
            .unwrap();
    }
    repo.create_session(&other, labelled("only-p2", json!({"agent": "ann"})))
        .await
        .unwrap();
    let f = filter(&[SessionStatus::Initiated], None, None, &[("agent", "ann")]);
    for filter in [SessionFilter::default(), f] {
        let p1 = walk_sessions(&repo, &project(), &filter, Order::Desc, 2).await;
        assert_eq!(ids(&p1), vec!["c", "b", "a"]);
        let p2 = walk_sessions(&repo, &other, &filter, Order::Desc, 2).await;
        assert_eq!(ids(&p2), vec!["only-p2", "c", "b", "a"]);
    }
    let nobody = ProjectId::parse("p3").unwrap();
    let none = walk_sessions(&repo, &nobody, &SessionFilter::default(), Order::Asc, 5).await;
    assert!(none.is_empty());
}

/// Walks in both orders, with and without a status filter, while other tasks create sessions
/// and complete some: every session that matched when the walk began and still matches is
/// listed exactly once, in order; an ascending walk meets sessions created after it began at
/// its end.
pub async fn sessions_list_walks_during_creates_and_completes(repo: Repo) {
    for id in names("old", 0..40) {
        session(&repo, &id).await;
    }
    // Half of the old sessions get completed during the walks.
    let initiated = filter(&[SessionStatus::Initiated], None, None, &[]);
    let before_all = walk_all(&repo, Order::Asc, 100).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let repo = repo.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    session(&repo, &format!("new-{w}-{i}")).await;
                    let old = format!("old{:02}", w * 10 + i);
                    if i % 2 == 0 {
                        repo.complete_session(&project(), &sid(&old), complete())
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    let walks = [
        (SessionFilter::default(), Order::Asc),
        (SessionFilter::default(), Order::Desc),
        (initiated.clone(), Order::Asc),
        (initiated.clone(), Order::Desc),
    ]
    .map(|(filter, order)| {
        let repo = repo.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Session> = Vec::new();
            let mut after = None;
            loop {
                let query = SessionQuery {
                    filter: filter.clone(),
                    order,
                    limit: 3,
                    after,
                };
                let page = repo.list_sessions(&project(), query.clone()).await.unwrap();
                after = query.next_position(&page);
                seen.extend(page.sessions);
                if !page.has_more {
                    break;
                }
                tokio::task::yield_now().await;
            }
            (filter, order, seen)
        })
    });
    let mut results = Vec::new();
    for walk in walks {
        results.push(walk.await.unwrap());
    }
    for w in writers {
        w.await.unwrap();
    }
    let old: HashSet<String> = ids(&before_all).into_iter().collect();
    for (filter, order, seen) in results {
        assert_in_walk_order(&seen, order);
        let listed = ids(&seen);
        let unique: HashSet<&String> = listed.iter().collect();
        assert_eq!(
            unique.len(),
            listed.len(),
            "{order:?}: a session listed twice"
        );
        // Every old session that still matches now was listed.
        let now = walk_sessions(&repo, &project(), &filter, Order::Asc, 500).await;
        for s in now.iter().filter(|s| old.contains(s.id.as_str())) {
            assert!(
                unique.contains(&s.id.to_string()),
                "{order:?}: {} missed",
                s.id
            );
        }
        if order == Order::Asc {
            // Old sessions first, in the order they had, then any new ones.
            let first_new = listed.iter().position(|id| !old.contains(id));
            if let Some(first_new) = first_new {
                assert!(listed[first_new..].iter().all(|id| !old.contains(id)));
            }
        }
    }
    // An ascending walk meets the sessions created after its last page at its end.
    let all = walk_all(&repo, Order::Asc, 500).await;
    let last = SessionPosition::of(all.last().unwrap());
    for id in names("late", 0..5) {
        session(&repo, &id).await;
    }
    let tail = repo
        .list_sessions(
            &project(),
            SessionQuery {
                filter: SessionFilter::default(),
                order: Order::Asc,
                limit: 10,
                after: Some(last),
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&tail.sessions), names("late", 0..5));
    assert!(!tail.has_more);
}

// ---- Batches and `expectedLastSeq` ----

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
