//! The webhook outbox on SQLite (migration 0010, decision 38): messages recorded by the writer
//! in the transaction of the change they announce; their deliveries, one per endpoint enabled
//! and subscribed to the type when the change committed, fanned out later (migration 0013,
//! decision 45); and the dispatcher's claims and outcomes (`domain::WebhookDeliveries`, in
//! `webhooks.rs`), each one job of the writer thread (so two claims never take one delivery).

use domain::webhook::{
    AfterAttempt, Attempt, AttemptResult, ClaimedDelivery, Lease, MessageId, WebhookMessage,
};
use domain::{EventId, ProjectId, SessionId, Timestamp, WebhookEventType, WebhookId};
use rusqlite::{Connection, Row, params};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::rows::{invalid, timestamp};

/// What a disabled endpoint's queues have added to their `due_at` (2^50 ms, some 35 000 years):
/// out of every claim's range, so that no claim reads them, and taken off again when the
/// endpoint is enabled (decision 40; migration 0012 parks those disabled before it).
pub(crate) const PARKED: i64 = 1 << 50;

/// Parks (`park`) or brings back the queues of `endpoint` (see [`PARKED`]), when it is disabled
/// or enabled, in the writer job that changes it.
pub(crate) fn park_queues(conn: &Connection, endpoint: &str, park: bool) -> rusqlite::Result<()> {
    let sql = if park {
        "UPDATE webhook_queues SET due_at = due_at + ?2 WHERE webhook_id = ?1 AND due_at < ?2"
    } else {
        "UPDATE webhook_queues SET due_at = due_at - ?2 WHERE webhook_id = ?1 AND due_at >= ?2"
    };
    conn.prepare_cached(sql)?
        .execute(params![endpoint, PARKED])?;
    Ok(())
}

/// The enabled endpoints of one project with the types each subscribes to, read once per
/// writer job; recording is free for a project without any.
pub(crate) struct Outbox {
    endpoints: Vec<(String, String)>,
}

impl Outbox {
    pub(crate) fn of(conn: &Connection, project: &str) -> rusqlite::Result<Self> {
        let endpoints = conn
            .prepare_cached(
                "SELECT webhook_id, ',' || events || ',' FROM webhook_endpoints
                  WHERE project = ?1 AND enabled = 1",
            )?
            .query_map([project], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self { endpoints })
    }

    /// The endpoints subscribed to `kind`.
    fn subscribed(&self, kind: &str) -> impl Iterator<Item = &str> {
        let listed = format!(",{kind},");
        self.endpoints
            .iter()
            .filter(move |(_, events)| events.contains(&listed))
            .map(|(endpoint, _)| endpoint.as_str())
    }

    /// Records that `kind` happened to the session (and its `event`) at `at`, when an endpoint
    /// subscribes to it: the message alone. Its deliveries are written by [`fan_out`], before
    /// anything reads them or changes an endpoint (decision 45).
    pub(crate) fn record(
        &self,
        conn: &Connection,
        project: &ProjectId,
        session: &SessionId,
        kind: WebhookEventType,
        event: Option<&EventId>,
        at: Timestamp,
    ) -> rusqlite::Result<()> {
        if self.subscribed(kind.as_str()).next().is_none() {
            return Ok(());
        }
        conn.prepare_cached(
            "INSERT INTO webhook_messages (project, session_id, type, event_id, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            project.as_str(),
            session.as_str(),
            kind.as_str(),
            event.map(EventId::as_str),
            at.millis(),
        ])?;
        crate::writer::note_recorded();
        Ok(())
    }
}

/// The messages [`fan_out`] takes in one go: a claim's fan-out stays a few milliseconds of the
/// writer's time, whatever the backlog.
pub(crate) const FAN_OUT_STEP: u32 = 1024;

/// Writes the deliveries of up to `at_most` messages recorded since the last fan-out (`meta`
/// `webhook_fanned_out`): one pending delivery, due at once, for every enabled endpoint of the
/// message's project subscribed to its type, and its queue. The endpoints are those the
/// recording saw: every writer job that changes an endpoint fans out first. Says whether
/// messages remain.
pub(crate) fn fan_out(conn: &Connection, at_most: u32) -> rusqlite::Result<bool> {
    let from: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'webhook_fanned_out'")?
        .query_row([], |r| r.get(0))?;
    let messages: Vec<(i64, String, String, String, i64)> = conn
        .prepare_cached(
            "SELECT message_id, project, session_id, type, recorded_at FROM webhook_messages
              WHERE message_id > ?1 ORDER BY message_id LIMIT ?2",
        )?
        .query_map(params![from, at_most], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let Some(last) = messages.last().map(|m| m.0) else {
        return Ok(false);
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, session_id, status, due_at)
         VALUES (?1, ?2, ?3, 'pending', ?4)",
    )?;
    let mut queue = conn.prepare_cached(
        "INSERT INTO webhook_queues (webhook_id, session_id, head, due_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (webhook_id, session_id) DO NOTHING",
    )?;
    let now = Timestamp::now().millis();
    let mut outboxes: HashMap<String, Outbox> = HashMap::new();
    for (message, project, session, kind, recorded_at) in &messages {
        let outbox = match outboxes.entry(project.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => new.insert(Outbox::of(conn, project)?),
        };
        // Due at once: the wall clock, never a time ahead of it.
        let due_at = now.min(*recorded_at);
        for endpoint in outbox.subscribed(kind) {
            insert.execute(params![endpoint, message, session, due_at])?;
            // A new queue's head; an existing queue keeps its older head.
            queue.execute(params![endpoint, session, message, due_at])?;
        }
    }
    conn.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'webhook_fanned_out'")?
        .execute([last])?;
    Ok(messages.len() as u32 == at_most)
}

/// [`fan_out`] until no message remains: for the jobs that read deliveries or change endpoints.
pub(crate) fn fan_out_all(conn: &Connection) -> rusqlite::Result<()> {
    while fan_out(conn, FAN_OUT_STEP)? {}
    Ok(())
}

/// Records one change (see [`Outbox::record`]) with the project's endpoints read for it: for
/// writer jobs that announce a single change.
pub(crate) fn announce(
    conn: &Connection,
    project: &ProjectId,
    session: &SessionId,
    kind: WebhookEventType,
    event: Option<&EventId>,
    at: Timestamp,
) -> rusqlite::Result<()> {
    Outbox::of(conn, project.as_str())?.record(conn, project, session, kind, event, at)
}

/// A delivery (`d`) with its message (`m`), as [`claimed`] reads it (a macro, so that
/// statements can be put together at compile time).
macro_rules! delivery_columns {
    () => {
        "d.webhook_id, d.message_id, d.attempts, d.attempts - d.schedule_from, m.type, \
         m.project, m.session_id, m.event_id, m.recorded_at"
    };
}

/// The columns of [`delivery_columns!`].
pub(crate) const DELIVERY_COLUMNS: &str = delivery_columns!();

/// What is due: the heads of the queues (`webhook_queues`), due, unheld, of enabled endpoints.
/// The scan reads queues, never the messages waiting behind their heads.
const CLAIM_SQL: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    "
      FROM webhook_queues AS q INDEXED BY webhook_queues_due
      JOIN webhook_deliveries AS d ON d.webhook_id = q.webhook_id AND d.message_id = q.head
      JOIN webhook_endpoints AS w ON w.webhook_id = q.webhook_id
      JOIN webhook_messages AS m ON m.message_id = q.head
     WHERE q.due_at <= ?1
       AND (q.lease_until IS NULL OR q.lease_until <= ?1)
       AND w.enabled = 1
     ORDER BY q.due_at
     LIMIT ?2"
);

/// A delivery of the columns [`DELIVERY_COLUMNS`] (the first nine of a row).
pub(crate) fn claimed(row: &Row<'_>) -> rusqlite::Result<ClaimedDelivery> {
    let text = |idx: usize| row.get::<_, String>(idx);
    let message = row.get::<_, i64>(1)?;
    Ok(ClaimedDelivery {
        endpoint: WebhookId::parse(text(0)?).map_err(|e| invalid(0, e))?,
        attempts: row.get(2)?,
        scheduled: row.get(3)?,
        message: WebhookMessage {
            id: MessageId::numbered(message as u64),
            kind: WebhookEventType::parse(&text(4)?).map_err(|e| invalid(4, e))?,
            project: ProjectId::parse(text(5)?).map_err(|e| invalid(5, e))?,
            session: SessionId::parse(text(6)?).map_err(|e| invalid(6, e))?,
            event: row
                .get::<_, Option<String>>(7)?
                .map(EventId::parse)
                .transpose()
                .map_err(|e| invalid(7, e))?,
            recorded_at: timestamp(row, 8)?,
        },
    })
}

/// Claims up to `limit` due queue heads, after fanning out up to [`FAN_OUT_STEP`] messages (if
/// more remain, the writer says a message was recorded, so that the dispatcher claims again).
pub(crate) fn claim(
    conn: &Connection,
    now: Timestamp,
    lease: &Lease,
    limit: u32,
) -> rusqlite::Result<Vec<ClaimedDelivery>> {
    if fan_out(conn, FAN_OUT_STEP)? {
        crate::writer::note_recorded();
    }
    let due = conn
        .prepare_cached(CLAIM_SQL)?
        .query_map(params![now.millis(), limit], claimed)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut hold = conn.prepare_cached(
        "UPDATE webhook_queues SET lease = ?3, lease_until = ?4
          WHERE webhook_id = ?1 AND session_id = ?2",
    )?;
    for d in &due {
        hold.execute(params![
            d.endpoint.as_str(),
            d.message.session.as_str(),
            lease.token,
            lease.until.millis(),
        ])?;
    }
    Ok(due)
}

pub(crate) fn settle(
    conn: &Connection,
    endpoint: &WebhookId,
    message: &MessageId,
    lease: &Lease,
    attempt: &Attempt,
    next: AfterAttempt,
) -> rusqlite::Result<bool> {
    let (status, due_at) = match next {
        AfterAttempt::Delivered => ("delivered", None),
        AfterAttempt::Failed => ("failed", None),
        AfterAttempt::RetryAt(at) => ("pending", Some(at.millis())),
    };
    let message = number(message)?;
    // Only the head of its queue, held by this lease.
    let settled: Option<(i64, String)> = conn
        .prepare_cached(
            "UPDATE webhook_deliveries
                SET status = ?4, due_at = coalesce(?5, due_at), attempts = attempts + 1
              WHERE webhook_id = ?1 AND message_id = ?2 AND status = 'pending'
                AND EXISTS (SELECT 1 FROM webhook_queues AS q
                             WHERE q.webhook_id = ?1
                               AND q.session_id = webhook_deliveries.session_id
                               AND q.head = ?2 AND q.lease = ?3)
          RETURNING attempts, session_id",
        )?
        .query_map(
            params![endpoint.as_str(), message, lease.token, status, due_at],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .next()
        .transpose()?;
    let Some((n, session)) = settled else {
        return Ok(false);
    };
    refresh_queue(conn, endpoint.as_str(), &session, false)?;
    let (code, error) = match &attempt.result {
        AttemptResult::Status(code) => (Some(*code), None),
        AttemptResult::Error(reason) => (None, Some(reason.as_str())),
    };
    conn.prepare_cached(
        "INSERT INTO webhook_attempts
                (webhook_id, message_id, n, at, status_code, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        endpoint.as_str(),
        message,
        n,
        attempt.at.millis(),
        code,
        error,
        i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
    ])?;
    Ok(true)
}

/// Makes the queue of `endpoint` and `session` name its oldest pending delivery as its head,
/// due when that delivery is (parked if the endpoint is disabled); removes it when none is
/// pending. `keep_lease`: a claim on an
/// unchanged head stands (a resend); otherwise the queue is free (a settled attempt).
pub(crate) fn refresh_queue(
    conn: &Connection,
    endpoint: &str,
    session: &str,
    keep_lease: bool,
) -> rusqlite::Result<()> {
    let head: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT message_id, due_at FROM webhook_deliveries INDEXED BY webhook_deliveries_queue
              WHERE webhook_id = ?1 AND session_id = ?2 AND status = 'pending'
              ORDER BY message_id LIMIT 1",
        )?
        .query_map(params![endpoint, session], |r| Ok((r.get(0)?, r.get(1)?)))?
        .next()
        .transpose()?;
    match head {
        None => conn
            .prepare_cached("DELETE FROM webhook_queues WHERE webhook_id = ?1 AND session_id = ?2")?
            .execute(params![endpoint, session])?,
        Some((head, due_at)) => conn
            .prepare_cached(
                "INSERT INTO webhook_queues (webhook_id, session_id, head, due_at)
                 VALUES (?1, ?2, ?3, ?4 + coalesce((SELECT CASE WHEN enabled THEN 0 ELSE ?6 END
                                                      FROM webhook_endpoints
                                                     WHERE webhook_id = ?1), 0))
                 ON CONFLICT (webhook_id, session_id) DO UPDATE SET
                     lease = CASE WHEN ?5 AND head = excluded.head THEN lease END,
                     lease_until = CASE WHEN ?5 AND head = excluded.head THEN lease_until END,
                     head = excluded.head, due_at = excluded.due_at",
            )?
            .execute(params![endpoint, session, head, due_at, keep_lease, PARKED])?,
    };
    Ok(())
}

/// The row id of a message this store numbered.
pub(crate) fn number(id: &MessageId) -> rusqlite::Result<i64> {
    id.number()
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("message {id}")))
}
