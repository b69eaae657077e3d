//! [`Webhooks`]: a project's webhook endpoints — registering, listing, reading, changing,
//! deleting them and rotating their secrets — and their deliveries: listing them, sending one
//! message again or every message since a time (the admin's use cases, SPEC "Webhooks"). The URL
//! rule (`WEBHOOK_ALLOW_PRIVATE`) and "the project exists" are decided here; the endpoint's
//! shape and its changes by the domain.

use std::sync::Arc;

use domain::webhook::{
    DeliveryQuery, DeliveryRecord, MessageId, Resend, SECRET_BYTES, endpoint::ID_BYTES,
};
use domain::{
    ChangeWebhookError, CreateWebhookError, Destinations, InvalidValue, ProjectId, Repository,
    StorageError, Timestamp, WebhookChange, WebhookDescription, WebhookEndpoint, WebhookEvents,
    WebhookId, WebhookPatch, WebhookSecret, WebhookUrl,
};
use rand::RngCore;

use crate::dispatch::Commits;

/// Draws fresh ids until one is free (64 random bits: a second draw is already unheard of).
const ID_ATTEMPTS: usize = 3;

/// Why a webhook use case did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A field of the request is refused: `field` is its wire name (400 `validation-failed`).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// No endpoint with this id (404).
    #[error("webhook endpoint not found")]
    NotFound,
    /// The endpoint has no delivery of this message (404).
    #[error("no such message for this endpoint")]
    MessageNotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<ChangeWebhookError> for WebhookError {
    fn from(e: ChangeWebhookError) -> Self {
        match e {
            ChangeWebhookError::NotFound => Self::NotFound,
            ChangeWebhookError::Storage(e) => Self::Storage(e),
        }
    }
}

fn invalid(field: &'static str) -> impl Fn(InvalidValue) -> WebhookError {
    move |e| WebhookError::Invalid {
        field,
        message: e.0,
    }
}

/// A new endpoint as the admin asks for it; the URL is judged by [`Webhooks::create`].
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub project: ProjectId,
    pub url: String,
    pub events: WebhookEvents,
    pub description: Option<WebhookDescription>,
}

/// A `PATCH` as the admin sends it; the URL is judged by [`Webhooks::patch`].
#[derive(Debug, Clone, Default)]
pub struct WebhookEdit {
    pub url: Option<String>,
    pub events: Option<WebhookEvents>,
    pub enabled: Option<bool>,
    pub description: Option<Option<WebhookDescription>>,
}

/// The webhook endpoint use cases.
pub struct Webhooks {
    repo: Arc<dyn Repository>,
    /// Open mode: the only project is `default`.
    open: bool,
    destinations: Destinations,
    /// Wakes this instance's dispatcher when messages are sent again.
    commits: Commits,
}

impl Webhooks {
    pub fn new(
        repo: Arc<dyn Repository>,
        open: bool,
        destinations: Destinations,
        commits: Commits,
    ) -> Self {
        Self {
            repo,
            open,
            destinations,
            commits,
        }
    }

    fn url(&self, text: &str) -> Result<WebhookUrl, WebhookError> {
        WebhookUrl::parse(text, self.destinations).map_err(invalid("url"))
    }

    /// A project exists once it has a key (SPEC "Projects and API keys"); in open mode only
    /// `default` exists.
    async fn project_exists(&self, project: &ProjectId) -> Result<bool, StorageError> {
        if self.open {
            return Ok(*project == ProjectId::default_project());
        }
        Ok(!self.repo.list_keys(Some(project)).await?.is_empty())
    }

    /// Registers an endpoint, enabled, with a new secret: the endpoint and the secret's text
    /// (the only time it is shown).
    pub async fn create(&self, new: NewWebhook) -> Result<(WebhookEndpoint, String), WebhookError> {
        let url = self.url(&new.url)?;
        if !self.project_exists(&new.project).await? {
            return Err(WebhookError::Invalid {
                field: "project",
                message: "no such project: a project exists once it has an API key".into(),
            });
        }
        let mut rng = rand::rng();
        for _ in 0..ID_ATTEMPTS {
            let (mut id, mut secret) = ([0u8; ID_BYTES], [0u8; SECRET_BYTES]);
            rng.fill_bytes(&mut id);
            rng.fill_bytes(&mut secret);
            let endpoint = WebhookEndpoint::new(
                WebhookId::issue(&id),
                new.project.clone(),
                url.clone(),
                new.events.clone(),
                new.description.clone(),
                WebhookSecret::issue(&secret),
                Timestamp::now(),
            );
            match self.repo.create_webhook(&endpoint).await {
                Ok(()) => {
                    tracing::info!(webhook_id = endpoint.id.as_str(), project = %endpoint.project, "webhook endpoint created");
                    let text = endpoint.secret.text();
                    return Ok((endpoint, text));
                }
                Err(CreateWebhookError::IdTaken) => continue,
                Err(CreateWebhookError::Storage(e)) => return Err(e.into()),
            }
        }
        Err(StorageError::Internal("every webhook id drawn was taken".into()).into())
    }

    /// The endpoints of `project`, oldest first.
    pub async fn list(&self, project: &ProjectId) -> Result<Vec<WebhookEndpoint>, StorageError> {
        self.repo.list_webhooks(project).await
    }

    pub async fn get(&self, id: &WebhookId) -> Result<WebhookEndpoint, WebhookError> {
        self.repo
            .find_webhook(id)
            .await?
            .ok_or(WebhookError::NotFound)
    }

    /// Sets the fields `edit` names (a URL judged as at creation).
    pub async fn patch(
        &self,
        id: &WebhookId,
        edit: WebhookEdit,
    ) -> Result<WebhookEndpoint, WebhookError> {
        let patch = WebhookPatch {
            url: edit.url.as_deref().map(|u| self.url(u)).transpose()?,
            events: edit.events,
            enabled: edit.enabled,
            description: edit.description,
        };
        let changed = self
            .repo
            .change_webhook(id, &WebhookChange::Patch(patch), Timestamp::now())
            .await?;
        tracing::info!(webhook_id = id.as_str(), "webhook endpoint changed");
        Ok(changed)
    }

    /// A new secret: the endpoint and the new secret's text; the old one keeps signing beside
    /// it for 24 hours.
    pub async fn rotate_secret(
        &self,
        id: &WebhookId,
    ) -> Result<(WebhookEndpoint, String), WebhookError> {
        let mut secret = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut secret);
        let secret = WebhookSecret::issue(&secret);
        let text = secret.text();
        let change = WebhookChange::RotateSecret(secret);
        let changed = self
            .repo
            .change_webhook(id, &change, Timestamp::now())
            .await?;
        tracing::info!(webhook_id = id.as_str(), "webhook secret rotated");
        Ok((changed, text))
    }

    pub async fn delete(&self, id: &WebhookId) -> Result<(), WebhookError> {
        self.repo.delete_webhook(id).await?;
        tracing::info!(webhook_id = id.as_str(), "webhook endpoint deleted");
        Ok(())
    }

    /// A page of the endpoint's deliveries, newest message first, with their attempts.
    pub async fn deliveries(
        &self,
        id: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, WebhookError> {
        self.get(id).await?;
        Ok(self.repo.list_deliveries(id, query).await?)
    }

    /// Sends `message` to the endpoint again, now, with the retry schedule from its start.
    pub async fn resend(&self, id: &WebhookId, message: &MessageId) -> Result<(), WebhookError> {
        self.get(id).await?;
        let resent = self
            .repo
            .resend_deliveries(id, &Resend::Message(message.clone()), Timestamp::now())
            .await?;
        if resent == 0 {
            return Err(WebhookError::MessageNotFound);
        }
        self.commits.due();
        tracing::info!(webhook_id = id.as_str(), message = %message, "webhook message sent again");
        Ok(())
    }

    /// Sends every message of the endpoint recorded at or after `since` again (each session's in
    /// order); how many.
    pub async fn replay(&self, id: &WebhookId, since: Timestamp) -> Result<u64, WebhookError> {
        self.get(id).await?;
        let resent = self
            .repo
            .resend_deliveries(id, &Resend::Since(since), Timestamp::now())
            .await?;
        self.commits.due();
        tracing::info!(
            webhook_id = id.as_str(),
            resent,
            "webhook messages replayed"
        );
        Ok(resent)
    }
}
