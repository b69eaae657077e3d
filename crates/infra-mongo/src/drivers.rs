//! One driver `Client` per single-threaded runtime that calls the store.
//!
//! A driver `Client` runs its connection pool and its server monitors as tasks on the runtime
//! it was created on, and its connections' sockets are registered with that runtime's reactor.
//! The HTTP server's workers are threads with a single-threaded runtime each: one process-wide
//! `Client` made every append and page hop to another thread and back (checkout, reply,
//! checkin), about nine more thread switches per request. A `Client` per worker keeps a
//! request's driver work on the thread that serves it (measured in `docs/mongodb.md` "One
//! client per worker").
//!
//! A thread running a single-threaded runtime gets its own `Client` the first time it calls the
//! store; every other caller (the threads of a multi-thread runtime, whose tasks move between
//! them anyway: start-up, the retention sweeper) shares the first, built in [`Drivers::new`].
//! All are built from the same options, checked once by that first build. The clients share
//! nothing but the database, so using several is as correct as using several instances. An
//! operation that needs one client throughout (a transaction: its `ClientSession` belongs to
//! the client that started it) takes one [`Driver`] and keeps it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::ThreadId;
use std::time::Duration;

use domain::StorageError;
use mongodb::bson::{Document, RawDocumentBuf};
use mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
use mongodb::options::ClientOptions;
use mongodb::{Client, ClientSession, Collection, Database};
use tokio::runtime::RuntimeFlavor;

use crate::error::storage_error;
use crate::schema;

/// The driver handles of one thread.
pub(crate) struct Driver {
    /// The runtime the client's tasks run on (its shutdown is run there).
    runtime: tokio::runtime::Handle,
    pub(crate) client: Client,
    pub(crate) db: Database,
    pub(crate) sessions: Collection<Document>,
    pub(crate) events: Collection<Document>,
    /// The same collection, written and read as BSON bytes (events in and out).
    pub(crate) raw_events: Collection<RawDocumentBuf>,
    /// Webhook deliveries (see `announce.rs`).
    pub(crate) deliveries: Collection<Document>,
    /// Shared by every driver of the instance: a transaction that recorded deliveries
    /// committed (`announce::record_and_commit`; read by [`Drivers::take_recorded`]).
    pub(crate) recorded: Arc<AtomicBool>,
}

impl Driver {
    fn new(
        options: &ClientOptions,
        database: &str,
        recorded: Arc<AtomicBool>,
    ) -> Result<Self, StorageError> {
        let client = Client::with_options(options.clone()).map_err(storage_error)?;
        let db = client.database(database);
        Ok(Self {
            runtime: tokio::runtime::Handle::current(),
            sessions: db.collection(schema::SESSIONS),
            events: db.collection(schema::EVENTS),
            raw_events: db.collection(schema::EVENTS),
            deliveries: db.collection(schema::WEBHOOK_DELIVERIES),
            db,
            client,
            recorded,
        })
    }
}

/// Commits `tx`. A commit whose outcome is unknown (a network error) is sent again, as the
/// driver recommends: committing twice is harmless, and a new try from the reads would answer
/// the transaction's own writes as replays.
pub(crate) async fn commit(tx: &mut ClientSession) -> Result<(), mongodb::error::Error> {
    let mut commit = tx.commit_transaction().await;
    for _ in 0..3 {
        match &commit {
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => {
                commit = tx.commit_transaction().await;
            }
            _ => break,
        }
    }
    commit
}

/// The [`Driver`] of every single-threaded runtime's thread, created on demand, and the shared
/// first one. `ThreadId`s are never reused, so a thread never sees another's client.
pub(crate) struct Drivers {
    options: ClientOptions,
    database: String,
    /// The client built (and so the options checked) by [`Drivers::new`]: the fallback of a
    /// thread whose own client cannot be built.
    first: Arc<Driver>,
    by_thread: RwLock<HashMap<ThreadId, Arc<Driver>>>,
}

impl Drivers {
    /// Checks the options by building the calling thread's client.
    pub(crate) fn new(options: ClientOptions, database: String) -> Result<Self, StorageError> {
        let first = Arc::new(Driver::new(&options, &database, Arc::default())?);
        let by_thread = HashMap::from([(std::thread::current().id(), first.clone())]);
        Ok(Self {
            options,
            database,
            first,
            by_thread: RwLock::new(by_thread),
        })
    }

    /// The calling thread's driver when it runs a single-threaded runtime (created on its
    /// first call, its tasks on that runtime), else the shared first one.
    pub(crate) fn get(&self) -> Arc<Driver> {
        if tokio::runtime::Handle::current().runtime_flavor() != RuntimeFlavor::CurrentThread {
            return self.first.clone();
        }
        let thread = std::thread::current().id();
        if let Some(driver) = self.read().get(&thread) {
            return driver.clone();
        }
        // The options were checked by the first build; should another fail all the same
        // (a TLS file gone since), the first client serves this thread.
        let recorded = self.first.recorded.clone();
        let driver = Driver::new(&self.options, &self.database, recorded)
            .map(Arc::new)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot build this thread's MongoDB client; sharing the first");
                self.first.clone()
            });
        let mut by_thread = self.by_thread.write().unwrap_or_else(|e| e.into_inner());
        by_thread.entry(thread).or_insert(driver).clone()
    }

    /// Whether a transaction that recorded webhook deliveries committed since the last call.
    pub(crate) fn take_recorded(&self) -> bool {
        self.first.recorded.swap(false, Ordering::AcqRel)
    }

    /// Shuts every client down on its own runtime, each within `bound`. A client whose runtime
    /// has already stopped (an HTTP worker's, after the server stopped) has nothing left to
    /// stop: its shutdown is cancelled at once.
    pub(crate) async fn shutdown(&self, bound: Duration) {
        let drivers: Vec<Arc<Driver>> = self.read().values().cloned().collect();
        let stops = drivers.iter().map(|d| {
            let client = d.client.clone();
            let stop = d.runtime.spawn(async move { client.shutdown().await });
            async move {
                let _ = tokio::time::timeout(bound, stop).await;
            }
        });
        futures_util::future::join_all(stops).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ThreadId, Arc<Driver>>> {
        self.by_thread.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// No server is needed: a client connects on its first operation, not when built.
    fn drivers() -> Drivers {
        let options = ClientOptions::builder()
            .hosts(vec![mongodb::options::ServerAddress::Tcp {
                host: "127.0.0.1".into(),
                port: Some(9),
            }])
            .build();
        Drivers::new(options, "drivers_test".into()).unwrap()
    }

    fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn each_single_threaded_runtime_has_its_own_client_and_keeps_it() {
        let drivers = Arc::new(current_thread().block_on(async { drivers() }));
        let on_worker = |drivers: Arc<Drivers>| {
            std::thread::spawn(move || {
                current_thread().block_on(async {
                    let (a, b) = (drivers.get(), drivers.get());
                    assert!(Arc::ptr_eq(&a, &b), "a thread keeps its client");
                    a
                })
            })
        };
        let one = on_worker(drivers.clone()).join().unwrap();
        let two = on_worker(drivers.clone()).join().unwrap();
        assert!(!Arc::ptr_eq(&one, &two));
        assert!(!Arc::ptr_eq(&one, &drivers.first));
        assert_eq!(drivers.read().len(), 3);
    }

    #[test]
    fn the_threads_of_a_multi_thread_runtime_share_the_first_client() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let drivers = Arc::new(runtime.block_on(async { drivers() }));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let drivers = drivers.clone();
                runtime.spawn(async move { drivers.get() })
            })
            .collect();
        for task in tasks {
            let driver = runtime.block_on(task).unwrap();
            assert!(Arc::ptr_eq(&driver, &drivers.first));
        }
        assert_eq!(drivers.read().len(), 1);
    }

    #[test]
    fn shutdown_does_not_wait_for_a_stopped_runtime() {
        let drivers = Arc::new(current_thread().block_on(async { drivers() }));
        let worker = drivers.clone();
        // An HTTP worker's runtime, stopped (with the thread) before the store closes.
        std::thread::spawn(move || current_thread().block_on(async { worker.get() }))
            .join()
            .unwrap();
        let started = Instant::now();
        current_thread().block_on(drivers.shutdown(Duration::from_secs(30)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
