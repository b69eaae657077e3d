//! Erasure, redaction, retention: each write one job of the writer thread (the store then
//! checkpoints and truncates the WAL, so that no copy of the erased pages stays in it;
//! `secure_delete` zeroes what is deleted or overwritten in the database file).

use domain::{
    EraseIf, EraseSessionError, ErasureFound, Event, EventId, ProjectId, RedactEventError,
    SessionId, StorageError, Timestamp, WebhookEventType, Written, decision,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::SqlResultExt;
use crate::outbox::announce;
use crate::reads::{load_event, missing_event, tombstone};
use crate::rows;

/// The events, labels and session row are deleted and the tombstone inserted in one
/// transaction (no append or complete can fall between), the condition `only` checked in it.
pub(crate) fn erase_session(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
    at: Timestamp,
    only: EraseIf,
) -> Result<Written<Timestamp>, EraseSessionError> {
    let found = match tombstone(conn, project, id).storage()? {
        Some(erased_at) => ErasureFound::Tombstone(erased_at),
        None if !allowed(conn, project, id, only)? => ErasureFound::Kept,
        None => remove(conn, project, id, at).storage()?,
    };
    decision::erase(found, at)
}

/// Whether `only` lets the erasure remove the stored session: its `updated_at` is
/// `domain::Session::retained_since` (no session: nothing to keep).
fn allowed(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
    only: EraseIf,
) -> Result<bool, StorageError> {
    if only == EraseIf::Always {
        return Ok(true);
    }
    let updated_at: Option<i64> = conn
        .prepare_cached("SELECT updated_at FROM sessions WHERE project = ?1 AND session_id = ?2")
        .storage()?
        .query_row([project.as_str(), id.as_str()], |r| r.get(0))
        .optional()
        .storage()?;
    match updated_at {
        None => Ok(true),
        Some(millis) => Timestamp::from_millis(millis)
            .map(|t| only.allows(t))
            .map_err(|_| StorageError::Internal("stored updated_at is not valid".into())),
    }
}

/// Removes the session and everything of it, leaving its tombstone at `at`; `Nothing` when
/// no session was stored.
fn remove(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
    at: Timestamp,
) -> rusqlite::Result<ErasureFound> {
    let key = [project.as_str(), id.as_str()];
    for sql in [
        "DELETE FROM events WHERE project = ?1 AND session_id = ?2",
        "DELETE FROM session_labels WHERE project = ?1 AND session_id = ?2",
    ] {
        conn.prepare_cached(sql)?.execute(key)?;
    }
    let removed = conn
        .prepare_cached("DELETE FROM sessions WHERE project = ?1 AND session_id = ?2")?
        .execute(key)?;
    if removed == 0 {
        return Ok(ErasureFound::Nothing);
    }
    conn.prepare_cached(
        "INSERT INTO tombstones (project, session_id, erased_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![project.as_str(), id.as_str(), at.millis()])?;
    announce(conn, project, id, WebhookEventType::SessionErased, None, at)?;
    Ok(ErasureFound::Session)
}

/// The payload is replaced by `{}` and its fingerprint in place (`secure_delete` zeroes the
/// old text).
pub(crate) fn redact_event(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    event_id: &EventId,
    at: Timestamp,
) -> Result<Written<Event>, RedactEventError> {
    let Some(mut event) = load_event(conn, project, session_id, event_id).storage()? else {
        return Err(missing_event(conn, project, session_id));
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
    let redacted = WebhookEventType::EventRedacted;
    announce(conn, project, session_id, redacted, Some(event_id), at).storage()?;
    Ok(Written::created(event))
}

/// The retention sweep's sessions: a range of `sessions_by_retention` (`updated_at`, the
/// server's time of the complete or of the last append: `domain::Session::retained_since`).
const EXPIRED_SQL: &str = "SELECT project, session_id FROM sessions
                            WHERE updated_at < ?1
                            ORDER BY updated_at LIMIT ?2";

/// The retention sweep's tombstones: a range of `tombstones_by_erased`.
const PURGE_SQL: &str = "DELETE FROM tombstones WHERE (project, session_id) IN (
                             SELECT project, session_id FROM tombstones
                              WHERE erased_at < ?1 ORDER BY erased_at LIMIT ?2)";

pub(crate) fn expired_sessions(
    conn: &Connection,
    before: Timestamp,
    limit: u32,
) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
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
}

pub(crate) fn purge_tombstones(
    conn: &Connection,
    before: Timestamp,
    limit: u32,
) -> Result<u64, StorageError> {
    let removed = conn
        .prepare_cached(PURGE_SQL)
        .storage()?
        .execute(params![before.millis(), limit])
        .storage()?;
    Ok(removed as u64)
}

/// `EXPLAIN QUERY PLAN` of the retention sweep's two statements, each plan's lines joined by
/// `; ` (see `SqliteStore::explain_sweep`).
pub(crate) fn explain_sweep(conn: &Connection) -> Result<Vec<String>, StorageError> {
    let mut plans = Vec::new();
    for sql in [EXPIRED_SQL, PURGE_SQL] {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .storage()?;
        plans.push(rows::query_plan(&mut stmt, params![0_i64, 100_i64]).storage()?);
    }
    Ok(plans)
}
