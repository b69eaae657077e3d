//! The workers: one task per connection, each running a scenario until the run stops, recording
//! latencies, statuses and what the server acknowledged.
//!
//! `run`: the scenario, its limit, what workers share and hand back; `shares`: the pure pieces
//! (owned sessions, prefill shares, bodies); `worker`: the connection, its checked requests and
//! the write scenarios; `batches` and `reads`: the `batch`, `page` and `list` scenarios; `setup`:
//! what the measured phase needs before it starts.

mod batches;
mod reads;
mod run;
mod setup;
mod shares;
mod worker;

pub use run::{Ctx, Limit, Scenario, Violations, WorkerResult};
pub use setup::{collect_page_paths, setup_sessions};
pub use shares::prefill_share;
pub use worker::Worker;
