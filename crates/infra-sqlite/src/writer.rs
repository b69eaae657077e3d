//! The single writer thread with group commit.
//!
//! Each write is a job run inside a shared `BEGIN IMMEDIATE` transaction, under its own
//! savepoint so that a failing job leaves the others untouched. Jobs queued while a group
//! commits form the next group, so concurrent writers share one transaction and one sync.
//! A job's answer is sent only after its group's `COMMIT` returned.
//!
//! A job that decides before it writes ([`Writer::write_decided`]: every refusal comes before
//! its first change, so an error after one is a storage failure) runs without a savepoint: a
//! savepoint copies each page a job changes into a sub-journal first, the larger part of a
//! small job's cost. If such a job does fail after changing something, nothing can undo its
//! part alone: the whole group is rolled back and every job in it answers "unavailable"
//! (never a partial job committed).
//!
//! A job that records a webhook message says so ([`note_recorded`]); once its group has
//! committed, the writer publishes it for the dispatcher ([`Writer::take_recorded`]).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::storage_error;

/// Sends a job's answer once the fate of its transaction is known.
pub(crate) type Finish = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// Runs inside the group's transaction (given `None` it must not touch the database and
/// fails); says whether it succeeded and how to answer.
pub(crate) type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

/// Whether a job runs under its own savepoint (see the module's documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    Savepoint,
    DecidesFirst,
}

/// The largest group of jobs committed together.
const MAX_GROUP: usize = 512;

enum Message {
    Job(Job, Guard),
    /// Commit what is queued, close the connection (checkpointing the WAL), then answer.
    Close(oneshot::Sender<()>),
}

pub(crate) struct Writer {
    jobs: mpsc::Sender<Message>,
    /// A group that recorded a webhook message committed (see [`note_recorded`]).
    recorded: Arc<AtomicBool>,
}

thread_local! {
    /// The writer thread's "a job of this group recorded a webhook message".
    static RECORDED: Cell<bool> = const { Cell::new(false) };
}

/// Called by a job (on the writer thread) that recorded a webhook message: published by
/// [`Writer::take_recorded`] once its group commits.
pub(crate) fn note_recorded() {
    RECORDED.set(true);
}

impl Writer {
    pub(crate) fn spawn(conn: Connection, queue: usize) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::channel(queue);
        let recorded = Arc::new(AtomicBool::new(false));
        let published = Arc::clone(&recorded);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, rx, &published))?;
        Ok(Self { jobs, recorded })
    }

    /// Whether a group that recorded a webhook message committed since the last call.
    pub(crate) fn take_recorded(&self) -> bool {
        self.recorded.swap(false, Ordering::AcqRel)
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
        self.queue(work, Guard::Savepoint).await
    }

    /// [`Writer::write`] for `work` that refuses only before its first change (an error after
    /// one is a storage failure): no savepoint of its own; failing after a change, it takes
    /// its whole group down with it (see the module's documentation).
    pub(crate) async fn write_decided<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.queue(work, Guard::DecidesFirst).await
    }

    async fn queue<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        guard: Guard,
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
            .send(Message::Job(job, guard))
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

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Message>, recorded: &AtomicBool) {
    let mut group: Vec<(Job, Guard)> = Vec::with_capacity(MAX_GROUP);
    let mut closing = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job, guard) => group.push((job, guard)),
                Message::Close(done) => closing = Some(done),
            }
            if closing.is_none() && group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        commit_group(&mut conn, group.drain(..), recorded);
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

/// Runs one of the writer's transaction statements, prepared once per connection (parsing
/// `SAVEPOINT job` and `RELEASE job` for every job was a part of each job's cost).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn aborted() -> StorageError {
    StorageError::Unavailable("the write transaction was rolled back".into())
}

/// Runs `group` in one transaction and answers each job; a message recorded by a job of a
/// group that committed is published to `recorded` before any answer goes out (the answer is
/// what wakes the dispatcher).
fn commit_group(
    conn: &mut Connection,
    group: std::vec::Drain<'_, (Job, Guard)>,
    recorded: &AtomicBool,
) {
    RECORDED.set(false);
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        let err = storage_error(e);
        for (job, _) in group {
            let (_, finish) = job(None);
            finish(Err(err.clone()));
        }
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(group.len());
    let mut broken: Option<StorageError> = None;
    for (job, guard) in group {
        // After some errors (a full disk, IO) SQLite rolls the whole transaction back by
        // itself: then nothing of this group can commit, and no later job may run outside it.
        if broken.is_some() || conn.is_autocommit() {
            let (_, finish) = job(None);
            finishes.push(finish);
            broken.get_or_insert_with(aborted);
            continue;
        }
        if guard == Guard::DecidesFirst {
            let changes = conn.total_changes();
            let (ok, finish) = job(Some(&*conn));
            finishes.push(finish);
            if conn.is_autocommit() || (!ok && conn.total_changes() != changes) {
                tracing::error!("a write failed after it began; the group will be rolled back");
                broken.get_or_insert_with(aborted);
            }
            continue;
        }
        let savepoint = run_cached(conn, "SAVEPOINT job");
        let (ok, finish) = job(savepoint.is_ok().then_some(&*conn));
        finishes.push(finish);
        if conn.is_autocommit() {
            broken.get_or_insert_with(aborted);
            continue;
        }
        let closed = match (savepoint, ok) {
            (Ok(()), true) => run_cached(conn, "RELEASE job"),
            (Ok(()), false) => {
                run_cached(conn, "ROLLBACK TO job").and_then(|()| run_cached(conn, "RELEASE job"))
            }
            (Err(e), _) => Err(e),
        };
        if let Err(e) = closed {
            tracing::error!(error = %e, "savepoint failed; the group will be rolled back");
            broken.get_or_insert(storage_error(e));
        }
    }
    let committed = match broken {
        Some(err) => Err(err),
        None => run_cached(conn, "COMMIT").map_err(|e| {
            tracing::error!(error = %e, "group commit failed");
            storage_error(e)
        }),
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if RECORDED.take() && committed.is_ok() {
        recorded.store(true, Ordering::Release);
    }
    for finish in finishes {
        finish(committed.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, mpsc};

    use super::*;

    /// A writer on a fresh file with one table `t (n)`, and what it holds, read apart.
    fn writer() -> (Writer, impl Fn() -> Vec<i64>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER NOT NULL);")
            .expect("schema");
        let stored = move || {
            let conn = Connection::open(&path).expect("open");
            let mut rows = conn.prepare("SELECT n FROM t ORDER BY n").expect("select");
            rows.query_map([], |r| r.get(0))
                .expect("rows")
                .collect::<rusqlite::Result<Vec<i64>>>()
                .expect("read")
        };
        (Writer::spawn(conn, 16).expect("writer"), stored, dir)
    }

    fn insert(conn: &Connection, n: i64) -> Result<(), StorageError> {
        conn.execute("INSERT INTO t (n) VALUES (?1)", [n])
            .map(drop)
            .map_err(crate::error::storage_error)
    }

    fn refused() -> StorageError {
        StorageError::Internal("refused".into())
    }

    /// Holds the writer until `release` is sent, so that the jobs queued meanwhile form one
    /// group.
    async fn hold(writer: &Writer) -> (mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release, held) = mpsc::channel::<()>();
        let (started, is_started) = oneshot::channel();
        let jobs = writer.jobs.clone();
        let job: Job = Box::new(move |_| {
            let _ = started.send(());
            held.recv().expect("released");
            (true, Box::new(|_| {}))
        });
        let queued = tokio::spawn(async move {
            let _ = jobs.send(Message::Job(job, Guard::Savepoint)).await;
        });
        is_started.await.expect("the holding job runs");
        (release, queued)
    }

    /// Queues `work` (under `guard`) from a task of its own: its answer.
    fn queued(
        writer: &Arc<Writer>,
        guard: Guard,
        work: impl FnOnce(&Connection) -> Result<(), StorageError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<(), StorageError>> {
        let writer = Arc::clone(writer);
        tokio::spawn(async move { writer.queue(work, guard).await })
    }

    /// Lets the held writer go once the jobs queued meanwhile are in (one group).
    async fn release(held: (mpsc::Sender<()>, tokio::task::JoinHandle<()>)) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        held.0.send(()).expect("release");
        held.1.await.expect("queued");
    }

    async fn answer(
        job: tokio::task::JoinHandle<Result<(), StorageError>>,
    ) -> Result<(), StorageError> {
        job.await.expect("joined")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_decided_job_failing_after_a_change_takes_its_group_down_whole() {
        let (writer, stored, _dir) = writer();
        let writer = Arc::new(writer);
        let held = hold(&writer).await;
        let broken = queued(&writer, Guard::DecidesFirst, |conn| {
            insert(conn, 1).and_then(|()| Err(refused()))
        });
        let neighbour = queued(&writer, Guard::Savepoint, |conn| insert(conn, 2));
        release(held).await;
        assert!(answer(broken).await.is_err());
        assert!(
            matches!(answer(neighbour).await, Err(StorageError::Unavailable(_))),
            "its group is rolled back"
        );
        assert_eq!(
            stored(),
            Vec::<i64>::new(),
            "nothing of a partial job is kept"
        );
        // The writer goes on.
        writer.write(|conn| insert(conn, 3)).await.expect("next");
        assert_eq!(stored(), [3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_decided_job_refusing_before_any_change_leaves_its_group_alone() {
        let (writer, stored, _dir) = writer();
        let writer = Arc::new(writer);
        let held = hold(&writer).await;
        let refusing = queued(&writer, Guard::DecidesFirst, |_| Err(refused()));
        let decided = queued(&writer, Guard::DecidesFirst, |conn| insert(conn, 1));
        let guarded = queued(&writer, Guard::Savepoint, |conn| {
            insert(conn, 2).and_then(|()| Err(refused()))
        });
        let neighbour = queued(&writer, Guard::Savepoint, |conn| insert(conn, 3));
        release(held).await;
        assert!(matches!(
            answer(refusing).await,
            Err(StorageError::Internal(_))
        ));
        answer(decided).await.expect("stored");
        assert!(matches!(
            answer(guarded).await,
            Err(StorageError::Internal(_))
        ));
        answer(neighbour).await.expect("stored");
        assert_eq!(
            stored(),
            [1, 3],
            "a guarded job's own change rolled back, alone"
        );
    }
}
