//! The running limits of the API (sizes, pages, streams); the OpenAPI document states them.

use std::time::Duration;

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
        }
    }
}
