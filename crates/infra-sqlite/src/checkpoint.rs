//! WAL checkpoints on their own thread and connection, so that the writer's commits never pay
//! for copying the WAL back into the database. The writer keeps SQLite's automatic checkpoint
//! only as a backstop (a much larger threshold) in case this thread falls behind.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use domain::StorageError;
use rusqlite::Connection;

use crate::error::storage_error;

/// How often the WAL is copied back into the database.
const EVERY: Duration = Duration::from_millis(250);

/// WAL pages after which the writer checkpoints by itself (the default is 1000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 20_000;

/// Stops the thread when dropped or closed.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(crate) fn spawn(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path).map_err(storage_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(storage_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EVERY);
                    // PASSIVE: copies what no reader still needs, never blocks the writer.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StorageError::Internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self { stop })
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
