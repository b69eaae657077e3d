//! The cases of the suite for seeing and repairing deliveries ([`domain::WebhookDeliveries`]'s
//! `list_deliveries`, `resend_deliveries`, `count_backlog`) and an endpoint's failing streak
//! (`WebhookChange::Attempted`). Each takes a fresh, empty store.

use std::sync::Arc;

use domain::webhook::{
    AfterAttempt, AttemptOutcome, AttemptResult, DeliveryQuery, DeliveryRecord, DeliveryStatus,
    MessageId, Resend,
};
use domain::{Repository, Timestamp, WebhookChange, WebhookId};

use super::support::{append, described, lease, session, settle, status, subscribe, switched};
use crate::fixtures::project;

type Repo = Arc<dyn Repository>;

/// Every delivery of `endpoint` (of `status`), newest first, read in pages of `limit`.
async fn list_all(
    repo: &Repo,
    endpoint: &WebhookId,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Vec<DeliveryRecord> {
    let mut all: Vec<DeliveryRecord> = Vec::new();
    loop {
        let query = DeliveryQuery {
            status,
            before: all.last().map(|r| r.message.id.clone()),
            limit,
        };
        let page = repo.list_deliveries(endpoint, &query).await.expect("list");
        assert!(page.len() <= limit as usize);
        let done = page.len() < limit as usize;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// `type event` (or `type`) and status of each record.
fn shown(records: &[DeliveryRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let what = match &r.message.event {
                Some(e) => format!("{} {}", r.message.kind, e.as_str()),
                None => r.message.kind.to_string(),
            };
            format!("{what}: {}", r.status.as_str())
        })
        .collect()
}

/// Claims what is due at `now` under a fresh lease and settles each with `code` and `next`;
/// what was claimed, described.
async fn attempt_due(repo: &Repo, now: Timestamp, code: u16, next: AfterAttempt) -> Vec<String> {
    let hold = lease(
        &format!("l{}-{code}", now.millis()),
        now.plus_millis(60_000),
    );
    let mut claimed = Vec::new();
    for d in repo.claim_deliveries(now, &hold, 100).await.expect("claim") {
        assert!(settle(repo, &d, &hold, status(code, now), next).await);
        claimed.push(described(&d));
    }
    claimed
}

pub async fn deliveries_are_listed_newest_first_with_their_attempts(repo: Repo) {
    let hook = subscribe(&repo, &project(), 1, &["session.created", "event.appended"]).await;
    let other = subscribe(&repo, &project(), 2, &["session.created"]).await;
    session(&repo, "s1").await;
    for e in ["e1", "e2", "e3", "e4"] {
        append(&repo, "s1", e).await;
    }
    let now = Timestamp::now();
    // The head (the creation) fails once, then is delivered; e1 fails for good.
    let first = attempt_due(&repo, now, 500, AfterAttempt::RetryAt(now)).await;
    assert_eq!(
        first,
        ["session.created", "session.created"],
        "one per endpoint"
    );
    attempt_due(&repo, now, 200, AfterAttempt::Delivered).await;
    assert_eq!(
        attempt_due(&repo, now, 503, AfterAttempt::Failed).await,
        ["event.appended e1"]
    );

    for limit in [1, 2, 3, 100] {
        let all = list_all(&repo, &hook, None, limit).await;
        assert_eq!(
            shown(&all),
            [
                "event.appended e4: pending",
                "event.appended e3: pending",
                "event.appended e2: pending",
                "event.appended e1: failed",
                "session.created: delivered",
            ],
            "pages of {limit}"
        );
        let ids: Vec<&MessageId> = all.iter().map(|r| &r.message.id).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    }
    let all = list_all(&repo, &hook, None, 100).await;
    let codes = |r: &DeliveryRecord| -> Vec<AttemptResult> {
        r.attempts.iter().map(|a| a.result.clone()).collect()
    };
    assert_eq!(
        codes(&all[4]),
        [AttemptResult::Status(500), AttemptResult::Status(200)],
        "every attempt, oldest first"
    );
    assert_eq!(all[4].attempts[0].duration_ms, 12);
    assert_eq!(all[4].attempts[0].at, now);
    assert_eq!(codes(&all[3]), [AttemptResult::Status(503)]);
    assert!(all[0].attempts.is_empty());
    assert!(all[0].next_attempt_at.is_some(), "pending: when it goes");
    assert_eq!(all[3].next_attempt_at, None, "failed: never again");
    assert_eq!(all[4].message.session.as_str(), "s1");

    for (status, expected) in [
        (DeliveryStatus::Pending, 3),
        (DeliveryStatus::Delivered, 1),
        (DeliveryStatus::Failed, 1),
    ] {
        for limit in [1, 2, 100] {
            let listed = list_all(&repo, &hook, Some(status), limit).await;
            assert_eq!(listed.len(), expected, "{status:?} in pages of {limit}");
            assert!(listed.iter().all(|r| r.status == status));
        }
    }
    assert_eq!(
        shown(&list_all(&repo, &other, None, 10).await),
        ["session.created: delivered"],
        "each endpoint its own"
    );
    let unknown = WebhookId::parse("wh_00000000000000ff").unwrap();
    assert!(list_all(&repo, &unknown, None, 10).await.is_empty());
}

pub async fn a_message_sent_again_goes_in_its_session_order_with_the_schedule_from_its_start(
    repo: Repo,
) {
    let hook = subscribe(&repo, &project(), 1, &["event.appended"]).await;
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    append(&repo, "s1", "e2").await;
    let now = Timestamp::now();
    attempt_due(&repo, now, 500, AfterAttempt::RetryAt(now)).await;
    assert_eq!(
        attempt_due(&repo, now, 500, AfterAttempt::Failed).await,
        ["event.appended e1"]
    );
    assert_eq!(
        attempt_due(&repo, now, 200, AfterAttempt::Delivered).await,
        ["event.appended e2"]
    );
    assert!(
        attempt_due(&repo, now, 200, AfterAttempt::Delivered)
            .await
            .is_empty()
    );

    let listed = list_all(&repo, &hook, None, 10).await;
    let (e2, e1) = (listed[0].message.id.clone(), listed[1].message.id.clone());
    let later = now.plus_millis(1_000);
    for id in [&e2, &e1] {
        let resent = repo
            .resend_deliveries(&hook, &Resend::Message(id.clone()), later)
            .await
            .unwrap();
        assert_eq!(resent, 1, "{id}");
    }
    assert_eq!(
        shown(&list_all(&repo, &hook, None, 10).await),
        ["event.appended e2: pending", "event.appended e1: pending"]
    );
    // Due at once, the older first (e2 waits for e1), with its attempts so far but the
    // schedule from its start.
    let hold = lease("again", later.plus_millis(60_000));
    let again = repo.claim_deliveries(later, &hold, 10).await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].message.id, e1);
    assert_eq!((again[0].attempts, again[0].scheduled), (2, 0));
    let next = AfterAttempt::Delivered;
    assert!(settle(&repo, &again[0], &hold, status(200, later), next).await);
    let after = repo.claim_deliveries(later, &hold, 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].message.id, e2);
    assert_eq!((after[0].attempts, after[0].scheduled), (1, 0));
    let e1_now = &list_all(&repo, &hook, Some(DeliveryStatus::Delivered), 10).await[0];
    assert_eq!(e1_now.attempts.len(), 3, "every attempt stays listed");

    // Nothing to send again: an unknown message, another endpoint's, or an unknown endpoint.
    let other = subscribe(&repo, &project(), 2, &["session.created"]).await;
    let unknown = MessageId::parse("msg_00000000000fffff").unwrap();
    for (endpoint, message) in [(&hook, &unknown), (&other, &e1)] {
        let which = Resend::Message(message.clone());
        assert_eq!(
            repo.resend_deliveries(endpoint, &which, later)
                .await
                .unwrap(),
            0
        );
    }
}

pub async fn replay_sends_again_every_message_recorded_since_a_time(repo: Repo) {
    let hook = subscribe(&repo, &project(), 1, &["session.created"]).await;
    for s in ["s1", "s2", "s3", "s4"] {
        session(&repo, s).await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let now = Timestamp::now().plus_millis(100);
    assert_eq!(
        attempt_due(&repo, now, 200, AfterAttempt::Delivered)
            .await
            .len(),
        4
    );
    let listed = list_all(&repo, &hook, None, 10).await;
    let since = listed
        .iter()
        .find(|r| r.message.session.as_str() == "s3")
        .expect("s3's message")
        .message
        .recorded_at;
    let replayed = repo
        .resend_deliveries(&hook, &Resend::Since(since), now)
        .await
        .unwrap();
    assert_eq!(replayed, 2, "s3 and s4");
    let mut sessions: Vec<String> = repo
        .claim_deliveries(now, &lease("r", now.plus_millis(60_000)), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.message.session.to_string())
        .collect();
    sessions.sort();
    assert_eq!(sessions, ["s3", "s4"]);
    let future = Resend::Since(now.plus_millis(3_600_000));
    assert_eq!(
        repo.resend_deliveries(&hook, &future, now).await.unwrap(),
        0
    );
    let everything = Resend::Since(Timestamp::from_millis(0).unwrap());
    assert_eq!(
        repo.resend_deliveries(&hook, &everything, now)
            .await
            .unwrap(),
        4
    );
    let other = subscribe(&repo, &project(), 2, &["session.created"]).await;
    assert_eq!(
        repo.resend_deliveries(&other, &everything, now)
            .await
            .unwrap(),
        0
    );
}

pub async fn the_backlog_counts_pending_deliveries_of_every_endpoint(repo: Repo) {
    assert_eq!(repo.count_backlog().await.unwrap(), 0);
    subscribe(&repo, &project(), 1, &["session.created"]).await;
    subscribe(&repo, &project(), 2, &["session.created", "event.appended"]).await;
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    session(&repo, "s2").await;
    assert_eq!(repo.count_backlog().await.unwrap(), 5);
    let now = Timestamp::now().plus_millis(100);
    // The heads: each endpoint's s1 and s2 creations (e1 waits behind s1's).
    assert_eq!(
        attempt_due(&repo, now, 500, AfterAttempt::Failed)
            .await
            .len(),
        4
    );
    assert_eq!(
        repo.count_backlog().await.unwrap(),
        1,
        "failed ones are not pending"
    );
    attempt_due(&repo, now, 200, AfterAttempt::Delivered).await;
    assert_eq!(repo.count_backlog().await.unwrap(), 0);
}

pub async fn a_failing_streak_is_stored_with_its_endpoint(repo: Repo) {
    let hook = subscribe(&repo, &project(), 1, &["session.created"]).await;
    let t0 = Timestamp::now();
    let outcome = |at: Timestamp, succeeded: bool| {
        WebhookChange::Attempted(AttemptOutcome {
            at,
            succeeded,
            gone: false,
            disable_after_ms: 60_000,
        })
    };
    let failing = repo
        .change_webhook(&hook, &outcome(t0, false), t0)
        .await
        .unwrap();
    assert_eq!(failing.failing_since, Some(t0));
    let stored = repo.find_webhook(&hook).await.unwrap().unwrap();
    assert_eq!(stored.failing_since, Some(t0), "stored");
    assert_eq!(repo.list_webhooks(&project()).await.unwrap()[0], stored);
    let t1 = t0.plus_millis(30_000);
    let still = repo
        .change_webhook(&hook, &outcome(t1, false), t1)
        .await
        .unwrap();
    assert_eq!((still.failing_since, still.enabled), (Some(t0), true));
    let t2 = t0.plus_millis(60_000);
    let off = repo
        .change_webhook(&hook, &outcome(t2, false), t2)
        .await
        .unwrap();
    assert!(!off.enabled, "a minute of failures with a minute allowed");
    assert_eq!(repo.find_webhook(&hook).await.unwrap().unwrap(), off);
    let enable = switched(true);
    let on = repo.change_webhook(&hook, &enable, t2).await.unwrap();
    assert_eq!((on.enabled, on.failing_since), (true, None));
    repo.change_webhook(&hook, &outcome(t2, false), t2)
        .await
        .unwrap();
    let recovered = repo
        .change_webhook(&hook, &outcome(t2, true), t2)
        .await
        .unwrap();
    assert_eq!(recovered.failing_since, None);
    assert_eq!(repo.find_webhook(&hook).await.unwrap().unwrap(), recovered);
}

/// Retention (decision 41): messages recorded before a time go with their deliveries of every
/// status and their attempts, a batch at a time, the oldest first; a queue whose pending head
/// went moves on to what is left; later messages stay as they were.
pub async fn messages_recorded_before_a_time_are_pruned_with_their_deliveries(repo: Repo) {
    let both = subscribe(&repo, &project(), 1, &["session.created", "event.appended"]).await;
    let created = subscribe(&repo, &project(), 2, &["session.created"]).await;
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    append(&repo, "s1", "e2").await;
    // s1's creation delivered to both (its attempts stored); e1 and e2 pending behind nothing.
    let delivered = attempt_due(&repo, Timestamp::now(), 200, AfterAttempt::Delivered).await;
    assert_eq!(delivered, ["session.created", "session.created"]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cutoff = Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    append(&repo, "s1", "e3").await;
    session(&repo, "s2").await;

    // Three messages are older than the cutoff: s1's creation, e1, e2.
    let mut pruned = Vec::new();
    loop {
        let n = repo.prune_messages(cutoff, 2).await.expect("prune");
        pruned.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(pruned.iter().sum::<u64>(), 3, "{pruned:?}");
    assert!(
        pruned.iter().all(|n| *n <= 2),
        "at most a batch: {pruned:?}"
    );
    assert_eq!(
        shown(&list_all(&repo, &both, None, 10).await),
        ["session.created: pending", "event.appended e3: pending"]
    );
    assert_eq!(
        shown(&list_all(&repo, &created, None, 10).await),
        ["session.created: pending"]
    );
    assert_eq!(repo.count_backlog().await.unwrap(), 3);
    // s1's queue now starts at e3.
    let later = Timestamp::now().plus_millis(100);
    let mut claimed = attempt_due(&repo, later, 200, AfterAttempt::Delivered).await;
    claimed.sort();
    assert_eq!(
        claimed,
        ["event.appended e3", "session.created", "session.created"]
    );
    assert_eq!(repo.count_backlog().await.unwrap(), 0);
}
