//! The single writer thread with group commit.
//!
//! Each write is a job run inside a shared `BEGIN IMMEDIATE` transaction, under its own
//! savepoint so that a failing job leaves the others untouched. Jobs queued while a group
//! commits form the next group, so concurrent writers share one transaction and one sync.
//! A job's answer is sent only after its group's `COMMIT` returned.
//!
//! A job that decides before it writes ([`Kind::Decided`]: every refusal comes before
//! its first change, so an error after one is a storage failure) runs without a savepoint: a
//! savepoint copies each page a job changes into a sub-journal first, the larger part of a
//! small job's cost. If such a job does fail after changing something, nothing can undo its
//! part alone: the whole group is rolled back and every job in it answers "unavailable"
//! (never a partial job committed).
//!
//! The webhook dispatcher's jobs ([`Kind::Background`]) wait apart: a group runs them after
//! its request writes, within their share of the writer's time ([`Share`]), and all of them
//! when no request write waits (decision 45).
//!
//! A job that records a webhook message says so ([`note_recorded`]); once its group has
//! committed, the writer publishes it for the dispatcher ([`Writer::take_recorded`]).

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use domain::StorageError;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::storage_error;

/// Sends a job's answer once the fate of its transaction is known.
pub(crate) type Finish = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// Runs inside the group's transaction (given `None` it must not touch the database and
/// fails); says whether it succeeded and how to answer.
pub(crate) type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;

/// How a job runs (see the module's documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Under a savepoint of its own: a refusal rolls back its own changes only.
    Guarded,
    /// Refuses only before its first change (an error after one is a storage failure): no
    /// savepoint; failing after a change, it takes its whole group down with it.
    Decided,
    /// [`Kind::Decided`], and it yields to the writes requests wait for, taking a bounded share
    /// of the writer while they queue ([`Share`]), all of it when none does: the webhook
    /// dispatcher's claims and settles.
    Background,
}

/// The largest group of jobs committed together.
const MAX_GROUP: usize = 512;

/// The part of the writer's time background jobs get while request writes wait (decision 45).
const BACKGROUND_SHARE: f64 = 0.08;

/// The most background time saved up, or owed.
const SHARE_BOUND: Duration = Duration::from_millis(20);

/// How much of the writer's time background jobs may still take while request writes wait:
/// each group of request writes earns [`BACKGROUND_SHARE`] of its time, each background job
/// run beside them costs its own. When no request write waits, background jobs run freely
/// (and cost nothing): they never starve, and under a saturating load they take about
/// [`BACKGROUND_SHARE`] of the writer.
struct Share {
    /// Nanoseconds; within ±[`SHARE_BOUND`].
    credit: f64,
}

impl Share {
    fn new() -> Self {
        Self {
            credit: SHARE_BOUND.as_nanos() as f64,
        }
    }

    fn earn(&mut self, requests: Duration) {
        self.credit = (self.credit + requests.as_nanos() as f64 * BACKGROUND_SHARE)
            .min(SHARE_BOUND.as_nanos() as f64);
    }

    fn spend(&mut self, background: Duration) {
        self.credit =
            (self.credit - background.as_nanos() as f64).max(-(SHARE_BOUND.as_nanos() as f64));
    }

    fn allows(&self) -> bool {
        self.credit > 0.0
    }
}

enum Message {
    Job(Job, Kind),
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

    /// Runs `work` in the writer's transaction ([`Kind::Guarded`]) and answers after commit.
    /// `work` returning `Err` rolls its own changes back.
    pub(crate) async fn write<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.write_as(Kind::Guarded, work).await
    }

    /// Runs `work` as `kind` says in the writer's transaction and answers after commit.
    pub(crate) async fn write_as<T, E>(
        &self,
        kind: Kind,
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
            .send(Message::Job(job, kind))
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
    let mut group: Vec<(Job, Kind)> = Vec::with_capacity(MAX_GROUP);
    let mut background: VecDeque<Job> = VecDeque::new();
    let mut share = Share::new();
    let mut closing = None;
    loop {
        // With background jobs waiting, a group goes now, even without request writes.
        let mut next = if background.is_empty() {
            match rx.blocking_recv() {
                Some(first) => Some(first),
                None => break,
            }
        } else {
            rx.try_recv().ok()
        };
        while let Some(message) = next.take() {
            match message {
                Message::Job(job, Kind::Background) => background.push_back(job),
                Message::Job(job, kind) => group.push((job, kind)),
                Message::Close(done) => closing = Some(done),
            }
            if closing.is_none() && group.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        commit_group(
            &mut conn,
            group.drain(..),
            &mut background,
            &mut share,
            recorded,
        );
        if closing.is_some() {
            // What is still queued behind the close answers "unavailable" when dropped.
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
    group: std::vec::Drain<'_, (Job, Kind)>,
    background: &mut VecDeque<Job>,
    share: &mut Share,
    recorded: &AtomicBool,
) {
    RECORDED.set(false);
    let started = Instant::now();
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        let err = storage_error(e);
        // The background jobs waiting too: kept, they would have the writer try again at once.
        for job in group.map(|(job, _)| job).chain(background.drain(..)) {
            let (_, finish) = job(None);
            finish(Err(err.clone()));
        }
        return;
    }
    let mut finishes: Vec<Finish> = Vec::with_capacity(group.len() + 1);
    let mut broken: Option<StorageError> = None;
    let waiting = group.len() > 0;
    for (job, kind) in group {
        run_job(conn, job, kind, &mut finishes, &mut broken);
    }
    // Background jobs: all of them when no other job waits; otherwise while their share of
    // the writer's time allows, each charged what it took.
    share.earn(started.elapsed());
    while !waiting || share.allows() {
        let Some(job) = background.pop_front() else {
            break;
        };
        let began = Instant::now();
        run_job(conn, job, Kind::Background, &mut finishes, &mut broken);
        if waiting {
            share.spend(began.elapsed());
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

/// Runs one job of a group (see [`Kind`]), noting its answer in `finishes` and in `broken`
/// what takes the whole group down.
fn run_job(
    conn: &Connection,
    job: Job,
    kind: Kind,
    finishes: &mut Vec<Finish>,
    broken: &mut Option<StorageError>,
) {
    // After some errors (a full disk, IO) SQLite rolls the whole transaction back by itself:
    // then nothing of this group can commit, and no later job may run outside it.
    if broken.is_some() || conn.is_autocommit() {
        let (_, finish) = job(None);
        finishes.push(finish);
        broken.get_or_insert_with(aborted);
        return;
    }
    if kind != Kind::Guarded {
        let changes = conn.total_changes();
        let (ok, finish) = job(Some(conn));
        finishes.push(finish);
        if conn.is_autocommit() || (!ok && conn.total_changes() != changes) {
            tracing::error!("a write failed after it began; the group will be rolled back");
            broken.get_or_insert_with(aborted);
        }
        return;
    }
    let savepoint = run_cached(conn, "SAVEPOINT job");
    let (ok, finish) = job(savepoint.is_ok().then_some(conn));
    finishes.push(finish);
    if conn.is_autocommit() {
        broken.get_or_insert_with(aborted);
        return;
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
            let _ = jobs.send(Message::Job(job, Kind::Guarded)).await;
        });
        is_started.await.expect("the holding job runs");
        (release, queued)
    }

    /// Queues `work` (under `guard`) from a task of its own: its answer.
    fn queued(
        writer: &Arc<Writer>,
        kind: Kind,
        work: impl FnOnce(&Connection) -> Result<(), StorageError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<(), StorageError>> {
        let writer = Arc::clone(writer);
        tokio::spawn(async move { writer.write_as(kind, work).await })
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
        let broken = queued(&writer, Kind::Decided, |conn| {
            insert(conn, 1).and_then(|()| Err(refused()))
        });
        let neighbour = queued(&writer, Kind::Guarded, |conn| insert(conn, 2));
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
        let refusing = queued(&writer, Kind::Decided, |_| Err(refused()));
        let decided = queued(&writer, Kind::Decided, |conn| insert(conn, 1));
        let guarded = queued(&writer, Kind::Guarded, |conn| {
            insert(conn, 2).and_then(|()| Err(refused()))
        });
        let neighbour = queued(&writer, Kind::Guarded, |conn| insert(conn, 3));
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

    /// Queues `work` as background work (the dispatcher's) from a task of its own.
    fn background(
        writer: &Arc<Writer>,
        work: impl FnOnce(&Connection) -> Result<(), StorageError> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<(), StorageError>> {
        let writer = Arc::clone(writer);
        tokio::spawn(async move { writer.write_as(Kind::Background, work).await })
    }

    /// What `t` holds in the order it was written.
    fn written(dir: &tempfile::TempDir) -> Vec<i64> {
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        let mut rows = conn
            .prepare("SELECT n FROM t ORDER BY rowid")
            .expect("select");
        rows.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<Vec<i64>>>()
            .expect("read")
    }

    /// A background job that takes `took` (more than its share can hold) before it writes `n`.
    fn slow(took: Duration, n: i64) -> impl FnOnce(&Connection) -> Result<(), StorageError> {
        move |conn| {
            std::thread::sleep(took);
            insert(conn, n)
        }
    }

    #[test]
    fn the_background_share_is_earned_by_request_writes_and_bounded() {
        let mut share = Share::new();
        assert!(share.allows(), "a writer starts with its share saved up");
        share.spend(SHARE_BOUND * 3);
        assert!(!share.allows());
        // What it owes is bounded: request writes of the bound's worth, over the share, pay it.
        let repaid = SHARE_BOUND.div_f64(BACKGROUND_SHARE);
        share.earn(repaid.mul_f64(0.99));
        assert!(!share.allows());
        share.earn(repaid.mul_f64(0.02));
        assert!(share.allows());
        // What it saves up is bounded too.
        share.earn(Duration::from_secs(3_600));
        share.spend(SHARE_BOUND.mul_f64(1.01));
        assert!(!share.allows());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_jobs_beyond_their_share_wait_behind_request_writes() {
        let (writer, _, dir) = writer();
        let writer = Arc::new(writer);
        // The first background job spends more than the share saved up.
        let held = hold(&writer).await;
        let first = background(&writer, slow(SHARE_BOUND * 2, 1));
        let request = queued(&writer, Kind::Guarded, |conn| insert(conn, 2));
        release(held).await;
        answer(request).await.expect("stored");
        answer(first).await.expect("stored");
        // The next one, queued before a request write, waits for it (and then runs: nothing
        // else waits).
        let held = hold(&writer).await;
        let second = background(&writer, |conn| insert(conn, 3));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let request = queued(&writer, Kind::Guarded, |conn| insert(conn, 4));
        release(held).await;
        answer(second).await.expect("stored");
        answer(request).await.expect("stored");
        assert_eq!(written(&dir), [2, 1, 4, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_jobs_are_not_starved_by_a_flood_of_request_writes() {
        let (writer, _, dir) = writer();
        let writer = Arc::new(writer);
        answer(background(&writer, slow(SHARE_BOUND * 2, 0)))
            .await
            .expect("the share spent");
        let flooding = Arc::new(AtomicBool::new(true));
        let floods: Vec<_> = (0..4)
            .map(|_| {
                let (writer, flooding) = (Arc::clone(&writer), Arc::clone(&flooding));
                tokio::spawn(async move {
                    let mut written = 0_u32;
                    while flooding.load(Ordering::Acquire) {
                        writer
                            .write(|conn| {
                                std::thread::sleep(Duration::from_millis(1));
                                insert(conn, 1)
                            })
                            .await
                            .expect("stored");
                        written += 1;
                    }
                    written
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waited = tokio::time::timeout(
            Duration::from_secs(10),
            background(&writer, |conn| insert(conn, 2)),
        )
        .await;
        flooding.store(false, Ordering::Release);
        let mut requests = 0;
        for flood in floods {
            requests += flood.await.expect("flood");
        }
        assert!(waited.is_ok(), "the background job ran during the flood");
        let written = written(&dir);
        let at = written.iter().position(|&n| n == 2).expect("written");
        assert!(
            at < written.len() - 1,
            "written while request writes still came: {at} of {}",
            written.len()
        );
        assert!(requests > 0);
    }
}
