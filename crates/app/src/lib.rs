//! The application layer, between the HTTP adapter (`api`) and the domain: one service per group
//! of use cases, each calling the domain's ports and then reacting to what committed (waking
//! live tails, counting, logging). It knows no HTTP; the server assembles it around the store.
//!
//! Modules, from the leaves up: `background` (a task that stops when asked) · `bounded` (the
//! storage timeout) · `metrics` (the registry,
//! `Instrumented`) · `dispatch` (the webhook dispatcher, `Commits`) · `tail` (live tails, stream slots) · `rate` (`RATE_LIMIT_PER_KEY`) ·
//! `access` (open or keys mode, the key cache) ·
//! the services `sessions`, `events`, `lifecycle`, `keys`, `health`, `webhooks` · `retention` (the sweep,
//! through `lifecycle`).

mod access;
mod background;
mod bounded;
mod dispatch;
mod events;
mod health;
mod keys;
mod lifecycle;
mod metrics;
mod rate;
mod retention;
mod sessions;
mod tail;
mod webhooks;

pub use access::Access;
pub use bounded::Bounded;
pub use dispatch::{Commits, DispatchSettings, Dispatcher, MessageBodies};
pub use events::Events;
pub use health::Health;
pub use keys::{Holder, Keys};
pub use lifecycle::Lifecycle;
pub use metrics::{ErasureReason, Instrumented, Metrics, counter_vec, histogram_vec};
pub use rate::{Quota, RateLimit, RateLimited};
pub use retention::{Retention, Sweeper, Swept, sweep};
pub use sessions::Sessions;
pub use tail::{StreamCaps, StreamSlot, Subscription, Tail, TooManyStreams, Wake};
pub use webhooks::{NewWebhook, WebhookEdit, WebhookError, Webhooks};

/// Every service, as the server assembles them and the HTTP layer calls them.
pub struct Services {
    pub sessions: Sessions,
    pub events: Events,
    pub lifecycle: Lifecycle,
    pub keys: Keys,
    pub health: Health,
    pub webhooks: Webhooks,
}
