//! Seeing and repairing an endpoint's deliveries on MongoDB (SPEC "Seeing and repairing";
//! migration 0011): pages newest first on `webhookId_messageId_unique` (or
//! `webhookId_status_messageId` for one status), each with the attempts its document logs;
//! messages sent again by one update on the same indexes (`webhookId_recordedAt` since a time);
//! messages pruned by age on `recordedAt` (migration 0012, decision 41).

use domain::webhook::{
    Attempt, AttemptResult, DeliveryQuery, DeliveryRecord, DeliveryStatus, Resend,
};
use domain::{StorageError, Timestamp, WebhookId};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use crate::documents::{date, time};
use crate::error::MongoResultExt;
use crate::outbox::{claimed, corrupt};
use crate::store::MongoStore;

fn attempt(logged: &Bson) -> Result<Attempt, StorageError> {
    let d = logged.as_document().ok_or_else(|| corrupt("attemptLog"))?;
    let result = match (d.get_i32("statusCode"), d.get_str("error")) {
        (Ok(code), _) => {
            AttemptResult::Status(u16::try_from(code).map_err(|_| corrupt("statusCode"))?)
        }
        (_, Ok(reason)) => AttemptResult::Error(reason.to_owned()),
        _ => return Err(corrupt("attemptLog")),
    };
    Ok(Attempt {
        at: time(d, "at")?,
        result,
        duration_ms: u64::try_from(d.get_i64("durationMs").map_err(|_| corrupt("durationMs"))?)
            .unwrap_or(0),
    })
}

fn record(d: &Document) -> Result<DeliveryRecord, StorageError> {
    let status = d.get_str("status").map_err(|_| corrupt("status"))?;
    let status = DeliveryStatus::parse(status).ok_or_else(|| corrupt("status"))?;
    let attempts = match d.get("attemptLog") {
        None | Some(Bson::Null) => Vec::new(),
        Some(Bson::Array(log)) => log.iter().map(attempt).collect::<Result<_, _>>()?,
        Some(_) => return Err(corrupt("attemptLog")),
    };
    Ok(DeliveryRecord {
        message: claimed(d)?.message,
        status,
        next_attempt_at: match status {
            DeliveryStatus::Pending => Some(time(d, "dueAt")?),
            DeliveryStatus::Delivered | DeliveryStatus::Failed => None,
        },
        attempts,
    })
}

impl MongoStore {
    pub(crate) async fn page_of_deliveries(
        &self,
        endpoint: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, StorageError> {
        let mut filter = doc! { "webhookId": endpoint.as_str() };
        if let Some(status) = query.status {
            filter.insert("status", status.as_str());
        }
        if let Some(before) = &query.before {
            filter.insert("messageId", doc! { "$lt": before.as_str() });
        }
        let docs: Vec<Document> = self
            .deliveries()
            .find(filter)
            .sort(doc! { "messageId": -1 })
            .limit(i64::from(query.limit))
            .await
            .storage()?
            .try_collect()
            .await
            .storage()?;
        docs.iter().map(record).collect()
    }

    /// Pending again, due at `now`, the schedule from its start (see the port).
    pub(crate) async fn send_again(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError> {
        let mut filter = doc! { "webhookId": endpoint.as_str() };
        match which {
            Resend::Message(id) => filter.insert("messageId", id.as_str()),
            Resend::Since(since) => filter.insert("recordedAt", doc! { "$gte": date(*since) }),
        };
        let again = vec![doc! { "$set": {
            "status": { "$literal": "pending" },
            "dueAt": { "$literal": date(now) },
            "scheduleFrom": "$attempts",
        } }];
        let updated = self
            .deliveries()
            .update_many(filter, again)
            .await
            .storage()?;
        Ok(updated.matched_count)
    }

    /// Up to `limit` messages recorded before `before` (the oldest deliveries on `recordedAt`
    /// name them), removed with every delivery of theirs (on `messageId`). A queue's head is
    /// found when claimed, so a queue whose head went moves on by itself.
    pub(crate) async fn prune(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        let old: Vec<Document> = self
            .deliveries()
            .find(doc! { "recordedAt": { "$lt": date(before) } })
            .sort(doc! { "recordedAt": 1 })
            .projection(doc! { "_id": 0, "messageId": 1 })
            .limit(i64::from(limit))
            .await
            .storage()?
            .try_collect()
            .await
            .storage()?;
        let mut messages: Vec<&str> = old
            .iter()
            .map(|d| d.get_str("messageId").map_err(|_| corrupt("messageId")))
            .collect::<Result<_, _>>()?;
        messages.sort_unstable();
        messages.dedup();
        if messages.is_empty() {
            return Ok(0);
        }
        self.deliveries()
            .delete_many(doc! { "messageId": { "$in": &messages } })
            .await
            .storage()?;
        Ok(messages.len() as u64)
    }
}
