//! The webhook dispatcher (`app::Dispatcher`) on a real SQLite file, with a sender that keeps
//! what it is given and a poll of an hour: a write that recorded a message is attempted at
//! once when the write's use case signals its commit, and a message said to be due (a resend)
//! at once too; neither waits for the poll; nor do messages a claim left to the next. (That a write nobody listens to makes no claim is
//! shown over HTTP on both stores: `server/tests/http/deliveries.rs`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::{Commits, DispatchSettings, Dispatcher, MessageBodies, Metrics};
use async_trait::async_trait;
use domain::webhook::{
    AfterAttempt, Attempt, AttemptResult, Lease, OutgoingWebhook, Resend, RetrySchedule,
    SECRET_BYTES, WebhookMessage, WebhookReply, endpoint::ID_BYTES,
};
use domain::{
    AppendBatch, Destinations, Event, JsonObject, NewApiKey, NewEvent, NewSession, ProjectId,
    Repository, Scope, Session, SessionId, Timestamp, WebhookEndpoint, WebhookEvents, WebhookId,
    WebhookSecret, WebhookSender, WebhookUrl, keys,
};
use infra_sqlite::{SqliteOptions, SqliteStore};
use tokio::sync::Notify;

/// Keeps the body of every request it is asked to send, answering 204.
#[derive(Default)]
struct Keeper {
    sent: Mutex<Vec<String>>,
    arrived: Notify,
}

#[async_trait]
impl WebhookSender for Keeper {
    async fn send(&self, request: OutgoingWebhook) -> WebhookReply {
        let body = String::from_utf8(request.body).expect("utf-8");
        self.sent.lock().unwrap().push(body);
        self.arrived.notify_waiters();
        WebhookReply {
            result: AttemptResult::Status(204),
            retry_after_ms: None,
        }
    }
}

impl Keeper {
    /// Waits (up to 10 s, far less than the dispatcher's poll) for `n` requests in all.
    async fn until(&self, n: usize, what: &str) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let arrived = self.arrived.notified();
                if self.sent.lock().unwrap().len() >= n {
                    return;
                }
                arrived.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{what}: sent {:?}",
            self.sent.lock().unwrap()
        );
    }
}

/// The message's type and event as the body.
struct Bodies;

impl MessageBodies for Bodies {
    fn body(&self, message: &WebhookMessage, _: Option<&Session>, _: Option<&Event>) -> Vec<u8> {
        let event = message.event.as_ref().map_or("-", |e| e.as_str());
        format!("{} {event}", message.kind).into_bytes()
    }
}

fn project() -> ProjectId {
    ProjectId::parse("acme").unwrap()
}

fn sid() -> SessionId {
    SessionId::parse("call-1").unwrap()
}

async fn append(repo: &Arc<dyn Repository>, event: &str) {
    let new = NewEvent::new(
        domain::EventId::parse(event).unwrap(),
        domain::EventType::parse("user_speech").unwrap(),
        JsonObject::empty(),
    );
    repo.append_event(&project(), &sid(), new)
        .await
        .expect("append");
}

/// A store on a fresh SQLite file (kept while the directory lives).
fn store() -> (Arc<dyn Repository>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&SqliteOptions::new(dir.path().join("s.db"))).unwrap();
    (Arc::new(store), dir)
}

/// The project's endpoint on session creations and appends, stored.
async fn endpoint(repo: &Arc<dyn Repository>, now: Timestamp) -> WebhookEndpoint {
    let endpoint = WebhookEndpoint::new(
        WebhookId::issue(&[3; ID_BYTES]),
        project(),
        WebhookUrl::parse("https://hooks.example.com/in", Destinations::PublicOnly).unwrap(),
        WebhookEvents::parse(["session.created", "event.appended"]).unwrap(),
        None,
        WebhookSecret::issue(&[4; SECRET_BYTES]),
        now,
    );
    repo.create_webhook(&endpoint).await.unwrap();
    endpoint
}

/// A dispatcher sending to `keeper`, retrying on `schedule`, polling once an hour.
fn start(
    repo: &Arc<dyn Repository>,
    keeper: &Arc<Keeper>,
    commits: Commits,
    schedule: &str,
) -> Dispatcher {
    let settings = DispatchSettings {
        schedule: RetrySchedule::parse(schedule).unwrap(),
        lease: Duration::from_secs(30),
        poll: Duration::from_secs(3_600),
        in_flight: 8,
        disable_after: Duration::from_secs(86_400),
    };
    Dispatcher::spawn(
        repo.clone(),
        keeper.clone(),
        Arc::new(Bodies),
        commits,
        Arc::new(Metrics::new()),
        settings,
    )
}

#[tokio::test]
async fn a_recorded_message_and_a_resend_are_attempted_at_once_not_at_the_poll() {
    let (repo, _dir) = store();
    let now = Timestamp::now();
    let key = NewApiKey::new(
        project(),
        [Scope::Read].into_iter().collect(),
        None,
        None,
        now,
    )
    .unwrap()
    .issue(&[1; keys::ID_BYTES], &[2; keys::SECRET_BYTES], now)
    .0;
    repo.create_key(&key).await.unwrap();
    let endpoint = endpoint(&repo, now).await;
    // Recorded before the dispatcher starts: its first claim, at start, takes it.
    let new = NewSession::new(sid(), None, None, JsonObject::empty(), None).unwrap();
    repo.create_session(&project(), new).await.unwrap();

    let keeper = Arc::new(Keeper::default());
    let commits = Commits::of(repo.clone());
    let dispatcher = start(&repo, &keeper, commits.clone(), "1s");
    keeper
        .until(1, "the message recorded before the start")
        .await;
    // Its settle says the queue moved on, and the claim that follows finds nothing: let that
    // pass, so that only the next signal can bring the next message.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The write's use case signals its commit; the store says it recorded a message.
    append(&repo, "e1").await;
    commits.committed();
    keeper.until(2, "the append's message, at once").await;

    // A resend is said to be due.
    let resent = repo
        .resend_deliveries(&endpoint.id, &Resend::Since(now), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(resent, 2);
    commits.due();
    keeper.until(4, "both messages again, at once").await;
    assert_eq!(
        *keeper.sent.lock().unwrap(),
        [
            "session.created -",
            "event.appended e1",
            "session.created -",
            "event.appended e1"
        ]
    );
    dispatcher.stop().await;
}

/// A store that writes deliveries in steps (SQLite fans out at most `FAN_OUT_STEP` messages per
/// claim, decision 45) says so after a claim that left messages: the dispatcher claims again at
/// once. Here the first claim's step holds only messages queued behind a head whose retry is an
/// hour away (nothing to claim, so no attempt and no settle wakes the dispatcher), and the
/// message of another session comes after the step: it is attempted at once, not at the poll.
#[tokio::test]
async fn messages_left_by_a_claims_step_are_claimed_at_once_not_at_the_poll() {
    let (repo, _dir) = store();
    let endpoint = endpoint(&repo, Timestamp::now()).await;
    let new = NewSession::new(sid(), None, None, JsonObject::empty(), None).unwrap();
    repo.create_session(&project(), new).await.unwrap();
    // The session's first message failed: its retry is an hour away.
    let now = Timestamp::now();
    let lease = Lease {
        token: "test".into(),
        until: now.plus_millis(30_000),
    };
    let claimed = repo.claim_deliveries(now, &lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let failed = Attempt {
        at: now,
        result: AttemptResult::Status(500),
        duration_ms: 1,
    };
    let retry = AfterAttempt::RetryAt(now.plus_millis(3_600_000));
    assert!(
        repo.settle_delivery(&endpoint.id, &claimed[0].message.id, &lease, &failed, retry)
            .await
            .unwrap()
    );
    // More messages behind it than one claim fans out, then another session's.
    for batch in 0..11 {
        let events = (0..100)
            .map(|n| {
                NewEvent::new(
                    domain::EventId::parse(format!("e{batch}-{n}")).unwrap(),
                    domain::EventType::parse("user_speech").unwrap(),
                    JsonObject::empty(),
                )
            })
            .collect();
        let batch = AppendBatch::new(events, None).unwrap();
        repo.append_events(&project(), &sid(), batch)
            .await
            .expect("append");
    }
    let other = SessionId::parse("call-2").unwrap();
    let new = NewSession::new(other, None, None, JsonObject::empty(), None).unwrap();
    repo.create_session(&project(), new).await.unwrap();
    let _ = repo.take_recorded();

    let keeper = Arc::new(Keeper::default());
    let dispatcher = start(&repo, &keeper, Commits::of(repo.clone()), "1h");
    keeper
        .until(1, "the other session's message, after the step")
        .await;
    assert_eq!(*keeper.sent.lock().unwrap(), ["session.created -"]);
    dispatcher.stop().await;
}
