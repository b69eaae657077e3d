//! Per-session lanes: this instance's queue of writes for each session it is writing to, and a
//! hint of the session: its document's `_id` and its top `seq`.
//!
//! Nothing here is an authority. The queue only orders this instance's own writes (one writer
//! per session per instance, taking every queued job at once); the hint is only a guess that
//! saves reads, and a wrong guess costs a duplicate-key error and a re-read, or (the session
//! gone since: erased, purged, maybe created again) the insert taken back after its check of
//! the session document, never a wrong answer (see `docs/mongodb.md`). Pure mechanics: no IO.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use domain::{
    AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError, Event, Session,
    Timestamp, Written,
};
use mongodb::bson::Bson;
use tokio::sync::oneshot;

use crate::documents::SessionKey;

/// Where a queued write's answer goes.
pub(crate) type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// A write queued on a session's lane (written by `writes.rs`).
pub(crate) enum Job {
    Append {
        batch: AppendBatch,
        reply: Reply<Vec<Written<Event>>, AppendEventError>,
    },
    Complete {
        request: CompleteRequest,
        reply: Reply<Written<Session>, CompleteSessionError>,
    },
}

/// What this instance saw of a session it wrote to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hint {
    /// The `_id` of the session document written for: every insert on this hint is checked
    /// against it (see `writes.rs`).
    pub(crate) session: Bson,
    /// The highest `seq` of an event (never a seal) this instance saw stored in the session.
    pub(crate) top: u64,
    /// That document's `createdAt`, the session's incarnation: stored in every event inserted on
    /// this hint (`incarnation`), so that a page tells it without reading the session.
    pub(crate) created: Timestamp,
    /// When that document was last read live (the read's start): an insert within the store's
    /// trust window of it needs no check (`MongoStore::checked`).
    pub(crate) seen: Instant,
}

impl Hint {
    /// The same session, `n` events higher.
    pub(crate) fn above(&self, n: u64) -> Self {
        Self {
            session: self.session.clone(),
            top: self.top + n,
            created: self.created,
            seen: self.seen,
        }
    }
}

/// Lanes kept while idle, for their hints; beyond this, idle lanes are dropped.
const IDLE_LANES_KEPT: usize = 10_000;

/// The lanes of this instance, one per session written to recently.
pub(crate) struct Lanes<J> {
    lanes: Mutex<HashMap<SessionKey, Arc<Lane<J>>>>,
}

/// One session's queue of jobs and its hint.
pub(crate) struct Lane<J> {
    state: Mutex<State<J>>,
}

struct State<J> {
    jobs: Vec<J>,
    /// Someone is taking this lane's jobs (see [`Lane::take`]).
    draining: bool,
    hint: Option<Hint>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these short locks leaves plain data behind; keep using it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<J> Lanes<J> {
    pub(crate) fn new() -> Self {
        Self {
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lane(&self, session: &SessionKey) -> Arc<Lane<J>> {
        let mut lanes = lock(&self.lanes);
        if let Some(lane) = lanes.get(session) {
            return lane.clone();
        }
        if lanes.len() >= IDLE_LANES_KEPT {
            // A lane dropped here while someone holds it still works: it is drained by
            // whoever queued on it, and only its hint is forgotten.
            lanes.retain(|_, lane| lock(&lane.state).draining);
        }
        let lane = Arc::new(Lane {
            state: Mutex::new(State {
                jobs: Vec::new(),
                draining: false,
                hint: None,
            }),
        });
        lanes.insert(session.clone(), lane.clone());
        lane
    }

    /// Queues `job` on the session's lane. Returns the lane when nobody is draining it: the
    /// caller must then drain it (call [`Lane::take`] until it answers `None`).
    pub(crate) fn push(&self, session: &SessionKey, job: J) -> Option<Arc<Lane<J>>> {
        let lane = self.lane(session);
        let mut state = lock(&lane.state);
        state.jobs.push(job);
        let start = !std::mem::replace(&mut state.draining, true);
        drop(state);
        start.then_some(lane)
    }

    /// The hint of a session, when this instance has one.
    pub(crate) fn set_hint(&self, session: &SessionKey, hint: Option<Hint>) {
        self.lane(session).set_hint(hint);
    }
}

impl<J> Lane<J> {
    /// Every queued job, in arrival order; `None` when there is none, and then the lane is idle
    /// (the next [`Lanes::push`] starts a new drainer).
    pub(crate) fn take(&self) -> Option<Vec<J>> {
        let mut state = lock(&self.state);
        if state.jobs.is_empty() {
            state.draining = false;
            None
        } else {
            Some(std::mem::take(&mut state.jobs))
        }
    }

    /// Gives up draining after a failure: the queued jobs are dropped (their callers are told
    /// by their closed reply channels) and the lane is idle.
    pub(crate) fn abandon(&self) {
        let mut state = lock(&self.state);
        state.jobs.clear();
        state.draining = false;
        state.hint = None;
    }

    pub(crate) fn hint(&self) -> Option<Hint> {
        lock(&self.state).hint.clone()
    }

    pub(crate) fn set_hint(&self, hint: Option<Hint>) {
        lock(&self.state).hint = hint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SessionKey {
        let project = domain::ProjectId::default_project();
        SessionKey::new(&project, &domain::SessionId::parse(s).unwrap())
    }

    #[test]
    fn the_first_push_starts_the_drainer_and_later_ones_queue() {
        let lanes = Lanes::new();
        let lane = lanes
            .push(&sid("a"), 1)
            .expect("the first job starts a drainer");
        assert!(lanes.push(&sid("a"), 2).is_none(), "a drainer is running");
        assert!(lanes.push(&sid("b"), 9).is_some(), "lanes are per session");
        let other = SessionKey::new(
            &domain::ProjectId::parse("other").unwrap(),
            &domain::SessionId::parse("a").unwrap(),
        );
        assert!(lanes.push(&other, 9).is_some(), "and per project");
        assert_eq!(lane.take(), Some(vec![1, 2]));
        assert!(
            lanes.push(&sid("a"), 3).is_none(),
            "still draining until take says None"
        );
        assert_eq!(lane.take(), Some(vec![3]));
        assert_eq!(lane.take(), None);
        assert!(
            lanes.push(&sid("a"), 4).is_some(),
            "idle again: a new drainer"
        );
    }

    #[test]
    fn the_hint_lives_with_the_lane_and_is_dropped_on_abandon() {
        let lanes: Lanes<u8> = Lanes::new();
        let hint = Hint {
            session: Bson::Int32(1),
            top: 7,
            created: Timestamp::from_millis(1).unwrap(),
            seen: Instant::now(),
        };
        lanes.set_hint(&sid("a"), Some(hint.clone()));
        let lane = lanes.push(&sid("a"), 1).unwrap();
        assert_eq!(lane.hint(), Some(hint));
        lane.abandon();
        assert_eq!(lane.hint(), None);
        assert_eq!(lane.take(), None);
    }
}
