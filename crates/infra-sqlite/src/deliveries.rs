//! Seeing and repairing an endpoint's deliveries on SQLite (SPEC "Seeing and repairing";
//! migration 0011): pages of them newest first with their attempts, sending messages again,
//! the backlog, and pruning by age (decision 41). Pages are read from the read pool on the primary
//! key or `webhook_deliveries_status`; a resend and a prune are each one writer job.

use domain::webhook::{
    Attempt, AttemptResult, DeliveryQuery, DeliveryRecord, DeliveryStatus, Resend,
};
use domain::{Timestamp, WebhookId};
use rusqlite::{Connection, Row, params};

use std::collections::BTreeSet;

use crate::outbox::{DELIVERY_COLUMNS, claimed, number, refresh_queue};
use crate::rows::{invalid, timestamp};

/// A delivery's row: [`DELIVERY_COLUMNS`], its status and when it is due.
fn record(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let claimed = claimed(row)?;
    let status: String = row.get(9)?;
    let status = DeliveryStatus::parse(&status)
        .ok_or_else(|| invalid(9, domain::InvalidValue(format!("status {status}"))))?;
    let next_attempt_at = match status {
        DeliveryStatus::Pending => Some(timestamp(row, 10)?),
        DeliveryStatus::Delivered | DeliveryStatus::Failed => None,
    };
    Ok(DeliveryRecord {
        message: claimed.message,
        status,
        next_attempt_at,
        attempts: Vec::new(),
    })
}

fn attempt(row: &Row<'_>) -> rusqlite::Result<Attempt> {
    let result = match (
        row.get::<_, Option<u16>>(1)?,
        row.get::<_, Option<String>>(2)?,
    ) {
        (Some(code), _) => AttemptResult::Status(code),
        (None, reason) => AttemptResult::Error(reason.unwrap_or_default()),
    };
    Ok(Attempt {
        at: timestamp(row, 0)?,
        result,
        duration_ms: row.get::<_, i64>(3)?.try_into().unwrap_or(0),
    })
}

pub(crate) fn list(
    conn: &Connection,
    endpoint: &WebhookId,
    query: &DeliveryQuery,
) -> rusqlite::Result<Vec<DeliveryRecord>> {
    let before = match &query.before {
        Some(id) => number(id)?,
        None => i64::MAX,
    };
    // One status (a word of a fixed set, written into the statement) from
    // `webhook_deliveries_status`; all from the primary key.
    let (index, filter) = match query.status {
        None => ("", String::new()),
        Some(status) => (
            "INDEXED BY webhook_deliveries_status",
            format!(" AND d.status = '{}'", status.as_str()),
        ),
    };
    let mut records = conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS}, d.status, d.due_at
               FROM webhook_deliveries AS d {index}
               JOIN webhook_messages AS m ON m.message_id = d.message_id
              WHERE d.webhook_id = ?1 AND d.message_id < ?2{filter}
              ORDER BY d.message_id DESC
              LIMIT ?3"
        ))?
        .query_map(params![endpoint.as_str(), before, query.limit], record)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut attempts = conn.prepare_cached(
        "SELECT at, status_code, error, duration_ms FROM webhook_attempts
          WHERE webhook_id = ?1 AND message_id = ?2 ORDER BY n",
    )?;
    for r in &mut records {
        r.attempts = attempts
            .query_map(params![endpoint.as_str(), number(&r.message.id)?], attempt)?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(records)
}

/// Pending again, due at `now`, the schedule from its start (see the port); each queue touched
/// names its (maybe new) head.
pub(crate) fn resend(
    conn: &Connection,
    endpoint: &WebhookId,
    which: &Resend,
    now: Timestamp,
) -> rusqlite::Result<u64> {
    const AGAIN: &str = "UPDATE webhook_deliveries
            SET status = 'pending', due_at = ?2, schedule_from = attempts
          WHERE webhook_id = ?1";
    let sessions: Vec<String> = match which {
        Resend::Message(id) => {
            let Ok(message) = number(id) else {
                return Ok(0);
            };
            conn.prepare_cached(&format!("{AGAIN} AND message_id = ?3 RETURNING session_id"))?
                .query_map(params![endpoint.as_str(), now.millis(), message], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<_>>()?
        }
        Resend::Since(since) => conn
            .prepare_cached(&format!(
                "{AGAIN} AND message_id IN (
                   SELECT message_id FROM webhook_messages INDEXED BY webhook_messages_recorded
                    WHERE recorded_at >= ?3)
                 RETURNING session_id"
            ))?
            .query_map(
                params![endpoint.as_str(), now.millis(), since.millis()],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?,
    };
    let touched: BTreeSet<&String> = sessions.iter().collect();
    for session in touched {
        refresh_queue(conn, endpoint.as_str(), session, true)?;
    }
    Ok(sessions.len() as u64)
}

/// The pending deliveries: those written, and those the messages not yet fanned out will have
/// (one per enabled endpoint of the project subscribed to the type: the endpoints cannot have
/// changed since they were recorded, a change fans out first).
pub(crate) fn backlog(conn: &Connection) -> rusqlite::Result<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT (SELECT count(*) FROM webhook_deliveries INDEXED BY webhook_deliveries_queue
                      WHERE status = 'pending')
                  + (SELECT count(*)
                       FROM webhook_messages AS m
                       JOIN webhook_endpoints AS w
                         ON w.project = m.project AND w.enabled = 1
                        AND instr(',' || w.events || ',', ',' || m.type || ',') > 0
                      WHERE m.message_id > (SELECT value FROM meta
                                             WHERE key = 'webhook_fanned_out'))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(n.try_into().unwrap_or(0))
}

/// Removes up to `limit` messages recorded before `before` (oldest first, on
/// `webhook_messages_recorded`), each with its deliveries and their attempts (found by the
/// primary keys: one per endpoint of its project; a deleted endpoint took its own); a queue
/// whose pending delivery went names its next head, or goes. A message not fanned out yet
/// (decision 45) goes the same way: it has no delivery, and no fan-out will read it.
pub(crate) fn prune(conn: &Connection, before: Timestamp, limit: u32) -> rusqlite::Result<u64> {
    let old: Vec<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT message_id, project, session_id
               FROM webhook_messages INDEXED BY webhook_messages_recorded
              WHERE recorded_at < ?1 ORDER BY recorded_at LIMIT ?2",
        )?
        .query_map(params![before.millis(), limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let endpoints = "SELECT webhook_id FROM webhook_endpoints WHERE project = ?2";
    let attempts = format!(
        "DELETE FROM webhook_attempts WHERE webhook_id IN ({endpoints}) AND message_id = ?1"
    );
    let deliveries = format!(
        "DELETE FROM webhook_deliveries WHERE webhook_id IN ({endpoints}) AND message_id = ?1
         RETURNING webhook_id, status"
    );
    for (message, project, session) in &old {
        conn.prepare_cached(&attempts)?
            .execute(params![message, project])?;
        let pending: Vec<String> = conn
            .prepare_cached(&deliveries)?
            .query_map(params![message, project], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .filter_map(|row| match row {
                Ok((endpoint, status)) => (status == "pending").then_some(Ok(endpoint)),
                Err(e) => Some(Err(e)),
            })
            .collect::<rusqlite::Result<_>>()?;
        for endpoint in pending {
            refresh_queue(conn, &endpoint, session, true)?;
        }
        conn.prepare_cached("DELETE FROM webhook_messages WHERE message_id = ?1")?
            .execute([message])?;
    }
    Ok(old.len() as u64)
}
