//! A small pool of read-only connections, used from tokio's blocking threads.

use std::sync::{Arc, Mutex};

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

pub(crate) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
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
            permits: Semaphore::new(size),
            open: Box::new(open),
        })
    }

    /// Runs `work` on an idle connection in a blocking thread.
    pub(crate) async fn read<T, E>(
        self: &Arc<Self>,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
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
