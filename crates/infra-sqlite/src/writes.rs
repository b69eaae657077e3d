//! Creates, appends and completes: each one job of the writer thread, run inside the group's
//! transaction under its own savepoint (see `writer.rs`), so nothing else writes between its
//! reads and its writes. The domain decides; this module reads what it needs and writes what
//! it says.

use std::sync::LazyLock;

use domain::{
    AppendBatch, AppendEventError, BatchStep, CompleteRequest, CompleteSessionError, CompleteStep,
    Correction, CreateSessionError, Event, EventId, NewSession, ProjectId, Session, SessionId,
    SessionState, StorageError, Timestamp, WebhookEventType, Written, decision,
};
use rusqlite::{Connection, params};

use crate::error::SqlResultExt;
use crate::outbox::{Outbox, announce};
use crate::reads::{absent, load_event, load_session, tombstone};
use crate::rows::{self, int, session_columns};

fn missing(what: &str) -> StorageError {
    StorageError::Internal(format!("{what} vanished inside a transaction"))
}

pub(crate) fn create_session(
    conn: &Connection,
    project: &ProjectId,
    new: NewSession,
) -> Result<Written<Session>, CreateSessionError> {
    let id = new.id.clone();
    if tombstone(conn, project, &id).storage()?.is_some() {
        return Err(CreateSessionError::Erased);
    }
    let created = crate::list::creation_time(conn, project, &id).storage()?;
    let session = new.into_session(created);
    if insert_session(conn, project, &session).storage()? {
        crate::list::insert_labels(conn, project, &session).storage()?;
        let created = WebhookEventType::SessionCreated;
        announce(conn, project, &id, created, None, session.created_at).storage()?;
        return Ok(Written::created(session));
    }
    let stored = load_session(conn, project, &id).storage()?;
    Ok(Written::replayed(stored.ok_or_else(|| missing("session"))?))
}

pub(crate) fn complete_session(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
    request: CompleteRequest,
) -> Result<Written<Session>, CompleteSessionError> {
    let session = load_session(conn, project, id)
        .storage()?
        .ok_or_else(|| absent::<CompleteSessionError>(conn, project, id))?;
    match decision::complete(session, &request, Timestamp::now()) {
        CompleteStep::Answer(answer) => answer,
        CompleteStep::Close(closed) => {
            save_session_state(conn, project, &closed).storage()?;
            if let Some(kind) = WebhookEventType::closing(closed.status) {
                announce(conn, project, id, kind, None, closed.updated_at).storage()?;
            }
            Ok(Written::created(closed))
        }
    }
}

/// The whole batch is one job, so it is stored whole or not at all, and nothing else writes
/// between its reads and its writes (the `expectedLastSeq` check included).
pub(crate) fn append_events(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    batch: AppendBatch,
) -> Result<Vec<Written<Event>>, AppendEventError> {
    let mut session = load_session(conn, project, session_id)
        .storage()?
        .ok_or_else(|| absent::<AppendEventError>(conn, project, session_id))?;
    let load = |id: &EventId| load_event(conn, project, session_id, id);
    let existing = batch
        .events()
        .iter()
        .map(|new| load(&new.event_id))
        .collect::<rusqlite::Result<Vec<_>>>()
        .storage()?;
    let mut targets = Vec::new();
    for target in batch.targets() {
        targets.extend(load(&target).storage()?);
    }
    let state = SessionState::of(&session);
    let plan = match decision::append_batch(batch, state, existing, &targets) {
        BatchStep::Answer(answer) => return answer,
        BatchStep::Insert(plan) => plan,
    };
    let now = Timestamp::now();
    let events = plan.new_events(session_id, now);
    let outbox = Outbox::of(conn, project.as_str()).storage()?;
    for event in &events {
        if !insert_event(conn, project, event).storage()? {
            return Err(missing("the free event id").into());
        }
        session.record_append(event.seq, now);
        let appended = WebhookEventType::EventAppended;
        outbox
            .record(
                conn,
                project,
                session_id,
                appended,
                Some(&event.event_id),
                now,
            )
            .storage()?;
    }
    for correction in plan.corrections() {
        if !supersede(conn, project, session_id, correction).storage()? {
            return Err(missing("the event corrected").into());
        }
    }
    save_session_state(conn, project, &session).storage()?;
    Ok(plan.answer(events))
}

/// Sets the `supersededBy` of a stored event not corrected yet; says whether it did.
fn supersede(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    correction: &Correction,
) -> rusqlite::Result<bool> {
    let updated = conn
        .prepare_cached(
            "UPDATE events SET superseded_by = ?4
              WHERE project = ?1 AND session_id = ?2 AND event_id = ?3
                AND superseded_by IS NULL",
        )?
        .execute(params![
            project.as_str(),
            session_id.as_str(),
            correction.target.as_str(),
            correction.by.as_str(),
        ])?;
    Ok(updated == 1)
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

/// `INSERT` of an event: `project`, then every column of [`rows::EVENT_COLUMNS`].
static INSERT_EVENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} ON CONFLICT (project, session_id, event_id) DO NOTHING",
        rows::insert_event_sql()
    )
});

/// Inserts unless an event with this id is in the session already; says whether it did.
fn insert_event(conn: &Connection, project: &ProjectId, e: &Event) -> rusqlite::Result<bool> {
    let values = rows::event_values(project, e);
    let inserted = conn
        .prepare_cached(&INSERT_EVENT)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(inserted == 1)
}
