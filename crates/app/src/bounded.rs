//! [`Bounded`]: the storage-timeout decorator. Any store, wrapped, answers every call within a
//! fixed time: a call still running then is dropped and answered
//! [`StorageError::Unavailable`] (HTTP 503 `storage-unavailable`), never a hang.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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

/// A [`Repository`] whose calls take at most `timeout` each.
pub struct Bounded<R: ?Sized> {
    inner: Arc<R>,
    timeout: Duration,
}

impl<R: Repository + ?Sized> Bounded<R> {
    pub fn new(inner: Arc<R>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    async fn within<T, E: From<StorageError>>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(E::from(StorageError::Unavailable(format!(
                    "no answer within {:?}",
                    self.timeout
                ))))
            })
    }
}

#[async_trait]
impl<R: Repository + ?Sized> SessionRepository for Bounded<R> {
    async fn create_session(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        self.within(self.inner.create_session(project, new)).await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError> {
        self.within(self.inner.get_session(project, id)).await
    }

    async fn complete_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        self.within(self.inner.complete_session(project, id, request))
            .await
    }

    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        self.within(self.inner.list_sessions(project, query)).await
    }

    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        self.within(self.inner.erase_session(project, id, at, only))
            .await
    }

    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        self.within(self.inner.expired_sessions(before, limit))
            .await
    }

    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.within(self.inner.purge_tombstones(before, limit))
            .await
    }
}

#[async_trait]
impl<R: Repository + ?Sized> EventRepository for Bounded<R> {
    async fn append_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        self.within(self.inner.append_events(project, session_id, batch))
            .await
    }

    async fn get_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
    ) -> Result<Event, GetEventError> {
        self.within(self.inner.get_event(project, session_id, event_id))
            .await
    }

    async fn list_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        self.within(self.inner.list_events(project, session_id, page))
            .await
    }

    async fn redact_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError> {
        self.within(self.inner.redact_event(project, session_id, event_id, at))
            .await
    }

    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError> {
        self.within(self.inner.changed_sessions(watches)).await
    }
}

#[async_trait]
impl<R: Repository + ?Sized> KeyRepository for Bounded<R> {
    async fn create_key(&self, key: &ApiKey) -> Result<(), CreateKeyError> {
        self.within(self.inner.create_key(key)).await
    }

    async fn list_keys(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError> {
        self.within(self.inner.list_keys(project)).await
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StorageError> {
        self.within(self.inner.find_key(id)).await
    }

    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, RevokeKeyError> {
        self.within(self.inner.revoke_key(id, at)).await
    }
}

#[async_trait]
impl<R: Repository + ?Sized> WebhookRepository for Bounded<R> {
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), CreateWebhookError> {
        self.within(self.inner.create_webhook(endpoint)).await
    }

    async fn list_webhooks(
        &self,
        project: &ProjectId,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        self.within(self.inner.list_webhooks(project)).await
    }

    async fn find_webhook(&self, id: &WebhookId) -> Result<Option<WebhookEndpoint>, StorageError> {
        self.within(self.inner.find_webhook(id)).await
    }

    async fn change_webhook(
        &self,
        id: &WebhookId,
        change: &WebhookChange,
        at: Timestamp,
    ) -> Result<WebhookEndpoint, ChangeWebhookError> {
        self.within(self.inner.change_webhook(id, change, at)).await
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ChangeWebhookError> {
        self.within(self.inner.delete_webhook(id)).await
    }
}

#[async_trait]
impl<R: Repository + ?Sized> WebhookDeliveries for Bounded<R> {
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        self.within(self.inner.claim_deliveries(now, lease, limit))
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
        self.within(
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
        self.within(self.inner.list_deliveries(endpoint, query))
            .await
    }

    async fn resend_deliveries(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        self.within(self.inner.resend_deliveries(endpoint, which, now))
            .await
    }

    async fn count_backlog(&self) -> Result<u64, StorageError> {
        self.within(self.inner.count_backlog()).await
    }

    async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.within(self.inner.prune_messages(before, limit)).await
    }
}

#[async_trait]
impl<R: Repository + ?Sized> StoreAdmin for Bounded<R> {
    async fn ping(&self) -> Result<(), StorageError> {
        self.within(self.inner.ping()).await
    }

    async fn shared_secret(&self) -> Result<Vec<u8>, StorageError> {
        self.within(self.inner.shared_secret()).await
    }

    /// Not bounded: closing waits for work in flight, which is already bounded per call.
    async fn close(&self) {
        self.inner.close().await;
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
