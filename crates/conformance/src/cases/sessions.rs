//! Creating and reading sessions, and the store itself (`ping`, the shared secret).

use domain::{
    GetSessionError, ListEventsError, NewSession, Order, PageRequest, ProjectId, Session,
    SessionStatus, Timestamp, View, Written,
};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{Repo, append, erase, new_session, session};
use crate::fixtures::{object, project, sid};

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

pub async fn ping_and_shared_secret(repo: Repo) {
    repo.ping().await.unwrap();
    let a = repo.shared_secret().await.unwrap();
    assert!(a.len() >= 16);
    assert_eq!(repo.shared_secret().await.unwrap(), a);
    assert!(!repo.kind().is_empty());
}

/// The incarnation read (`createdAt` alone, what event cursors are bound to) agrees with the
/// session read, and answers "not found" and "erased" as it does, also across projects.
fn first_page(view: View, order: Order, after: Option<u64>) -> PageRequest {
    PageRequest {
        view,
        after,
        order,
        limit: 2,
    }
}

/// The incarnation a page of session `id` of `project` tells.
async fn told(repo: &Repo, project: &ProjectId, id: &str) -> Result<Timestamp, ListEventsError> {
    let page = first_page(View::All, Order::Asc, None);
    let read = repo.list_events(project, &sid(id), page).await;
    read.map(|page| page.incarnation)
}

/// What pages of session `s` tell in both views and orders, from the start and after seq 2.
async fn told_everywhere(repo: &Repo) -> Vec<Timestamp> {
    let mut told = Vec::new();
    for view in [View::All, View::Current] {
        for order in [Order::Asc, Order::Desc] {
            for after in [None, Some(2)] {
                let page = first_page(view, order, after);
                let read = repo.list_events(&project(), &sid("s"), page).await;
                told.push(read.expect("page").incarnation);
            }
        }
    }
    told
}

/// Every page tells the incarnation of the session it was read in (its `createdAt`, to which
/// event cursors are bound): an empty session's, in both orders and views, from any position,
/// and a session's created again under its id after an erasure and a purge.
pub async fn a_page_tells_its_sessions_incarnation(repo: Repo) {
    let p = project();
    let first = session(&repo, "s").await.created_at;
    assert_eq!(told_everywhere(&repo).await, vec![first; 8], "empty");
    for id in ["e1", "e2", "e3", "e4"] {
        append(&repo, "s", id).await;
    }
    assert_eq!(told_everywhere(&repo).await, vec![first; 8], "with events");

    let not_found = Err(ListEventsError::SessionNotFound);
    assert_eq!(told(&repo, &p, "none").await, not_found);
    let elsewhere = ProjectId::parse("elsewhere").expect("valid");
    assert_eq!(told(&repo, &elsewhere, "s").await, not_found);
    erase(&repo, "s").await;
    assert_eq!(
        told(&repo, &p, "s").await,
        Err(ListEventsError::SessionErased)
    );

    let later = Timestamp::from_millis(Timestamp::now().millis() + 1_000).expect("valid");
    assert_eq!(repo.purge_tombstones(later, 100).await, Ok(1));
    let again = session(&repo, "s").await.created_at;
    assert_ne!(again, first, "another incarnation");
    assert_eq!(
        told_everywhere(&repo).await,
        vec![again; 8],
        "created again"
    );
    for id in ["e1", "e2", "e3"] {
        append(&repo, "s", id).await;
    }
    assert_eq!(told_everywhere(&repo).await, vec![again; 8]);
}
