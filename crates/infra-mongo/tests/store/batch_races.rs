//! Batches racing across instances: two stores (two processes' worth of lanes) on one database
//! write into one session at once. Within one instance a session's writes are queued on its
//! lane; across instances only the database decides (the unique `seq` index, the seal, the
//! transaction), which is what these tests exercise.

use std::collections::HashSet;
use std::sync::Arc;

use domain::{
    AppendBatch, AppendEventError, CompleteRequest, Event, EventId, EventRepository, EventType,
    JsonObject, NewEvent, NewSession, Order, PageRequest, Repository, SessionId, SessionRepository,
};
use futures_util::future::join_all;
use infra_mongo::{MongoOptions, MongoStore};

fn project() -> domain::ProjectId {
    domain::ProjectId::default_project()
}

fn sid() -> SessionId {
    SessionId::parse("s").unwrap()
}

fn new_event(id: &str) -> NewEvent {
    NewEvent::new(
        EventId::parse(id).unwrap(),
        EventType::parse("user_speech").unwrap(),
        JsonObject::from_stored(format!(r#"{{"text":"{id}"}}"#)).unwrap(),
    )
}

fn numbered(prefix: &str, n: usize, expected: Option<u64>) -> AppendBatch {
    AppendBatch::new(
        (0..n)
            .map(|i| new_event(&format!("{prefix}-{i}")))
            .collect(),
        expected,
    )
    .unwrap()
}

/// Two instances on one fresh database, with session `s` created.
async fn two_instances() -> [Arc<MongoStore>; 2] {
    let options = MongoOptions::new(
        testkit::mongo_uri().await,
        testkit::unique_database("races"),
    );
    let first = MongoStore::connect(&options).await.expect("connect");
    let second = MongoStore::connect(&options).await.expect("connect");
    first
        .create_session(
            &project(),
            NewSession::new(sid(), None, None, JsonObject::empty(), None).unwrap(),
        )
        .await
        .unwrap();
    [Arc::new(first), Arc::new(second)]
}

async fn all_events(repo: &dyn Repository) -> Vec<Event> {
    let page = PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit: 500,
    };
    let mut out = Vec::new();
    let mut page = page;
    loop {
        let got = repo.list_events(&project(), &sid(), page).await.unwrap();
        page.after = page.next_position(&got.events);
        out.extend(got.events);
        if !got.has_more {
            return out;
        }
    }
}

fn assert_consecutive(written: &[domain::Written<Event>]) {
    for pair in written.windows(2) {
        assert_eq!(pair[1].value.seq, pair[0].value.seq + 1, "consecutive seqs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_and_single_appends_from_two_instances_never_interleave() {
    let stores = two_instances().await;
    let batches = (0..10).map(|b| {
        let store = stores[b % 2].clone();
        tokio::spawn(async move {
            store
                .append_events(&project(), &sid(), numbered(&format!("b{b}"), 30, None))
                .await
        })
    });
    let singles = (0..40).map(|i| {
        let store = stores[(i + 1) % 2].clone();
        tokio::spawn(async move {
            store
                .append_event(&project(), &sid(), new_event(&format!("one-{i}")))
                .await
        })
    });
    let (batches, singles) = tokio::join!(join_all(batches), join_all(singles));
    for written in batches {
        let written = written.unwrap().expect("a batch is stored");
        assert_eq!(written.len(), 30);
        assert_consecutive(&written);
    }
    for written in singles {
        written.unwrap().expect("a single append is stored");
    }
    let events = all_events(stores[0].as_ref()).await;
    assert_eq!(events.len(), 340);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=340).collect::<Vec<u64>>());
    let distinct: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), 340);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_racing_a_complete_on_another_instance_are_whole_or_refused() {
    let stores = two_instances().await;
    let batches = (0..10).map(|b| {
        let store = stores[b % 2].clone();
        tokio::spawn(async move {
            let answer = store
                .append_events(&project(), &sid(), numbered(&format!("b{b}"), 20, None))
                .await;
            (b, answer)
        })
    });
    let closer = {
        let store = stores[1].clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            store
                .complete_session(
                    &project(),
                    &sid(),
                    CompleteRequest::new(None, None).unwrap(),
                )
                .await
                .expect("complete")
        })
    };
    let results = join_all(batches).await;
    let closed = closer.await.unwrap();
    let events = all_events(stores[0].as_ref()).await;
    assert_eq!(
        closed.value.last_seq,
        events.len() as u64,
        "the seal is above every event"
    );
    for result in results {
        let (b, answer) = result.unwrap();
        let prefix = format!("b{b}-");
        let mine = events
            .iter()
            .filter(|e| e.event_id.as_str().starts_with(&prefix))
            .count();
        match answer {
            Ok(_) => assert_eq!(mine, 20, "batch {b} stored is wholly in the list"),
            Err(AppendEventError::SessionClosed) => assert_eq!(mine, 0, "batch {b} refused"),
            Err(e) => panic!("batch {b}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_writers_on_two_instances_expecting_one_last_seq_exactly_one_wins() {
    let stores = two_instances().await;
    for round in 0..3u64 {
        let last_seq = stores[0]
            .get_session(&project(), &sid())
            .await
            .unwrap()
            .last_seq;
        let writers = (0..8).map(|w| {
            let store = stores[w % 2].clone();
            tokio::spawn(async move {
                store
                    .append_events(
                        &project(),
                        &sid(),
                        numbered(&format!("r{round}-w{w}"), 1 + w % 3, Some(last_seq)),
                    )
                    .await
            })
        });
        let mut wins = 0;
        for answer in join_all(writers).await {
            match answer.unwrap() {
                Ok(written) => {
                    wins += 1;
                    assert_eq!(written[0].value.seq, last_seq + 1);
                }
                Err(AppendEventError::SeqMismatch { last_seq: now }) => assert!(now > last_seq),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}
