//! Reads: what the writes look up (the session, its tombstone, an event) and the read
//! operations of the ports (a session, an event, a page of events, the live tails' versions).
//! Each runs on a connection of the read pool, or on the writer inside its transaction.

use domain::{
    Absent, Event, EventId, EventMissing, EventPage, GetEventError, GetSessionError,
    ListEventsError, Order, PageRequest, ProjectId, Session, SessionId, StorageError, Timestamp,
    View, Watch,
};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::LazyLock;

use crate::error::{SqlResultExt, storage_error};
use crate::rows::{self, int, session_columns};

/// The event stored under an id in a session.
static EVENT_BY_ID: LazyLock<String> = LazyLock::new(|| {
    rows::select_events("WHERE project = ?1 AND session_id = ?2 AND event_id = ?3")
});

/// The pages of events: no `LIMIT ?` (with STAT4, SQLite re-prepares a statement whose bound
/// LIMIT changes; the scan is lazy, so taking `limit + 1` rows stops it just as well).
static PAGE_ASC: LazyLock<String> = LazyLock::new(|| {
    rows::select_events("WHERE project = ?1 AND session_id = ?2 AND seq > ?3 ORDER BY seq ASC")
});
static PAGE_DESC: LazyLock<String> = LazyLock::new(|| {
    rows::select_events("WHERE project = ?1 AND session_id = ?2 AND seq < ?3 ORDER BY seq DESC")
});
/// The pages of `view=current`: a range of the partial index `events_current` (named, so that
/// the plan cannot fall back to the primary key and skip superseded rows one by one).
static CURRENT_ASC: LazyLock<String> = LazyLock::new(|| {
    rows::select_events(
        "INDEXED BY events_current WHERE project = ?1 AND session_id = ?2 AND seq > ?3 AND superseded_by IS NULL ORDER BY seq ASC",
    )
});
static CURRENT_DESC: LazyLock<String> = LazyLock::new(|| {
    rows::select_events(
        "INDEXED BY events_current WHERE project = ?1 AND session_id = ?2 AND seq < ?3 AND superseded_by IS NULL ORDER BY seq DESC",
    )
});

pub(crate) fn load_session(
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

/// The session's `createdAt` (its incarnation), if it exists.
fn created_at(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> rusqlite::Result<Option<Timestamp>> {
    conn.prepare_cached("SELECT created_at FROM sessions WHERE project = ?1 AND session_id = ?2")?
        .query_row([project.as_str(), id.as_str()], |row| {
            rows::timestamp(row, 0)
        })
        .optional()
}

/// When the session was erased, if its tombstone remains.
pub(crate) fn tombstone(
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
pub(crate) fn absent<E: Absent + From<StorageError>>(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> E {
    match tombstone(conn, project, id) {
        Ok(tomb) => E::absent(tomb.is_some()),
        Err(e) => storage_error(e).into(),
    }
}

pub(crate) fn load_event(
    conn: &Connection,
    project: &ProjectId,
    session: &SessionId,
    event: &EventId,
) -> rusqlite::Result<Option<Event>> {
    conn.prepare_cached(&EVENT_BY_ID)?
        .query_row(
            [project.as_str(), session.as_str(), event.as_str()],
            rows::event,
        )
        .optional()
}

/// The error for an event that is not stored: the session exists (event not found), or not.
pub(crate) fn missing_event<E: Absent + From<StorageError> + From<EventMissing>>(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
) -> E {
    match created_at(conn, project, session_id) {
        Ok(Some(_)) => EventMissing.into(),
        Ok(None) => absent(conn, project, session_id),
        Err(e) => storage_error(e).into(),
    }
}

pub(crate) fn get_session(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> Result<Session, GetSessionError> {
    load_session(conn, project, id)
        .storage()?
        .ok_or_else(|| absent(conn, project, id))
}

pub(crate) fn get_event(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    event_id: &EventId,
) -> Result<Event, GetEventError> {
    if let Some(event) = load_event(conn, project, session_id, event_id).storage()? {
        return Ok(event);
    }
    Err(missing_event(conn, project, session_id))
}

/// One read transaction (a consistent snapshot): the session's incarnation (its `createdAt`,
/// none when it is missing or erased), then one statement for the page.
pub(crate) fn list_events(
    conn: &Connection,
    project: &ProjectId,
    session_id: &SessionId,
    page: PageRequest,
) -> Result<EventPage, ListEventsError> {
    let sql = match (page.view, page.order) {
        (View::All, Order::Asc) => &PAGE_ASC,
        (View::All, Order::Desc) => &PAGE_DESC,
        (View::Current, Order::Asc) => &CURRENT_ASC,
        (View::Current, Order::Desc) => &CURRENT_DESC,
    };
    let after = match (page.order, page.after) {
        (_, Some(seq)) => int(seq),
        (Order::Asc, None) => 0,
        (Order::Desc, None) => i64::MAX,
    };
    let wanted = page.limit as usize + 1;
    let snapshot = conn.unchecked_transaction().storage()?;
    let Some(incarnation) = created_at(conn, project, session_id).storage()? else {
        return Err(absent(conn, project, session_id));
    };
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
    drop(stmt);
    snapshot.commit().storage()?;
    let has_more = events.len() > page.limit as usize;
    events.truncate(page.limit as usize);
    Ok(EventPage {
        events,
        has_more,
        incarnation,
    })
}

/// Watches read by one statement (two parameters each, far below SQLite's limit).
const WATCHES_PER_STATEMENT: usize = 200;

/// The sessions of `watches` changed beyond what each watch knows (see
/// `EventRepository::changed_sessions`), [`WATCHES_PER_STATEMENT`] watches per statement.
pub(crate) fn changed_sessions(
    conn: &Connection,
    watches: &[Watch],
) -> Result<Vec<(usize, u64)>, StorageError> {
    let mut changed = Vec::new();
    for (chunk_at, chunk) in watches.chunks(WATCHES_PER_STATEMENT).enumerate() {
        let offset = chunk_at * WATCHES_PER_STATEMENT;
        let read = versions(conn, chunk).storage()?;
        let found = Watch::changed(chunk, read);
        changed.extend(found.into_iter().map(|(i, v)| (offset + i, v)));
    }
    Ok(changed)
}

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
