//! WAL checkpoints on their own thread and connection, so that the writer's commits never pay
//! for copying the WAL back into the database. The writer keeps SQLite's automatic checkpoint
//! only as a backstop (a much larger threshold) in case this thread falls behind.
//!
//! Erasures and redactions wait here, after their commit, for a `TRUNCATE` checkpoint: all of
//! the WAL copied back into the database (where `secure_delete` already zeroed the old content)
//! and the WAL file emptied, so that once the call returns no frame of the erased content is left
//! in any file. Requests queued while one checkpoint runs share the next one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::storage_error;

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_millis(250);

/// How long an erasure waits for its `TRUNCATE` checkpoint before it answers "unavailable".
pub(crate) const TRUNCATE_WITHIN: Duration = Duration::from_secs(5);

/// How long one attempt waits for readers on older snapshots and for the writer.
const ATTEMPT_WAITS: Duration = Duration::from_millis(100);

/// WAL pages after which the writer checkpoints by itself (the default is 1000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 20_000;

type Answer = oneshot::Sender<Result<(), StorageError>>;

/// Stops the thread when dropped or closed.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    truncations: mpsc::Sender<Answer>,
}

impl Checkpointer {
    pub(crate) fn spawn(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path).map_err(storage_error)?;
        conn.busy_timeout(ATTEMPT_WAITS).map_err(storage_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (truncations, asked) = mpsc::channel::<Answer>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match asked.recv_timeout(EVERY) {
                        Ok(first) => {
                            // Every request queued now was sent after its commit: one
                            // checkpoint started after all of them answers them all.
                            let waiting: Vec<Answer> =
                                std::iter::once(first).chain(asked.try_iter()).collect();
                            let done = truncate(&conn, Instant::now() + TRUNCATE_WITHIN);
                            for answer in waiting {
                                let _ = answer.send(done.clone());
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => passive(&conn),
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(|e| StorageError::Internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self { stop, truncations })
    }

    /// Waits until a `TRUNCATE` checkpoint that started after this call has completed: the WAL
    /// copied back and emptied. `Unavailable` when that could not happen within
    /// [`TRUNCATE_WITHIN`] (readers on old snapshots, a stuck writer) or the store is closing.
    pub(crate) async fn truncate(&self) -> Result<(), StorageError> {
        let closing = || StorageError::Unavailable("the store is closing".into());
        let (answer, done) = oneshot::channel();
        self.truncations.send(answer).map_err(|_| closing())?;
        done.await.map_err(|_| closing())?
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `wal_checkpoint(TRUNCATE)`, tried again while readers on older snapshots or the writer keep
/// it from completing, until `deadline`.
fn truncate(conn: &Connection, deadline: Instant) -> Result<(), StorageError> {
    loop {
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint (TRUNCATE) failed"),
        }
        if Instant::now() >= deadline {
            tracing::error!("the WAL could not be truncated after an erasure");
            return Err(StorageError::Unavailable(
                "the erased content could not be removed from the WAL in time".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// PASSIVE: copies what no reader still needs, never blocks the writer.
fn passive(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint failed");
    }
}
