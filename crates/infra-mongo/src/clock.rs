//! This instance's clock of session creation times (see `sessions_list.rs` for the lists they
//! order).

use std::collections::HashMap;
use std::sync::Mutex;

use domain::{ProjectId, SessionId, SessionPosition, Timestamp};

/// This instance's newest session position per project: new sessions get a `createdAt` after
/// it ([`domain::creation_time`]) without a round trip. Other instances are not seen: their
/// sessions sort by their own clocks (see `docs/decisions.md`).
#[derive(Default)]
pub(crate) struct CreationClock {
    newest: Mutex<HashMap<ProjectId, SessionPosition>>,
}

impl CreationClock {
    /// The `createdAt` of a session `id` created now in `project`.
    pub(crate) fn next(&self, project: &ProjectId, id: &SessionId) -> Timestamp {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        let known = newest.get(project);
        let created_at = domain::creation_time(Timestamp::now(), known, id);
        let position = SessionPosition {
            created_at,
            session_id: id.clone(),
        };
        if known.is_none_or(|n| position > *n) {
            newest.insert(project.clone(), position);
        }
        created_at
    }
}
