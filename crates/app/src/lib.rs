//! The application layer, between the HTTP adapter (`api`) and the domain: one service per group
//! of use cases, each calling the domain's ports and then reacting to what committed (waking
//! live tails, counting, logging). It knows no HTTP; the server assembles it around the store.
//!
//! Modules, from the leaves up: `bounded` (the storage timeout) · `metrics` (the registry,
//! `Instrumented`) · `tail` (live tails) · `access` (open or keys mode, the key cache) ·
//! the services `sessions`, `events`, `lifecycle`, `keys`, `health` · `retention` (the sweep,
//! through `lifecycle`).

pub mod access;
pub mod bounded;
pub mod events;
pub mod health;
pub mod keys;
pub mod lifecycle;
pub mod metrics;
pub mod retention;
pub mod sessions;
pub mod tail;

pub use access::Access;
pub use bounded::Bounded;
pub use events::Events;
pub use health::Health;
pub use keys::{Holder, Keys};
pub use lifecycle::Lifecycle;
pub use metrics::{ErasureReason, Instrumented, Metrics};
pub use retention::{Retention, Sweeper};
pub use sessions::Sessions;
pub use tail::Tail;

/// Every service, as the server assembles them and the HTTP layer calls them.
pub struct Services {
    pub sessions: Sessions,
    pub events: Events,
    pub lifecycle: Lifecycle,
    pub keys: Keys,
    pub health: Health,
}
