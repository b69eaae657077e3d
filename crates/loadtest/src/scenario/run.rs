//! What a run is made of: the scenario, when its measured phase ends, what every worker of a
//! phase shares, and what each hands back (statistics, ledger, violations).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::Target;
use crate::ledger::Ledger;
use crate::stats::{Progress, Stats};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// GET /healthz: the HTTP ceiling (no storage).
    Healthz,
    /// POST /sessions with new ids (and replays of earlier ones, see --duplicate-share).
    Create,
    /// POST /sessions/{id}/events spread over --sessions sessions.
    Append,
    /// GET /sessions/{id}/events?limit=L at random depths of prefilled sessions.
    Page,
    /// Call-like: create, appends with retries, tail reads, a few page reads, complete.
    Mixed,
    /// --streams live SSE streams over --sessions sessions while --connections appenders add
    /// --events events to each; exactly-once delivery checked, latency measured (`stream.rs`).
    Stream,
    /// GET /sessions over the sessions already stored: walks following cursors with and
    /// without filters, and pages from cursors at random depths; every page checked.
    List,
    /// POST /sessions/{id}/events:batch with --batch-size new events spread over --sessions
    /// sessions (and resends of earlier batches, see --duplicate-share); each 201 must give the
    /// batch consecutive seqs, each resend 200 with the same events, all marked replayed.
    Batch,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Healthz => "healthz",
            Scenario::Create => "create",
            Scenario::Append => "append",
            Scenario::Page => "page",
            Scenario::Mixed => "mixed",
            Scenario::Stream => "stream",
            Scenario::List => "list",
            Scenario::Batch => "batch",
        }
    }
}

/// When the measured phase ends.
pub enum Limit {
    Until(Instant),
    Requests { issued: AtomicU64, total: u64 },
    Unlimited,
}

impl Limit {
    /// Whether one more request may be sent.
    pub(super) fn go(&self) -> bool {
        match self {
            Limit::Until(deadline) => Instant::now() < *deadline,
            Limit::Requests { issued, total } => issued.fetch_add(1, Ordering::Relaxed) < *total,
            Limit::Unlimited => true,
        }
    }
}

/// What every worker of a phase shares.
pub struct Ctx {
    pub target: Target,
    pub timeout: Duration,
    /// Distinguishes this run's ids from earlier runs' (event ids, session ids).
    pub run_tag: String,
    /// Session id prefix.
    pub prefix: String,
    pub duplicate_share: f64,
    pub page_limit: u32,
    /// `page`: the view of the event pages (`all` or `current`).
    pub page_view: String,
    /// `batch`: events per batch.
    pub batch_size: usize,
    pub workers: usize,
    pub limit: Limit,
    pub progress: Arc<Progress>,
    /// The fixed sessions of `append` and `page`.
    pub sessions: Arc<Vec<String>>,
    /// `page`: per session, the paths of every full page (first page, then one per cursor).
    pub page_paths: Arc<Vec<Vec<String>>>,
    /// `--rate`: each worker's interval between the starts of its requests.
    pub pace: Option<Duration>,
}

impl Ctx {
    /// The query of an event page of this run: its limit and view (then a cursor, if any).
    pub fn page_query(&self) -> String {
        format!("limit={}&view={}", self.page_limit, self.page_view)
    }
}

/// Invariant violations seen while the load ran (the first few are kept verbatim).
#[derive(Debug, Default)]
pub struct Violations {
    pub count: u64,
    pub first: Vec<String>,
    /// Replays whose body was JSON-equal to the original but not byte-identical.
    pub replay_byte_diffs: u64,
}

impl Violations {
    pub const KEEP: usize = 20;

    pub fn push(&mut self, message: String) {
        self.count += 1;
        if self.first.len() < Self::KEEP {
            self.first.push(message);
        }
    }

    pub fn merge(&mut self, other: Violations) {
        self.count += other.count;
        self.replay_byte_diffs += other.replay_byte_diffs;
        for m in other.first {
            if self.first.len() < Self::KEEP {
                self.first.push(m);
            }
        }
    }
}

/// What a worker hands back when it stops.
pub struct WorkerResult {
    pub stats: Stats,
    pub ledger: Ledger,
    pub violations: Violations,
}
