//! Who may call this instance: [`Access`] (open mode, or keys mode with the admin key's hash and
//! the key cache), read by the authentication middleware (`auth`).
//!
//! [`KeyCache`]: this instance's memory of recent key lookups, so that a request does not cost
//! a storage round trip. Each answer — the stored key, or "no such key" — is kept for at most
//! [`KEY_CACHE_TTL`]: a revocation written through any instance is honoured by every instance
//! within that time (SPEC: 5 s). Unknown ids are remembered too, so a flood of made-up ids
//! costs the store one lookup per id per TTL. The cache holds at most `capacity` ids: when full,
//! stale entries are dropped, and if that is not enough, everything is (one lookup per key
//! afterwards; never unbounded memory).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::{ApiKey, KeyId, Repository, SecretHash, StorageError};

/// Who may call: everyone as `default` (open mode), or holders of keys.
pub enum Access {
    /// No `ADMIN_KEY`: no credentials, everything in the project `default`, no key management.
    Open,
    /// `ADMIN_KEY` set: project keys for `/sessions…`, the admin key for `/admin/…`.
    Keys {
        /// SHA-256 of the admin key, compared in constant time like every credential.
        admin: SecretHash,
        cache: KeyCache,
    },
}

impl Access {
    /// Keys mode with this admin key.
    pub fn keys(admin_key: &str) -> Self {
        Access::Keys {
            admin: SecretHash::of(admin_key),
            cache: KeyCache::new(KEY_CACHE_TTL, KEY_CACHE_CAPACITY),
        }
    }

    /// The key cache, in keys mode.
    pub fn cache(&self) -> Option<&KeyCache> {
        match self {
            Access::Open => None,
            Access::Keys { cache, .. } => Some(cache),
        }
    }
}

/// How long a lookup's answer is trusted (SPEC: a revoked key is refused within 5 s).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Ids remembered at most.
pub const KEY_CACHE_CAPACITY: usize = 10_000;

pub struct KeyCache {
    entries: Mutex<HashMap<KeyId, (Instant, Option<ApiKey>)>>,
    ttl: Duration,
    capacity: usize,
}

impl KeyCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The key stored under `id` as the store said at most `ttl` ago, or asks the store.
    pub async fn find(
        &self,
        repo: &dyn Repository,
        id: &KeyId,
    ) -> Result<Option<ApiKey>, StorageError> {
        if let Some(known) = self.cached(id) {
            return Ok(known);
        }
        let found = repo.find_key(id).await?;
        self.remember(id, found.clone());
        Ok(found)
    }

    /// Forgets `id` (this instance revoked it: its next use asks the store).
    pub fn forget(&self, id: &KeyId) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, (Instant, Option<ApiKey>)>> {
        // A panic while holding the lock leaves nothing half-written here: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, id: &KeyId) -> Option<Option<ApiKey>> {
        let entries = self.lock();
        let (at, key) = entries.get(id)?;
        (at.elapsed() < self.ttl).then(|| key.clone())
    }

    fn remember(&self, id: &KeyId, key: Option<ApiKey>) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(id) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(id.clone(), (Instant::now(), key));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> KeyId {
        KeyId::parse(format!("ak_{n:016x}")).unwrap()
    }

    #[test]
    fn answers_expire_and_the_size_stays_bounded() {
        let cache = KeyCache::new(Duration::from_millis(50), 3);
        cache.remember(&id(1), None);
        assert_eq!(
            cache.cached(&id(1)),
            Some(None),
            "a negative answer is kept"
        );
        assert_eq!(cache.cached(&id(2)), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.cached(&id(1)), None, "and expires");
        for n in 0..100 {
            cache.remember(&id(n), None);
            assert!(cache.len() <= 3);
        }
        cache.forget(&id(99));
        assert_eq!(cache.cached(&id(99)), None);
    }
}
