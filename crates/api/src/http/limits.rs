//! The running limits of the API (sizes, pages, streams); the OpenAPI document states them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many batch bodies of the largest size may be read and handled at once on one instance
/// (see [`BodyBudget`]).
pub const BATCHES_IN_FLIGHT: usize = 4;

/// The request bodies an instance handles at once, counted in KiB: a body, once read, takes its
/// length from the budget before it is parsed, and gives it back when its request is done (the
/// response written). The budget is [`BATCHES_IN_FLIGHT`] bodies of the batch limit. So what a
/// body costs beyond its own bytes — the parsed tree (many times the text for tiny values), the
/// events it becomes, the answer — is bounded whatever the number of connections, while small
/// bodies (1 KiB each) never wait in practice. Bodies are admitted after they are read, so that
/// a slow sender holds none of the budget while it sends; the bytes of bodies being read or
/// waiting are bounded by the connections and the body limits.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    size: u32,
}

impl BodyBudget {
    /// A budget of [`BATCHES_IN_FLIGHT`] bodies of `batch_body_bytes`.
    pub fn for_batches_of(batch_body_bytes: usize) -> Self {
        let size = u32::try_from(kib(batch_body_bytes) * BATCHES_IN_FLIGHT).unwrap_or(u32::MAX);
        Self {
            kib: Arc::new(Semaphore::new(size as usize)),
            size,
        }
    }

    /// Waits for `bytes` of the budget (all of it at most); the permit gives them back when
    /// dropped.
    pub async fn admit(&self, bytes: usize) -> OwnedSemaphorePermit {
        let wanted = u32::try_from(kib(bytes)).unwrap_or(u32::MAX).min(self.size);
        self.kib
            .clone()
            .acquire_many_owned(wanted)
            .await
            .expect("the budget's semaphore is never closed")
    }
}

/// `bytes` in KiB, rounded up, at least 1.
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// Size and paging limits of the API. The OpenAPI document states the running values.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub body_bytes: usize,
    /// Largest request body of a batch append, in bytes.
    pub batch_body_bytes: usize,
    /// Largest event payload, serialized, in bytes.
    pub payload_bytes: usize,
    /// Largest session metadata, serialized, in bytes.
    pub metadata_bytes: usize,
    pub page_default: u32,
    pub page_max: u32,
    /// Longest time a request body may take to arrive once its head is read.
    pub body_timeout: Duration,
    /// Most streams (live streams and exports) open at once on this instance.
    pub stream_max: usize,
    /// Most streams (live streams and exports) one project may hold open on this instance.
    pub stream_max_per_project: usize,
    /// A live stream sends a `: keep-alive` comment after this much silence.
    pub stream_keep_alive: Duration,
    /// How often this instance asks the store which watched sessions changed elsewhere.
    pub stream_poll: Duration,
    /// Requests per second (and burst) each project key may send; `None`: no limit.
    pub rate_per_key: Option<u32>,
    /// The request bodies read and handled at once (shared by every clone of these limits).
    pub bodies: BodyBudget,
}

impl Limits {
    /// The limits of a batch append: its body may be larger.
    pub fn for_batch(&self) -> Limits {
        Limits {
            body_bytes: self.batch_body_bytes,
            ..self.clone()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 128 * 1024,
            batch_body_bytes: 4 * 1024 * 1024,
            payload_bytes: 64 * 1024,
            metadata_bytes: 16 * 1024,
            page_default: 50,
            page_max: 500,
            body_timeout: Duration::from_secs(10),
            stream_max: 1000,
            stream_max_per_project: 250,
            stream_keep_alive: Duration::from_secs(15),
            stream_poll: Duration::from_millis(250),
            rate_per_key: None,
            bodies: BodyBudget::for_batches_of(4 * 1024 * 1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_wait_for_their_share_of_the_budget() {
        let budget = BodyBudget::for_batches_of(4 * 1024);
        // Four bodies of the batch limit fill it; a fifth waits until one is done.
        let held: Vec<_> =
            futures_util::future::join_all((0..4).map(|_| budget.admit(4 * 1024))).await;
        let fifth = tokio::time::timeout(Duration::from_millis(50), budget.admit(1)).await;
        assert!(fifth.is_err(), "the budget is spent");
        drop(held);
        let fifth = tokio::time::timeout(Duration::from_millis(50), budget.admit(4 * 1024)).await;
        assert!(fifth.is_ok(), "given back once done");
        // A body larger than the whole budget (a chunked one, counted at its limit) still passes alone.
        drop(fifth);
        let _all = tokio::time::timeout(Duration::from_millis(50), budget.admit(1 << 30))
            .await
            .expect("at most the whole budget");
    }
}
