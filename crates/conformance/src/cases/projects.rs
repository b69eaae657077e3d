//! Projects apart: the same session id in two projects is two sessions; another project's session is absent to every method.

use domain::{
    AppendEventError, CompleteSessionError, Event, EventId, GetEventError, GetSessionError,
    ListEventsError, NewSession, Order, PageRequest, ProjectId, SessionStatus,
};
use serde_json::json;

use super::support::{Repo, append, complete, session};
use crate::fixtures::{new_event, object, project, sid};

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
                view: domain::View::All,
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
        view: domain::View::All,
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
