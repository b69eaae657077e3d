//! What a write records for webhooks on MongoDB (decision 38): the delivery documents of the
//! change it announces (`webhook_deliveries`, migration 0010: one per message and enabled
//! endpoint listening to its type), written in the change's transaction. The store's side
//! (which endpoints listen, claims, outcomes) is `outbox.rs`.
//!
//! A write asks first whether anything in its project listens, from [`Subscriptions`]: this
//! instance's copy of each project's enabled endpoints, at most [`FRESH_FOR`] old and dropped at
//! once on this instance's own endpoint changes. Writes nobody listens to keep their single
//! round trip; the others become a short transaction with their deliveries.
//!
//! A session's messages are ordered by `(recordedAt, orderSeq)`: the change's time, then
//! `2 × seq` of its event or seal (`+ 1` for a redaction), `0` for a creation and the largest
//! value for an erasure; ties of one millisecond between instances follow their clocks.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{EventId, ProjectId, Timestamp, WebhookEventType, WebhookEvents, WebhookId};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};

use crate::documents::{SessionKey, date};
use mongodb::ClientSession;

use crate::drivers::{Driver, commit};

/// How long this instance trusts what it read of a project's endpoints (their changes on other
/// instances are seen by its writes within this time).
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(2);

pub(crate) type Listeners = Arc<Vec<(WebhookId, WebhookEvents)>>;

/// This instance's cache of each project's enabled endpoints and their types.
#[derive(Default)]
pub(crate) struct Subscriptions {
    projects: Mutex<HashMap<ProjectId, (Instant, Listeners)>>,
}

impl Subscriptions {
    pub(crate) fn fresh(&self, project: &ProjectId) -> Option<Listeners> {
        let projects = self.projects.lock().expect("subscriptions lock");
        projects
            .get(project)
            .filter(|(read, _)| read.elapsed() < FRESH_FOR)
            .map(|(_, listeners)| listeners.clone())
    }

    pub(crate) fn keep(&self, project: &ProjectId, read: Instant, listeners: Listeners) {
        let mut projects = self.projects.lock().expect("subscriptions lock");
        projects.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        projects.insert(project.clone(), (read, listeners));
    }

    /// After an endpoint changed here: read again before the next write.
    pub(crate) fn forget(&self) {
        self.projects.lock().expect("subscriptions lock").clear();
    }
}

/// A change to announce: its type, its session, its event, when it happened and its place in
/// the session's order (see the module's documentation).
pub(crate) struct Change<'a> {
    pub(crate) kind: WebhookEventType,
    pub(crate) key: &'a SessionKey,
    pub(crate) event: Option<&'a EventId>,
    pub(crate) at: Timestamp,
    pub(crate) order: i64,
    /// The message's id (an appended event's: its document's `_id`).
    pub(crate) message: ObjectId,
}

impl Change<'_> {
    pub(crate) fn order_of_seq(seq: u64) -> i64 {
        i64::try_from(seq).map_or(i64::MAX - 1, |s| s.saturating_mul(2))
    }
}

/// The message id of a document `_id`.
pub(crate) fn message_id(id: ObjectId) -> String {
    format!("msg_{}", id.to_hex())
}

impl Change<'_> {
    /// The delivery documents of this change, one per endpoint of `listeners` listening to
    /// its type.
    pub(crate) fn deliveries(&self, listeners: &[(WebhookId, WebhookEvents)]) -> Vec<Document> {
        listeners
            .iter()
            .filter(|(_, events)| events.contains(self.kind))
            .map(|(endpoint, _)| {
                doc! {
                    "webhookId": endpoint.as_str(),
                    "messageId": message_id(self.message),
                    "project": self.key.project.as_str(),
                    "sessionId": self.key.session.as_str(),
                    "type": self.kind.as_str(),
                    "eventId": self.event.map(EventId::as_str),
                    "recordedAt": date(self.at),
                    "orderSeq": self.order,
                    "status": "pending",
                    "attempts": 0_i32,
                    // Due at once: never after the wall clock (a creation time may run ahead).
                    "dueAt": date(Timestamp::now().min(self.at)),
                    "lease": Bson::Null,
                    "leaseUntil": Bson::Null,
                    "attemptLog": [],
                }
            })
            .collect()
    }
}

/// The collection a change announced with its deliveries writes.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    Sessions,
    Events,
}

impl Target {
    pub(crate) fn of(self, driver: &Driver) -> &mongodb::Collection<Document> {
        match self {
            Self::Sessions => &driver.sessions,
            Self::Events => &driver.events,
        }
    }
}

/// Inserts the deliveries `announced` (if any) in `tx`, a transaction of `driver`, and commits
/// it; a commit with deliveries is noted for the dispatcher (`Driver::recorded`) before the
/// write is answered.
pub(crate) async fn record_and_commit(
    driver: &Driver,
    tx: &mut ClientSession,
    announced: Vec<Document>,
) -> Result<(), mongodb::error::Error> {
    let recorded = !announced.is_empty();
    if recorded {
        driver
            .deliveries
            .insert_many(announced)
            .session(&mut *tx)
            .await?;
    }
    commit(tx).await?;
    if recorded {
        driver.recorded.store(true, Ordering::Release);
    }
    Ok(())
}

/// Inserts `document` into `target` with the deliveries `announced`: alone when there are none
/// (the write as it is without webhooks), else both in one transaction of `driver`. The
/// inserted `_id`.
pub(crate) async fn insert_announced(
    driver: &Driver,
    target: Target,
    document: Document,
    announced: Vec<Document>,
) -> Result<Bson, mongodb::error::Error> {
    if announced.is_empty() {
        let inserted = target.of(driver).insert_one(document).await?;
        return Ok(inserted.inserted_id);
    }
    let mut tx = driver.client.start_session().await?;
    tx.start_transaction().await?;
    let inserted = match target
        .of(driver)
        .insert_one(document)
        .session(&mut tx)
        .await
    {
        Ok(inserted) => inserted,
        Err(e) => {
            let _ = tx.abort_transaction().await;
            return Err(e);
        }
    };
    if let Err(e) = record_and_commit(driver, &mut tx, announced).await {
        let _ = tx.abort_transaction().await;
        return Err(e);
    }
    Ok(inserted.inserted_id)
}

/// A conditional update (`pipeline` on the document of `filter` in `target`) with the
/// deliveries `announced`: alone when there are none, else in one transaction of `driver`,
/// the deliveries written only if the update changed the document. Whether it changed it.
pub(crate) async fn update_announced(
    driver: &Driver,
    target: Target,
    filter: Document,
    pipeline: Vec<Document>,
    announced: Vec<Document>,
) -> Result<bool, mongodb::error::Error> {
    if announced.is_empty() {
        let updated = target.of(driver).update_one(filter, pipeline).await?;
        return Ok(updated.modified_count == 1);
    }
    let mut tx = driver.client.start_session().await?;
    tx.start_transaction().await?;
    let updated = target
        .of(driver)
        .update_one(filter, pipeline)
        .session(&mut tx)
        .await?;
    if updated.modified_count != 1 {
        tx.abort_transaction().await?;
        return Ok(false);
    }
    record_and_commit(driver, &mut tx, announced).await?;
    Ok(true)
}
