//! Mapping between rows and domain values.

use domain::{
    Event, EventId, EventType, Fingerprint, JsonObject, Language, Redaction, Session, SessionId,
    SessionStatus, Timestamp,
};
use rusqlite::types::{FromSqlError, Type};
use rusqlite::{Params, Row, Statement};

/// The columns [`session`] reads, in order (a macro, so that SQL text is built at compile time).
macro_rules! session_columns {
    () => {
        "session_id, status, language, metadata, started_at, ended_at, event_count, last_seq, \
         created_at, updated_at"
    };
}

/// The columns [`event`] reads, in order.
macro_rules! event_columns {
    () => {
        "session_id, event_id, seq, type, payload, timestamp, received_at, redacted_at, fingerprint"
    };
}

pub(crate) use {event_columns, session_columns};

fn invalid(idx: usize, err: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(err))
}

fn timestamp(row: &Row<'_>, idx: usize) -> rusqlite::Result<Timestamp> {
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

pub(crate) fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        session_id: SessionId::parse(row.get::<_, String>(0)?).map_err(|e| invalid(0, e))?,
        event_id: EventId::parse(row.get::<_, String>(1)?).map_err(|e| invalid(1, e))?,
        seq: count(row, 2)?,
        event_type: EventType::parse(row.get::<_, String>(3)?).map_err(|e| invalid(3, e))?,
        payload: JsonObject::from_stored(row.get(4)?).map_err(|e| invalid(4, e))?,
        timestamp: timestamp(row, 5)?,
        received_at: timestamp(row, 6)?,
        redaction: redaction(row, 7)?,
    })
}

/// `redacted_at, fingerprint` at `idx`, `idx + 1`: both set, or both null.
fn redaction(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Redaction>> {
    let Some(at) = row.get::<_, Option<i64>>(idx)? else {
        return Ok(None);
    };
    let fingerprint: Vec<u8> = row.get(idx + 1)?;
    let fingerprint = <[u8; 32]>::try_from(fingerprint)
        .map_err(|_| invalid(idx + 1, FromSqlError::InvalidType))?;
    Ok(Some(Redaction {
        at: Timestamp::from_millis(at).map_err(|e| invalid(idx, e))?,
        fingerprint: Fingerprint(fingerprint),
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
