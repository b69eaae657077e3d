//! What a store written before projects existed shows once this version has migrated it, for
//! every adapter: each adapter's upgrade test writes the same version-1 data the way that
//! version did (`open-call` with events `e1` `{"text":"hello"}` and `e2`
//! `{"n":9007199254740993}`, metadata `{"agent":"a1"}`; `done-call` completed with one event),
//! opens it with this version, and calls [`version_one_data_is_in_default`].

use domain::{
    EventId, EventType, GetSessionError, JsonObject, NewEvent, NewSession, Order, PageRequest,
    ProjectId, Repository, SessionId, SessionStatus,
};

fn sid(s: &str) -> SessionId {
    SessionId::parse(s).expect("valid session id")
}

/// The migrated sessions are in `default` only, unchanged, and keep working: a replay, a new
/// event at the next seq, the same id free in another project.
pub async fn version_one_data_is_in_default(repo: &dyn Repository) {
    let default = ProjectId::default_project();
    let open = repo.get_session(&default, &sid("open-call")).await.unwrap();
    assert_eq!(open.status, SessionStatus::Active);
    assert_eq!(open.metadata.as_str(), r#"{"agent":"a1"}"#);
    assert_eq!((open.event_count, open.last_seq), (2, 2));
    let all = PageRequest {
        view: domain::View::All,
        after: None,
        order: Order::Asc,
        limit: 100,
    };
    let page = repo
        .list_events(&default, &sid("open-call"), all)
        .await
        .unwrap();
    let seen: Vec<(u64, &str, &str)> = page
        .events
        .iter()
        .map(|e| (e.seq, e.event_id.as_str(), e.payload.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "e1", r#"{"text":"hello"}"#),
            (2, "e2", r#"{"n":9007199254740993}"#)
        ]
    );
    let done = repo.get_session(&default, &sid("done-call")).await.unwrap();
    assert_eq!(
        (done.status, done.event_count),
        (SessionStatus::Completed, 1)
    );

    let other = ProjectId::parse("other").unwrap();
    assert_eq!(
        repo.get_session(&other, &sid("open-call")).await,
        Err(GetSessionError::NotFound)
    );

    let replay = NewEvent::new(
        EventId::parse("e1").unwrap(),
        EventType::parse("user_speech").unwrap(),
        JsonObject::from_stored(r#"{"text":"hello"}"#.to_owned()).unwrap(),
    );
    let again = repo
        .append_event(&default, &sid("open-call"), replay.clone())
        .await
        .unwrap();
    assert!(again.replayed);
    let next = NewEvent::new(
        EventId::parse("e3").unwrap(),
        replay.event_type.clone(),
        replay.payload.clone(),
    );
    let third = repo
        .append_event(&default, &sid("open-call"), next)
        .await
        .unwrap();
    assert_eq!((third.replayed, third.value.seq), (false, 3));
    let fresh = NewSession::new(sid("open-call"), None, None, JsonObject::empty(), None).unwrap();
    assert!(!repo.create_session(&other, fresh).await.unwrap().replayed);
}
