//! Creating and reading sessions, and the store itself (`ping`, the shared secret).

use domain::{GetSessionError, NewSession, Session, SessionStatus, Written};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{Repo, erase, new_session};
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
pub async fn incarnation_is_the_sessions_created_at(repo: Repo) {
    let p = project();
    let session = repo
        .create_session(&p, new_session("s"))
        .await
        .expect("create")
        .value;
    assert_eq!(
        repo.incarnation(&p, &sid("s")).await,
        Ok(session.created_at)
    );
    assert_eq!(
        repo.incarnation(&p, &sid("none")).await,
        Err(GetSessionError::NotFound)
    );
    let elsewhere = domain::ProjectId::parse("elsewhere").expect("valid");
    assert_eq!(
        repo.incarnation(&elsewhere, &sid("s")).await,
        Err(GetSessionError::NotFound)
    );
    erase(&repo, "s").await;
    assert_eq!(
        repo.incarnation(&p, &sid("s")).await,
        Err(GetSessionError::Erased)
    );
}
