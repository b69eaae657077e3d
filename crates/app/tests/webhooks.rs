//! The webhook endpoint use cases (`app::Webhooks`) on a real SQLite file: the URL rule of
//! `WEBHOOK_ALLOW_PRIVATE`, "the project exists", the secret shown once and able to sign, a
//! rotation, a patch judged like a create, a delete.

use std::sync::Arc;

use app::{Commits, NewWebhook, WebhookEdit, WebhookError, Webhooks};
use domain::{
    Destinations, NewApiKey, ProjectId, Repository, Scope, Timestamp, WebhookEvents, WebhookSecret,
    keys,
};
use infra_sqlite::{SqliteOptions, SqliteStore};

fn new_webhook(project: &str, url: &str) -> NewWebhook {
    NewWebhook {
        project: ProjectId::parse(project).unwrap(),
        url: url.into(),
        events: WebhookEvents::parse(["session.completed"]).unwrap(),
        description: None,
    }
}

fn field(result: Result<impl std::fmt::Debug, WebhookError>) -> &'static str {
    match result {
        Err(WebhookError::Invalid { field, .. }) => field,
        other => panic!("expected a refused field, got {other:?}"),
    }
}

async fn store_with_project(dir: &tempfile::TempDir, project: &str) -> Arc<dyn Repository> {
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("s.db"))).unwrap();
    let repo: Arc<dyn Repository> = Arc::new(store);
    let new = NewApiKey::new(
        ProjectId::parse(project).unwrap(),
        [Scope::Read].into_iter().collect(),
        None,
        None,
        Timestamp::now(),
    )
    .unwrap();
    let (key, _) = new.issue(
        &[1; keys::ID_BYTES],
        &[2; keys::SECRET_BYTES],
        Timestamp::now(),
    );
    repo.create_key(&key).await.unwrap();
    repo
}

#[tokio::test]
async fn endpoints_are_registered_for_existing_projects_with_public_https_urls() {
    let dir = tempfile::tempdir().unwrap();
    let repo = store_with_project(&dir, "acme").await;
    let strict = Webhooks::new(
        repo.clone(),
        false,
        Destinations::PublicOnly,
        Commits::default(),
    );

    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://localhost/",
        "https://[::1]/",
    ] {
        assert_eq!(
            field(strict.create(new_webhook("acme", url)).await),
            "url",
            "{url}"
        );
    }
    assert_eq!(
        field(
            strict
                .create(new_webhook("nobody", "https://hooks.example.com/"))
                .await
        ),
        "project"
    );
    assert!(
        repo.list_webhooks(&ProjectId::parse("acme").unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    let (endpoint, text) = strict
        .create(new_webhook("acme", "https://hooks.example.com/in"))
        .await
        .unwrap();
    assert!(endpoint.enabled);
    assert_eq!(
        WebhookSecret::parse(&text).unwrap(),
        endpoint.secret,
        "the text is the secret that signs"
    );
    assert_eq!(strict.get(&endpoint.id).await.unwrap(), endpoint);

    // A patch's URL is judged as a create's.
    let private = WebhookEdit {
        url: Some("https://10.0.0.8/".into()),
        ..WebhookEdit::default()
    };
    assert_eq!(
        field(strict.patch(&endpoint.id, private.clone()).await),
        "url"
    );
    let local = Webhooks::new(
        repo.clone(),
        false,
        Destinations::AllowPrivate,
        Commits::default(),
    );
    let changed = local.patch(&endpoint.id, private).await.unwrap();
    assert_eq!(changed.url.as_str(), "https://10.0.0.8/");

    // A rotation: the new secret is current, the old one signs beside it.
    let (rotated, new_text) = strict.rotate_secret(&endpoint.id).await.unwrap();
    assert_eq!(WebhookSecret::parse(&new_text).unwrap(), rotated.secret);
    assert_ne!(new_text, text);
    assert_eq!(
        rotated.signing_secrets(Timestamp::now()),
        [&rotated.secret, &endpoint.secret]
    );

    strict.delete(&endpoint.id).await.unwrap();
    assert_eq!(strict.get(&endpoint.id).await, Err(WebhookError::NotFound));
    assert_eq!(
        strict.delete(&endpoint.id).await,
        Err(WebhookError::NotFound)
    );
}

#[tokio::test]
async fn in_open_mode_only_the_default_project_exists() {
    let dir = tempfile::tempdir().unwrap();
    let repo = store_with_project(&dir, "acme").await;
    let open = Webhooks::new(repo, true, Destinations::AllowPrivate, Commits::default());
    assert_eq!(
        field(
            open.create(new_webhook("acme", "http://127.0.0.1:9/"))
                .await
        ),
        "project"
    );
    let (endpoint, _) = open
        .create(new_webhook("default", "http://127.0.0.1:9/"))
        .await
        .unwrap();
    assert_eq!(endpoint.project, ProjectId::default_project());
}
