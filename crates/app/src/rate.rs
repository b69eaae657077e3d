//! Fair use: [`RateLimit`], `RATE_LIMIT_PER_KEY` requests per second for each API key, with a
//! burst of the same size (SPEC "Projects and API keys").
//!
//! The generic cell rate algorithm (GCRA): each key has a theoretical arrival time (`tat`); a
//! request advances it by one interval (`1 s / rate`) and is refused when that would put it more
//! than one second (the burst) ahead of now. One instant per key, no timer, no background task.
//! Only keys that authenticated reach it (unknown keys are 401 before), so the keys it tracks
//! exist; a key whose `tat` has passed has its whole burst back, exactly as if it were not
//! tracked, so such entries are dropped whenever the map reaches its capacity: memory stays
//! bounded by the keys that were active in the last second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::KeyId;

/// Keys tracked before idle ones are dropped.
const CAPACITY: usize = 10_000;

/// The quota left after an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per second (and the burst).
    pub limit: u32,
    /// Requests that may still be sent now.
    pub remaining: u32,
    /// Seconds until the whole burst is available again (rounded up).
    pub reset_seconds: u64,
}

/// A request beyond the key's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Requests per second (and the burst).
    pub limit: u32,
    /// Seconds until one more request is admitted (rounded up, at least 1).
    pub retry_after_seconds: u64,
}

pub struct RateLimit {
    limit: u32,
    /// Time one request costs: `1 s / limit`.
    interval: Duration,
    /// How far ahead of now a key's `tat` may be: the burst, one second.
    burst: Duration,
    tats: Mutex<HashMap<KeyId, Instant>>,
}

impl RateLimit {
    /// `per_second` requests per second for each key (at least 1), with a burst of as many.
    pub fn per_second(per_second: u32) -> Self {
        let limit = per_second.max(1);
        Self {
            limit,
            interval: Duration::from_secs(1) / limit,
            burst: Duration::from_secs(1),
            tats: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Admits one request of `key` now, or says how long to wait.
    pub fn admit(&self, key: &KeyId) -> Result<Quota, RateLimited> {
        self.admit_at(key, Instant::now())
    }

    fn admit_at(&self, key: &KeyId, now: Instant) -> Result<Quota, RateLimited> {
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = tats.get(key).copied().filter(|t| *t > now).unwrap_or(now);
        let next = tat + self.interval;
        let ahead = next - now;
        if ahead > self.burst {
            return Err(RateLimited {
                limit: self.limit,
                retry_after_seconds: ceil_seconds(ahead - self.burst).max(1),
            });
        }
        if tats.len() >= CAPACITY && !tats.contains_key(key) {
            tats.retain(|_, t| *t > now);
        }
        tats.insert(key.clone(), next);
        let left = self.burst - ahead;
        Ok(Quota {
            limit: self.limit,
            remaining: (left.as_nanos() / self.interval.as_nanos()) as u32,
            reset_seconds: ceil_seconds(ahead),
        })
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.tats.lock().unwrap().len()
    }
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> KeyId {
        KeyId::parse(format!("ak_{n:016x}")).unwrap()
    }

    #[test]
    fn a_burst_of_the_rate_then_one_request_per_interval() {
        let limit = RateLimit::per_second(5);
        let start = Instant::now();
        let remaining: Vec<u32> = (0..5)
            .map(|_| limit.admit_at(&key(1), start).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let refused = limit.admit_at(&key(1), start).unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1);
        // Another key has its own burst.
        assert_eq!(limit.admit_at(&key(2), start).unwrap().remaining, 4);
        // One interval later, one more request.
        let later = start + Duration::from_millis(200);
        assert_eq!(limit.admit_at(&key(1), later).unwrap().remaining, 0);
        assert!(limit.admit_at(&key(1), later).is_err());
        // A second later, the whole burst.
        let idle = later + Duration::from_secs(1);
        assert_eq!(limit.admit_at(&key(1), idle).unwrap().remaining, 4);
    }

    #[test]
    fn idle_keys_are_dropped_at_capacity() {
        let limit = RateLimit::per_second(1);
        let start = Instant::now();
        for n in 0..CAPACITY as u64 {
            limit.admit_at(&key(n), start).unwrap();
        }
        assert_eq!(limit.tracked(), CAPACITY);
        // Two seconds on, every one of them has its burst back: dropped, not remembered.
        let later = start + Duration::from_secs(2);
        limit.admit_at(&key(u64::MAX), later).unwrap();
        assert_eq!(limit.tracked(), 1);
    }
}
