//! [`Sessions`]: creating and finding sessions (a session with its events: [`crate::Events`]).

use std::sync::Arc;

use domain::{
    CreateSessionError, NewSession, ProjectId, Repository, Session, SessionPage, SessionQuery,
    StorageError, Written,
};

use crate::dispatch::Commits;

/// The session use cases. Cheap to clone: every clone shares the store.
#[derive(Clone)]
pub struct Sessions {
    repo: Arc<dyn Repository>,
    commits: Commits,
}

impl Sessions {
    pub fn new(repo: Arc<dyn Repository>, commits: Commits) -> Self {
        Self { repo, commits }
    }

    /// Opens a session; a session stored under its id already is a replay (the first write
    /// wins).
    pub async fn create(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        let written = self.repo.create_session(project, new).await?;
        if !written.replayed {
            self.commits.committed();
        }
        Ok(written)
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
