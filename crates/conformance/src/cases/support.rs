//! The helpers the cases share: a session, an append, a complete, a walk over a session's events.

use std::sync::Arc;

use domain::webhook::{
    AfterAttempt, Attempt, AttemptResult, ClaimedDelivery, Lease, SECRET_BYTES, endpoint::ID_BYTES,
};
use domain::{
    CompleteRequest, Destinations, Event, JsonObject, NewSession, Order, PageRequest, ProjectId,
    Repository, Session, Timestamp, View, WebhookChange, WebhookEndpoint, WebhookEvents, WebhookId,
    WebhookPatch, WebhookSecret, WebhookUrl, Written,
};
use serde_json::json;

use crate::fixtures::{new_event, project, sid};

pub(super) type Repo = Arc<dyn Repository>;

pub(super) fn new_session(id: &str) -> NewSession {
    NewSession::new(sid(id), None, None, JsonObject::empty(), None).expect("valid")
}

pub(super) async fn session(repo: &Repo, id: &str) -> Session {
    repo.create_session(&project(), new_session(id))
        .await
        .expect("create")
        .value
}

pub(super) async fn append(repo: &Repo, session: &str, event: &str) -> Written<Event> {
    repo.append_event(
        &project(),
        &sid(session),
        new_event(event, json!({ "n": event })),
    )
    .await
    .expect("append")
}

/// Erases the session now (asserting it was there or erased before).
pub(super) async fn erase(repo: &Repo, session: &str) {
    repo.erase_session(
        &project(),
        &sid(session),
        domain::Timestamp::now(),
        domain::EraseIf::Always,
    )
    .await
    .expect("erase");
}

pub(super) fn complete() -> CompleteRequest {
    CompleteRequest::new(None, None).expect("valid")
}

/// Every event of a session, walking pages of `limit` in `order`.
pub(super) async fn walk(repo: &Repo, session: &str, order: Order, limit: u32) -> Vec<Event> {
    walk_view(repo, session, View::All, order, limit).await
}

/// Every event of `view` of a session, walking pages of `limit` in `order`.
pub(super) async fn walk_view(
    repo: &Repo,
    session: &str,
    view: View,
    order: Order,
    limit: u32,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let request = PageRequest {
            view,
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

pub(super) fn assert_strictly_increasing(events: &[Event]) {
    for pair in events.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "seq must strictly increase: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
}

/// An enabled endpoint of `project`, `wh_<n as hex>`, subscribed to `types`.
pub(super) async fn subscribe(
    repo: &Repo,
    project: &ProjectId,
    n: u8,
    types: &[&str],
) -> WebhookId {
    let endpoint = WebhookEndpoint::new(
        WebhookId::issue(&[n; ID_BYTES]),
        project.clone(),
        WebhookUrl::parse("https://hooks.example.com/in", Destinations::AllowPrivate).unwrap(),
        WebhookEvents::parse(types.iter().copied()).unwrap(),
        None,
        WebhookSecret::issue(&[n; SECRET_BYTES]),
        Timestamp::now(),
    );
    repo.create_webhook(&endpoint)
        .await
        .expect("create webhook");
    endpoint.id
}

pub(super) fn lease(token: &str, until: Timestamp) -> Lease {
    Lease {
        token: token.into(),
        until,
    }
}

pub(super) fn status(code: u16, at: Timestamp) -> Attempt {
    Attempt {
        at,
        result: AttemptResult::Status(code),
        duration_ms: 12,
    }
}

/// Settles a claimed delivery with `attempt` under `hold`: whether it was stored.
pub(super) async fn settle(
    repo: &Repo,
    d: &ClaimedDelivery,
    hold: &Lease,
    attempt: Attempt,
    next: AfterAttempt,
) -> bool {
    repo.settle_delivery(&d.endpoint, &d.message.id, hold, &attempt, next)
        .await
        .expect("settle")
}

/// `type` or `type event` of a claimed message.
pub(super) fn described(d: &ClaimedDelivery) -> String {
    match &d.message.event {
        Some(event) => format!("{} {}", d.message.kind, event.as_str()),
        None => d.message.kind.to_string(),
    }
}

/// The change that enables or disables an endpoint.
pub(super) fn switched(enabled: bool) -> WebhookChange {
    WebhookChange::Patch(WebhookPatch {
        enabled: Some(enabled),
        ..WebhookPatch::default()
    })
}
