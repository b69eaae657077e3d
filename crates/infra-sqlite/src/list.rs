//! Finding a project's sessions: keyset pages served from indexes (migration 0004).
//!
//! The index that drives a page, by filter (the table in `docs/performance.md`):
//! - a metadata filter: `session_labels (project, key, value, created_at, session_id)`, the
//!   first label (in the filter's canonical order) driving; the other labels, the status and
//!   the bounds are checked on the rows it yields;
//! - else a status filter: `sessions_by_status (project, status, created_at, session_id)`, one
//!   range per status, merged here in walk order;
//! - else `sessions_by_created (project, created_at, session_id)`.
//!
//! Each range is read lazily in walk order and stops after `limit + 1` rows, so a page costs
//! the same whatever the number of sessions in the store or the depth of the cursor.

use domain::{
    Label, Order, ProjectId, Session, SessionId, SessionPage, SessionPosition, SessionQuery,
    SessionStatus, StorageError, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use crate::error::SqlResultExt;
use crate::rows::{self, session_columns};

/// The position of the project's newest session in walk order.
fn newest(conn: &Connection, project: &ProjectId) -> rusqlite::Result<Option<SessionPosition>> {
    let row = conn
        .prepare_cached(
            "SELECT created_at, session_id FROM sessions WHERE project = ?1 \
             ORDER BY created_at DESC, session_id DESC LIMIT 1",
        )?
        .query_row([project.as_str()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    let bad = |e: domain::InvalidValue| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    row.map(|(created, id)| {
        Ok(SessionPosition {
            created_at: Timestamp::from_millis(created).map_err(bad)?,
            session_id: SessionId::parse(id).map_err(bad)?,
        })
    })
    .transpose()
}

/// The `createdAt` of a session `id` created now in `project`, on the writer (no other session
/// is stored in between): after the project's newest session, see [`domain::creation_time`].
pub(crate) fn creation_time(
    conn: &Connection,
    project: &ProjectId,
    id: &SessionId,
) -> rusqlite::Result<Timestamp> {
    let newest = newest(conn, project)?;
    Ok(domain::creation_time(Timestamp::now(), newest.as_ref(), id))
}

/// Indexes a newly inserted session's metadata, in its transaction: one row per top-level
/// string entry.
pub(crate) fn insert_labels(
    conn: &Connection,
    project: &ProjectId,
    session: &Session,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO session_labels (project, key, value, created_at, session_id) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for label in Label::all_of(&session.metadata) {
        insert.execute(params![
            project.as_str(),
            label.key,
            label.value,
            session.created_at.millis(),
            session.id.as_str(),
        ])?;
    }
    Ok(())
}

/// The SQL of one range of a page: the sessions of `:project` [with `:status`] [holding the
/// labels `:k0`=`:v0`, …] created after `:lo` and before `:hi` (exclusive), beyond the position
/// (`:pc`, `:pid`), in walk order. `d` is the table whose index drives the range.
pub(crate) fn range_sql(order: Order, status: bool, labels: usize) -> String {
    let columns: Vec<String> = session_columns!()
        .split(", ")
        .map(|c| format!("s.{c}"))
        .collect();
    let mut sql = format!("SELECT {} FROM ", columns.join(", "));
    if labels > 0 {
        sql.push_str(
            "session_labels d JOIN sessions s \
             ON s.project = d.project AND s.session_id = d.session_id \
             WHERE d.project = :project AND d.key = :k0 AND d.value = :v0",
        );
        for i in 1..labels {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM session_labels x WHERE x.project = d.project \
                 AND x.key = :k{i} AND x.value = :v{i} AND x.created_at = d.created_at \
                 AND x.session_id = d.session_id)"
            ));
        }
    } else {
        // Pinned: statistics (STAT4) must never turn a page into a scan and a sort.
        let index = if status {
            "sessions_by_status"
        } else {
            "sessions_by_created"
        };
        sql.push_str(&format!(
            "sessions s INDEXED BY {index} WHERE s.project = :project"
        ));
    }
    if status {
        sql.push_str(" AND s.status = :status");
    }
    let d = if labels > 0 { "d" } else { "s" };
    // `:lo`..`:hi` is the range of `created_at` read (both inclusive): the filter's bounds and
    // the position combined, so that the index range starts at the position whatever its
    // depth. Sessions sharing the position's millisecond up to it are left out by a residual
    // condition (a row-value comparison made SQLite skip-scan the index and sort).
    let (skip, dir) = match order {
        Order::Asc => ("<=", "ASC"),
        Order::Desc => (">=", "DESC"),
    };
    sql.push_str(&format!(
        " AND {d}.created_at >= :lo AND {d}.created_at <= :hi \
         AND NOT ({d}.created_at = :pc AND {d}.session_id {skip} :pid) \
         ORDER BY {d}.created_at {dir}, {d}.session_id {dir}"
    ));
    sql
}

/// The named parameters of [`range_sql`] for `query`, with `status` when given.
fn range_params(
    project: &ProjectId,
    query: &SessionQuery,
    status: Option<SessionStatus>,
) -> Vec<(String, Value)> {
    let filter = &query.filter;
    let text = |s: &str| Value::Text(s.to_owned());
    let mut params = vec![(":project".to_owned(), text(project.as_str()))];
    if let Some(status) = status {
        params.push((":status".to_owned(), text(status.as_str())));
    }
    for (i, label) in filter.labels().iter().enumerate() {
        params.push((format!(":k{i}"), text(&label.key)));
        params.push((format!(":v{i}"), text(&label.value)));
    }
    // Exclusive bounds in whole milliseconds are inclusive ones a millisecond inside.
    let mut lo = filter.created_after().map_or(i64::MIN, |t| t.millis() + 1);
    let mut hi = filter.created_before().map_or(i64::MAX, |t| t.millis() - 1);
    let (pc, pid) = match &query.after {
        Some(p) => {
            match query.order {
                Order::Asc => lo = lo.max(p.created_at.millis()),
                Order::Desc => hi = hi.min(p.created_at.millis()),
            }
            (p.created_at.millis(), p.session_id.as_str())
        }
        // No position: no session is at it.
        None => (i64::MIN, ""),
    };
    params.push((":lo".to_owned(), Value::Integer(lo)));
    params.push((":hi".to_owned(), Value::Integer(hi)));
    params.push((":pc".to_owned(), Value::Integer(pc)));
    params.push((":pid".to_owned(), text(pid)));
    params
}

/// The ranges of a page: one per status asked for, or one for every status.
fn statuses(query: &SessionQuery) -> Vec<Option<SessionStatus>> {
    match query.filter.statuses() {
        [] => vec![None],
        some => some.iter().copied().map(Some).collect(),
    }
}

fn named(params: &[(String, Value)]) -> Vec<(&str, &dyn ToSql)> {
    params
        .iter()
        .map(|(name, value)| (name.as_str(), value as &dyn ToSql))
        .collect()
}

/// One page of `project`'s sessions as `query` asks, read in one snapshot (one read
/// transaction: the ranges of several statuses see the same sessions).
pub(crate) fn read_page(
    conn: &Connection,
    project: &ProjectId,
    query: &SessionQuery,
) -> Result<SessionPage, StorageError> {
    let sql = range_sql(
        query.order,
        !query.filter.statuses().is_empty(),
        query.filter.labels().len(),
    );
    let wanted = query.limit as usize + 1;
    // Several ranges must read one snapshot: a session changing status in between would be
    // in both or in neither. Read-only: dropping it rolls back.
    let snapshot = conn.unchecked_transaction().storage()?;
    let mut stmt = snapshot.prepare_cached(&sql).storage()?;
    let mut sessions = Vec::new();
    for status in statuses(query) {
        let params = range_params(project, query, status);
        let named = named(&params);
        // No `LIMIT`: the scan is lazy, taking `limit + 1` rows stops it (see `read_page` of
        // events for why a bound LIMIT is avoided).
        let range = stmt
            .query_map(named.as_slice(), rows::session)
            .storage()?
            .take(wanted)
            .collect::<rusqlite::Result<Vec<Session>>>()
            .storage()?;
        sessions.extend(range);
    }
    // Ranges of different statuses are disjoint and each in walk order: merge them.
    sessions.sort_by_cached_key(SessionPosition::of);
    if query.order == Order::Desc {
        sessions.reverse();
    }
    let has_more = sessions.len() > query.limit as usize;
    sessions.truncate(query.limit as usize);
    Ok(SessionPage { sessions, has_more })
}

/// `EXPLAIN QUERY PLAN` of each statement a page of `query` runs (one per status asked for),
/// the plan's lines joined by `; ` (see `SqliteStore::explain_list_sessions`).
pub(crate) fn explain(
    conn: &Connection,
    project: &ProjectId,
    query: &SessionQuery,
) -> Result<Vec<String>, StorageError> {
    let sql = format!(
        "EXPLAIN QUERY PLAN {}",
        range_sql(
            query.order,
            !query.filter.statuses().is_empty(),
            query.filter.labels().len()
        )
    );
    let mut stmt = conn.prepare(&sql).storage()?;
    let mut plans = Vec::new();
    for status in statuses(query) {
        let params = range_params(project, query, status);
        let named = named(&params);
        plans.push(rows::query_plan(&mut stmt, named.as_slice()).storage()?);
    }
    Ok(plans)
}
