//! Who may call this instance: [`Access`] (open mode, or keys mode with the admin key's hash and
//! the key cache), read by the authentication middleware (`auth`).
//!
//! [`KeyCache`]: this instance's memory of recent key lookups, so that a request does not cost
//! a storage round trip. Each answer — the stored key, or "no such key" — is kept for at most
//! [`KEY_CACHE_TTL`]: a revocation written through any instance is honoured by every instance
//! within that time (SPEC: 5 s). Unknown ids are remembered too, so a flood of made-up ids
//! costs the store one lookup per id per TTL. The cache holds at most `capacity` found keys and
//! `capacity` unknown ids, apart, so a flood of made-up ids never evicts a key that exists; when
//! a side is full, its stale entries are dropped, and if that is not enough, all of that side
//! (one lookup each afterwards; never unbounded memory).

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
    entries: Mutex<Entries>,
    ttl: Duration,
    capacity: usize,
}

/// The answers kept, apart: keys the store found, and ids it did not know. Each side holds at
/// most `capacity`, so made-up ids (anyone can send them) only ever push out other made-up
/// ids, never a key that exists.
#[derive(Default)]
struct Entries {
    known: HashMap<KeyId, (Instant, ApiKey)>,
    unknown: HashMap<KeyId, Instant>,
}

impl KeyCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries::default()),
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
        let mut entries = self.lock();
        entries.known.remove(id);
        entries.unknown.remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves nothing half-written here: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cached(&self, id: &KeyId) -> Option<Option<ApiKey>> {
        let entries = self.lock();
        let fresh = |at: &Instant| at.elapsed() < self.ttl;
        if let Some((at, key)) = entries.known.get(id) {
            return fresh(at).then(|| Some(key.clone()));
        }
        entries.unknown.get(id).filter(|at| fresh(at)).map(|_| None)
    }

    fn remember(&self, id: &KeyId, key: Option<ApiKey>) {
        let mut entries = self.lock();
        let (ttl, capacity) = (self.ttl, self.capacity);
        match key {
            Some(key) => {
                entries.unknown.remove(id);
                make_room(&mut entries.known, id, capacity, |(at, _)| {
                    at.elapsed() < ttl
                });
                entries.known.insert(id.clone(), (Instant::now(), key));
            }
            None => {
                entries.known.remove(id);
                make_room(&mut entries.unknown, id, capacity, |at| at.elapsed() < ttl);
                entries.unknown.insert(id.clone(), Instant::now());
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let entries = self.lock();
        entries.known.len() + entries.unknown.len()
    }
}

/// Before `id` joins a full `map`: stale entries go, and if that is not enough, all of them (one
/// lookup each afterwards; never unbounded memory).
fn make_room<V>(
    map: &mut HashMap<KeyId, V>,
    id: &KeyId,
    capacity: usize,
    fresh: impl Fn(&V) -> bool,
) {
    if map.len() >= capacity && !map.contains_key(id) {
        map.retain(|_, v| fresh(v));
        if map.len() >= capacity {
            map.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> KeyId {
        KeyId::parse(format!("ak_{n:016x}")).unwrap()
    }

    /// A key this instance knows (found in the store).
    fn known_key() -> ApiKey {
        let new = domain::NewApiKey::new(
            domain::ProjectId::parse("p").unwrap(),
            domain::keys::parse_scopes(["read"]).unwrap(),
            None,
            None,
            domain::Timestamp::now(),
        )
        .unwrap();
        new.issue(
            &[7; domain::keys::ID_BYTES],
            &[9; domain::keys::SECRET_BYTES],
            domain::Timestamp::now(),
        )
        .0
    }

    /// Unauthenticated traffic cannot evict valid keys (issue "Trust at the seams", 10): a flood
    /// of made-up, well-formed ids fills only the room kept for unknown ids.
    #[test]
    fn a_flood_of_unknown_ids_does_not_evict_a_known_key() {
        let cache = KeyCache::new(Duration::from_secs(60), 8);
        let key = known_key();
        cache.remember(&key.id, Some(key.clone()));
        for n in 0..1_000 {
            cache.remember(&id(n), None);
        }
        assert_eq!(
            cache.cached(&key.id),
            Some(Some(key)),
            "the known key is still cached"
        );
        assert!(cache.len() <= 16, "bounded: {}", cache.len());
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
