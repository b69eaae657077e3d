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
    truncate: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(crate) fn spawn(path: &Path) -> Result<Self, StorageError> {
        let conn = Connection::open(path).map_err(storage_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(storage_error)?;
        let stop = Arc::new(AtomicBool::new(false));
        let truncate = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let truncate_asked = truncate.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EVERY);
                    if truncate_asked.swap(false, Ordering::Relaxed) {
                        // After an erasure or redaction: copy everything back and empty the
                        // WAL file, so that no frame holding the erased content stays in it.
                        // Busy (a reader on an old snapshot): asked again for the next round.
                        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                            r.get::<_, i64>(0)
                        }) {
                            Ok(0) => continue,
                            Ok(_) => truncate_asked.store(true, Ordering::Relaxed),
                            Err(e) => {
                                truncate_asked.store(true, Ordering::Relaxed);
                                tracing::warn!(error = %e, "WAL checkpoint (TRUNCATE) failed");
                            }
                        }
                    }
                    // PASSIVE: copies what no reader still needs, never blocks the writer.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StorageError::Internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self { stop, truncate })
    }

    /// Asks for a `TRUNCATE` checkpoint at the next round (within [`EVERY`], retried while
    /// readers hold old pages).
    pub(crate) fn truncate_soon(&self) {
        self.truncate.store(true, Ordering::Relaxed);
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
