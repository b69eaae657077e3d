//! [`WebhookDeliveries`] on MongoDB, and what the writes ask of the outbox (`announce.rs`):
//! which endpoints of a project listen ([`MongoStore::deliveries_of`]: the project's endpoints as
//! `list_webhooks` reads them, kept in the instance's copy). A claim sets an expiring lease by
//! a conditional `findOneAndUpdate` (one claimer wins), on the head of each queue only; an
//! outcome is written only under the lease that claimed it.
//!
//! What cannot go now is moved out of the claims' way (decision 40): a claim that meets a
//! message waiting behind its queue's head makes the queue's waiting messages due when that head
//! can next go (its own due time, its lease's end, or this claim's lease's end, whichever is
//! last), and the backlog of a disabled endpoint due in [`DISABLED_FOR`]; a head that settles for
//! good makes the next of its queue due at once. So the oldest due documents a claim reads are
//! ones it can take, however long the queues behind retried heads grow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use domain::webhook::{
    AfterAttempt, Attempt, AttemptResult, ClaimedDelivery, DeliveryQuery, DeliveryRecord, Lease,
    MessageId, Resend, WebhookMessage,
};
use domain::{
    EventId, ProjectId, SessionId, StorageError, Timestamp, WebhookDeliveries, WebhookEventType,
    WebhookEvents, WebhookId, WebhookRepository,
};
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use crate::announce::{Change, Listeners, message_id};
use crate::documents::{date, set_where};
use crate::error::MongoResultExt;
use crate::store::MongoStore;

/// Most pending deliveries a claim looks through for the heads of their queues, per pass.
const CLAIM_SCAN: i64 = 1_000;

/// Most passes of a claim: another one follows a pass that moved waiting messages out of the
/// way without filling the claim.
const CLAIM_PASSES: usize = 4;

/// How long the backlog of a disabled endpoint is out of the claims' way (re-enabling it brings
/// the backlog back at once: `change_webhook`).
pub(crate) const DISABLED_FOR: i64 = 3_600_000;

/// A parked delivery's own due time (see [`MongoStore::park_endpoint`]).
const PARKED_FROM: &str = "parkedFrom";

/// The key fields of a delivery's queue (endpoint, project, session).
fn queue_of(d: &Document) -> Document {
    let field = |name: &str| d.get(name).cloned().unwrap_or(Bson::Null);
    doc! {
        "webhookId": field("webhookId"),
        "project": field("project"),
        "sessionId": field("sessionId"),
        "status": "pending",
    }
}

/// A queue's order (the `queue` index after its key).
fn queue_order() -> Document {
    doc! { "recordedAt": 1, "orderSeq": 1, "messageId": 1 }
}

/// Millis of a date field, if set.
fn millis(d: &Document, field: &str) -> Option<i64> {
    d.get_datetime(field).ok().map(|t| t.timestamp_millis())
}

impl MongoStore {
    pub(crate) fn deliveries(&self) -> mongodb::Collection<Document> {
        self.driver().deliveries.clone()
    }

    async fn listeners(&self, project: &ProjectId) -> Result<Listeners, StorageError> {
        if let Some(listeners) = self.subscriptions.fresh(project) {
            return Ok(listeners);
        }
        let read = Instant::now();
        let listeners: Vec<(WebhookId, WebhookEvents)> = self
            .list_webhooks(project)
            .await?
            .into_iter()
            .filter(|endpoint| endpoint.enabled)
            .map(|endpoint| (endpoint.id, endpoint.events))
            .collect();
        let listeners = Arc::new(listeners);
        self.subscriptions.keep(project, read, listeners.clone());
        Ok(listeners)
    }

    /// Whether any enabled endpoint of `project` listens to `kind` (as this instance knows).
    pub(crate) async fn listened(
        &self,
        project: &ProjectId,
        kind: WebhookEventType,
    ) -> Result<bool, StorageError> {
        let listeners = self.listeners(project).await?;
        Ok(listeners.iter().any(|(_, events)| events.contains(kind)))
    }

    /// The delivery documents of `change`: one per enabled endpoint listening to its type.
    pub(crate) async fn deliveries_of(
        &self,
        change: &Change<'_>,
    ) -> Result<Vec<Document>, StorageError> {
        let listeners = self.listeners(&change.key.project).await?;
        Ok(change.deliveries(&listeners))
    }

    /// Takes back the deliveries of messages (events inserted into a session found gone).
    pub(crate) async fn take_back_deliveries(
        &self,
        messages: &[ObjectId],
    ) -> Result<(), mongodb::error::Error> {
        let ids: Vec<String> = messages.iter().map(|id| message_id(*id)).collect();
        self.deliveries()
            .delete_many(doc! { "messageId": { "$in": ids } })
            .await?;
        Ok(())
    }

    /// Whether `endpoint` is stored and enabled.
    async fn enabled(&self, endpoint: &str) -> Result<bool, StorageError> {
        let id = WebhookId::parse(endpoint).map_err(|_| corrupt("webhookId"))?;
        Ok(self.find_webhook(&id).await?.is_some_and(|e| e.enabled))
    }

    /// The head of `d`'s queue (its oldest pending delivery): `_id`, `dueAt`, `leaseUntil`.
    async fn head(&self, d: &Document) -> Result<Option<Document>, StorageError> {
        self.deliveries()
            .find_one(queue_of(d))
            .sort(queue_order())
            .projection(doc! { "_id": 1, "dueAt": 1, "leaseUntil": 1 })
            .await
            .storage()
    }

    /// Makes the pending deliveries of `filter` for which `when` holds due at `at` (one
    /// `updateMany`, the condition in the update: see `set_where`).
    async fn make_due(
        &self,
        filter: Document,
        when: Document,
        at: mongodb::bson::DateTime,
    ) -> Result<(), StorageError> {
        let stages = set_where(when, vec![doc! { "$set": { "dueAt": at } }]);
        self.deliveries()
            .update_many(filter, stages)
            .await
            .storage()?;
        Ok(())
    }

    /// Makes the messages waiting behind `head` in `d`'s queue due when the head can next go:
    /// not before its own due time (+1 ms: after it), its lease's end, or `floor`. A message
    /// that became a head since (`headSince`, set by [`Self::promote_next`]) is left as it is:
    /// `head`, read before, may have settled meanwhile.
    async fn park_queue(
        &self,
        d: &Document,
        head: &Document,
        floor: Timestamp,
    ) -> Result<(), StorageError> {
        let until = [
            millis(head, "dueAt").map(|t| t.saturating_add(1)),
            millis(head, "leaseUntil"),
        ]
        .into_iter()
        .flatten()
        .fold(floor.millis(), i64::max);
        let until = mongodb::bson::DateTime::from_millis(until);
        let head_id = head.get("_id").cloned().unwrap_or(Bson::Null);
        let waiting = doc! { "$and": [
            { "$ne": ["$_id", { "$literal": head_id }] },
            { "$lt": ["$dueAt", until] },
            { "$eq": [{ "$type": "$headSince" }, "missing"] },
        ] };
        self.make_due(queue_of(d), waiting, until).await
    }

    /// Makes the backlog of the disabled `endpoint` due in [`DISABLED_FOR`], each delivery's
    /// own due time kept in `parkedFrom` (the first parking's) for [`Self::unpark_endpoint`].
    async fn park_endpoint(&self, endpoint: &str, now: Timestamp) -> Result<(), StorageError> {
        let until = date(now.plus_millis(DISABLED_FOR));
        let filter = doc! { "webhookId": endpoint, "status": "pending" };
        let kept = doc! { "$ifNull": ["$parkedFrom", "$dueAt"] };
        let park = vec![doc! { "$set": { PARKED_FROM: kept, "dueAt": until } }];
        let stages = set_where(doc! { "$lt": ["$dueAt", until] }, park);
        self.deliveries()
            .update_many(filter, stages)
            .await
            .storage()?;
        Ok(())
    }

    /// Gives the parked deliveries of `endpoint` (it was enabled again) their own due times
    /// back: a waiting message's is past (due at once), a retried head's its retry's.
    pub(crate) async fn unpark_endpoint(&self, endpoint: &WebhookId) -> Result<(), StorageError> {
        let filter = doc! { "webhookId": endpoint.as_str(), "status": "pending" };
        let parked = doc! { "$eq": [{ "$type": format!("${PARKED_FROM}") }, "date"] };
        let back = vec![
            doc! { "$set": { "dueAt": format!("${PARKED_FROM}") } },
            doc! { "$unset": PARKED_FROM },
        ];
        self.deliveries()
            .update_many(filter, set_where(parked, back))
            .await
            .storage()?;
        Ok(())
    }

    /// The new head of `settled`'s queue goes at once (by `at`) unless it has a schedule of its
    /// own (it was attempted since it was last sent again); marked `headSince`, no claim moves
    /// it out of the way again (see [`Self::park_queue`]).
    async fn promote_next(&self, settled: &Document, at: Timestamp) -> Result<(), StorageError> {
        let at = date(at);
        let untried = doc! { "$and": [
            { "$eq": ["$attempts", { "$ifNull": ["$scheduleFrom", 0_i32] }] },
            { "$gt": ["$dueAt", at] },
        ] };
        let mut promote = set_where(untried, vec![doc! { "$set": { "dueAt": at } }]);
        promote.push(doc! { "$set": { "headSince": at } });
        self.deliveries()
            .find_one_and_update(queue_of(settled), promote)
            .sort(queue_order())
            .projection(doc! { "_id": 1 })
            .await
            .storage()?;
        Ok(())
    }
}

pub(crate) fn corrupt(field: &str) -> StorageError {
    StorageError::Internal(format!("stored webhook delivery has a bad {field}"))
}

/// A delivery document's message, endpoint and attempts.
pub(crate) fn claimed(d: &Document) -> Result<ClaimedDelivery, StorageError> {
    let text = |field: &str| d.get_str(field).map_err(|_| corrupt(field));
    let recorded = d
        .get_datetime("recordedAt")
        .map_err(|_| corrupt("recordedAt"))?;
    let event = match d.get("eventId") {
        None | Some(Bson::Null) => None,
        Some(_) => Some(EventId::parse(text("eventId")?).map_err(|_| corrupt("eventId"))?),
    };
    let count = |field: &str| {
        let n = d.get_i32(field).map_err(|_| corrupt(field))?;
        u32::try_from(n).map_err(|_| corrupt(field))
    };
    let attempts = count("attempts")?;
    // Absent until the delivery is first sent again.
    let schedule_from = match d.get("scheduleFrom") {
        None => 0,
        Some(_) => count("scheduleFrom")?,
    };
    Ok(ClaimedDelivery {
        endpoint: WebhookId::parse(text("webhookId")?).map_err(|_| corrupt("webhookId"))?,
        attempts,
        scheduled: attempts.saturating_sub(schedule_from),
        message: WebhookMessage {
            id: MessageId::parse(text("messageId")?).map_err(|_| corrupt("messageId"))?,
            kind: WebhookEventType::parse(text("type")?).map_err(|_| corrupt("type"))?,
            project: ProjectId::parse(text("project")?).map_err(|_| corrupt("project"))?,
            session: SessionId::parse(text("sessionId")?).map_err(|_| corrupt("sessionId"))?,
            event,
            recorded_at: Timestamp::from_millis(recorded.timestamp_millis())
                .map_err(|_| corrupt("recordedAt"))?,
        },
    })
}

#[async_trait]
impl WebhookDeliveries for MongoStore {
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError> {
        // Leased deliveries are passed over here, not in the filter: the filter stays on the
        // index alone.
        let due = doc! { "status": "pending", "dueAt": { "$lte": date(now) } };
        let mut heads: HashMap<(String, String, String), Option<Bson>> = HashMap::new();
        let mut endpoints: HashMap<String, bool> = HashMap::new();
        let mut claimed_all = Vec::new();
        for _ in 0..CLAIM_PASSES {
            let mut moved = false;
            let mut cursor = self
                .deliveries()
                .find(due.clone())
                .sort(doc! { "dueAt": 1 })
                .limit(CLAIM_SCAN)
                .await
                .storage()?;
            while claimed_all.len() < limit as usize {
                let Some(d) = cursor.try_next().await.storage()? else {
                    break;
                };
                if millis(&d, "leaseUntil").is_some_and(|until| until > now.millis()) {
                    continue;
                }
                let field = |name: &str| d.get_str(name).map(str::to_owned);
                let (Ok(endpoint), Ok(project), Ok(session)) =
                    (field("webhookId"), field("project"), field("sessionId"))
                else {
                    return Err(corrupt("queue"));
                };
                let enabled = match endpoints.get(&endpoint) {
                    Some(enabled) => *enabled,
                    None => {
                        let enabled = self.enabled(&endpoint).await?;
                        if !enabled {
                            self.park_endpoint(&endpoint, now).await?;
                            moved = true;
                        }
                        endpoints.insert(endpoint.clone(), enabled);
                        enabled
                    }
                };
                if !enabled {
                    continue;
                }
                // Only a queue's head goes; what waits behind it is moved out of the way.
                let id = d.get("_id").cloned().ok_or_else(|| corrupt("_id"))?;
                let queue = (endpoint, project, session);
                let head = match heads.get(&queue) {
                    Some(head) => head.clone(),
                    None => {
                        let head = self.head(&d).await?;
                        let head_id = head.as_ref().and_then(|h| h.get("_id").cloned());
                        if let Some(head) = head.as_ref().filter(|_| head_id != Some(id.clone())) {
                            self.park_queue(&d, head, lease.until).await?;
                            moved = true;
                        }
                        heads.insert(queue, head_id.clone());
                        head_id
                    }
                };
                if head != Some(id.clone()) {
                    continue;
                }
                // The condition is in the update, so that the filter stays on `_id` (see
                // `set_where`): taken only if still pending and unleased at `now`.
                let free = doc! { "$and": [
                    { "$eq": ["$status", "pending"] },
                    { "$lte": ["$leaseUntil", date(now)] },
                ] };
                let hold = doc! { "$set": {
                    "lease": { "$literal": lease.token.as_str() },
                    "leaseUntil": { "$literal": date(lease.until) },
                } };
                let after = self
                    .deliveries()
                    .find_one_and_update(doc! { "_id": id }, set_where(free, vec![hold]))
                    .return_document(ReturnDocument::After)
                    .await
                    .storage()?;
                let taken = after.filter(|d| {
                    d.get_str("lease") == Ok(lease.token.as_str())
                        && d.get_datetime("leaseUntil").ok() == Some(&date(lease.until))
                });
                if let Some(taken) = taken {
                    claimed_all.push(claimed(&taken)?);
                }
            }
            if claimed_all.len() >= limit as usize || !moved {
                break;
            }
        }
        Ok(claimed_all)
    }

    fn take_recorded(&self) -> bool {
        self.drivers.take_recorded()
    }

    async fn settle_delivery(
        &self,
        endpoint: &WebhookId,
        message: &MessageId,
        lease: &Lease,
        attempt: &Attempt,
        next: AfterAttempt,
    ) -> Result<bool, StorageError> {
        let mut logged = doc! {
            "at": date(attempt.at),
            "durationMs": i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
        };
        match &attempt.result {
            AttemptResult::Status(code) => logged.insert("statusCode", i32::from(*code)),
            AttemptResult::Error(reason) => logged.insert("error", reason.as_str()),
        };
        let mut set = doc! {
            "lease": { "$literal": Bson::Null },
            "leaseUntil": { "$literal": Bson::Null },
            "attempts": { "$add": ["$attempts", 1_i32] },
            "attemptLog": { "$concatArrays": ["$attemptLog", [{ "$literal": logged }]] },
        };
        match next {
            AfterAttempt::Delivered => set.insert("status", doc! { "$literal": "delivered" }),
            AfterAttempt::Failed => set.insert("status", doc! { "$literal": "failed" }),
            AfterAttempt::RetryAt(at) => set.insert("dueAt", doc! { "$literal": date(at) }),
        };
        // The condition is in the update (see `set_where`): only under the claim's lease.
        let held = doc! { "$and": [
            { "$eq": ["$status", "pending"] },
            { "$eq": ["$lease", { "$literal": lease.token.as_str() }] },
        ] };
        let before = self
            .deliveries()
            .find_one_and_update(
                doc! { "webhookId": endpoint.as_str(), "messageId": message.as_str() },
                set_where(held, vec![doc! { "$set": set }]),
            )
            .return_document(ReturnDocument::Before)
            .projection(
                doc! { "project": 1, "sessionId": 1, "status": 1, "lease": 1, "webhookId": 1 },
            )
            .await
            .storage()?;
        // Settled here only if it was pending under this lease when the update ran.
        let Some(before) = before.filter(|d| {
            d.get_str("status") == Ok("pending") && d.get_str("lease") == Ok(lease.token.as_str())
        }) else {
            return Ok(false);
        };
        // Its queue moves on: the next goes at once (if this fails, when it was made due).
        if !matches!(next, AfterAttempt::RetryAt(_))
            && let Err(e) = self.promote_next(&before, attempt.at).await
        {
            tracing::warn!(error = %e, "the next message of a webhook queue not made due at once");
        }
        Ok(true)
    }

    async fn list_deliveries(
        &self,
        endpoint: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, StorageError> {
        self.page_of_deliveries(endpoint, query).await
    }

    async fn resend_deliveries(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        self.send_again(endpoint, which, now).await
    }

    async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.prune(before, limit).await
    }

    async fn count_backlog(&self) -> Result<u64, StorageError> {
        self.deliveries()
            .count_documents(doc! { "status": "pending" })
            .await
            .storage()
    }
}
