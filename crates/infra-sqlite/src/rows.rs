//! Mapping between rows and domain values.

use domain::{
    Event, EventId, EventType, Fingerprint, JsonObject, Language, ProjectId, Redaction, Session,
    SessionId, SessionStatus, Timestamp,
};
use rusqlite::types::{FromSqlError, Null, ToSqlOutput, Type};
use rusqlite::{Params, Row, Statement};

/// The columns [`session`] reads, in order (a macro, so that SQL text is built at compile time).
macro_rules! session_columns {
    () => {
        "session_id, status, language, metadata, started_at, ended_at, event_count, last_seq, \
         created_at, updated_at"
    };
}

pub(crate) use session_columns;

/// How a column's value is written from an event.
type Write = for<'a> fn(&'a Event) -> ToSqlOutput<'a>;

/// Where an event is stored: each column of `events` after `project`, with the value written
/// in it. The one list that the insert ([`insert_event_sql`], [`event_values`]) and the reads
/// ([`select_events`], then [`event`] by column name) follow: a new field of events is a line
/// here, its read in [`event`], and a migration adding the column.
const EVENT_COLUMNS: [(&str, Write); 11] = [
    ("session_id", |e| e.session_id.as_str().into()),
    ("event_id", |e| e.event_id.as_str().into()),
    ("seq", |e| int(e.seq).into()),
    ("type", |e| e.event_type.as_str().into()),
    ("payload", |e| e.payload.as_str().into()),
    ("timestamp", |e| e.timestamp.millis().into()),
    ("received_at", |e| e.received_at.millis().into()),
    ("redacted_at", |e| match &e.redaction {
        Some(r) => r.at.millis().into(),
        None => Null.into(),
    }),
    ("fingerprint", |e| match &e.redaction {
        Some(r) => r.fingerprint.0.as_slice().into(),
        None => Null.into(),
    }),
    ("supersedes", |e| match &e.supersedes {
        Some(id) => id.as_str().into(),
        None => Null.into(),
    }),
    ("superseded_by", |e| match &e.superseded_by {
        Some(id) => id.as_str().into(),
        None => Null.into(),
    }),
];

/// The position of `name` in [`EVENT_COLUMNS`] (and so in every row [`select_events`] reads);
/// a name that is not there fails the build (see [`at`]).
const fn column(name: &str) -> usize {
    let mut i = 0;
    while i < EVENT_COLUMNS.len() {
        if same(EVENT_COLUMNS[i].0.as_bytes(), name.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("not a column of EVENT_COLUMNS");
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The index of an event column in a row, computed at compile time.
macro_rules! at {
    ($name:literal) => {
        const { column($name) }
    };
}

/// `SELECT` of every column of [`EVENT_COLUMNS`] `FROM events`, then `rest` (the filter, the
/// order): rows that [`event`] reads.
pub(crate) fn select_events(rest: &str) -> String {
    let names: Vec<&str> = EVENT_COLUMNS.iter().map(|(name, _)| *name).collect();
    format!("SELECT {} FROM events {rest}", names.join(", "))
}

/// `INSERT INTO events` of `project` and every column of [`EVENT_COLUMNS`], bound to
/// [`event_values`].
pub(crate) fn insert_event_sql() -> String {
    let names: Vec<&str> = EVENT_COLUMNS.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = (1..=names.len() + 1).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO events (project, {}) VALUES ({})",
        names.join(", "),
        values.join(", ")
    )
}

/// The values of [`insert_event_sql`]: `project`, then each column's of `e`.
pub(crate) fn event_values<'a>(project: &'a ProjectId, e: &'a Event) -> Vec<ToSqlOutput<'a>> {
    std::iter::once(project.as_str().into())
        .chain(EVENT_COLUMNS.iter().map(|(_, write)| write(e)))
        .collect()
}

/// A stored value that does not parse, as the error of reading column `idx`.
pub(crate) fn invalid(
    idx: usize,
    err: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(err))
}

pub(crate) fn timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millis(row.get(idx)?).map_err(|e| invalid(idx, e))
}

fn count(row: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|e| invalid(idx, e))
}

fn status(row: &Row<'_>, idx: usize) -> rusqlite::Result<SessionStatus> {
    let status: String = row.get(idx)?;
    SessionStatus::parse(&status).ok_or_else(|| invalid(idx, FromSqlError::InvalidType))
}

pub(crate) fn session(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: SessionId::parse(row.get::<_, String>(0)?).map_err(|e| invalid(0, e))?,
        status: status(row, 1)?,
        language: row
            .get::<_, Option<String>>(2)?
            .map(Language::parse)
            .transpose()
            .map_err(|e| invalid(2, e))?,
        metadata: JsonObject::from_stored(row.get(3)?).map_err(|e| invalid(3, e))?,
        started_at: timestamp(row, 4)?,
        ended_at: match row.get::<_, Option<i64>>(5)? {
            Some(ms) => Some(Timestamp::from_millis(ms).map_err(|e| invalid(5, e))?),
            None => None,
        },
        event_count: count(row, 6)?,
        last_seq: count(row, 7)?,
        created_at: timestamp(row, 8)?,
        updated_at: timestamp(row, 9)?,
    })
}

/// An event from a row of [`select_events`], each column read by its name in
/// [`EVENT_COLUMNS`].
pub(crate) fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        session_id: parsed(row, at!("session_id"), SessionId::parse)?,
        event_id: parsed(row, at!("event_id"), EventId::parse)?,
        seq: count(row, at!("seq"))?,
        event_type: parsed(row, at!("type"), EventType::parse)?,
        payload: parsed(row, at!("payload"), JsonObject::from_stored)?,
        timestamp: timestamp(row, at!("timestamp"))?,
        received_at: timestamp(row, at!("received_at"))?,
        redaction: redaction(row, at!("redacted_at"), at!("fingerprint"))?,
        supersedes: event_id(row, at!("supersedes"))?,
        superseded_by: event_id(row, at!("superseded_by"))?,
    })
}

/// An optional event id at `idx`.
fn event_id(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<EventId>> {
    row.get::<_, Option<String>>(idx)?
        .map(EventId::parse)
        .transpose()
        .map_err(|e| invalid(idx, e))
}

/// The text at `idx` through the domain's constructor.
fn parsed<T, E: std::error::Error + Send + Sync + 'static>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> rusqlite::Result<T> {
    parse(row.get(idx)?).map_err(|e| invalid(idx, e))
}

/// `redacted_at` (at `at`) and `fingerprint` (at `fingerprint`): both set, or both null.
fn redaction(row: &Row<'_>, at: usize, fingerprint: usize) -> rusqlite::Result<Option<Redaction>> {
    let Some(millis) = row.get::<_, Option<i64>>(at)? else {
        return Ok(None);
    };
    let bytes: Vec<u8> = row.get(fingerprint)?;
    let bytes =
        <[u8; 32]>::try_from(bytes).map_err(|_| invalid(fingerprint, FromSqlError::InvalidType))?;
    Ok(Some(Redaction {
        at: Timestamp::from_millis(millis).map_err(|e| invalid(at, e))?,
        fingerprint: Fingerprint(bytes),
    }))
}

/// `project, session_id, last_seq, status` as `(project, sessionId, version)` (see
/// `Session::version`); a session no longer stored (null `last_seq`: erased) as `u64::MAX`,
/// beyond any version, so that its tails wake and find it erased.
pub(crate) fn version(row: &Row<'_>) -> rusqlite::Result<(String, String, u64)> {
    if row.get::<_, Option<i64>>(2)?.is_none() {
        return Ok((row.get(0)?, row.get(1)?, u64::MAX));
    }
    let version = Session::version_of(count(row, 2)?, status(row, 3)?);
    Ok((row.get(0)?, row.get(1)?, version))
}

/// `u64` counters are stored as SQLite's signed 64-bit integers.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).expect("counters stay below 2^63")
}

/// The rows of an `EXPLAIN QUERY PLAN` statement run with `params`: each step's detail,
/// joined by `; ` (for operators, and the tests that keep queries on their indexes).
pub(crate) fn query_plan(
    stmt: &mut Statement<'_>,
    params: impl Params,
) -> rusqlite::Result<String> {
    let lines = stmt
        .query_map(params, |r| r.get::<_, String>(3))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(lines.join("; "))
}
