//! [`SqliteStore`]: opening the file, and the ports implemented on SQLite. Each operation is a
//! job run by the writer thread (`writes.rs`, `erasure.rs`) or on the read pool (`reads.rs`,
//! `list.rs`, `erasure.rs` for the retention sweep's reads); this module only hands it over.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError, CreateSessionError,
    EraseIf, EraseSessionError, Event, EventId, EventPage, EventRepository, GetEventError,
    GetSessionError, ListEventsError, NewSession, PageRequest, ProjectId, RedactEventError,
    Session, SessionId, SessionPage, SessionQuery, SessionRepository, StorageError, StoreAdmin,
    Timestamp, Watch, Written,
};
use rusqlite::{Connection, OpenFlags};

use crate::checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use crate::error::storage_error;
use crate::pool::ReadPool;
use crate::writer::{Kind, Writer};
use crate::{erasure, list, reads, writes};

/// SQLite's `synchronous` setting for the write connection (see `docs/decisions.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// Durable across process crashes (`kill -9`); a power loss may lose the newest commits.
    Normal,
    /// Durable across process crashes and power loss: every group commit syncs the WAL.
    Full,
}

impl Synchronous {
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "normal" => Some(Self::Normal),
            "full" => Some(Self::Full),
            _ => None,
        }
    }

    fn pragma(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; its folder is created when missing.
    pub path: PathBuf,
    pub synchronous: Synchronous,
    /// Read-only connections in the pool.
    pub readers: usize,
    /// Largest size of the database file; writes beyond it answer "unavailable" (as on a full
    /// disk). `None`: no limit but the disk's.
    pub max_size_bytes: Option<u64>,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: Synchronous::Full,
            readers: 4,
            max_size_bytes: None,
        }
    }
}

/// The embedded store. Cheap to clone; all clones share one writer and one read pool.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) writer: Arc<Writer>,
    pub(crate) readers: Arc<ReadPool>,
    checkpointer: Arc<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating when needed) the database, applies pending migrations and starts the
    /// writer. Blocking: call it at start-up.
    pub fn open(options: &SqliteOptions) -> Result<Self, StorageError> {
        let path = options.path.clone();
        let context = |e: rusqlite::Error| {
            StorageError::Unavailable(format!("cannot open {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut conn = open_writer(&path, options).map_err(context)?;
        crate::migrate::run(&mut conn).map_err(context)?;
        let reader_path = path.clone();
        let readers = ReadPool::new(options.readers.max(1), move || open_reader(&reader_path))
            .map_err(context)?;
        let checkpointer = Checkpointer::spawn(&path)?;
        let writer = Writer::spawn(conn, 4096)
            .map_err(|e| StorageError::Internal(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            writer: Arc::new(writer),
            readers: Arc::new(readers),
            checkpointer: Arc::new(checkpointer),
        })
    }
}

/// Prepared statements each connection keeps (rusqlite's default is 16): more than every
/// statement the adapter prepares (about 60), so that none is parsed again because others
/// pushed it out — with webhooks the writer's working set alone is over 16.
const STATEMENT_CACHE: usize = 128;

fn open_writer(path: &Path, options: &SqliteOptions) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    set_wal(&conn)?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content (erasures, redactions) is overwritten with zeros, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // After a checkpoint the WAL is truncated back to this size instead of keeping its peak.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    if let Some(max) = options.max_size_bytes {
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.pragma_update(None, "max_page_count", (max / page_size).max(1))?;
    }
    Ok(conn)
}

/// How long a connection waits for another's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Switches the file to WAL mode. On a new file that another instance is switching at the same
/// moment, SQLite answers `SQLITE_BUSY` at once (the switch takes its lock without calling the
/// busy handler), so the switch is tried again for as long as the busy timeout would wait.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

#[async_trait]
impl SessionRepository for SqliteStore {
    async fn create_session(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        let project = project.clone();
        self.writer
            .write(move |conn| writes::create_session(conn, &project, new))
            .await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError> {
        let (project, id) = (project.clone(), id.clone());
        self.readers
            .read(move |conn| reads::get_session(conn, &project, &id))
            .await
    }

    async fn complete_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        let (project, id) = (project.clone(), id.clone());
        self.writer
            .write(move |conn| writes::complete_session(conn, &project, &id, request))
            .await
    }

    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        let project = project.clone();
        self.readers
            .read(move |conn| list::read_page(conn, &project, &query))
            .await
    }

    /// One writer job, then a `TRUNCATE` checkpoint so that no copy of the erased pages stays
    /// in the WAL when this returns (a replay too: an earlier call may have failed there).
    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        let (project, id) = (project.clone(), id.clone());
        let erased = self
            .writer
            .write(move |conn| erasure::erase_session(conn, &project, &id, at, only))
            .await?;
        self.checkpointer.truncate().await?;
        Ok(erased)
    }

    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        self.readers
            .read(move |conn| erasure::expired_sessions(conn, before, limit))
            .await
    }

    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.writer
            .write(move |conn| erasure::purge_tombstones(conn, before, limit))
            .await
    }
}

#[async_trait]
impl EventRepository for SqliteStore {
    async fn append_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        let (project, session_id) = (project.clone(), session_id.clone());
        self.writer
            // Every refusal is decided before the first insert (`writes::append_events`).
            .write_as(Kind::Decided, move |conn| {
                writes::append_events(conn, &project, &session_id, batch)
            })
            .await
    }

    async fn get_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
    ) -> Result<Event, GetEventError> {
        let (project, session_id, event_id) =
            (project.clone(), session_id.clone(), event_id.clone());
        self.readers
            .read(move |conn| reads::get_event(conn, &project, &session_id, &event_id))
            .await
    }

    async fn list_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        let (project, session_id) = (project.clone(), session_id.clone());
        self.readers
            .read(move |conn| reads::list_events(conn, &project, &session_id, page))
            .await
    }

    /// One writer job, then a `TRUNCATE` checkpoint (as for an erasure).
    async fn redact_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError> {
        let (project, session_id, event_id) =
            (project.clone(), session_id.clone(), event_id.clone());
        let redacted = self
            .writer
            .write(move |conn| erasure::redact_event(conn, &project, &session_id, &event_id, at))
            .await?;
        self.checkpointer.truncate().await?;
        Ok(redacted)
    }

    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError> {
        let watches = watches.to_vec();
        self.readers
            .read(move |conn| reads::changed_sessions(conn, &watches))
            .await
    }
}

impl SqliteStore {
    /// SQLite's `EXPLAIN QUERY PLAN` of each statement a page of `query` runs (one per status
    /// asked for), the plan's lines joined by `; `: for operators, and the tests that keep pages
    /// on their indexes.
    pub async fn explain_list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<Vec<String>, StorageError> {
        let project = project.clone();
        self.readers
            .read(move |conn| list::explain(conn, &project, &query))
            .await
    }

    /// SQLite's `EXPLAIN QUERY PLAN` of the retention sweep's two statements (expired
    /// sessions, expired tombstones), each plan's lines joined by `; `: for operators, and the
    /// test that keeps them on their indexes.
    pub async fn explain_sweep(&self) -> Result<Vec<String>, StorageError> {
        self.readers.read(erasure::explain_sweep).await
    }
}

#[async_trait]
impl StoreAdmin for SqliteStore {
    async fn ping(&self) -> Result<(), StorageError> {
        self.readers
            .read(|conn| {
                conn.query_row("SELECT 1 FROM meta LIMIT 1", [], |_| Ok(()))
                    .map_err(storage_error)
            })
            .await
    }

    async fn shared_secret(&self) -> Result<Vec<u8>, StorageError> {
        self.readers
            .read(|conn| {
                conn.query_row(
                    "SELECT value FROM meta WHERE key = 'shared_secret'",
                    [],
                    |r| r.get(0),
                )
                .map_err(storage_error)
            })
            .await
    }

    async fn close(&self) {
        self.checkpointer.stop();
        self.writer.close().await;
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }
}
