//! The single writer thread with group commit.
//!
//! Each write is a job run inside a shared `BEGIN IMMEDIATE` transaction, under its own
//! savepoint so that a failing job leaves the others untouched. Jobs queued while a group
//! commits form the next group, so concurrent writers share one transaction and one sync.
//! A job's answer is sent only after its group's `COMMIT` returned.

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::storage_error;

/// Sends a job's answer once the fate of its transaction is known.
pub(crate) type Finish = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// Runs inside the group's transaction (given `None` it must not touch the database and
/// fails); says whether it succeeded and how to answer.
pub(crate) type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

/// The largest group of jobs committed together.
const MAX_GROUP: usize = 512;

enum Message {
    Job(Job),
    /// Commit what is queued, close the connection (checkpointing the WAL), then answer.
    Close(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    jobs: mpsc::Sender<Message>,
}

impl Writer {
    pub(crate) fn spawn(conn: Connection, queue: usize) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel(queue);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx))?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the writer's transaction and answers after commit. `work` returning
    /// `Err` rolls its own changes back.
    pub(crate) async fn write<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => work(conn),
                None => Err(E::from(StorageError::Unavailable(
                    "could not start a transaction".into(),
                ))),
            };
            let ok = result.is_ok();
            let finish: Finish = Box::new(move |committed| {
                let answer = match committed {
                    Ok(()) => result,
                    Err(e) => Err(E::from(e)),
                };
                let _ = tx.send(answer);
            });
            (ok, finish)
        });
        self.jobs
            .send(Message::Job(job))
            .await
            .map_err(|_| E::from(StorageError::Unavailable("the writer has stopped".into())))?;
        rx.await
            .map_err(|_| E::from(StorageError::Unavailable("the store is closing".into())))?
    }

    /// Finishes the queued writes and closes the database; later writes answer "unavailable".
    pub(crate) async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Message::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Message>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => group.push(job),
                Message::Close(done) => closing = Some(done),
            }
            if closing.is_none() && group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        commit_group(&mut conn, group.drain(..));
        if closing.is_some() {
            break;
        }
    }
    rx.close();
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the database failed");
    }
    tracing::debug!("sqlite writer stopped");
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

fn aborted() -> StorageError {
    StorageError::Unavailable("the write transaction was rolled back".into())
}

fn commit_group(conn: &mut Connection, group: std::vec::Drain<'_, Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        let err = storage_error(e);
        for job in group {
            let (_, finish) = job(None);
            finish(Err(err.clone()));
        }
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(group.len());
    let mut broken: Option<StorageError> = None;
    for job in group {
        // After some errors (a full disk, IO) SQLite rolls the whole transaction back by
        // itself: then nothing of this group can commit, and no later job may run outside it.
        if broken.is_some() || conn.is_autocommit() {
            let (_, finish) = job(None);
            finishes.push(finish);
            broken.get_or_insert_with(aborted);
            continue;
        }
        let savepoint = conn.execute_batch("SAVEPOINT job");
        let (ok, finish) = job(savepoint.is_ok().then_some(&*conn));
        finishes.push(finish);
        if conn.is_autocommit() {
            broken.get_or_insert_with(aborted);
            continue;
        }
        let closed = match (savepoint, ok) {
            (Ok(()), true) => conn.execute_batch("RELEASE job"),
            (Ok(()), false) => conn.execute_batch("ROLLBACK TO job; RELEASE job"),
            (Err(e), _) => Err(e),
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "savepoint failed; the group will be rolled back");
            broken.get_or_insert(storage_error(e));
        }
    }
    let committed = match broken {
        Some(err) => Err(err),
        None => conn.execute_batch("COMMIT").map_err(|e| {
            tracing::error!(error = %e, "group commit failed");
            storage_error(e)
        }),
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for finish in finishes {
        finish(committed.clone());
    }
}
