//! [`WebhookRepository`] on MongoDB: the `webhook_endpoints` collection (migration 0009), one
//! document per endpoint, unique on `webhookId`. A change is read, decided by the domain
//! ([`WebhookEndpoint::changed`]) and written back only if the document's `version` is still the
//! one read (a condition inside the update, see [`set_where`]); otherwise it is read again, so
//! that of two changes at once neither is lost.

use async_trait::async_trait;
use domain::{
    ChangeWebhookError, CreateWebhookError, ProjectId, RetiredSecret, StorageError, Timestamp,
    WebhookChange, WebhookDescription, WebhookEndpoint, WebhookEvents, WebhookId,
    WebhookRepository, WebhookSecret, WebhookUrl,
};
use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{self, Binary, Bson, Document, doc, spec::BinarySubtype};

use crate::documents::set_where;
use crate::error::{MongoResultExt, is_duplicate_key, storage_error};
use crate::schema;
use crate::store::MongoStore;

/// How often a change is tried again after another change won the race for the document.
const CHANGE_ATTEMPTS: usize = 32;

fn date(t: Timestamp) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(t.millis()))
}

fn binary(bytes: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    })
}

/// Every field of an endpoint's document but `version`.
fn fields(e: &WebhookEndpoint) -> Document {
    doc! {
        "webhookId": e.id.as_str(),
        "project": e.project.as_str(),
        "url": e.url.as_str(),
        "events": e.events.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "description": e.description.as_ref().map(WebhookDescription::as_str),
        "enabled": e.enabled,
        "createdAt": date(e.created_at),
        "updatedAt": date(e.updated_at),
        "secret": binary(e.secret.as_bytes()),
        "retiredSecret": e.retired.as_ref().map_or(Bson::Null, |r| binary(r.secret.as_bytes())),
        "retiredUntil": e.retired.as_ref().map_or(Bson::Null, |r| date(r.until)),
        "failingSince": e.failing_since.map_or(Bson::Null, date),
    }
}

fn corrupt(field: &str, why: impl std::fmt::Display) -> StorageError {
    StorageError::Internal(format!("stored webhook endpoint has a bad {field}: {why}"))
}

fn time(d: &Document, field: &str) -> Result<Timestamp, StorageError> {
    let t = d.get_datetime(field).map_err(|e| corrupt(field, e))?;
    Timestamp::from_millis(t.timestamp_millis()).map_err(|e| corrupt(field, e))
}

fn secret(d: &Document, field: &str) -> Result<WebhookSecret, StorageError> {
    let bytes = d.get_binary_generic(field).map_err(|e| corrupt(field, e))?;
    WebhookSecret::from_bytes(bytes.clone()).map_err(|e| corrupt(field, e))
}

/// The endpoint of a document, and the document's `version`.
fn endpoint_from(d: &Document) -> Result<(WebhookEndpoint, i64), StorageError> {
    let text = |field: &str| d.get_str(field).map_err(|e| corrupt(field, e));
    let events = d.get_array("events").map_err(|e| corrupt("events", e))?;
    let retired = match d.get("retiredSecret") {
        None | Some(Bson::Null) => None,
        Some(_) => Some(RetiredSecret {
            secret: secret(d, "retiredSecret")?,
            until: time(d, "retiredUntil")?,
        }),
    };
    let endpoint = WebhookEndpoint {
        id: WebhookId::parse(text("webhookId")?).map_err(|e| corrupt("webhookId", e))?,
        project: ProjectId::parse(text("project")?).map_err(|e| corrupt("project", e))?,
        url: WebhookUrl::from_stored(text("url")?).map_err(|e| corrupt("url", e))?,
        events: WebhookEvents::parse(events.iter().filter_map(Bson::as_str))
            .map_err(|e| corrupt("events", e))?,
        description: match d.get("description") {
            None | Some(Bson::Null) => None,
            Some(Bson::String(s)) => {
                Some(WebhookDescription::parse(s.as_str()).map_err(|e| corrupt("description", e))?)
            }
            Some(other) => return Err(corrupt("description", other)),
        },
        enabled: d.get_bool("enabled").map_err(|e| corrupt("enabled", e))?,
        created_at: time(d, "createdAt")?,
        updated_at: time(d, "updatedAt")?,
        secret: secret(d, "secret")?,
        retired,
        failing_since: match d.get("failingSince") {
            None | Some(Bson::Null) => None,
            Some(_) => Some(time(d, "failingSince")?),
        },
    };
    let version = d.get_i64("version").map_err(|e| corrupt("version", e))?;
    Ok((endpoint, version))
}

impl MongoStore {
    fn webhooks(&self) -> Collection<Document> {
        self.driver().db.collection(schema::WEBHOOK_ENDPOINTS)
    }

    async fn webhook_doc(&self, id: &WebhookId) -> Result<Option<Document>, StorageError> {
        self.webhooks()
            .find_one(doc! { "webhookId": id.as_str() })
            .await
            .storage()
    }
}

#[async_trait]
impl WebhookRepository for MongoStore {
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), CreateWebhookError> {
        let mut document = fields(endpoint);
        document.insert("version", 0_i64);
        let inserted = self.webhooks().insert_one(document).await;
        self.subscriptions.forget();
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(CreateWebhookError::IdTaken),
            Err(e) => Err(storage_error(e).into()),
        }
    }

    async fn list_webhooks(
        &self,
        project: &ProjectId,
    ) -> Result<Vec<WebhookEndpoint>, StorageError> {
        let docs: Vec<Document> = self
            .webhooks()
            .find(doc! { "project": project.as_str() })
            .sort(doc! { "createdAt": 1, "webhookId": 1 })
            .await
            .storage()?
            .try_collect()
            .await
            .storage()?;
        docs.iter()
            .map(|d| endpoint_from(d).map(|(endpoint, _)| endpoint))
            .collect()
    }

    async fn find_webhook(&self, id: &WebhookId) -> Result<Option<WebhookEndpoint>, StorageError> {
        self.webhook_doc(id)
            .await?
            .as_ref()
            .map(|d| endpoint_from(d).map(|(endpoint, _)| endpoint))
            .transpose()
    }

    async fn change_webhook(
        &self,
        id: &WebhookId,
        change: &WebhookChange,
        at: Timestamp,
    ) -> Result<WebhookEndpoint, ChangeWebhookError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let stored = self.webhook_doc(id).await?;
            let (stored, version) = endpoint_from(&stored.ok_or(ChangeWebhookError::NotFound)?)?;
            let changed = stored.changed(change, at);
            if changed == stored {
                return Ok(changed);
            }
            let mut set: Document = fields(&changed)
                .into_iter()
                .map(|(field, value)| (field, doc! { "$literal": value }.into()))
                .collect();
            set.insert("version", version + 1);
            let written = self
                .webhooks()
                .update_one(
                    doc! { "webhookId": id.as_str() },
                    set_where(
                        doc! { "$eq": ["$version", version] },
                        vec![doc! { "$set": set }],
                    ),
                )
                .await
                .storage()?;
            if written.modified_count == 1 {
                self.subscriptions.forget();
                if changed.enabled && !stored.enabled {
                    // Its backlog, moved out of the claims' way while it was disabled, gets its
                    // own due times back.
                    self.unpark_endpoint(id).await?;
                }
                return Ok(changed);
            }
        }
        Err(StorageError::Unavailable(format!(
            "webhook endpoint {} changed by others {CHANGE_ATTEMPTS} times in a row",
            id.as_str()
        ))
        .into())
    }

    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ChangeWebhookError> {
        let deleted = self
            .webhooks()
            .delete_one(doc! { "webhookId": id.as_str() })
            .await
            .storage()?;
        self.subscriptions.forget();
        // Its deliveries go with it (a crash before this leaves them to nobody: no claim
        // takes a delivery of an endpoint that is not stored and enabled).
        self.deliveries()
            .delete_many(doc! { "webhookId": id.as_str() })
            .await
            .storage()?;
        match deleted.deleted_count {
            0 => Err(ChangeWebhookError::NotFound),
            _ => Ok(()),
        }
    }
}
