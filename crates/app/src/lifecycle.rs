//! [`Lifecycle`]: how sessions end — completed or failed by their client, erased on request or
//! by the retention sweep — and the tombstones erasure leaves. A write that ended a session
//! wakes its live tails on this instance at once; an erasure is counted and logged by its
//! reason.

use std::sync::Arc;

use domain::{
    CompleteRequest, CompleteSessionError, EraseIf, EraseSessionError, ProjectId, Repository,
    Session, SessionId, StorageError, Timestamp, Written,
};

use crate::metrics::{ErasureReason, Metrics};
use crate::tail::Tail;

/// The lifecycle use cases. Cheap to clone: every clone shares the store, the tails and the
/// metrics.
#[derive(Clone)]
pub struct Lifecycle {
    repo: Arc<dyn Repository>,
    tail: Arc<Tail>,
    metrics: Arc<Metrics>,
}

impl Lifecycle {
    pub fn new(repo: Arc<dyn Repository>, tail: Arc<Tail>, metrics: Arc<Metrics>) -> Self {
        Self {
            repo,
            tail,
            metrics,
        }
    }

    /// Ends the session as `request` says; ending it again in the same status is a replay.
    pub async fn complete(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        let written = self.repo.complete_session(project, id, request).await?;
        self.tail.committed(project, id, written.value.version());
        Ok(written)
    }

    /// Erases the session and all its events, leaving a tombstone; erasing again is a replay.
    /// `only`: [`EraseIf::Always`] on request (`DELETE`), [`EraseIf::ExpiredBefore`] the cutoff
    /// by retention (a session written since is kept: [`EraseSessionError::NotExpired`]). Only
    /// the call that removed it counts it (`sessions_erased_total{reason}`).
    pub async fn erase(
        &self,
        project: &ProjectId,
        id: &SessionId,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        let reason = match only {
            EraseIf::Always => ErasureReason::Request,
            EraseIf::ExpiredBefore(_) => ErasureReason::Retention,
        };
        let erased = self
            .repo
            .erase_session(project, id, Timestamp::now(), only)
            .await?;
        if !erased.replayed {
            self.metrics.erased(reason);
            match reason {
                ErasureReason::Request => {
                    tracing::info!(project = %project, session = %id, "session erased on request");
                }
                ErasureReason::Retention => {
                    tracing::info!(project = %project, session = %id, "session erased by retention");
                }
            }
        }
        // Streams of the session on this instance read on, find it erased and end.
        self.tail.committed(project, id, u64::MAX);
        Ok(erased)
    }

    /// At most `limit` sessions whose retention ran out before `before`.
    pub async fn expired(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        self.repo.expired_sessions(before, limit).await
    }

    /// Removes at most `limit` tombstones written before `before`; how many it removed.
    pub async fn purge_tombstones(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StorageError> {
        self.repo.purge_tombstones(before, limit).await
    }

    /// Removes at most `limit` webhook messages recorded before `before`, with their
    /// deliveries; how many it removed.
    pub async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.repo.prune_messages(before, limit).await
    }
}
