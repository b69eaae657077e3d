//! Prometheus metrics of the application: storage operation latency by operation and store,
//! idempotent replays, conflicts, and the business counters. Storage is measured by
//! [`Instrumented`], a decorator around any [`Repository`], so every adapter is measured the same
//! way without knowing about metrics. The registry is shared: the HTTP layer registers its request
//! counters in it ([`Metrics::registry`]) and `/metrics` renders it whole ([`Metrics::render`]).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use domain::webhook::{
    AfterAttempt, Attempt, ClaimedDelivery, DeliveryQuery, DeliveryRecord, Lease, MessageId, Resend,
};
use domain::{
    ApiKey, AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError, CreateKeyError,
    CreateSessionError, EraseIf, EraseSessionError, Event, EventId, EventPage, EventRepository,
    GetEventError, GetSessionError, KeyId, KeyRepository, ListEventsError, NewSession, PageRequest,
    ProjectId, RedactEventError, Repository, RevokeKeyError, Session, SessionId, SessionPage,
    SessionQuery, SessionRepository, StorageError, StoreAdmin, Timestamp, Watch, Written,
};
use domain::{
    ChangeWebhookError, CreateWebhookError, WebhookChange, WebhookDeliveries, WebhookEndpoint,
    WebhookId, WebhookRepository,
};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The buckets of every latency histogram, in seconds (storage calls and HTTP requests).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    storage_duration: HistogramVec,
    replays: IntCounterVec,
    conflicts: IntCounterVec,
    sessions_created: IntCounter,
    sessions_completed: IntCounterVec,
    events_appended: IntCounter,
    sessions_erased: IntCounterVec,
    events_redacted: IntCounter,
    webhook_attempts: IntCounterVec,
    webhook_first_attempt_delay: Histogram,
    webhook_backlog: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter_vec = |name, help, labels| counter_vec(&registry, name, help, labels);
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            let _ = registry.register(Box::new(process));
        }
        Self {
            storage_duration: histogram_vec(
                &registry,
                "storage_operation_duration_seconds",
                "Storage port call latency by operation, store and outcome",
                &["operation", "store", "outcome"],
            ),
            replays: counter_vec(
                "idempotent_replays_total",
                "Requests answered with a stored value (Idempotent-Replayed)",
                &["operation"],
            ),
            conflicts: counter_vec("conflicts_total", "409 answers by problem code", &["code"]),
            sessions_created: counter("sessions_created_total", "Sessions created"),
            sessions_completed: counter_vec(
                "sessions_completed_total",
                "Sessions ended, by terminal status",
                &["status"],
            ),
            events_appended: counter("events_appended_total", "Events stored (not replays)"),
            sessions_erased: counter_vec(
                "sessions_erased_total",
                "Sessions erased (each once), by reason: request or retention",
                &["reason"],
            ),
            events_redacted: counter("events_redacted_total", "Events redacted (each once)"),
            webhook_attempts: counter_vec(
                "webhook_deliveries_total",
                "Webhook attempts by what they made of their delivery: delivered, retry (to be \
                 attempted again) or failed (its retries exhausted)",
                &["result"],
            ),
            webhook_first_attempt_delay: {
                let opts = HistogramOpts::new(
                    "webhook_first_attempt_delay_seconds",
                    "Time from a change's commit to its message's first attempt",
                )
                .buckets(LATENCY_BUCKETS.to_vec());
                let h = Histogram::with_opts(opts).expect("valid metric");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            webhook_backlog: {
                let g = IntGauge::new(
                    "webhook_backlog",
                    "Webhook deliveries pending (not yet delivered nor failed for good), of every \
                     endpoint, as the store last counted them",
                )
                .expect("valid metric");
                registry
                    .register(Box::new(g.clone()))
                    .expect("unique metric");
                g
            },
            registry,
        }
    }

    /// The registry every metric of this instance is registered in, the HTTP layer's too.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one erasure of a session (the call that removed it, not a repeat) for `reason`:
    /// [`ErasureReason::Request`] or [`ErasureReason::Retention`].
    pub fn erased(&self, reason: ErasureReason) {
        self.sessions_erased
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Counts a webhook attempt by what it made of its delivery (`delivered`, `retry`,
    /// `failed`); `first_after`: the time from the commit to it, when it was the first.
    pub fn webhook_attempt(&self, result: &'static str, first_after: Option<std::time::Duration>) {
        self.webhook_attempts.with_label_values(&[result]).inc();
        if let Some(delay) = first_after {
            self.webhook_first_attempt_delay
                .observe(delay.as_secs_f64());
        }
    }

    /// The deliveries pending, as last counted.
    pub fn webhook_backlog(&self, pending: u64) {
        self.webhook_backlog
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding does not fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// A counter family registered in `registry` (each name once per registry).
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

/// A latency histogram family ([`LATENCY_BUCKETS`]) registered in `registry`.
pub fn histogram_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let h = HistogramVec::new(opts, labels).expect("valid metric");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

/// Why a session was erased: the `reason` label of `sessions_erased_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureReason {
    /// `DELETE /sessions/{sessionId}`.
    Request,
    /// The retention sweep.
    Retention,
}

impl ErasureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureReason::Request => "request",
            ErasureReason::Retention => "retention",
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`Repository`] that measures every call of the one it wraps.
pub struct Instrumented<R> {
    inner: R,
    metrics: Arc<Metrics>,
}

impl<R: Repository> Instrumented<R> {
    pub fn new(inner: R, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn time<T, E>(&self, operation: &str, started: Instant, result: &Result<T, E>) {
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .storage_duration
            .with_label_values(&[operation, self.inner.kind(), outcome])
            .observe(started.elapsed().as_secs_f64());
    }

    /// `call`, timed as `operation` (see [`Self::time`]).
    async fn timed<T, E>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        self.time(operation, started, &result);
        result
    }

    fn replayed(&self, operation: &str) {
        self.metrics.replays.with_label_values(&[operation]).inc();
    }

    fn conflict(&self, code: &str) {
        self.metrics.conflicts.with_label_values(&[code]).inc();
    }
}

#[async_trait]
impl<R: Repository> SessionRepository for Instrumented<R> {
    async fn create_session(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        let started = Instant::now();
        let result = self.inner.create_session(project, new).await;
        self.time("create_session", started, &result);
        match &result {
            Ok(w) if w.replayed => self.replayed("create_session"),
            Ok(_) => self.metrics.sessions_created.inc(),
            Err(_) => {}
        }
        result
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError> {
        let started = Instant::now();
        let result = self.inner.get_session(project, id).await;
        self.time("get_session", started, &result);
        result
    }

    async fn complete_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        let started = Instant::now();
        let result = self.inner.complete_session(project, id, request).await;
        self.time("complete_session", started, &result);
        match &result {
            Ok(w) if w.replayed => self.replayed("complete_session"),
            Ok(w) => self
                .metrics
                .sessions_completed
                .with_label_values(&[w.value.status.as_str()])
                .inc(),
            Err(CompleteSessionError::StateConflict(_)) => self.conflict("session-state-conflict"),
            Err(_) => {}
        }
        result
    }

    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        let started = Instant::now();
        let result = self.inner.list_sessions(project, query).await;
        self.time("list_sessions", started, &result);
        result
    }

    /// Timed only: an erasure is counted by its reason ([`Metrics::erased`]), which the caller
    /// knows (a request, the retention sweep).
    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        let started = Instant::now();
        let result = self.inner.erase_session(project, id, at, only).await;
        self.time("erase_session", started, &result);
        result
    }

    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        let started = Instant::now();
        let result = self.inner.expired_sessions(before, limit).await;
        self.time("expired_sessions", started, &result);
        result
    }

    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        let started = Instant::now();
        let result = self.inner.purge_tombstones(before, limit).await;
        self.time("purge_tombstones", started, &result);
        result
    }
}

#[async_trait]
impl<R: Repository> EventRepository for Instrumented<R> {
    async fn append_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        let operation = if batch.len() == 1 {
            "append_event"
        } else {
            "append_batch"
        };
        let started = Instant::now();
        let result = self.inner.append_events(project, session_id, batch).await;
        self.time(operation, started, &result);
        match &result {
            Ok(written) => {
                let stored = written.iter().filter(|w| !w.replayed).count();
                if stored == 0 {
                    self.replayed(operation);
                }
                self.metrics.events_appended.inc_by(stored as u64);
            }
            Err(AppendEventError::Conflict { .. }) => self.conflict("event-conflict"),
            Err(AppendEventError::SessionClosed) => self.conflict("session-closed"),
            Err(AppendEventError::SeqMismatch { .. }) => self.conflict("seq-mismatch"),
            Err(_) => {}
        }
        result
    }

    async fn get_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
    ) -> Result<Event, GetEventError> {
        let started = Instant::now();
        let result = self.inner.get_event(project, session_id, event_id).await;
        self.time("get_event", started, &result);
        result
    }

    async fn list_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        let started = Instant::now();
        let result = self.inner.list_events(project, session_id, page).await;
        self.time("list_events", started, &result);
        result
    }

    async fn redact_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError> {
        let started = Instant::now();
        let result = self
            .inner
            .redact_event(project, session_id, event_id, at)
            .await;
        self.time("redact_event", started, &result);
        match &result {
            Ok(w) if w.replayed => self.replayed("redact_event"),
            Ok(_) => self.metrics.events_redacted.inc(),
            Err(_) => {}
        }
        result
    }

    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError> {
        let started = Instant::now();
        let result = self.inner.changed_sessions(watches).await;
        self.time("changed_sessions", started, &result);
        result
    }
}

#[async_trait]
impl<R: Repository> KeyRepository for Instrumented<R> {
    async fn create_key(&self, key: &ApiKey) -> Result<(), CreateKeyError> {
        let started = Instant::now();
        let result = self.inner.create_key(key).await;
        self.time("create_key", started, &result);
        result
    }

    async fn list_keys(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError> {
        let started = Instant::now();
        let result = self.inner.list_keys(project).await;
        self.time("list_keys", started, &result);
        result
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StorageError> {
        let started = Instant::now();
        let result = self.inner.find_key(id).await;
        self.time("find_key", started, &result);
        result
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, RevokeKeyError> {
        let started = Instant::now();
        let result = self.inner.revoke_key(id, at).await;
        self.time("revoke_key", started, &result);
        result
    }
}

#[async_trait]
impl<R: Repository> WebhookRepository for Instrumented<R> {
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), CreateWebhookError> {
        self.timed("create_webhook", self.inner.create_webhook(endpoint))
            .await
    }

    async fn list_webhooks(
        &self,
        project: &ProjectId,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        self.timed("list_webhooks", self.inner.list_webhooks(project))
            .await
    }

    async fn find_webhook(&self, id: &WebhookId) -> Result<Option<WebhookEndpoint>, StorageError> {
        self.timed("find_webhook", self.inner.find_webhook(id))
            .await
    }

    async fn change_webhook(
        &self,
        id: &WebhookId,
        change: &WebhookChange,
        at: Timestamp,
    ) -> Result<WebhookEndpoint, ChangeWebhookError> {
        self.timed("change_webhook", self.inner.change_webhook(id, change, at))
            .await
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ChangeWebhookError> {
        self.timed("delete_webhook", self.inner.delete_webhook(id))
            .await
    }
}

#[async_trait]
impl<R: Repository> WebhookDeliveries for Instrumented<R> {
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        self.timed(
            "claim_deliveries",
            self.inner.claim_deliveries(now, lease, limit),
        )
        .await
    }

    fn take_recorded(&self) -> bool {
        self.inner.take_recorded()
    }

    async fn settle_delivery(
        &self,
        endpoint: &WebhookId,
        message: &MessageId,
        lease: &Lease,
        attempt: &Attempt,
        next: AfterAttempt,
    ) -> Result<bool, StorageError> {
        self.timed(
            "settle_delivery",
            self.inner
                .settle_delivery(endpoint, message, lease, attempt, next),
        )
        .await
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, StorageError> {
        self.timed(
            "list_deliveries",
            self.inner.list_deliveries(endpoint, query),
        )
        .await
    }

    async fn resend_deliveries(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        self.timed(
            "resend_deliveries",
            self.inner.resend_deliveries(endpoint, which, now),
        )
        .await
    }

    async fn count_backlog(&self) -> Result<u64, StorageError> {
        self.timed("count_backlog", self.inner.count_backlog())
            .await
    }

    async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.timed("prune_messages", self.inner.prune_messages(before, limit))
            .await
    }
}

#[async_trait]
impl<R: Repository> StoreAdmin for Instrumented<R> {
    async fn ping(&self) -> Result<(), StorageError> {
        let started = Instant::now();
        let result = self.inner.ping().await;
        self.time("ping", started, &result);
        result
    }

    async fn shared_secret(&self) -> Result<Vec<u8>, StorageError> {
        self.inner.shared_secret().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
