//! [`Events`]: appending, reading, redacting and following a session's events. An append that
//! stored something wakes the session's live tails on this instance at once.

use std::sync::Arc;

use domain::{
    AppendBatch, AppendEventError, Event, EventId, EventPage, GetEventError, GetSessionError,
    ListEventsError, PageRequest, ProjectId, RedactEventError, Repository, Session, SessionId,
    StorageError, Timestamp, Written,
};

use crate::tail::{StreamSlot, Subscription, Tail, TooManyStreams};

/// The event use cases. Cheap to clone: every clone shares the store and the tails.
#[derive(Clone)]
pub struct Events {
    repo: Arc<dyn Repository>,
    tail: Arc<Tail>,
}

impl Events {
    pub fn new(repo: Arc<dyn Repository>, tail: Arc<Tail>) -> Self {
        Self { repo, tail }
    }

    /// Appends a batch of one (with its `expectedLastSeq`, if any): the stored event, or the
    /// one stored before under its id (a replay).
    pub async fn append_one(
        &self,
        project: &ProjectId,
        session: &SessionId,
        batch: AppendBatch,
    ) -> Result<Written<Event>, AppendEventError> {
        let written = self
            .append(project, session, batch)
            .await?
            .pop()
            .ok_or_else(|| StorageError::Internal("no answer to an append".into()))?;
        Ok(written)
    }

    /// Appends a batch, all or nothing: each item's stored event, in request order.
    pub async fn append(
        &self,
        project: &ProjectId,
        session: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        let written = self.repo.append_events(project, session, batch).await?;
        let top = written
            .iter()
            .filter(|w| !w.replayed)
            .map(|w| w.value.seq)
            .max();
        if let Some(seq) = top {
            self.tail.committed(project, session, seq);
        }
        Ok(written)
    }

    /// One stored event.
    pub async fn get(
        &self,
        project: &ProjectId,
        session: &SessionId,
        event: &EventId,
    ) -> Result<Event, GetEventError> {
        self.repo.get_event(project, session, event).await
    }

    /// A page of the session's events, with the session's incarnation as of the read (a cursor
    /// the request came with is checked against it afterwards: decision 30).
    pub async fn page(
        &self,
        project: &ProjectId,
        session: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        self.repo.list_events(project, session, page).await
    }

    /// The session, then the page of its events that `page` asks for once the session is
    /// known (a cursor is bound to the session's incarnation: `page` checks it). The page
    /// request is answered with the page.
    pub async fn session_with_page<E: From<ListEventsError>>(
        &self,
        project: &ProjectId,
        id: &SessionId,
        page: impl FnOnce(&Session) -> Result<PageRequest, E>,
    ) -> Result<(Session, PageRequest, EventPage), E> {
        let session = self
            .repo
            .get_session(project, id)
            .await
            .map_err(listing_error)?;
        let request = page(&session)?;
        let events = self.repo.list_events(project, id, request).await?;
        Ok((session, request, events))
    }

    /// Blanks an event's payload (its fingerprint kept); redacting again is a replay.
    pub async fn redact(
        &self,
        project: &ProjectId,
        session: &SessionId,
        event: &EventId,
    ) -> Result<Written<Event>, RedactEventError> {
        let written = self
            .repo
            .redact_event(project, session, event, Timestamp::now())
            .await?;
        if !written.replayed {
            self.tail.commits().committed();
            tracing::info!(project = %project, session = %session, event = %event, "event redacted");
        }
        Ok(written)
    }

    /// The session a stream or an export follows: where its events end now
    /// ([`Session::last_seq`]) and its version ([`Session::version`]).
    pub async fn followed(
        &self,
        project: &ProjectId,
        session: &SessionId,
    ) -> Result<Session, GetSessionError> {
        self.repo.get_session(project, session).await
    }

    /// A stream slot for one export of the project's events, held while the export runs;
    /// refused beyond the instance's or the project's stream limit (exports count as streams).
    pub fn export_slot(&self, project: &ProjectId) -> Result<StreamSlot, TooManyStreams> {
        self.tail.slot(project)
    }

    /// Watches the session for one live stream that has read it at `version`; refused beyond
    /// the instance's or the project's stream limit.
    pub fn subscribe(
        &self,
        project: &ProjectId,
        session: &SessionId,
        version: u64,
    ) -> Result<Subscription, TooManyStreams> {
        self.tail.subscribe(project, session, version)
    }
}

/// A session read's error as a page's.
fn listing_error(e: GetSessionError) -> ListEventsError {
    match e {
        GetSessionError::NotFound => ListEventsError::SessionNotFound,
        GetSessionError::Erased => ListEventsError::SessionErased,
        GetSessionError::Storage(e) => ListEventsError::Storage(e),
    }
}
