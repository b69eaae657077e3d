//! [`Sessions`]: creating, reading and finding sessions.

use std::sync::Arc;

use domain::{
    CreateSessionError, EventPage, GetSessionError, ListEventsError, NewSession, PageRequest,
    ProjectId, Repository, Session, SessionId, SessionPage, SessionQuery, StorageError, Written,
};

/// The session use cases. Cheap to clone: every clone shares the store.
#[derive(Clone)]
pub struct Sessions {
    repo: Arc<dyn Repository>,
}

impl Sessions {
    pub fn new(repo: Arc<dyn Repository>) -> Self {
        Self { repo }
    }

    /// Opens a session; a session stored under its id already is a replay (the first write
    /// wins).
    pub async fn create(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        self.repo.create_session(project, new).await
    }

    /// The session with the page of its events `page` asks for.
    pub async fn get_with_events(
        &self,
        project: &ProjectId,
        id: &SessionId,
        page: PageRequest,
    ) -> Result<(Session, EventPage), ListEventsError> {
        let session = self
            .repo
            .get_session(project, id)
            .await
            .map_err(|e| match e {
                GetSessionError::NotFound => ListEventsError::SessionNotFound,
                GetSessionError::Erased => ListEventsError::SessionErased,
                GetSessionError::Storage(e) => ListEventsError::Storage(e),
            })?;
        let events = self.repo.list_events(project, id, page).await?;
        Ok((session, events))
    }

    /// A page of the project's sessions.
    pub async fn find(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        self.repo.list_sessions(project, query).await
    }
}
