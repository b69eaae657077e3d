//! What every handler shares: the store (already wrapped by the server's decorators), the
//! running limits, the cursor codec, the metrics registry and the live tails.

use std::sync::Arc;
use std::time::Duration;

use domain::Repository;

use crate::access::Access;
use crate::cursor::CursorCodec;
use crate::metrics::Metrics;
use crate::tail::Tail;

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
    /// Most live streams open at once on this instance.
    pub stream_max: usize,
    /// A live stream sends a `: keep-alive` comment after this much silence.
    pub stream_keep_alive: Duration,
    /// How often this instance asks the store which watched sessions changed elsewhere.
    pub stream_poll: Duration,
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
            stream_keep_alive: Duration::from_secs(15),
            stream_poll: Duration::from_millis(250),
        }
    }
}

pub struct AppState {
    /// The store as the server assembled it (e.g. `Instrumented::new(Bounded::new(store, t))`).
    pub repo: Arc<dyn Repository>,
    pub limits: Limits,
    pub cursors: CursorCodec,
    /// The registry `/metrics` renders; the same one the store's `Instrumented` writes to.
    pub metrics: Arc<Metrics>,
    /// The live tails of this instance's streams.
    pub tail: Arc<Tail>,
    /// Open mode, or keys mode with the admin key and the key cache (see `auth`).
    pub access: Access,
}

impl AppState {
    /// Cursors are signed with `secret` (see [`domain::StoreAdmin::shared_secret`]).
    pub fn new(
        repo: Arc<dyn Repository>,
        metrics: Arc<Metrics>,
        limits: Limits,
        secret: &[u8],
    ) -> Self {
        let tail = Tail::new(repo.clone(), limits.stream_max, limits.stream_poll);
        Self {
            repo,
            limits,
            cursors: CursorCodec::new(secret),
            metrics,
            tail,
            access: Access::Open,
        }
    }

    /// The same state with `access` (open mode is the default of [`AppState::new`]).
    pub fn with_access(self, access: Access) -> Self {
        Self { access, ..self }
    }
}
