//! Latency histograms and status counts per operation, the once-a-second progress line, and the
//! final table and JSON summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The operations measured, each with its own row in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Healthz,
    Create,
    CreateReplay,
    Append,
    AppendReplay,
    Page,
    Complete,
    CompleteReplay,
    /// A page of `GET /sessions`: a first page, or the next one of a walk.
    List,
    /// A page of `GET /sessions` read from a cursor at a random depth of the store.
    ListDeep,
    /// `POST /sessions/{id}/events:batch` of new events.
    Batch,
    /// A batch sent again: every item a replay.
    BatchReplay,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Healthz => "healthz",
            Op::Create => "create",
            Op::CreateReplay => "create_replay",
            Op::Append => "append",
            Op::AppendReplay => "append_replay",
            Op::Page => "page",
            Op::Complete => "complete",
            Op::CompleteReplay => "complete_replay",
            Op::List => "list",
            Op::ListDeep => "list_deep",
            Op::Batch => "batch",
            Op::BatchReplay => "batch_replay",
        }
    }
}

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug, Clone)]
pub struct OpStats {
    pub latency_us: Histogram<u64>,
    /// Responses by status code (all of them, 2xx included).
    pub statuses: BTreeMap<u16, u64>,
    /// Responses whose status was not the one the operation expects.
    pub unexpected: u64,
    /// Requests that got no response (connect error, reset, timeout).
    pub errors: u64,
}

impl Default for OpStats {
    fn default() -> Self {
        Self {
            latency_us: histogram(),
            statuses: BTreeMap::new(),
            unexpected: 0,
            errors: 0,
        }
    }
}

impl OpStats {
    pub fn record(&mut self, latency: Duration, status: u16, expected: bool) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(us);
        *self.statuses.entry(status).or_default() += 1;
        if !expected {
            self.unexpected += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.latency_us.len()
    }

    fn merge(&mut self, other: &OpStats) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share their bounds");
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.unexpected += other.unexpected;
        self.errors += other.errors;
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn non_2xx(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(s, n)| (*s, *n))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub ops: BTreeMap<Op, OpStats>,
}

impl Stats {
    pub fn op(&mut self, op: Op) -> &mut OpStats {
        self.ops.entry(op).or_default()
    }

    pub fn merge(&mut self, other: &Stats) {
        for (op, s) in &other.ops {
            self.op(*op).merge(s);
        }
    }

    /// Events stored by the 201s counted here: one per append, `batch_size` per batch.
    pub fn stored_events(&self, batch_size: u64) -> u64 {
        let created = |op: Op| {
            self.ops
                .get(&op)
                .map_or(0, |s| s.statuses.get(&201).copied().unwrap_or(0))
        };
        created(Op::Append) + created(Op::Batch) * batch_size
    }

    pub fn requests(&self) -> u64 {
        self.ops.values().map(|s| s.count() + s.errors).sum()
    }

    pub fn errors(&self) -> u64 {
        self.ops.values().map(|s| s.errors).sum()
    }

    pub fn unexpected(&self) -> u64 {
        self.ops.values().map(|s| s.unexpected).sum()
    }

    pub fn server_errors(&self) -> u64 {
        self.ops
            .values()
            .flat_map(|s| s.statuses.iter())
            .filter(|(status, _)| **status >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// The human table: one row per operation, then the total.
    pub fn table(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  non-2xx / errors",
            "op", "count", "rps", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let mut total = OpStats::default();
        for (op, s) in &self.ops {
            let _ = writeln!(out, "{}", row(op.name(), s, secs));
            total.merge(s);
        }
        if self.ops.len() > 1 {
            let _ = writeln!(out, "{}", row("total", &total, secs));
        }
        out
    }

    pub fn to_json(&self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut ops = serde_json::Map::new();
        for (op, s) in &self.ops {
            let non_2xx: serde_json::Map<String, Value> = s
                .non_2xx()
                .map(|(status, n)| (status.to_string(), json!(n)))
                .collect();
            ops.insert(
                op.name().to_owned(),
                json!({
                    "count": s.count(),
                    "rps": round2(s.count() as f64 / secs),
                    "p50_ms": round3(s.ms(0.50)),
                    "p90_ms": round3(s.ms(0.90)),
                    "p99_ms": round3(s.ms(0.99)),
                    "max_ms": round3(s.latency_us.max() as f64 / 1000.0),
                    "mean_ms": round3(s.latency_us.mean() / 1000.0),
                    "non_2xx": non_2xx,
                    "unexpected": s.unexpected,
                    "errors": s.errors,
                }),
            );
        }
        Value::Object(ops)
    }
}

fn row(name: &str, s: &OpStats, secs: f64) -> String {
    let mut problems: Vec<String> = s
        .non_2xx()
        .map(|(status, n)| format!("{status}:{n}"))
        .collect();
    if s.errors > 0 {
        problems.push(format!("errors:{}", s.errors));
    }
    if s.count() == 0 {
        return format!(
            "{name:<16} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}  {}",
            0,
            "0.0",
            "-",
            "-",
            "-",
            "-",
            problems.join(" ")
        );
    }
    format!(
        "{name:<16} {:>9} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {}",
        s.count(),
        s.count() as f64 / secs,
        s.ms(0.50),
        s.ms(0.90),
        s.ms(0.99),
        s.latency_us.max() as f64 / 1000.0,
        if problems.is_empty() {
            "-".to_owned()
        } else {
            problems.join(" ")
        }
    )
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Counters shared by all workers for the progress line.
pub struct Progress {
    pub requests: AtomicU64,
    pub non_2xx: AtomicU64,
    pub errors: AtomicU64,
    phase: Mutex<(String, Instant)>,
    done: AtomicBool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self {
            requests: AtomicU64::new(0),
            non_2xx: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            phase: Mutex::new(("start".to_owned(), Instant::now())),
            done: AtomicBool::new(false),
            quiet,
        }
    }

    /// Starts a phase: the counters restart from zero.
    pub fn phase(&self, name: &str) {
        let mut phase = self.phase.lock().expect("progress lock");
        *phase = (name.to_owned(), Instant::now());
        self.requests.store(0, Ordering::Relaxed);
        self.non_2xx.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
    }

    pub fn response(&self, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !(200..300).contains(&status) {
            self.non_2xx.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn error(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        self.done.store(true, Ordering::Relaxed);
    }

    /// Prints one line a second on stderr until [`Progress::finish`].
    pub async fn report(&self) {
        if self.quiet {
            return;
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        let mut last = (String::new(), 0u64);
        while !self.done.load(Ordering::Relaxed) {
            ticker.tick().await;
            if self.done.load(Ordering::Relaxed) {
                break;
            }
            let (name, started) = self.phase.lock().expect("progress lock").clone();
            let requests = self.requests.load(Ordering::Relaxed);
            let previous = if last.0 == name { last.1 } else { 0 };
            let rps = requests.saturating_sub(previous);
            eprintln!(
                "[{name} {:>4.0}s] requests {requests:>9}  rps {rps:>7}  non-2xx {}  errors {}",
                started.elapsed().as_secs_f64(),
                self.non_2xx.load(Ordering::Relaxed),
                self.errors.load(Ordering::Relaxed),
            );
            last = (name, requests);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_counts() {
        let mut a = Stats::default();
        a.op(Op::Append).record(Duration::from_millis(2), 201, true);
        a.op(Op::Append)
            .record(Duration::from_millis(4), 503, false);
        let mut b = Stats::default();
        b.op(Op::Append).errors += 1;
        b.op(Op::Page).record(Duration::from_micros(1), 200, true);
        b.op(Op::Batch).record(Duration::from_millis(3), 201, true);
        b.op(Op::Batch).record(Duration::from_millis(3), 409, false);
        a.merge(&b);
        assert_eq!(a.requests(), 6);
        assert_eq!(a.errors(), 1);
        assert_eq!(a.unexpected(), 2);
        // One append and one batch of 10 were stored; the 409 batch stored nothing.
        assert_eq!(a.stored_events(10), 11);
        assert_eq!(a.server_errors(), 1);
        let json = a.to_json(Duration::from_secs(1));
        assert_eq!(json["append"]["count"], 2);
        assert_eq!(json["append"]["non_2xx"]["503"], 1);
        assert!(a.table(Duration::from_secs(1)).contains("503:1"));
    }
}
