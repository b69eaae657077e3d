//! What every handler shares: the application's services (assembled by the server around the
//! decorated store), the running limits, the cursor codec and the metrics.

use std::sync::Arc;

use app::{Events, Health, Keys, Lifecycle, Metrics, Services, Sessions, Webhooks};

use crate::http::limits::Limits;
use crate::http::metrics::HttpMetrics;
use crate::paging::cursor::CursorCodec;

pub struct AppState {
    pub sessions: Sessions,
    pub events: Events,
    pub lifecycle: Lifecycle,
    /// The key use cases, with open or keys mode and the key cache (see `auth`).
    pub keys: Keys,
    pub health: Health,
    /// Webhook endpoints (the admin API; the URL rule of `WEBHOOK_ALLOW_PRIVATE`).
    pub webhooks: Webhooks,
    pub limits: Limits,
    pub cursors: CursorCodec,
    /// The registry `/metrics` renders; the same one the store's `Instrumented` writes to.
    pub metrics: Arc<Metrics>,
    /// The requests' counters, registered in `metrics`' registry.
    pub http: HttpMetrics,
}

impl AppState {
    /// Cursors are signed with `secret` (see [`domain::StoreAdmin::shared_secret`]). Registers
    /// the HTTP metrics in `metrics`' registry: one state per registry.
    pub fn new(services: Services, metrics: Arc<Metrics>, limits: Limits, secret: &[u8]) -> Self {
        let Services {
            sessions,
            events,
            lifecycle,
            keys,
            health,
            webhooks,
        } = services;
        Self {
            sessions,
            events,
            lifecycle,
            keys,
            health,
            webhooks,
            limits,
            cursors: CursorCodec::new(secret),
            http: HttpMetrics::new(metrics.registry()),
            metrics,
        }
    }
}
