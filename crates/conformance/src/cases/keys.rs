//! The cases of the suite for [`domain::KeyRepository`]. Each takes a fresh, empty store.

use std::sync::Arc;

use domain::{
    ApiKey, CreateKeyError, KeyId, KeyName, NewApiKey, ProjectId, Repository, RevokeKeyError,
    Scope, Scopes, Timestamp, keys,
};
use futures_util::future::join_all;

type Repo = Arc<dyn Repository>;

fn project(name: &str) -> ProjectId {
    ProjectId::parse(name).expect("valid project")
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis).expect("valid time")
}

/// A key of `project` with id `ak_<n as 16 hex digits>`, created at `created`.
fn key(project_name: &str, n: u8, created: i64) -> ApiKey {
    let new = NewApiKey::new(
        project(project_name),
        [Scope::Read, Scope::Write].into_iter().collect(),
        None,
        None,
        at(created),
    )
    .expect("valid key");
    new.issue(&[n; keys::ID_BYTES], &[n; keys::SECRET_BYTES], at(created))
        .0
}

fn ids(keys: &[ApiKey]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

pub async fn keys_are_stored_found_and_listed_by_project(repo: Repo) {
    let (a1, a2, b1) = (key("a", 2, 2_000), key("a", 1, 3_000), key("b", 3, 1_000));
    for k in [&a1, &a2, &b1] {
        repo.create_key(k).await.expect("create");
    }
    assert_eq!(repo.find_key(&a1.id).await.unwrap().as_ref(), Some(&a1));
    assert_eq!(repo.find_key(&b1.id).await.unwrap().as_ref(), Some(&b1));
    let unknown = KeyId::parse("ak_ffffffffffffffff").unwrap();
    assert_eq!(repo.find_key(&unknown).await.unwrap(), None);
    let of_a = repo.list_keys(Some(&project("a"))).await.unwrap();
    assert_eq!(of_a, vec![a1.clone(), a2.clone()], "by created_at");
    let all = repo.list_keys(None).await.unwrap();
    assert_eq!(ids(&all), ids(&[b1, a1, a2]));
    assert!(
        repo.list_keys(Some(&project("c")))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn keys_keep_every_field_exactly(repo: Repo) {
    let new = NewApiKey::new(
        project("acme.prod:eu-1"),
        [Scope::Delete].into_iter().collect(),
        Some(KeyName::parse("nightly export — ünïcode").unwrap()),
        Some(at(253_402_300_799_999)),
        at(1_000),
    )
    .unwrap();
    let (stored, text) = new.issue(
        &[0xa5; keys::ID_BYTES],
        &[0x5a; keys::SECRET_BYTES],
        at(1_001),
    );
    repo.create_key(&stored).await.unwrap();
    let found = repo.find_key(&stored.id).await.unwrap().expect("stored");
    assert_eq!(found, stored);
    let (_, secret) = keys::KeyText::split(text.reveal()).expect("a key's shape");
    assert!(found.verifies(secret));
    assert_eq!(
        found.scopes,
        [Scope::Delete].into_iter().collect::<Scopes>()
    );
}

pub async fn keys_refuse_a_taken_id_and_keep_the_first(repo: Repo) {
    let first = key("a", 7, 1_000);
    let mut second = key("b", 7, 2_000);
    second.scopes = Scopes::all();
    let results = join_all((0..10).map(|i| {
        let repo = repo.clone();
        let k = if i == 0 {
            first.clone()
        } else {
            second.clone()
        };
        async move { repo.create_key(&k).await }
    }))
    .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        created, 1,
        "exactly one create of an id succeeds: {results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(CreateKeyError::IdTaken)))
    );
    let stored = repo.find_key(&first.id).await.unwrap().expect("stored");
    assert!(stored == first || stored == second);
    assert_eq!(repo.list_keys(None).await.unwrap().len(), 1);
}

pub async fn keys_revoke_once_and_idempotently(repo: Repo) {
    let k = key("a", 9, 1_000);
    let other = key("a", 10, 1_000);
    repo.create_key(&k).await.unwrap();
    repo.create_key(&other).await.unwrap();
    let revoked = repo.revoke_key(&k.id, at(5_000)).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5_000)));
    assert!(!revoked.usable_at(at(5_001)));
    let again = repo.revoke_key(&k.id, at(9_000)).await.unwrap();
    assert_eq!(again, revoked, "the first revocation stands");
    assert_eq!(repo.find_key(&k.id).await.unwrap(), Some(revoked));
    let untouched = repo.find_key(&other.id).await.unwrap().unwrap();
    assert_eq!(untouched.revoked_at, None);
    let unknown = KeyId::parse("ak_0000000000000000").unwrap();
    assert_eq!(
        repo.revoke_key(&unknown, at(5_000)).await,
        Err(RevokeKeyError::NotFound)
    );
    assert_eq!(
        repo.find_key(&unknown).await.unwrap(),
        None,
        "nothing created"
    );
}

pub async fn keys_concurrent_revocations_agree(repo: Repo) {
    let k = key("a", 11, 1_000);
    repo.create_key(&k).await.unwrap();
    let results = join_all((0..20).map(|i| {
        let repo = repo.clone();
        let id = k.id.clone();
        async move { repo.revoke_key(&id, at(2_000 + i)).await }
    }))
    .await;
    let first = results[0].clone().expect("revoked");
    assert!(first.revoked_at.is_some());
    for result in results {
        assert_eq!(
            result.expect("revoked"),
            first,
            "every caller sees one revocation"
        );
    }
}
