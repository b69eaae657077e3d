//! `loadtest`: an HTTP/1.1 keep-alive load generator for the conversation session service.
//!
//! It runs one scenario on N connections (one worker task per connection, requests back to back),
//! prints a progress line a second on stderr, a latency table per operation at the end, and then
//! reads back every session it touched to check the contract's invariants over HTTP. The exit
//! code is 0 only when every invariant held and no request got a 5xx, an unexpected status, or
//! no response.

mod client;
mod ledger;
mod scenario;
mod stats;
mod stream;
mod verify;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;

use crate::client::{Conn, Target};
use crate::ledger::Ledger;
use crate::scenario::{Ctx, Limit, Scenario, Violations, Worker, prefill_share};
use crate::stats::{Progress, Stats, round2};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "HTTP/1.1 keep-alive load generator for the session service, with an invariant check afterwards",
    after_help = "Exit status: 0 when all invariants hold and no request got a 5xx, an unexpected \
                  status or no response; 1 otherwise; 2 when the run could not start.\n\n\
                  Examples:\n  loadtest --scenario healthz -c 64 -d 10s\n  \
                  loadtest --scenario append -c 64 --sessions 64 --duplicate-share 0\n  \
                  loadtest --scenario page -c 64 --sessions 1 --prefill 100000 --page-limit 50\n  \
                  loadtest --scenario batch -c 16 --sessions 1 --batch-size 100\n  \
                  loadtest --scenario mixed -c 32 -d 10s --json"
)]
struct Args {
    /// Base URL of the service (plain HTTP).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,

    /// Concurrent keep-alive connections (one worker each, requests back to back).
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,

    /// How long to measure, e.g. 10s, 500ms, 2m (ignored with --requests).
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    duration: Duration,

    /// Stop after this many measured requests instead of after --duration.
    #[arg(long, short = 'n', conflicts_with = "duration")]
    requests: Option<u64>,

    /// What to measure.
    #[arg(long, value_enum, default_value_t = Scenario::Mixed)]
    scenario: Scenario,

    /// Share of appends (and creates/completes) that resend an already-acknowledged request;
    /// each must come back 200 with Idempotent-Replayed and a body identical to the original.
    #[arg(long, default_value_t = 0.1)]
    duplicate_share: f64,

    /// Sessions for append/page (default: --connections for append, 4 for page). With fewer
    /// sessions than connections, connections share sessions.
    #[arg(long)]
    sessions: Option<usize>,

    /// batch: events per `events:batch` request (1–500).
    #[arg(long, default_value_t = 10)]
    batch_size: usize,

    /// Page size of page reads.
    #[arg(long, default_value_t = 50)]
    page_limit: u32,

    /// page: the view of the event pages read (`all` or `current`: corrections left out).
    #[arg(long, default_value = "all")]
    page_view: String,

    /// Events each append/page session must hold before measuring (default: 0 for append,
    /// 1000 for page). Sessions that already hold events (same --prefix) are topped up.
    #[arg(long)]
    prefill: Option<u64>,

    /// Connections used for the prefill (default: --connections).
    #[arg(long)]
    prefill_connections: Option<usize>,

    /// Random seed (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,

    /// Prefix of the session ids (default: lt-<run tag>). Reuse one to reuse prefilled sessions.
    #[arg(long)]
    prefix: Option<String>,

    /// Runtime threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Per-request timeout.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,

    /// Page size used when verifying (walking every session's events).
    #[arg(long, default_value_t = 500)]
    verify_page_limit: u32,

    /// Skip the invariant check after the load.
    #[arg(long)]
    no_verify: bool,

    /// Also print a one-line JSON summary on stdout (the last line).
    #[arg(long)]
    json: bool,

    /// A label copied into the JSON summary.
    #[arg(long)]
    label: Option<String>,

    /// An API key sent as `Authorization: Bearer <key>` with every request (a server in keys
    /// mode); also read from `LOADTEST_BEARER`, so it stays out of the process list.
    #[arg(long)]
    bearer: Option<String>,

    /// Requests per second of the measured phase, all connections together, evenly paced
    /// (default: each connection sends its next request as soon as it has the answer). To
    /// compare two servers at the same pace: CPU per request grows when requests are sparse.
    #[arg(long)]
    rate: Option<f64>,

    /// Self-test of the checker: fake one acknowledgement in the ledger before verifying, so
    /// the run must end with exit status 1.
    #[arg(long, hide = true)]
    inject_fault: bool,

    /// stream: live streams to open (spread over --sessions, default 10).
    #[arg(long, default_value_t = 1000)]
    streams: usize,

    /// stream: events appended to each session.
    #[arg(long, default_value_t = 50)]
    events: usize,

    /// stream: how long the streams sit idle (server CPU and RSS measured with --server-pid).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    idle: Duration,

    /// stream: the server's process id, to read its CPU and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,

    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// `10s`, `500ms`, `2m`, `1.5s`, or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{text:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Base-36 text of a number (short run tags).
fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

struct Phase {
    stats: Stats,
    ledger: Ledger,
    violations: Violations,
    elapsed: Duration,
}

async fn join(
    tasks: Vec<tokio::task::JoinHandle<scenario::WorkerResult>>,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let mut phase = Phase {
        stats: Stats::default(),
        ledger: Ledger::default(),
        violations: Violations::default(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let result = task.await.context("a worker panicked")?;
        phase.stats.merge(&result.stats);
        phase.ledger.merge(result.ledger);
        phase.violations.merge(result.violations);
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}

async fn run(args: Args) -> anyhow::Result<bool> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.duplicate_share) {
        bail!("--duplicate-share must be between 0 and 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of requests per second");
    }
    if !(1..=500).contains(&args.batch_size) {
        bail!("--batch-size must be between 1 and 500");
    }
    if !["all", "current"].contains(&args.page_view.as_str()) {
        bail!("--page-view must be all or current");
    }
    if args.page_limit == 0 || args.verify_page_limit == 0 {
        bail!("page limits must be at least 1");
    }
    let bearer = args
        .bearer
        .clone()
        .or_else(|| std::env::var("LOADTEST_BEARER").ok());
    let target = Target::parse(&args.url)?.with_bearer(bearer.as_deref())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seed = args.seed.unwrap_or(now.as_nanos() as u64);
    let run_tag = base36(now.as_millis() as u64 % 36u64.pow(7));
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("lt-{run_tag}"));

    // The server must answer before anything else.
    let mut probe = Conn::new(target.clone(), Duration::from_secs(5));
    match probe.get("/healthz").await {
        Ok(r) if r.status == 200 => {}
        Ok(r) => bail!("GET {}/healthz answered {}", args.url, r.status),
        Err(e) => bail!("GET {}/healthz failed: {e:#}", args.url),
    }
    drop(probe);

    if args.scenario == Scenario::Stream {
        let plan = stream::Plan {
            streams: args.streams,
            sessions: args.sessions.unwrap_or(10).max(1),
            events: args.events,
            appenders: args.connections,
            idle: args.idle,
            server_pid: args.server_pid,
            prefix,
            timeout: args.timeout,
        };
        let mut report = stream::run(target, plan).await?;
        if let Some(label) = &args.label {
            report["label"] = json!(label);
        }
        eprintln!("{report:#}");
        if args.json {
            println!("{report}");
        }
        return Ok(report["violations"] == 0);
    }

    let progress = Arc::new(Progress::new(args.quiet));
    let reporter = tokio::spawn({
        let progress = Arc::clone(&progress);
        async move { progress.report().await }
    });

    let session_count = match args.scenario {
        Scenario::Append | Scenario::Batch => args.sessions.unwrap_or(args.connections),
        Scenario::Page => args.sessions.unwrap_or(4),
        _ => 0,
    };
    let prefill = match args.scenario {
        Scenario::Page => args.prefill.unwrap_or(1000),
        Scenario::Append => args.prefill.unwrap_or(0),
        _ => 0,
    };
    if matches!(
        args.scenario,
        Scenario::Append | Scenario::Page | Scenario::Batch
    ) && session_count == 0
    {
        bail!("--sessions must be at least 1");
    }
    let sessions: Arc<Vec<String>> = Arc::new(
        (0..session_count)
            .map(|i| format!("{prefix}-s{i}"))
            .collect(),
    );
    let prefill_connections = args.prefill_connections.unwrap_or(args.connections).max(1);

    eprintln!(
        "loadtest: scenario {} on {} with {} connections, {}; seed {seed}; session prefix {prefix}",
        args.scenario.name(),
        args.url,
        args.connections,
        match args.requests {
            Some(n) => format!("{n} requests"),
            None => format!("{:?}", args.duration),
        },
    );

    let make_ctx = |limit: Limit,
                    workers: usize,
                    page_paths: Arc<Vec<Vec<String>>>,
                    pace: Option<Duration>| {
        Arc::new(Ctx {
            target: target.clone(),
            timeout: args.timeout,
            run_tag: run_tag.clone(),
            prefix: prefix.clone(),
            duplicate_share: args.duplicate_share,
            page_limit: args.page_limit,
            page_view: args.page_view.clone(),
            batch_size: args.batch_size,
            workers,
            limit,
            progress: Arc::clone(&progress),
            sessions: Arc::clone(&sessions),
            page_paths,
            pace,
        })
    };

    let mut ledger = Ledger::default();
    let mut setup_stats = Stats::default();
    let mut violations = Violations::default();
    let mut prefill_summary = serde_json::Value::Null;
    let mut page_paths = Arc::new(Vec::new());

    if !sessions.is_empty() {
        progress.phase("setup");
        let ctx = make_ctx(
            Limit::Unlimited,
            prefill_connections,
            Arc::new(Vec::new()),
            None,
        );
        let counts = scenario::setup_sessions(&ctx, prefill_connections, &mut ledger).await?;
        let deficits: Vec<u64> = counts.iter().map(|c| prefill.saturating_sub(*c)).collect();
        let total: u64 = deficits.iter().sum();
        if total > 0 {
            progress.phase("prefill");
            eprintln!(
                "loadtest: prefill: {total} events into {} sessions with {prefill_connections} connections",
                sessions.len()
            );
            let mut tasks = Vec::new();
            for w in 0..prefill_connections {
                let work = prefill_share(w, prefill_connections, &deficits);
                if work.iter().all(|(_, n)| *n == 0) {
                    continue;
                }
                let worker = Worker::new(w, Arc::clone(&ctx), seed.wrapping_add(1));
                tasks.push(tokio::spawn(worker.prefill(work)));
            }
            let phase = join(tasks).await?;
            let secs = phase.elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "loadtest: prefill done: {} requests in {:.1} s ({:.0} appends/s)",
                phase.stats.requests(),
                secs,
                phase.stats.requests() as f64 / secs
            );
            prefill_summary = json!({
                "events": total,
                "seconds": round2(secs),
                "rps": round2(phase.stats.requests() as f64 / secs),
            });
            setup_stats.merge(&phase.stats);
            ledger.merge(phase.ledger);
            violations.merge(phase.violations);
        }
        if args.scenario == Scenario::Page {
            progress.phase("cursors");
            page_paths = Arc::new(scenario::collect_page_paths(&ctx, prefill_connections).await?);
            let pages: usize = page_paths.iter().map(Vec::len).sum();
            eprintln!(
                "loadtest: {pages} page positions of {} events over {} sessions",
                args.page_limit,
                sessions.len()
            );
        }
    }

    // The measured phase.
    progress.phase("measure");
    let limit = match args.requests {
        Some(total) => Limit::Requests {
            issued: AtomicU64::new(0),
            total,
        },
        None => Limit::Until(Instant::now() + args.duration),
    };
    // Each connection's interval between requests, for the measured phase only.
    let pace = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.connections as f64 / rate));
    let ctx = make_ctx(limit, args.connections, Arc::clone(&page_paths), pace);
    let mut tasks = Vec::new();
    for w in 0..args.connections {
        let worker = Worker::new(w, Arc::clone(&ctx), seed);
        tasks.push(tokio::spawn(worker.run(args.scenario)));
    }
    let measured = join(tasks).await?;
    ledger.merge(measured.ledger);
    violations.merge(measured.violations);
    let elapsed = measured.elapsed;
    let stats = measured.stats;

    println!(
        "\nscenario {}  connections {}  measured {:.2} s  requests {}  ({:.1} rps)",
        args.scenario.name(),
        args.connections,
        elapsed.as_secs_f64(),
        stats.requests(),
        stats.requests() as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    print!("{}", stats.table(elapsed));
    // Events stored by the measured phase (new events only: replays store nothing).
    let events_stored = stats.stored_events(args.batch_size as u64);
    let events_per_second = events_stored as f64 / elapsed.as_secs_f64().max(1e-9);
    if args.scenario == Scenario::Batch {
        println!(
            "events stored {events_stored} in batches of {} ({events_per_second:.1} events/s)",
            args.batch_size
        );
    }

    // Verification.
    let mut failures: Vec<String> = Vec::new();
    let mut verify_summary = serde_json::Value::Null;
    if args.inject_fault
        && let Some(what) = ledger.inject_fault()
    {
        println!("inject-fault: {what}");
    }
    let acked = ledger.acked_events();
    let replays = ledger.replays_checked();
    if !args.no_verify && !ledger.sessions.is_empty() {
        progress.phase("verify");
        let report = verify::verify_all(
            &target,
            ledger,
            args.connections,
            args.verify_page_limit,
            args.timeout,
            Arc::clone(&progress),
        )
        .await;
        println!(
            "verify: {} sessions, {} events listed, {acked} acknowledged by this run, {replays} replays compared, {:.1} s: {}",
            report.sessions,
            report.events_listed,
            report.elapsed.as_secs_f64(),
            if report.failures.is_empty() {
                "all invariants hold".to_owned()
            } else {
                format!(
                    "{} violations in {} sessions",
                    report.failures.len(),
                    report.failed_sessions
                )
            }
        );
        verify_summary = json!({
            "sessions": report.sessions,
            "events_listed": report.events_listed,
            "events_acknowledged": acked,
            "replays_compared": replays,
            "failures": report.failures.len(),
            "seconds": round2(report.elapsed.as_secs_f64()),
        });
        failures = report.failures;
    }
    progress.finish();
    reporter.abort();

    // Verdict.
    let mut problems: Vec<String> = Vec::new();
    let mut all = stats.clone();
    all.merge(&setup_stats);
    if all.server_errors() > 0 {
        problems.push(format!("{} responses were 5xx", all.server_errors()));
    }
    if all.unexpected() > 0 {
        problems.push(format!(
            "{} responses had an unexpected status",
            all.unexpected()
        ));
    }
    if all.errors() > 0 {
        problems.push(format!("{} requests got no response", all.errors()));
    }
    let runtime_violations = violations
        .count
        .saturating_sub(all.unexpected() + all.errors());
    if runtime_violations > 0 {
        problems.push(format!(
            "{runtime_violations} invariant violations during the load"
        ));
    }
    if !failures.is_empty() {
        problems.push(format!(
            "{} invariant violations found by verify",
            failures.len()
        ));
    }
    if violations.replay_byte_diffs > 0 {
        println!(
            "note: {} replays returned a body JSON-equal to the original but not byte-identical",
            violations.replay_byte_diffs
        );
    }
    for v in &violations.first {
        println!("  during load: {v}");
    }
    if violations.count > violations.first.len() as u64 {
        println!(
            "  during load: … {} more",
            violations.count - violations.first.len() as u64
        );
    }
    const SHOW: usize = 50;
    for f in failures.iter().take(SHOW) {
        println!("  verify: {f}");
    }
    if failures.len() > SHOW {
        println!("  verify: … {} more", failures.len() - SHOW);
    }
    let ok = problems.is_empty();
    if ok {
        println!("result: OK");
    } else {
        println!("result: FAILED: {}", problems.join("; "));
    }

    if args.json {
        let summary = json!({
            "label": args.label,
            "scenario": args.scenario.name(),
            "url": args.url,
            "connections": args.connections,
            "seed": seed,
            "prefix": prefix,
            "seconds": round2(elapsed.as_secs_f64()),
            "requests": stats.requests(),
            "rps": round2(stats.requests() as f64 / elapsed.as_secs_f64().max(1e-9)),
            "ops": stats.to_json(elapsed),
            "batch_size": (args.scenario == Scenario::Batch).then_some(args.batch_size),
            "events_stored": events_stored,
            "events_per_second": round2(events_per_second),
            "prefill": prefill_summary,
            "server_errors": all.server_errors(),
            "unexpected": all.unexpected(),
            "errors": all.errors(),
            "violations_during_load": runtime_violations,
            "replay_byte_diffs": violations.replay_byte_diffs,
            "verify": verify_summary,
            "ok": ok,
            "problems": problems,
        });
        println!("{summary}");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn cli_parses() {
        let args = Args::try_parse_from([
            "loadtest",
            "--scenario",
            "page",
            "-c",
            "8",
            "--prefill",
            "100000",
            "--requests",
            "1000",
            "--json",
        ])
        .unwrap();
        assert_eq!(args.scenario, Scenario::Page);
        assert_eq!(args.requests, Some(1000));
        assert!(Args::try_parse_from(["loadtest", "-d", "5s", "-n", "10"]).is_err());
    }

    #[test]
    fn base36_tags() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }
}
