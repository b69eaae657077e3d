//! [`SqliteStore`]: the ports implemented on SQLite.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    Absent, AppendBatch, AppendEventError, BatchStep, CompleteRequest, CompleteSessionError,
    CompleteStep, CreateSessionError, EraseSessionError, Event, EventId, EventMissing, EventPage,
    EventRepository, GetEventError, GetSessionError, ListEventsError, NewSession, Order,
    PageRequest, ProjectId, RedactEventError, Session, SessionId, SessionPage, SessionQuery,
    SessionRepository, StorageError, StoreAdmin, Timestamp, Watch, Written, decision,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use crate::error::{SqlResultExt, storage_error};
use crate::pool::ReadPool;
use crate::rows::{self, event_columns, int, session_columns};
use crate::writer::Writer;

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

fn open_writer(path: &Path, options: &SqliteOptions) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content (erasures, redactions) is overwritten with zeros, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
    // After a checkpoint the WAL is truncated back to this size instead of keeping its peak.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    if let Some(max) = options.max_size_bytes {
        let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        conn.pragma_update(None, "max_page_count", (max / page_size).max(1))?;
    }
    Ok(conn)
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn load_session(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> rusqlite::Result<Option<Session>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE project = ?1 AND session_id = ?2"
    ))?
    .query_row([project.as_str(), id.as_str()], rows::session)
    .optional()
}

fn session_exists(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sessions WHERE project = ?1 AND session_id = ?2")?
        .exists([project.as_str(), id.as_str()])
}

/// When the session was erased, if its tombstone remains.
fn tombstone(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> rusqlite::Result<Option<Timestamp>> {
    conn.prepare_cached("SELECT erased_at FROM tombstones WHERE project = ?1 AND session_id = ?2")?
        .query_row([project.as_str(), id.as_str()], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|ms| {
            Timestamp::from_millis(ms)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
        })
        .transpose()
}

/// The error `E` for a session that is not stored: erased (tombstone) or not found.
fn absent<E: Absent + From<StorageError>>(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> E {
    match tombstone(conn, project, id) {
        Ok(tomb) => E::absent(tomb.is_some()),
        Err(e) => storage_error(e).into(),
    }
}

fn load_event(
    conn: &Connection,
    project: &ProjectId,
    session: &SessionId,
    event: &EventId,
) -> rusqlite::Result<Option<Event>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events WHERE project = ?1 AND session_id = ?2 AND event_id = ?3"
    ))?
    .query_row(
        [project.as_str(), session.as_str(), event.as_str()],
        rows::event,
    )
    .optional()
}

/// Writes the mutable part of a session back.
fn save_session_state(conn: &Connection, project: &ProjectId, s: &Session) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET status = ?3, ended_at = ?4, event_count = ?5, last_seq = ?6,
                updated_at = ?7
          WHERE project = ?1 AND session_id = ?2",
    )?
    .execute(params![
        project.as_str(),
        s.id.as_str(),
        s.status.as_str(),
        s.ended_at.map(Timestamp::millis),
        int(s.event_count),
        int(s.last_seq),
        s.updated_at.millis(),
    ])?;
    Ok(())
}

fn insert_session(conn: &Connection, project: &ProjectId, s: &Session) -> rusqlite::Result<bool> {
    let inserted = conn
        .prepare_cached(concat!(
            "INSERT INTO sessions (project, ",
            session_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (project, session_id) DO NOTHING"
        ))?
        .execute(params![
            project.as_str(),
            s.id.as_str(),
            s.status.as_str(),
            s.language.as_ref().map(|l| l.as_str()),
            s.metadata.as_str(),
            s.started_at.millis(),
            s.ended_at.map(Timestamp::millis),
            int(s.event_count),
            int(s.last_seq),
            s.created_at.millis(),
            s.updated_at.millis(),
        ])?;
    Ok(inserted == 1)
}

/// Inserts unless an event with this id is in the session already; says whether it did.
fn insert_event(conn: &Connection, project: &ProjectId, e: &Event) -> rusqlite::Result<bool> {
    let inserted = conn
        .prepare_cached(concat!(
            "INSERT INTO events (project, ",
            event_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (project, session_id, event_id) DO NOTHING"
        ))?
        .execute(params![
            project.as_str(),
            e.session_id.as_str(),
            e.event_id.as_str(),
            int(e.seq),
            e.event_type.as_str(),
            e.payload.as_str(),
            e.timestamp.millis(),
            e.received_at.millis(),
            e.redaction.map(|r| r.at.millis()),
            e.redaction.map(|r| r.fingerprint.0.to_vec()),
        ])?;
    Ok(inserted == 1)
}

/// The error for an event that is not stored: the session exists (event not found), or not.
fn missing_event<E: Absent + From<StorageError> + From<EventMissing>>(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
) -> E {
    match session_exists(conn, project, session_id) {
        Ok(true) => EventMissing.into(),
        Ok(false) => absent(conn, project, session_id),
        Err(e) => storage_error(e).into(),
    }
}

fn missing(what: &str) -> StorageError {
    StorageError::Internal(format!("{what} vanished inside a transaction"))
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
            .write(move |conn| {
                let id = new.id.clone();
                if tombstone(conn, &project, &id).storage()?.is_some() {
                    return Err(CreateSessionError::Erased);
                }
                let created = crate::list::creation_time(conn, &project, &id).storage()?;
                let session = new.into_session(created);
                if insert_session(conn, &project, &session).storage()? {
                    crate::list::insert_labels(conn, &project, &session).storage()?;
                    return Ok(Written::created(session));
                }
                let stored = load_session(conn, &project, &id).storage()?;
                Ok(Written::replayed(stored.ok_or_else(|| missing("session"))?))
            })
            .await
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError> {
        let (project, id) = (project.clone(), id.clone());
        self.readers
            .read(move |conn| {
                load_session(conn, &project, &id)
                    .storage()?
                    .ok_or_else(|| absent(conn, &project, &id))
            })
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
            .write(move |conn| {
                let session = load_session(conn, &project, &id)
                    .storage()?
                    .ok_or_else(|| absent::<CompleteSessionError>(conn, &project, &id))?;
                match decision::complete(session, &request, Timestamp::now()) {
                    CompleteStep::Answer(answer) => answer,
                    CompleteStep::Close(closed) => {
                        save_session_state(conn, &project, &closed).storage()?;
                        Ok(Written::created(closed))
                    }
                }
            })
            .await
    }

    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        let project = project.clone();
        self.readers
            .read(move |conn| crate::list::read_page(conn, &project, &query))
            .await
    }

    /// One writer job: the events, labels and session row are deleted and the tombstone
    /// inserted in one transaction (no append or complete can fall between), then the WAL is
    /// checkpointed and truncated so that no copy of the erased pages stays in it.
    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        let (project, id) = (project.clone(), id.clone());
        let erased = self
            .writer
            .write(move |conn| {
                if let Some(erased_at) = tombstone(conn, &project, &id).storage()? {
                    return Ok(Written::replayed(erased_at));
                }
                let key = [project.as_str(), id.as_str()];
                for sql in [
                    "DELETE FROM events WHERE project = ?1 AND session_id = ?2",
                    "DELETE FROM session_labels WHERE project = ?1 AND session_id = ?2",
                ] {
                    conn.prepare_cached(sql).storage()?.execute(key).storage()?;
                }
                let removed = conn
                    .prepare_cached("DELETE FROM sessions WHERE project = ?1 AND session_id = ?2")
                    .storage()?
                    .execute(key)
                    .storage()?;
                if removed == 0 {
                    return Err(EraseSessionError::NotFound);
                }
                conn.prepare_cached(
                    "INSERT INTO tombstones (project, session_id, erased_at) VALUES (?1, ?2, ?3)",
                )
                .storage()?
                .execute(params![project.as_str(), id.as_str(), at.millis()])
                .storage()?;
                Ok(Written::created(at))
            })
            .await?;
        if !erased.replayed {
            self.checkpointer.truncate_soon();
        }
        Ok(erased)
    }

    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        self.readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(EXPIRED_SQL).storage()?;
                let rows = stmt
                    .query_map(params![before.millis(), limit], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .storage()?;
                let mut found = Vec::new();
                for row in rows {
                    let (project, id) = row.storage()?;
                    match (ProjectId::parse(project), SessionId::parse(id)) {
                        (Ok(project), Ok(id)) => found.push((project, id)),
                        _ => return Err(StorageError::Internal("stored id is not valid".into())),
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.writer
            .write(move |conn| {
                let removed = conn
                    .prepare_cached(PURGE_SQL)
                    .storage()?
                    .execute(params![before.millis(), limit])
                    .storage()?;
                Ok(removed as u64)
            })
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
        // One writer job: the whole batch is one savepoint of the group's transaction, so it is
        // stored whole or not at all, and nothing else writes between its reads and its writes
        // (the `expectedLastSeq` check included).
        self.writer
            .write(move |conn| {
                let mut session = load_session(conn, &project, &session_id)
                    .storage()?
                    .ok_or_else(|| absent::<AppendEventError>(conn, &project, &session_id))?;
                let existing = batch
                    .events()
                    .iter()
                    .map(|new| load_event(conn, &project, &session_id, &new.event_id))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .storage()?;
                let plan =
                    match decision::append_batch(batch, session.status, session.last_seq, existing)
                    {
                        BatchStep::Answer(answer) => return answer,
                        BatchStep::Insert(plan) => plan,
                    };
                let now = Timestamp::now();
                let events = plan.new_events(&session_id, now);
                for event in &events {
                    if !insert_event(conn, &project, event).storage()? {
                        return Err(missing("the free event id").into());
                    }
                    session.record_append(event.seq, now);
                }
                save_session_state(conn, &project, &session).storage()?;
                Ok(plan.answer(events))
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
            .read(move |conn| {
                if let Some(event) = load_event(conn, &project, &session_id, &event_id).storage()? {
                    return Ok(event);
                }
                Err(missing_event(conn, &project, &session_id))
            })
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
            .read(move |conn| read_page(conn, &project, &session_id, page))
            .await
    }

    /// One writer job: the payload is replaced by `{}` and its fingerprint in place
    /// (`secure_delete` zeroes the old text), then the WAL is checkpointed and truncated.
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
            .write(move |conn| {
                let Some(mut event) =
                    load_event(conn, &project, &session_id, &event_id).storage()?
                else {
                    return Err(missing_event::<RedactEventError>(
                        conn,
                        &project,
                        &session_id,
                    ));
                };
                if !event.redact(at) {
                    return Ok(Written::replayed(event));
                }
                let redaction = event.redaction.expect("redact sets it");
                conn.prepare_cached(
                    "UPDATE events SET payload = ?4, redacted_at = ?5, fingerprint = ?6
                      WHERE project = ?1 AND session_id = ?2 AND event_id = ?3",
                )
                .storage()?
                .execute(params![
                    project.as_str(),
                    session_id.as_str(),
                    event_id.as_str(),
                    event.payload.as_str(),
                    redaction.at.millis(),
                    &redaction.fingerprint.0[..],
                ])
                .storage()?;
                Ok(Written::created(event))
            })
            .await?;
        if !redacted.replayed {
            self.checkpointer.truncate_soon();
        }
        Ok(redacted)
    }

    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError> {
        let watches = watches.to_vec();
        self.readers
            .read(move |conn| {
                let mut changed = Vec::new();
                for (chunk_at, chunk) in watches.chunks(WATCHES_PER_STATEMENT).enumerate() {
                    let offset = chunk_at * WATCHES_PER_STATEMENT;
                    let read = versions(conn, chunk).storage()?;
                    let found = Watch::changed(chunk, read);
                    changed.extend(found.into_iter().map(|(i, v)| (offset + i, v)));
                }
                Ok(changed)
            })
            .await
    }
}

/// The retention sweep's sessions: a range of `sessions_by_retention` (its expression).
const EXPIRED_SQL: &str = "SELECT project, session_id FROM sessions
                            WHERE coalesce(ended_at, updated_at) < ?1
                            ORDER BY coalesce(ended_at, updated_at) LIMIT ?2";

/// The retention sweep's tombstones: a range of `tombstones_by_erased`.
const PURGE_SQL: &str = "DELETE FROM tombstones WHERE (project, session_id) IN (
                             SELECT project, session_id FROM tombstones
                              WHERE erased_at < ?1 ORDER BY erased_at LIMIT ?2)";

impl SqliteStore {
    /// SQLite's `EXPLAIN QUERY PLAN` of the retention sweep's two statements (expired
    /// sessions, expired tombstones), each plan's lines joined by `; `: for operators, and the
    /// test that keeps them on their indexes.
    pub async fn explain_sweep(&self) -> Result<Vec<String>, StorageError> {
        self.readers
            .read(|conn| {
                let mut plans = Vec::new();
                for sql in [EXPIRED_SQL, PURGE_SQL] {
                    let mut stmt = conn
                        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                        .storage()?;
                    plans.push(rows::query_plan(&mut stmt, params![0_i64, 100_i64]).storage()?);
                }
                Ok(plans)
            })
            .await
    }
}

/// Watches read by one statement (two parameters each, far below SQLite's limit).
const WATCHES_PER_STATEMENT: usize = 200;

/// The version of each watched session, as `(project, sessionId, version)`: one statement on
/// the sessions' primary key.
fn versions(conn: &Connection, watches: &[Watch]) -> rusqlite::Result<Vec<(String, String, u64)>> {
    let keys = vec!["(?, ?)"; watches.len()].join(", ");
    // A watched session erased since (its tombstone remains) comes back with nulls: see
    // `rows::version`. Sessions absent otherwise are left out.
    let sql = format!(
        "SELECT w.column1, w.column2, s.last_seq, s.status
           FROM (VALUES {keys}) AS w
           LEFT JOIN sessions AS s ON s.project = w.column1 AND s.session_id = w.column2
           LEFT JOIN tombstones AS t ON t.project = w.column1 AND t.session_id = w.column2
          WHERE s.session_id IS NOT NULL OR t.session_id IS NOT NULL"
    );
    let params: Vec<&str> = watches
        .iter()
        .flat_map(|w| [w.project.as_str(), w.session.as_str()])
        .collect();
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params), rows::version)?;
    rows.collect()
}

/// One statement reads the page (a consistent snapshot); only an empty page needs a second
/// look to tell an empty session from a missing one (events exist only in existing sessions).
fn read_page(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    page: PageRequest,
) -> Result<EventPage, ListEventsError> {
    // No `LIMIT ?`: with STAT4, SQLite re-prepares a statement whose bound LIMIT changes; the
    // scan is lazy, so taking `limit + 1` rows stops it just as well.
    let sql = match page.order {
        Order::Asc => concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE project = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq ASC"
        ),
        Order::Desc => concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE project = ?1 AND session_id = ?2 AND seq < ?3 ORDER BY seq DESC"
        ),
    };
    let after = match (page.order, page.after) {
        (_, Some(seq)) => int(seq),
        (Order::Asc, None) => 0,
        (Order::Desc, None) => i64::MAX,
    };
    let wanted = page.limit as usize + 1;
    let mut stmt = conn.prepare_cached(sql).storage()?;
    let mut events = stmt
        .query_map(
            params![project.as_str(), session_id.as_str(), after],
            rows::event,
        )
        .storage()?
        .take(wanted)
        .collect::<rusqlite::Result<Vec<Event>>>()
        .storage()?;
    if events.is_empty() && !session_exists(conn, project, session_id).storage()? {
        return Err(absent(conn, project, session_id));
    }
    let has_more = events.len() > page.limit as usize;
    events.truncate(page.limit as usize);
    Ok(EventPage { events, has_more })
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
