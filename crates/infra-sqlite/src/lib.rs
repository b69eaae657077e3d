//! The embedded default storage adapter: one SQLite file in WAL mode.
//!
//! Writes go to a single writer thread that commits them in groups (many concurrent appends
//! share one transaction and one sync); every call is answered only after its group committed,
//! so an acknowledged write is durable. Reads use a small pool of read-only connections and
//! see committed snapshots. `seq` is assigned by the single writer inside the transaction that
//! stores the event, so `seq` order is commit order.

mod checkpoint;
mod deliveries;
mod erasure;
mod error;
mod keys;
mod list;
mod migrate;
mod outbox;
mod pool;
mod reads;
mod rows;
mod store;
mod webhooks;
mod writer;
mod writes;

pub use migrate::MIGRATIONS;
pub use store::{SqliteOptions, SqliteStore, Synchronous};
