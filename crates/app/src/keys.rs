//! [`Keys`]: API keys — issuing, listing and revoking them (the admin's use cases), and telling
//! what a presented key stands for (authentication's).

use std::sync::Arc;

use domain::{
    ApiKey, CreateKeyError, KeyId, KeyText, NewApiKey, ProjectId, Repository, RevokeKeyError,
    SecretHash, StorageError, Timestamp, keys,
};
use rand::RngCore;

use crate::access::Access;
use crate::rate::{Quota, RateLimit, RateLimited};

/// Draws fresh ids until one is free (64 random bits: a second draw is already unheard of).
const ID_ATTEMPTS: usize = 3;

/// What a presented key stands for, in keys mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The `ADMIN_KEY`.
    Admin,
    /// A stored project key, usable now.
    Project(ApiKey),
}

/// The key use cases, and who may call (open mode, or keys mode with the key cache).
pub struct Keys {
    repo: Arc<dyn Repository>,
    access: Access,
    /// `RATE_LIMIT_PER_KEY`, when set.
    rate: Option<RateLimit>,
}

impl Keys {
    pub fn new(repo: Arc<dyn Repository>, access: Access) -> Self {
        Self {
            repo,
            access,
            rate: None,
        }
    }

    /// Limits each project key to `rate` requests per second (with a burst of as many).
    pub fn with_rate_limit(mut self, rate: Option<RateLimit>) -> Self {
        self.rate = rate;
        self
    }

    /// Counts one request of the project key `id` against its rate: the quota left (`None`
    /// without a limit), or refused. Call it only for a key [`Keys::identify`] accepted, so
    /// that what is tracked is bounded by the keys that exist.
    pub fn admit(&self, id: &KeyId) -> Result<Option<Quota>, RateLimited> {
        self.rate.as_ref().map(|rate| rate.admit(id)).transpose()
    }

    /// Open mode: no credentials, everything in the project `default`, no key management.
    pub fn open_mode(&self) -> bool {
        matches!(self.access, Access::Open)
    }

    /// What `token` stands for: the admin key (compared in constant time, without a store
    /// call), else a stored key whose secret it holds and which is usable now (looked up
    /// through the key cache); `None` for anything else, and always in open mode.
    pub async fn identify(&self, token: &str) -> Result<Option<Holder>, StorageError> {
        let Access::Keys { admin, cache } = &self.access else {
            return Ok(None);
        };
        if SecretHash::of(token).matches(admin) {
            return Ok(Some(Holder::Admin));
        }
        let Some((id, secret)) = KeyText::split(token) else {
            return Ok(None);
        };
        let key = cache.find(self.repo.as_ref(), &id).await?;
        Ok(key
            .filter(|key| key.verifies(secret) && key.usable_at(Timestamp::now()))
            .map(Holder::Project))
    }

    /// Issues and stores a key: the stored key and its text (the only time it is shown).
    /// `IdTaken` only when every drawn id was taken.
    pub async fn create(&self, new: NewApiKey) -> Result<(ApiKey, KeyText), CreateKeyError> {
        let mut rng = rand::rng();
        for _ in 0..ID_ATTEMPTS {
            let mut id = [0u8; keys::ID_BYTES];
            let mut secret = [0u8; keys::SECRET_BYTES];
            rng.fill_bytes(&mut id);
            rng.fill_bytes(&mut secret);
            let (key, text) = new.clone().issue(&id, &secret, Timestamp::now());
            match self.repo.create_key(&key).await {
                Ok(()) => {
                    tracing::info!(key_id = %key.id, project = %key.project, "API key created");
                    return Ok((key, text));
                }
                Err(CreateKeyError::IdTaken) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CreateKeyError::IdTaken)
    }

    /// The keys of `project` (every project's without it), oldest first.
    pub async fn list(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError> {
        self.repo.list_keys(project).await
    }

    /// Revokes the key: refused at once by this instance, by the others within the cache's
    /// time. Revoking again answers the key too.
    pub async fn revoke(&self, id: &KeyId) -> Result<ApiKey, RevokeKeyError> {
        let key = self.repo.revoke_key(id, Timestamp::now()).await?;
        if let Some(cache) = self.access.cache() {
            cache.forget(&key.id);
        }
        tracing::info!(key_id = %key.id, project = %key.project, "API key revoked");
        Ok(key)
    }
}
