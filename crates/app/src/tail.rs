//! Live tails: the sessions this instance's streams watch, and waking those streams when a
//! session changes — at once for a write through this instance (the use cases that wrote report
//! it: `Events`, `Lifecycle`), within one poll interval for a write through another instance (one
//! poller per instance asks the store about every watched session in one call,
//! [`domain::EventRepository::changed_sessions`], never one query per stream).
//!
//! What a stream is woken with is only a session's version (see `domain::Session::version`):
//! the stream then reads on from its own position, so a lost or early wake costs a read, never
//! an event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use domain::{ProjectId, Repository, SessionId, Watch};
use tokio::sync::watch;

use crate::dispatch::Commits;

type Key = (ProjectId, SessionId);

/// One watched session: its newest known version, and how many streams watch it.
struct Watched {
    version: watch::Sender<u64>,
    streams: usize,
}

/// How many streams (live tails and exports) may be open at once: on this instance, and for
/// one project on it (`STREAM_MAX`, `STREAM_MAX_PER_PROJECT`), so that one project cannot take
/// every slot.
#[derive(Debug, Clone, Copy)]
pub struct StreamCaps {
    pub max: usize,
    pub per_project: usize,
}

pub struct Tail {
    repo: Arc<dyn Repository>,
    watched: Mutex<HashMap<Key, Watched>>,
    /// Slots taken, in all (read without the lock by [`Tail::committed`]'s shortcut).
    open: AtomicUsize,
    /// Slots taken, by project (only projects holding one: at most `caps.max` entries).
    taken: Mutex<HashMap<ProjectId, usize>>,
    caps: StreamCaps,
    poll: Duration,
    poller_started: AtomicBool,
    closing: watch::Sender<bool>,
    /// Every commit through this instance, for the webhook dispatcher.
    commits: Commits,
}

/// The instance has `STREAM_MAX` streams open already, or the project `STREAM_MAX_PER_PROJECT`.
#[derive(Debug)]
pub struct TooManyStreams;

/// One stream's slot (a live tail's or an export's), released when dropped.
pub struct StreamSlot {
    tail: Arc<Tail>,
    project: ProjectId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut taken = lock(&self.tail.taken);
        if let Some(n) = taken.get_mut(&self.project) {
            *n -= 1;
            if *n == 0 {
                taken.remove(&self.project);
            }
        }
        self.tail.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What ended a stream's wait.
pub enum Wake {
    /// The session's version grew: read on.
    Changed,
    /// Nothing for a keep-alive interval.
    Idle,
    /// The server is shutting down: end the stream.
    Closing,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tail {
    pub fn new(repo: Arc<dyn Repository>, caps: StreamCaps, poll: Duration) -> Arc<Self> {
        Arc::new(Self {
            watched: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            taken: Mutex::new(HashMap::new()),
            caps,
            poll,
            poller_started: AtomicBool::new(false),
            closing: watch::channel(false).0,
            commits: Commits::of(repo.clone()),
            repo,
        })
    }

    /// The signal of this instance's commits ([`Tail::committed`] gives it).
    pub fn commits(&self) -> Commits {
        self.commits.clone()
    }

    /// Takes one of the instance's stream slots for `project`: refused when the instance's
    /// slots are all taken, or the project's share of them.
    pub fn slot(self: &Arc<Self>, project: &ProjectId) -> Result<StreamSlot, TooManyStreams> {
        let mut taken = lock(&self.taken);
        let mine = taken.get(project).copied().unwrap_or(0);
        if self.open.load(Ordering::Acquire) >= self.caps.max || mine >= self.caps.per_project {
            return Err(TooManyStreams);
        }
        taken.insert(project.clone(), mine + 1);
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(StreamSlot {
            tail: self.clone(),
            project: project.clone(),
        })
    }

    /// Starts watching a session for one stream, whose reading starts at `version`; the
    /// stream holds a slot ([`Tail::slot`]) while it lives.
    pub fn subscribe(
        self: &Arc<Self>,
        project: &ProjectId,
        session: &SessionId,
        version: u64,
    ) -> Result<Subscription, TooManyStreams> {
        let slot = self.slot(project)?;
        if !self.poller_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(poll(Arc::downgrade(self), self.poll));
        }
        let key = (project.clone(), session.clone());
        let mut watched = lock(&self.watched);
        let entry = watched.entry(key.clone()).or_insert_with(|| Watched {
            version: watch::channel(version).0,
            streams: 0,
        });
        entry.streams += 1;
        entry.version.send_if_modified(|v| raise(v, version));
        let changes = entry.version.subscribe();
        Ok(Subscription {
            tail: self.clone(),
            key,
            changes,
            closing: self.closing.subscribe(),
            _slot: slot,
        })
    }

    /// A write through this instance raised the session's version: wake its streams now.
    pub fn committed(&self, project: &ProjectId, session: &SessionId, version: u64) {
        self.commits.committed();
        // Every append passes here: without streams (or exports), no key to build and no lock
        // to take. A stream subscribing just after this reads the store after subscribing, so
        // it sees the write anyway.
        if self.open.load(Ordering::Acquire) == 0 {
            return;
        }
        let key = (project.clone(), session.clone());
        if let Some(entry) = lock(&self.watched).get(&key) {
            entry.version.send_if_modified(|v| raise(v, version));
        }
    }

    /// Ends every stream (graceful shutdown); new ones end at once.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn watches(&self) -> Vec<Watch> {
        lock(&self.watched)
            .iter()
            .map(|((project, session), w)| Watch {
                project: project.clone(),
                session: session.clone(),
                known: *w.version.borrow(),
            })
            .collect()
    }
}

fn raise(current: &mut u64, seen: u64) -> bool {
    let raised = seen > *current;
    if raised {
        *current = seen;
    }
    raised
}

/// The poller: while the tail lives, asks the store every `interval` which watched sessions
/// changed, and wakes their streams.
async fn poll(tail: Weak<Tail>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(tail) = tail.upgrade() else {
            return;
        };
        let watches = tail.watches();
        if watches.is_empty() {
            continue;
        }
        match tail.repo.changed_sessions(&watches).await {
            Ok(changed) => {
                for (i, version) in changed {
                    if let Some(w) = watches.get(i) {
                        tail.committed(&w.project, &w.session, version);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "live tail poll failed; retrying"),
        }
    }
}

/// One stream's watch on its session; dropping it ends the watch.
pub struct Subscription {
    tail: Arc<Tail>,
    key: Key,
    changes: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    /// Released after the watch (fields drop after `Drop::drop`).
    _slot: StreamSlot,
}

impl Subscription {
    /// The newest version known, marking it seen: a change after this call ends the next
    /// [`Subscription::wait`] at once. Call it before reading.
    pub fn seen(&mut self) -> u64 {
        *self.changes.borrow_and_update()
    }

    /// Waits for a change not yet seen, the keep-alive interval, or the shutdown.
    pub async fn wait(&mut self, keep_alive: Duration) -> Wake {
        if *self.closing.borrow() {
            return Wake::Closing;
        }
        tokio::select! {
            changed = self.changes.changed() => match changed {
                Ok(()) => Wake::Changed,
                Err(_) => Wake::Closing,
            },
            _ = self.closing.changed() => Wake::Closing,
            _ = tokio::time::sleep(keep_alive) => Wake::Idle,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut watched = lock(&self.tail.watched);
        if let Some(entry) = watched.get_mut(&self.key) {
            entry.streams -= 1;
            if entry.streams == 0 {
                watched.remove(&self.key);
            }
        }
    }
}
