//! The webhook dispatcher (SPEC "Webhooks", decision 38): on every instance, a task that claims
//! due deliveries from the store under an expiring lease and attempts each one, woken at once by
//! this instance's commits that recorded a message ([`Commits`]) and every `poll` for other
//! instances' commits. The store hands out only the head of each endpoint's queue per session,
//! so a session's messages go in order while other sessions and endpoints go on; a claim whose
//! dispatcher dies is taken over when its lease expires (at least once: a receiver dedupes by
//! `webhook-id`).
//!
//! Each attempt builds the body from the store as it stands (an erased session's message keeps
//! ids only), signs it with the endpoint's current secrets (Standard Webhooks), sends it through
//! the [`WebhookSender`] port, and stores the attempt with what the domain decides of it
//! ([`after_attempt`]); a `410 Gone` disables the endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::webhook::{
    AfterAttempt, Attempt, AttemptOutcome, AttemptResult, ClaimedDelivery, Lease, OutgoingWebhook,
    RetrySchedule, WebhookMessage, after_attempt, signature_header,
};
use domain::{
    Event, GetEventError, GetSessionError, Repository, Session, StorageError, Timestamp,
    WebhookChange, WebhookEndpoint, WebhookId, WebhookSender,
};
use rand::RngCore;
use tokio::sync::{Notify, Semaphore};

use crate::background::Background;
use crate::metrics::Metrics;

/// What wakes the dispatcher: "a write committed on this instance" ([`Commits::committed`],
/// signalled by the writes' use cases), which wakes it only when the store says the write
/// recorded a message ([`domain::WebhookDeliveries::take_recorded`]: a change nobody listens
/// to costs no claim, and no wake-up), and "deliveries are due now" ([`Commits::due`]: resent,
/// replayed, a queue moved on, a retry's time came), which always does. Cheap to clone; a
/// signal while nobody waits is kept for the next wait.
#[derive(Clone, Default)]
pub struct Commits {
    signal: Arc<Notify>,
    /// The store asked after each write; none (`default`): every write wakes the dispatcher.
    store: Option<Arc<dyn Repository>>,
}

impl Commits {
    /// The signal of the writes to `store`.
    pub fn of(store: Arc<dyn Repository>) -> Self {
        Self {
            signal: Arc::default(),
            store: Some(store),
        }
    }

    pub fn committed(&self) {
        if self
            .store
            .as_ref()
            .is_none_or(|store| store.take_recorded())
        {
            self.signal.notify_one();
        }
    }

    pub fn due(&self) {
        self.signal.notify_one();
    }

    async fn next(&self) {
        self.signal.notified().await;
    }
}

/// Makes a message's body (`{ type, timestamp, data: { session, event? } }`) from the session
/// and event as they stand (`None`: erased or gone, ids only). The HTTP adapter renders it, so
/// that a message's session and event are exactly what `GET` serves.
pub trait MessageBodies: Send + Sync + 'static {
    fn body(
        &self,
        message: &WebhookMessage,
        session: Option<&Session>,
        event: Option<&Event>,
    ) -> Vec<u8>;
}

/// How the dispatcher works.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// `WEBHOOK_RETRY_SCHEDULE`.
    pub schedule: RetrySchedule,
    /// How long a claim holds (longer than `WEBHOOK_TIMEOUT`: an attempt ends within it).
    pub lease: Duration,
    /// How often the store is asked for other instances' messages and retries come due.
    pub poll: Duration,
    /// Attempts in flight at once, at most.
    pub in_flight: usize,
    /// `WEBHOOK_DISABLE_AFTER`.
    pub disable_after: Duration,
}

/// The dispatcher of this instance; stopped by [`Dispatcher::stop`] or when dropped.
pub struct Dispatcher(Background);

#[derive(Clone)]
struct Worker {
    repo: Arc<dyn Repository>,
    sender: Arc<dyn WebhookSender>,
    bodies: Arc<dyn MessageBodies>,
    schedule: RetrySchedule,
    disable_after_ms: i64,
    /// How often the dispatcher polls: retries due sooner get a wake-up of their own.
    poll: Duration,
    metrics: Arc<Metrics>,
    /// Signalled when a queue moved on (a head delivered or failed): its next is due now.
    moved: Commits,
}

fn token() -> String {
    let mut bytes = [0_u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Dispatcher {
    pub fn spawn(
        repo: Arc<dyn Repository>,
        sender: Arc<dyn WebhookSender>,
        bodies: Arc<dyn MessageBodies>,
        commits: Commits,
        metrics: Arc<Metrics>,
        settings: DispatchSettings,
    ) -> Self {
        let worker = Worker {
            repo,
            sender,
            bodies,
            schedule: settings.schedule.clone(),
            poll: settings.poll,
            disable_after_ms: i64::try_from(settings.disable_after.as_millis()).unwrap_or(i64::MAX),
            moved: commits.clone(),
            metrics,
        };
        let slots = Arc::new(Semaphore::new(settings.in_flight.max(1)));
        let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
        Self(Background::spawn(|mut stopped| async move {
            let mut counted: Option<Instant> = None;
            loop {
                if counted.is_none_or(|at| at.elapsed() >= settings.poll) {
                    counted = Some(Instant::now());
                    match worker.repo.count_backlog().await {
                        Ok(pending) => worker.metrics.webhook_backlog(pending),
                        Err(e) => tracing::warn!(error = %e, "webhook backlog not counted"),
                    }
                }
                let free = slots.available_permits();
                let mut claimed = Vec::new();
                if free > 0 {
                    let now = Timestamp::now();
                    let lease = Lease {
                        token: token(),
                        until: now.plus_millis(lease_ms),
                    };
                    let limit = u32::try_from(free).unwrap_or(u32::MAX);
                    match worker.repo.claim_deliveries(now, &lease, limit).await {
                        Ok(deliveries) => {
                            claimed = deliveries.into_iter().map(|d| (d, lease.clone())).collect()
                        }
                        Err(e) => tracing::warn!(error = %e, "webhook deliveries not claimed"),
                    }
                }
                let full = !claimed.is_empty() && claimed.len() == free;
                // Each endpoint of the claim read once, for all its attempts.
                let mut endpoints: HashMap<WebhookId, Option<Arc<WebhookEndpoint>>> =
                    HashMap::new();
                for (delivery, lease) in claimed {
                    let endpoint = match endpoints.get(&delivery.endpoint) {
                        Some(endpoint) => endpoint.clone(),
                        None => {
                            let endpoint = worker.endpoint(&delivery.endpoint).await;
                            endpoints.insert(delivery.endpoint.clone(), endpoint.clone());
                            endpoint
                        }
                    };
                    let Some(endpoint) = endpoint else {
                        continue;
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        break;
                    };
                    let worker = worker.clone();
                    tokio::spawn(async move {
                        worker.attempt(&endpoint, delivery, &lease).await;
                        drop(slot);
                    });
                }
                if *stopped.borrow() {
                    return;
                }
                if full {
                    // More may be due: claim again when a slot frees.
                    tokio::select! {
                        _ = slots.acquire() => {}
                        _ = stopped.changed() => return,
                    }
                    continue;
                }
                if worker.repo.take_recorded() {
                    // Recorded since the claim (a store may also say so of messages the claim
                    // left for the next one): claim again now.
                    continue;
                }
                tokio::select! {
                    _ = commits.next() => {}
                    _ = tokio::time::sleep(settings.poll) => {}
                    _ = stopped.changed() => return,
                }
            }
        }))
    }

    /// Stops claiming; attempts in flight finish on their own (a cut-short one is attempted
    /// again when its lease expires).
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

impl Worker {
    /// The session and event a message is about, as they stand (`None`: erased or gone).
    async fn content(
        &self,
        message: &WebhookMessage,
    ) -> Result<(Option<Session>, Option<Event>), StorageError> {
        let session = match self
            .repo
            .get_session(&message.project, &message.session)
            .await
        {
            Ok(session) => Some(session),
            Err(GetSessionError::NotFound | GetSessionError::Erased) => None,
            Err(GetSessionError::Storage(e)) => return Err(e),
        };
        let event = match (&message.event, &session) {
            (Some(id), Some(_)) => {
                match self
                    .repo
                    .get_event(&message.project, &message.session, id)
                    .await
                {
                    Ok(event) => Some(event),
                    Err(GetEventError::Storage(e)) => return Err(e),
                    Err(_) => None,
                }
            }
            _ => None,
        };
        Ok((session, event))
    }

    /// The endpoint of claimed deliveries as it stands, if it is to be attempted: `None` when
    /// it was disabled or deleted since the claim (a claim takes none of these), or when it
    /// cannot be read now (its deliveries are claimed again when their lease expires).
    async fn endpoint(&self, id: &WebhookId) -> Option<Arc<WebhookEndpoint>> {
        match self.repo.find_webhook(id).await {
            Ok(Some(endpoint)) if endpoint.enabled => Some(Arc::new(endpoint)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "webhook endpoint not read; attempted again later");
                None
            }
        }
    }

    /// One attempt of a claimed delivery to `endpoint` (read once per claim), stored under its
    /// lease. Whatever cannot be done now (the store unavailable) is left to the lease's
    /// expiry: the delivery is claimed again.
    async fn attempt(&self, endpoint: &WebhookEndpoint, d: ClaimedDelivery, lease: &Lease) {
        let (session, event) = match self.content(&d.message).await {
            Ok(content) => content,
            Err(e) => {
                tracing::warn!(error = %e, "webhook message not read; attempted again later");
                return;
            }
        };
        let body = self
            .bodies
            .body(&d.message, session.as_ref(), event.as_ref());
        let at = Timestamp::now();
        let seconds = at.millis().div_euclid(1000);
        let id = d.message.id.as_str();
        let signature = signature_header(&endpoint.signing_secrets(at), id, seconds, &body);
        let request = OutgoingWebhook {
            url: endpoint.url.clone(),
            headers: vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", seconds.to_string()),
                ("webhook-signature", signature),
                ("content-type", "application/json".to_owned()),
            ],
            body,
        };
        let started = Instant::now();
        let reply = self.sender.send(request).await;
        let attempt = Attempt {
            at,
            result: reply.result,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let next = after_attempt(
            &attempt,
            d.scheduled.saturating_add(1),
            &self.schedule,
            reply.retry_after_ms,
        );
        let first_after = (d.attempts == 0).then(|| {
            let millis = at.millis().saturating_sub(d.message.recorded_at.millis());
            Duration::from_millis(u64::try_from(millis).unwrap_or(0))
        });
        let result = match next {
            AfterAttempt::Delivered => "delivered",
            AfterAttempt::RetryAt(_) => "retry",
            AfterAttempt::Failed => "failed",
        };
        self.metrics.webhook_attempt(result, first_after);
        self.mark(endpoint, &attempt).await;
        tracing::debug!(
            message = id,
            endpoint = d.endpoint.as_str(),
            kind = d.message.kind.as_str(),
            outcome = ?attempt.result,
            "webhook attempt"
        );
        match self
            .repo
            .settle_delivery(&d.endpoint, &d.message.id, lease, &attempt, next)
            .await
        {
            Ok(true) => match next {
                // Due again before the next poll: a wake-up then, so that a short retry (or a
                // receiver's short `Retry-After`) is not up to a poll late.
                AfterAttempt::RetryAt(due) => self.wake_at(due),
                // The queue's next message is its head now: claim it at once.
                AfterAttempt::Delivered | AfterAttempt::Failed => self.moved.due(),
            },
            Ok(false) => tracing::info!(
                message = id,
                "webhook attempt not stored: its claim expired and was taken over"
            ),
            Err(e) => tracing::warn!(error = %e, message = id, "webhook attempt not stored"),
        }
        if next == AfterAttempt::Failed {
            tracing::info!(
                message = id,
                endpoint = d.endpoint.as_str(),
                "webhook message failed"
            );
        }
    }

    /// Signals [`Commits`] at `due` when that comes before the next poll (later ones are the
    /// poll's).
    fn wake_at(&self, due: Timestamp) {
        let wait =
            u64::try_from(due.millis().saturating_sub(Timestamp::now().millis())).unwrap_or(0);
        let wait = Duration::from_millis(wait);
        if wait >= self.poll {
            return;
        }
        let moved = self.moved.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            moved.due();
        });
    }

    /// What the attempt makes of its endpoint ([`AttemptOutcome`]): written only when it
    /// changes it — a failing streak starts or ends, or the endpoint is disabled (a `410 Gone`,
    /// or every attempt failing for `WEBHOOK_DISABLE_AFTER`).
    async fn mark(&self, endpoint: &WebhookEndpoint, attempt: &Attempt) {
        let outcome = AttemptOutcome {
            at: attempt.at,
            succeeded: attempt.succeeded(),
            gone: attempt.result == AttemptResult::Status(410),
            disable_after_ms: self.disable_after_ms,
        };
        if !endpoint.affected_by(&outcome) {
            return;
        }
        match self
            .repo
            .change_webhook(&endpoint.id, &WebhookChange::Attempted(outcome), attempt.at)
            .await
        {
            Ok(changed) if !changed.enabled && endpoint.enabled => tracing::warn!(
                endpoint = endpoint.id.as_str(),
                gone = outcome.gone,
                "webhook endpoint disabled: it answered 410, or failed every attempt for WEBHOOK_DISABLE_AFTER"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook endpoint's failures not recorded"),
        }
    }
}
