//! The cases of the suite for [`domain::WebhookDeliveries`]: messages recorded with the changes
//! they announce, claimed in order per endpoint and session, leased, settled. Each takes a
//! fresh, empty store.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use domain::webhook::{AfterAttempt, ClaimedDelivery, DeliveryQuery, Lease};
use domain::{
    AppendBatch, CompleteRequest, EraseIf, EventId, ProjectId, Repository, SessionStatus,
    Timestamp, WebhookChange, WebhookEventType, WebhookEvents, WebhookId, WebhookPatch,
};
use futures_util::future::join_all;
use serde_json::json;

use super::support::{
    append, complete, described, lease, new_session, session, settle, status, subscribe, switched,
};
use crate::fixtures::{new_event, project, sid};

type Repo = Arc<dyn Repository>;

const HOUR: i64 = 3_600_000;

/// Every message type's name.
fn every_type() -> Vec<&'static str> {
    WebhookEventType::ALL.iter().map(|t| t.as_str()).collect()
}

/// Claims and delivers until nothing is due: what each endpoint received, per session, in the
/// order claimed (a claim holds only each queue's head, so this is the queues' order).
async fn deliver_all(repo: &Repo) -> BTreeMap<(String, String), Vec<String>> {
    let mut received: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut ids = HashSet::new();
    for round in 0.. {
        assert!(round < 100, "the queues do not drain");
        let now = Timestamp::now();
        let hold = lease(&format!("drain-{round}"), now.plus_millis(60_000));
        let claimed = repo.claim_deliveries(now, &hold, 100).await.expect("claim");
        if claimed.is_empty() {
            return received;
        }
        for d in claimed {
            assert!(
                ids.insert((d.endpoint.clone(), d.message.id.clone())),
                "{} claimed twice after it was delivered",
                d.message.id
            );
            assert_eq!(d.attempts, 0);
            let settled = settle(repo, &d, &hold, status(204, now), AfterAttempt::Delivered).await;
            assert!(settled, "a delivery held by its lease settles");
            let key = (
                d.endpoint.as_str().to_owned(),
                d.message.session.to_string(),
            );
            received.entry(key).or_default().push(described(&d));
        }
    }
    unreachable!()
}

/// Appends `e2` and `e3` to `session` in one batch.
async fn append_e2_e3(repo: &Repo, session: &str) {
    let batch = AppendBatch::new(
        vec![
            new_event("e2", json!({ "n": 2 })),
            new_event("e3", json!({ "n": 3 })),
        ],
        None,
    )
    .unwrap();
    repo.append_events(&project(), &sid(session), batch)
        .await
        .expect("batch");
}

/// Claims up to 10 deliveries due at `at` under a lease `token` of a minute: the lease and them.
async fn claim_at(repo: &Repo, at: Timestamp, token: &str) -> (Lease, Vec<ClaimedDelivery>) {
    let hold = lease(token, at.plus_millis(60_000));
    let claimed = repo.claim_deliveries(at, &hold, 10).await.expect("claim");
    (hold, claimed)
}

/// Each claimed delivery, described after its endpoint's id.
fn by_endpoint(claimed: &[ClaimedDelivery]) -> Vec<String> {
    claimed
        .iter()
        .map(|d| format!("{} {}", d.endpoint.as_str(), described(d)))
        .collect()
}

/// Each claimed delivery, described, with its attempts so far.
fn tries(claimed: &[ClaimedDelivery]) -> Vec<(String, u32)> {
    claimed.iter().map(|d| (described(d), d.attempts)).collect()
}

fn queue(endpoint: &WebhookId, session: &str) -> (String, String) {
    (endpoint.as_str().to_owned(), session.to_owned())
}

pub async fn every_committed_change_is_announced_once_to_each_subscribed_endpoint(repo: Repo) {
    let other_project = ProjectId::parse("p2").unwrap();
    let all = subscribe(&repo, &project(), 1, &every_type()).await;
    let ends = subscribe(
        &repo,
        &project(),
        2,
        &["session.completed", "session.failed"],
    )
    .await;
    let elsewhere = subscribe(&repo, &other_project, 3, &every_type()).await;
    let off = subscribe(&repo, &project(), 4, &every_type()).await;
    let disable = switched(false);
    repo.change_webhook(&off, &disable, Timestamp::now())
        .await
        .expect("disable");

    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    append_e2_e3(&repo, "s1").await;
    let e1 = EventId::parse("e1").unwrap();
    repo.redact_event(&project(), &sid("s1"), &e1, Timestamp::now())
        .await
        .expect("redact");
    repo.complete_session(&project(), &sid("s1"), complete())
        .await
        .expect("complete");
    session(&repo, "s2").await;
    let failed = CompleteRequest::new(Some(SessionStatus::Failed), None).unwrap();
    repo.complete_session(&project(), &sid("s2"), failed)
        .await
        .expect("fail");
    repo.erase_session(&project(), &sid("s1"), Timestamp::now(), EraseIf::Always)
        .await
        .expect("erase");

    let received = deliver_all(&repo).await;
    let got = |endpoint: &WebhookId, session: &str| -> Vec<String> {
        received
            .get(&queue(endpoint, session))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        got(&all, "s1"),
        [
            "session.created",
            "event.appended e1",
            "event.appended e2",
            "event.appended e3",
            "event.redacted e1",
            "session.completed",
            "session.erased",
        ],
        "{received:?}"
    );
    assert_eq!(got(&all, "s2"), ["session.created", "session.failed"]);
    assert_eq!(got(&ends, "s1"), ["session.completed"]);
    assert_eq!(got(&ends, "s2"), ["session.failed"]);
    assert_eq!(
        received.len(),
        4,
        "nothing for {} or {}: {received:?}",
        elsewhere.as_str(),
        off.as_str()
    );
}

pub async fn replays_refusals_and_repeats_announce_nothing(repo: Repo) {
    let all = subscribe(&repo, &project(), 1, &every_type()).await;
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    let e1 = EventId::parse("e1").unwrap();
    repo.redact_event(&project(), &sid("s1"), &e1, Timestamp::now())
        .await
        .expect("redact");
    repo.complete_session(&project(), &sid("s1"), complete())
        .await
        .expect("complete");
    assert_eq!(
        deliver_all(&repo).await[&queue(&all, "s1")].len(),
        4,
        "created, appended, redacted, completed"
    );
    // Replays of each write, a refused event (another payload under a stored id), an append
    // into the closed session, a second redaction, a second erasure: no new message.
    repo.create_session(&project(), new_session("s1"))
        .await
        .expect("replayed create");
    append(&repo, "s1", "e1").await;
    let other = new_event("e1", json!({ "n": "other" }));
    assert!(
        repo.append_event(&project(), &sid("s1"), other)
            .await
            .is_err()
    );
    let late = new_event("e9", json!({}));
    assert!(
        repo.append_event(&project(), &sid("s1"), late)
            .await
            .is_err()
    );
    repo.redact_event(&project(), &sid("s1"), &e1, Timestamp::now())
        .await
        .expect("redact again");
    repo.complete_session(&project(), &sid("s1"), complete())
        .await
        .expect("replayed complete");
    assert!(deliver_all(&repo).await.is_empty());
    for _ in 0..2 {
        repo.erase_session(&project(), &sid("s1"), Timestamp::now(), EraseIf::Always)
            .await
            .expect("erase");
    }
    assert_eq!(
        deliver_all(&repo).await[&queue(&all, "s1")],
        ["session.erased"],
        "one erasure announced"
    );
}

pub async fn a_session_waits_for_its_head_while_other_sessions_go_on(repo: Repo) {
    let hook = subscribe(&repo, &project(), 1, &["event.appended"]).await;
    for s in ["s1", "s2"] {
        session(&repo, s).await;
        append(&repo, s, "a").await;
        append(&repo, s, "b").await;
    }
    let now = Timestamp::now();
    let hold = lease("one", now.plus_millis(60_000));
    let mut heads = repo.claim_deliveries(now, &hold, 10).await.unwrap();
    heads.sort_by(|a, b| a.message.session.as_str().cmp(b.message.session.as_str()));
    let claimed: Vec<String> = heads
        .iter()
        .map(|d| format!("{} {}", d.message.session, described(d)))
        .collect();
    assert_eq!(
        claimed,
        ["s1 event.appended a", "s2 event.appended a"],
        "only each session's head"
    );
    // s1's receiver fails: its next try in an hour; s2's succeeds.
    let (s1, s2) = (&heads[0], &heads[1]);
    let retry = now.plus_millis(HOUR);
    for (d, code, next) in [
        (s1, 500, AfterAttempt::RetryAt(retry)),
        (s2, 200, AfterAttempt::Delivered),
    ] {
        assert!(settle(&repo, d, &hold, status(code, now), next).await);
    }
    let next = repo.claim_deliveries(now, &hold, 10).await.unwrap();
    assert_eq!(
        next.iter()
            .map(|d| format!("{} {}", d.message.session, described(d)))
            .collect::<Vec<_>>(),
        ["s2 event.appended b"],
        "s1 waits for its head; s2 goes on"
    );
    let delivered = settle(
        &repo,
        &next[0],
        &hold,
        status(200, now),
        AfterAttempt::Delivered,
    )
    .await;
    assert!(delivered);
    // An hour later s1's head is tried again (its attempts counted); exhausted, it fails and
    // the next of s1 goes.
    let later = retry.plus_millis(1);
    let hold = lease("two", later.plus_millis(60_000));
    let again = repo.claim_deliveries(later, &hold, 10).await.unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (&again[0].message.id, again[0].attempts),
        (&s1.message.id, 1)
    );
    assert_eq!(again[0].endpoint, hook);
    let gave_up = settle(&repo, s1, &hold, status(500, later), AfterAttempt::Failed).await;
    assert!(gave_up);
    let last = repo.claim_deliveries(later, &hold, 10).await.unwrap();
    assert_eq!(
        last.iter().map(described).collect::<Vec<_>>(),
        ["event.appended b"]
    );
    assert_eq!(last[0].message.session, sid("s1"));
}

pub async fn a_lease_keeps_other_claims_off_until_it_expires(repo: Repo) {
    let hook = subscribe(&repo, &project(), 1, &["session.created"]).await;
    for n in 0..12 {
        session(&repo, &format!("s{n}")).await;
    }
    let now = Timestamp::now();
    // Eight dispatchers claim at once: each delivery goes to one of them.
    let claims = join_all((0..8).map(|n| {
        let repo = repo.clone();
        async move {
            let hold = lease(&format!("d{n}"), now.plus_millis(60_000));
            repo.claim_deliveries(now, &hold, 3).await.unwrap()
        }
    }))
    .await;
    let claimed: Vec<&ClaimedDelivery> = claims.iter().flatten().collect();
    let distinct: HashSet<_> = claimed.iter().map(|d| &d.message.id).collect();
    assert_eq!((claimed.len(), distinct.len()), (12, 12), "{claims:?}");
    // While the leases hold, nothing more is claimed; when they expire, everything again (a
    // crashed dispatcher's claims are taken over) and the first holder's outcome is refused.
    let hold = lease("late", now.plus_millis(120_000));
    assert!(
        repo.claim_deliveries(now, &hold, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = now.plus_millis(60_000);
    let hold = lease("taker", expired.plus_millis(60_000));
    let taken = repo.claim_deliveries(expired, &hold, 100).await.unwrap();
    assert_eq!(taken.len(), 12);
    let (holder, first) = claims
        .iter()
        .enumerate()
        .find_map(|(n, c)| c.first().map(|d| (n, d)))
        .expect("something claimed");
    assert_eq!(first.endpoint, hook);
    let first_hold = lease(&format!("d{holder}"), now.plus_millis(60_000));
    let stale = settle(
        &repo,
        first,
        &first_hold,
        status(200, now),
        AfterAttempt::Delivered,
    )
    .await;
    assert!(!stale, "a lease taken over settles nothing");
    let settled = settle(
        &repo,
        first,
        &hold,
        status(200, expired),
        AfterAttempt::Delivered,
    )
    .await;
    assert!(settled);
    let again = settle(
        &repo,
        first,
        &hold,
        status(200, expired),
        AfterAttempt::Delivered,
    )
    .await;
    assert!(!again, "a settled delivery is not settled twice");
}

pub async fn an_endpoint_disabled_or_deleted_gets_nothing_more(repo: Repo) {
    let kept = subscribe(&repo, &project(), 1, &["session.created"]).await;
    let paused = subscribe(&repo, &project(), 2, &["session.created"]).await;
    let deleted = subscribe(&repo, &project(), 3, &["session.created"]).await;
    session(&repo, "s1").await;
    let disable = switched(false);
    repo.change_webhook(&paused, &disable, Timestamp::now())
        .await
        .unwrap();
    repo.delete_webhook(&deleted).await.unwrap();
    let received = deliver_all(&repo).await;
    assert_eq!(
        received.keys().cloned().collect::<Vec<_>>(),
        [queue(&kept, "s1")],
        "recorded for three, claimed for the one still enabled"
    );
}

/// A message goes to the endpoints enabled and subscribed to its type when its change
/// committed, whenever the store writes its deliveries (SQLite writes them later, decision 45):
/// an endpoint created or subscribed after the change gets nothing of it, one disabled and
/// enabled again gets it; the backlog and the listing count it before any claim.
pub async fn a_message_goes_to_the_endpoints_of_the_moment_of_its_change(repo: Repo) {
    let there = subscribe(&repo, &project(), 1, &["session.created"]).await;
    let paused = subscribe(&repo, &project(), 2, &["session.created"]).await;
    let widened = subscribe(&repo, &project(), 3, &["session.completed"]).await;
    session(&repo, "s1").await;
    let later = subscribe(&repo, &project(), 4, &["session.created"]).await;
    let widen = WebhookChange::Patch(WebhookPatch {
        events: Some(WebhookEvents::parse(["session.created", "session.completed"]).unwrap()),
        ..WebhookPatch::default()
    });
    repo.change_webhook(&widened, &widen, Timestamp::now())
        .await
        .expect("widen");
    for enabled in [false, true] {
        repo.change_webhook(&paused, &switched(enabled), Timestamp::now())
            .await
            .expect("switch");
    }
    assert_eq!(repo.count_backlog().await.expect("backlog"), 2);
    let query = DeliveryQuery {
        status: None,
        before: None,
        limit: 10,
    };
    for (endpoint, listed) in [(&there, 1), (&paused, 1), (&widened, 0), (&later, 0)] {
        let deliveries = repo.list_deliveries(endpoint, &query).await.expect("list");
        assert_eq!(deliveries.len(), listed, "{}", endpoint.as_str());
    }
    let received = deliver_all(&repo).await;
    assert_eq!(
        received.keys().cloned().collect::<Vec<_>>(),
        [queue(&there, "s1"), queue(&paused, "s1")],
        "{received:?}"
    );
}

/// A long queue behind a head that is retried later, and the backlog of a disabled endpoint,
/// hold back no other endpoint's claims: a claim is not spent on messages that cannot go (more
/// of them than a claim looks through at once, on any store). Their session's order still
/// holds when its head comes due again.
pub async fn waiting_messages_and_a_disabled_backlog_hold_back_no_other_endpoint(repo: Repo) {
    const WAITING: usize = 1_200;
    let retried = subscribe(&repo, &project(), 1, &["event.appended"]).await;
    let paused = subscribe(&repo, &project(), 2, &["event.appended"]).await;
    session(&repo, "s1").await;
    let ids: Vec<String> = (0..WAITING).map(|n| format!("e{n}")).collect();
    for chunk in ids.chunks(AppendBatch::MAX) {
        let events = chunk.iter().map(|id| new_event(id, json!({}))).collect();
        let batch = AppendBatch::new(events, None).unwrap();
        repo.append_events(&project(), &sid("s1"), batch)
            .await
            .expect("batch");
    }
    let disable = switched(false);
    repo.change_webhook(&paused, &disable, Timestamp::now())
        .await
        .expect("disable");
    // s1's head fails; its next try is in an hour, with 1 199 messages waiting behind it.
    let now = Timestamp::now();
    let hold = lease("first", now.plus_millis(60_000));
    let head = repo.claim_deliveries(now, &hold, 1).await.unwrap();
    assert_eq!(
        head.iter().map(described).collect::<Vec<_>>(),
        ["event.appended e0"]
    );
    let retry = now.plus_millis(HOUR);
    let failed = AfterAttempt::RetryAt(retry);
    assert!(settle(&repo, &head[0], &hold, status(500, now), failed).await);

    let other_project = ProjectId::parse("p2").unwrap();
    let healthy = subscribe(&repo, &other_project, 3, &["session.created"]).await;
    repo.create_session(&other_project, new_session("s2"))
        .await
        .expect("create");
    let now = Timestamp::now();
    let (hold, claimed) = claim_at(&repo, now, "second").await;
    assert_eq!(
        by_endpoint(&claimed),
        [format!("{} session.created", healthy.as_str())],
        "the other endpoint's message is claimed at once; nothing of s1 goes before its head"
    );
    let delivered = AfterAttempt::Delivered;
    assert!(settle(&repo, &claimed[0], &hold, status(200, now), delivered).await);

    // An hour later s1's head goes again, then the rest of s1 in order.
    let later = retry.plus_millis(1);
    let (hold, again) = claim_at(&repo, later, "third").await;
    assert_eq!(tries(&again), [("event.appended e0".to_owned(), 1)]);
    assert!(settle(&repo, &again[0], &hold, status(200, later), delivered).await);
    let next = repo.claim_deliveries(later, &hold, 10).await.unwrap();
    assert_eq!(
        by_endpoint(&next),
        [format!("{} event.appended e1", retried.as_str())]
    );

    // Enabled again, the paused endpoint's backlog goes at once, from its head.
    let enable = switched(true);
    repo.change_webhook(&paused, &enable, Timestamp::now())
        .await
        .expect("enable");
    let (_, resumed) = claim_at(&repo, later, "fourth").await;
    assert_eq!(
        by_endpoint(&resumed),
        [format!("{} event.appended e0", paused.as_str())]
    );
}

/// `take_recorded`: a change that recorded a message is told once, after its commit; a change
/// nobody listens to, another project's endpoint or a claim tells nothing.
pub async fn a_recorded_message_is_told_once_and_a_change_nobody_listens_to_never(repo: Repo) {
    let told = || repo.take_recorded();
    let other_project = ProjectId::parse("p2").unwrap();
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    assert!(!told(), "nothing listens: nothing recorded");

    subscribe(&repo, &other_project, 1, &every_type()).await;
    let completions = &["session.completed", "session.failed", "event.redacted"];
    subscribe(&repo, &project(), 2, completions).await;
    append(&repo, "s1", "e2").await;
    session(&repo, "s2").await;
    assert!(!told(), "nobody listens to these types of this project");

    let e1 = EventId::parse("e1").unwrap();
    repo.redact_event(&project(), &sid("s1"), &e1, Timestamp::now())
        .await
        .expect("redact");
    assert!(told(), "a redaction announced");
    assert!(!told(), "told once");
    repo.complete_session(&project(), &sid("s1"), complete())
        .await
        .expect("complete");
    assert!(told(), "a completion announced");

    subscribe(&repo, &project(), 3, &["event.appended"]).await;
    append(&repo, "s2", "e1").await;
    assert!(told(), "an append announced");
    append_e2_e3(&repo, "s2").await;
    assert!(told(), "a batch announced");
    append(&repo, "s2", "e1").await;
    assert!(!told(), "a replay records nothing");

    let now = Timestamp::now();
    let claimed = repo
        .claim_deliveries(now, &lease("t", now.plus_millis(60_000)), 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2, "each queue's head: {claimed:?}");
    assert!(!told(), "a claim records nothing");
}

/// A head waiting for its retry keeps its retry time when its endpoint is disabled (and a claim
/// passes over it meanwhile) and enabled again: it goes then, not at the enabling.
pub async fn a_retry_keeps_its_time_across_a_disable_and_an_enable(repo: Repo) {
    let endpoint = subscribe(&repo, &project(), 1, &["event.appended"]).await;
    session(&repo, "s1").await;
    append(&repo, "s1", "e1").await;
    let now = Timestamp::now();
    let (hold, head) = claim_at(&repo, now, "first").await;
    assert_eq!(head.len(), 1);
    let retry = now.plus_millis(HOUR / 2);
    let failed = AfterAttempt::RetryAt(retry);
    assert!(settle(&repo, &head[0], &hold, status(500, now), failed).await);

    let (off, on) = (switched(false), switched(true));
    let switch = |to| repo.change_webhook(&endpoint, to, Timestamp::now());
    switch(&off).await.expect("disable");
    let (_, claimed) = claim_at(&repo, Timestamp::now(), "disabled").await;
    assert!(claimed.is_empty(), "disabled: {claimed:?}");
    switch(&on).await.expect("enable");
    let (_, claimed) = claim_at(&repo, Timestamp::now(), "enabled").await;
    assert!(
        claimed.is_empty(),
        "its retry is in 30 minutes: {claimed:?}"
    );
    let (_, claimed) = claim_at(&repo, retry.plus_millis(1), "retry").await;
    assert_eq!(tries(&claimed), [("event.appended e1".to_owned(), 1)]);
}
