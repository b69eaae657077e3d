//! [`WebhookRepository`] on SQLite: the `webhook_endpoints` table (migration 0009); and
//! [`WebhookDeliveries`] on the outbox's tables (`outbox.rs`, migration 0010). Writes go
//! through the writer thread, so a change reads and rewrites the endpoint with nothing between;
//! reads use the read pool.

use async_trait::async_trait;
use domain::webhook::{
    AfterAttempt, Attempt, ClaimedDelivery, DeliveryQuery, DeliveryRecord, Lease, MessageId, Resend,
};
use domain::{
    ChangeWebhookError, CreateWebhookError, ProjectId, RetiredSecret, StorageError, Timestamp,
    WebhookChange, WebhookDeliveries, WebhookDescription, WebhookEndpoint, WebhookEvents,
    WebhookId, WebhookRepository, WebhookSecret, WebhookUrl,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::SqlResultExt;
use crate::rows::{invalid, timestamp};
use crate::store::SqliteStore;
use crate::writer::Kind;
use crate::{deliveries, outbox};

const COLUMNS: &str = "webhook_id, project, url, events, description, enabled, created_at, \
                       updated_at, secret, retired_secret, retired_until, failing_since";

fn endpoint(row: &Row<'_>) -> rusqlite::Result<WebhookEndpoint> {
    let text = |idx: usize| row.get::<_, String>(idx);
    let events = text(3)?;
    let retired = match (
        row.get::<_, Option<Vec<u8>>>(9)?,
        row.get::<_, Option<i64>>(10)?,
    ) {
        (Some(secret), Some(_)) => Some(RetiredSecret {
            secret: WebhookSecret::from_bytes(secret).map_err(|e| invalid(9, e))?,
            until: timestamp(row, 10)?,
        }),
        _ => None,
    };
    Ok(WebhookEndpoint {
        id: WebhookId::parse(text(0)?).map_err(|e| invalid(0, e))?,
        project: ProjectId::parse(text(1)?).map_err(|e| invalid(1, e))?,
        url: WebhookUrl::from_stored(&text(2)?).map_err(|e| invalid(2, e))?,
        events: WebhookEvents::parse(events.split(',')).map_err(|e| invalid(3, e))?,
        description: row
            .get::<_, Option<String>>(4)?
            .map(WebhookDescription::parse)
            .transpose()
            .map_err(|e| invalid(4, e))?,
        enabled: row.get(5)?,
        created_at: timestamp(row, 6)?,
        updated_at: timestamp(row, 7)?,
        secret: WebhookSecret::from_bytes(row.get(8)?).map_err(|e| invalid(8, e))?,
        retired,
        failing_since: row
            .get::<_, Option<i64>>(11)?
            .map(|_| timestamp(row, 11))
            .transpose()?,
    })
}

fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<WebhookEndpoint>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE webhook_id = ?1"
    ))?
    .query_row([id], endpoint)
    .optional()
}

/// Inserts `e`, or replaces the row of its id (`replace`); the number of rows written.
fn store(conn: &Connection, e: &WebhookEndpoint, replace: bool) -> rusqlite::Result<usize> {
    let on_conflict = if replace {
        "DO UPDATE SET url = excluded.url, events = excluded.events, \
         description = excluded.description, enabled = excluded.enabled, \
         updated_at = excluded.updated_at, secret = excluded.secret, \
         retired_secret = excluded.retired_secret, retired_until = excluded.retired_until, \
         failing_since = excluded.failing_since"
    } else {
        "DO NOTHING"
    };
    let events: Vec<&str> = e.events.iter().map(|t| t.as_str()).collect();
    conn.prepare_cached(&format!(
        "INSERT INTO webhook_endpoints ({COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (webhook_id) {on_conflict}"
    ))?
    .execute(params![
        e.id.as_str(),
        e.project.as_str(),
        e.url.as_str(),
        events.join(","),
        e.description.as_ref().map(WebhookDescription::as_str),
        e.enabled,
        e.created_at.millis(),
        e.updated_at.millis(),
        e.secret.as_bytes(),
        e.retired.as_ref().map(|r| r.secret.as_bytes()),
        e.retired.as_ref().map(|r| r.until.millis()),
        e.failing_since.map(Timestamp::millis),
    ])
}

impl SqliteStore {
    /// Fans out every message recorded so far (decision 45), [`outbox::FAN_OUT_STEP`] per
    /// writer job, so that other writes go on between the steps however large the backlog:
    /// what a read of deliveries waits for (and [`SqliteStore::write_fanned_out`] runs first).
    async fn fan_out_in_steps(&self) -> Result<(), StorageError> {
        while self
            .writer
            .write(|conn| outbox::fan_out(conn, outbox::FAN_OUT_STEP).storage())
            .await?
        {}
        Ok(())
    }

    /// Runs `work` in a writer job once every message recorded before it is fanned out: the
    /// backlog in steps ([`SqliteStore::fan_out_in_steps`]), then, in the job, what was
    /// recorded meanwhile. For the jobs that change endpoints (so that each message goes to the
    /// endpoints of the moment of its change) or deliveries.
    async fn write_fanned_out<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StorageError> + Send + 'static,
    {
        self.fan_out_in_steps().await?;
        self.writer
            .write(move |conn| {
                outbox::fan_out_all(conn).storage()?;
                work(conn)
            })
            .await
    }
}

#[async_trait]
impl WebhookRepository for SqliteStore {
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), CreateWebhookError> {
        let endpoint = endpoint.clone();
        self.write_fanned_out(move |conn| match store(conn, &endpoint, false).storage()? {
            0 => Err(CreateWebhookError::IdTaken),
            _ => Ok(()),
        })
        .await
    }

    async fn list_webhooks(
        &self,
        project: &ProjectId,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        let project = project.as_str().to_owned();
        self.readers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhook_endpoints WHERE project = ?1
                     ORDER BY created_at, webhook_id"
                ))
                .and_then(|mut list| list.query_map([project], endpoint)?.collect())
                .storage()
            })
            .await
    }

    async fn find_webhook(&self, id: &WebhookId) -> Result<Option<WebhookEndpoint>, StorageError> {
        let id = id.as_str().to_owned();
        self.readers
            .read(move |conn| load(conn, &id).storage())
            .await
    }

    async fn change_webhook(
        &self,
        id: &WebhookId,
        change: &WebhookChange,
        at: Timestamp,
    ) -> Result<WebhookEndpoint, ChangeWebhookError> {
        let (id, change) = (id.as_str().to_owned(), change.clone());
        self.write_fanned_out(move |conn| {
            let stored = load(conn, &id)
                .storage()?
                .ok_or(ChangeWebhookError::NotFound)?;
            let changed = stored.changed(&change, at);
            if changed != stored {
                store(conn, &changed, true).storage()?;
            }
            if changed.enabled != stored.enabled {
                outbox::park_queues(conn, &id, !changed.enabled).storage()?;
            }
            Ok(changed)
        })
        .await
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ChangeWebhookError> {
        let id = id.as_str().to_owned();
        self.write_fanned_out(move |conn| {
            // Its deliveries and their attempts go with it (messages stay for others).
            for table in ["webhook_attempts", "webhook_queues", "webhook_deliveries"] {
                conn.prepare_cached(&format!("DELETE FROM {table} WHERE webhook_id = ?1"))
                    .and_then(|mut delete| delete.execute([&id]))
                    .storage()?;
            }
            match conn
                .prepare_cached("DELETE FROM webhook_endpoints WHERE webhook_id = ?1")
                .and_then(|mut delete| delete.execute([&id]))
                .storage()?
            {
                0 => Err(ChangeWebhookError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }
}

#[async_trait]
impl WebhookDeliveries for SqliteStore {
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        let lease = lease.clone();
        self.writer
            .write_as(Kind::Background, move |conn| {
                outbox::claim(conn, now, &lease, limit).storage()
            })
            .await
    }

    fn take_recorded(&self) -> bool {
        self.writer.take_recorded()
    }

    async fn settle_delivery(
        &self,
        endpoint: &WebhookId,
        message: &MessageId,
        lease: &Lease,
        attempt: &Attempt,
        next: AfterAttempt,
    ) -> Result<bool, StorageError> {
        let (endpoint, message) = (endpoint.clone(), message.clone());
        let (lease, attempt) = (lease.clone(), attempt.clone());
        self.writer
            .write_as(Kind::Background, move |conn| {
                outbox::settle(conn, &endpoint, &message, &lease, &attempt, next).storage()
            })
            .await
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, StorageError> {
        let (endpoint, query) = (endpoint.clone(), query.clone());
        // Every message recorded so far is listed.
        self.fan_out_in_steps().await?;
        self.readers
            .read(move |conn| deliveries::list(conn, &endpoint, &query).storage())
            .await
    }

    async fn resend_deliveries(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        let (endpoint, which) = (endpoint.clone(), which.clone());
        self.write_fanned_out(move |conn| {
            deliveries::resend(conn, &endpoint, &which, now).storage()
        })
        .await
    }

    async fn count_backlog(&self) -> Result<u64, StorageError> {
        self.readers
            .read(|conn| deliveries::backlog(conn).storage())
            .await
    }

    async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.writer
            .write(move |conn| deliveries::prune(conn, before, limit).storage())
            .await
    }
}
