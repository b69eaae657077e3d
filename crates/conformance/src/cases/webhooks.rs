//! The cases of the suite for [`domain::WebhookRepository`]. Each takes a fresh, empty store.

use std::sync::Arc;

use domain::webhook::{SECRET_BYTES, endpoint::ID_BYTES};
use domain::{
    ChangeWebhookError, CreateWebhookError, Destinations, ProjectId, Repository, Timestamp,
    WebhookChange, WebhookDescription, WebhookEndpoint, WebhookEvents, WebhookId, WebhookPatch,
    WebhookSecret, WebhookUrl,
};
use futures_util::future::join_all;

type Repo = Arc<dyn Repository>;

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis).expect("valid time")
}

fn url(text: &str) -> WebhookUrl {
    WebhookUrl::parse(text, Destinations::AllowPrivate).expect("valid url")
}

fn events(names: &[&str]) -> WebhookEvents {
    WebhookEvents::parse(names.iter().copied()).expect("valid events")
}

/// An endpoint of `project` with id `wh_<n as 16 hex digits>`, created at `created`.
fn endpoint(project: &str, n: u8, created: i64) -> WebhookEndpoint {
    WebhookEndpoint::new(
        WebhookId::issue(&[n; ID_BYTES]),
        ProjectId::parse(project).expect("valid project"),
        url(&format!("https://hooks{n}.example.com/in")),
        events(&["session.completed"]),
        None,
        WebhookSecret::issue(&[n; SECRET_BYTES]),
        at(created),
    )
}

fn patch(patch: WebhookPatch) -> WebhookChange {
    WebhookChange::Patch(patch)
}

pub async fn webhooks_are_stored_found_and_listed_by_project(repo: Repo) {
    let (a1, a2, b1) = (
        endpoint("a", 2, 2_000),
        endpoint("a", 1, 3_000),
        endpoint("b", 3, 1_000),
    );
    for e in [&a1, &a2, &b1] {
        repo.create_webhook(e).await.expect("create");
    }
    for e in [&a1, &a2, &b1] {
        assert_eq!(repo.find_webhook(&e.id).await.unwrap().as_ref(), Some(e));
    }
    let unknown = WebhookId::parse("wh_ffffffffffffffff").unwrap();
    assert_eq!(repo.find_webhook(&unknown).await.unwrap(), None);
    let project = |name| ProjectId::parse(name).unwrap();
    assert_eq!(
        repo.list_webhooks(&project("a")).await.unwrap(),
        [a1, a2],
        "by created_at"
    );
    assert_eq!(repo.list_webhooks(&project("b")).await.unwrap(), [b1]);
    assert!(repo.list_webhooks(&project("c")).await.unwrap().is_empty());
}

pub async fn webhooks_keep_every_field_exactly(repo: Repo) {
    let mut e = endpoint("acme.prod:eu-1", 7, 1_000);
    e.url = url("http://127.0.0.1:8080/hooks/$in?a=1&b=%20");
    e.events = events(&[
        "session.created",
        "session.completed",
        "session.failed",
        "session.erased",
        "event.appended",
        "event.redacted",
    ]);
    e.description = Some(WebhookDescription::parse("$CRM sync — ünïcode ✓").unwrap());
    e.secret = WebhookSecret::from_bytes((0..64).collect()).unwrap();
    repo.create_webhook(&e).await.unwrap();
    assert_eq!(repo.find_webhook(&e.id).await.unwrap().as_ref(), Some(&e));

    // A rotation stores the retired secret and its end; a patch may disable and describe.
    let new = WebhookSecret::issue(&[0xee; SECRET_BYTES]);
    let rotated = repo
        .change_webhook(&e.id, &WebhookChange::RotateSecret(new.clone()), at(5_000))
        .await
        .unwrap();
    assert_eq!(
        rotated,
        e.changed(&WebhookChange::RotateSecret(new), at(5_000))
    );
    assert_eq!(rotated.retired.as_ref().unwrap().secret, e.secret);
    let disabled = repo
        .change_webhook(
            &e.id,
            &patch(WebhookPatch {
                enabled: Some(false),
                description: Some(None),
                ..WebhookPatch::default()
            }),
            at(6_000),
        )
        .await
        .unwrap();
    assert!(!disabled.enabled && disabled.description.is_none());
    assert_eq!(
        disabled.retired, rotated.retired,
        "a patch keeps the secrets"
    );
    assert_eq!(repo.find_webhook(&e.id).await.unwrap(), Some(disabled));
}

pub async fn a_webhook_id_is_stored_once(repo: Repo) {
    let first = endpoint("a", 9, 1_000);
    repo.create_webhook(&first).await.unwrap();
    let mut again = endpoint("b", 9, 2_000);
    again.url = url("https://other.example.com/");
    assert_eq!(
        repo.create_webhook(&again).await,
        Err(CreateWebhookError::IdTaken)
    );
    assert_eq!(repo.find_webhook(&first.id).await.unwrap(), Some(first));
}

pub async fn changes_and_deletes_of_a_missing_webhook_are_not_found(repo: Repo) {
    let e = endpoint("a", 4, 1_000);
    let unknown = WebhookId::parse("wh_0000000000000001").unwrap();
    let disable = patch(WebhookPatch {
        enabled: Some(false),
        ..WebhookPatch::default()
    });
    assert_eq!(
        repo.change_webhook(&unknown, &disable, at(2_000)).await,
        Err(ChangeWebhookError::NotFound)
    );
    assert_eq!(
        repo.delete_webhook(&unknown).await,
        Err(ChangeWebhookError::NotFound)
    );
    repo.create_webhook(&e).await.unwrap();
    repo.delete_webhook(&e.id).await.unwrap();
    assert_eq!(repo.find_webhook(&e.id).await.unwrap(), None);
    assert!(
        repo.list_webhooks(&e.project).await.unwrap().is_empty(),
        "deleted"
    );
    assert_eq!(
        repo.delete_webhook(&e.id).await,
        Err(ChangeWebhookError::NotFound)
    );
    assert_eq!(
        repo.change_webhook(&e.id, &disable, at(3_000)).await,
        Err(ChangeWebhookError::NotFound)
    );
}

/// Four patches, each of another field, at once, eight times over: every one is in the endpoint
/// as stored (a change applies to what the others wrote, none is lost).
pub async fn concurrent_changes_of_one_webhook_are_none_lost(repo: Repo) {
    let e = endpoint("a", 5, 1_000);
    repo.create_webhook(&e).await.unwrap();
    for round in 0..8_i64 {
        let (u, d) = (
            url(&format!("https://round{round}.example.com/")),
            WebhookDescription::parse(format!("round {round}")).unwrap(),
        );
        let types: &[&str] = if round % 2 == 0 {
            &["event.appended"]
        } else {
            &["session.created", "session.erased"]
        };
        let enabled = round % 2 == 1;
        let changes = [
            WebhookPatch {
                url: Some(u.clone()),
                ..WebhookPatch::default()
            },
            WebhookPatch {
                description: Some(Some(d.clone())),
                ..WebhookPatch::default()
            },
            WebhookPatch {
                events: Some(events(types)),
                ..WebhookPatch::default()
            },
            WebhookPatch {
                enabled: Some(enabled),
                ..WebhookPatch::default()
            },
        ];
        let results = join_all(changes.into_iter().map(|p| {
            let repo = repo.clone();
            let id = e.id.clone();
            async move { repo.change_webhook(&id, &patch(p), at(2_000 + round)).await }
        }))
        .await;
        for result in results {
            result.expect("change");
        }
        let stored = repo.find_webhook(&e.id).await.unwrap().expect("stored");
        assert_eq!(
            (
                stored.url,
                stored.description,
                stored.events,
                stored.enabled
            ),
            (u, Some(d), events(types), enabled),
            "round {round}: a change was lost"
        );
        assert_eq!(stored.secret, e.secret);
    }
}
