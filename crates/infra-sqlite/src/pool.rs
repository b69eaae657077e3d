//! A small pool of read-only connections, used from tokio's blocking threads.
//!
//! A read holds its permit until its query ends, not until its caller stops waiting: a caller
//! cancelled by the storage timeout or a client disconnect leaves the query running in its
//! blocking thread, and the pool never opens more connections than its size.

use std::sync::{Arc, Mutex};

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

pub(crate) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    open: Box<dyn Fn() -> rusqlite::Result<Connection> + Send + Sync>,
}

impl ReadPool {
    pub(crate) fn new(
        size: usize,
        open: impl Fn() -> rusqlite::Result<Connection> + Send + Sync + 'static,
    ) -> rusqlite::Result<Self> {
        let idle = (0..size)
            .map(|_| open())
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(size)),
            open: Box::new(open),
        })
    }

    /// Runs `work` on an idle connection in a blocking thread. The permit moves into that
    /// thread: dropping the returned future does not free it while `work` runs.
    pub(crate) async fn read<T, E>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| E::from(StorageError::Unavailable("the store is closed".into())))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = match pool.take() {
                Ok(conn) => conn,
                Err(e) => return Err(E::from(crate::error::storage_error(e))),
            };
            let result = work(&conn);
            pool.idle.lock().expect("pool lock").push(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| E::from(StorageError::Internal(format!("read task failed: {e}"))))?
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().expect("pool lock").pop();
        match idle {
            Some(conn) => Ok(conn),
            // A connection is lost only when a read panicked; open a replacement.
            None => (self.open)(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn a_cancelled_read_keeps_its_permit_until_its_query_ends() {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&opened);
        let pool = Arc::new(
            ReadPool::new(1, move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Connection::open_in_memory()
            })
            .expect("pool"),
        );
        // A read whose query runs until the test lets it end.
        let (started, is_started) = oneshot::channel::<()>();
        let (finish, until_finished) = mpsc::channel::<()>();
        let slow = Arc::clone(&pool);
        let cancelled = tokio::spawn(async move {
            slow.read(move |conn| {
                started.send(()).expect("the test waits");
                until_finished.recv().expect("the test ends the query");
                conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                    .map_err(crate::error::storage_error)
            })
            .await
        });
        is_started.await.expect("the query started");
        // The caller goes away (a storage timeout, a client disconnect).
        cancelled.abort();
        assert!(cancelled.await.expect_err("cancelled").is_cancelled());

        // Its query still runs on the pool's only connection: no other read may start.
        assert_eq!(pool.permits.available_permits(), 0);
        let next = Arc::clone(&pool);
        let second = tokio::spawn(async move {
            next.read(|conn| {
                conn.query_row("SELECT 2", [], |row| row.get::<_, i64>(0))
                    .map_err(crate::error::storage_error)
            })
            .await
        });
        finish.send(()).expect("the query waits");
        assert_eq!(second.await.expect("joined").expect("read"), 2);
        assert_eq!(
            opened.load(Ordering::SeqCst),
            1,
            "no connection beyond the pool's size"
        );
        assert_eq!(pool.permits.available_permits(), 1);
    }
}
