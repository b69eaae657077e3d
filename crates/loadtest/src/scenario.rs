//! The workers: one task per connection, each running a scenario until the run stops, recording
//! latencies, statuses and what the server acknowledged.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::Value;

use crate::client::{Conn, Response, Target, encode_query};
use crate::ledger::{Acked, Baseline, Ledger};
use crate::stats::{Op, Progress, Stats};
use crate::verify::snippet;

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
    fn go(&self) -> bool {
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

enum Outcome {
    /// The expected status.
    Expected(Response),
    /// Another status (already counted as unexpected and reported).
    Other(Response),
    /// No response.
    Failed,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// Pages of one walk in the `list` scenario before it starts another.
const WALK_PAGES: u32 = 20;

/// A `GET /sessions` query of the `list` scenario and what its sessions must pass.
struct ListQuery {
    /// `&name=value…`, appended to `?limit=L`.
    text: String,
    status: Option<&'static str>,
    agent: Option<String>,
    /// `createdBefore`, as sent (RFC 3339 in the service's own format: comparable as text).
    before: Option<String>,
}

impl ListQuery {
    fn new(
        text: &str,
        status: Option<&'static str>,
        agent: Option<String>,
        before: Option<String>,
    ) -> Self {
        Self {
            text: text.to_owned(),
            status,
            agent,
            before,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListPage {
    data: Vec<ListedSession>,
    has_more: bool,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedSession {
    session_id: String,
    status: String,
    created_at: String,
    metadata: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageMeta {
    has_more: bool,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionMeta {
    status: String,
    event_count: u64,
    last_seq: u64,
}

/// The sessions (indexes into `ctx.sessions`) that a worker appends to. With at least as many
/// sessions as workers, each worker owns its own; otherwise workers share them round robin.
pub fn owned_sessions(worker: usize, workers: usize, sessions: usize) -> Vec<usize> {
    if sessions == 0 {
        Vec::new()
    } else if sessions >= workers {
        (worker..sessions).step_by(workers).collect()
    } else {
        vec![worker % sessions]
    }
}

/// The prefill work of one worker: (session index, events to append), splitting each session's
/// deficit among the workers that share it.
pub fn prefill_share(worker: usize, workers: usize, deficits: &[u64]) -> Vec<(usize, u64)> {
    let n = deficits.len();
    if n == 0 {
        return Vec::new();
    }
    if n >= workers {
        return owned_sessions(worker, workers, n)
            .into_iter()
            .map(|s| (s, deficits[s]))
            .collect();
    }
    let s = worker % n;
    let sharers = (workers - s).div_ceil(n) as u64;
    let rank = (worker / n) as u64;
    let d = deficits[s];
    let share = d * (rank + 1) / sharers - d * rank / sharers;
    vec![(s, share)]
}

/// The body of an event append: deterministic from its id and number.
pub fn event_body(event_id: &str, k: u64, with_timestamp: bool) -> Bytes {
    const KINDS: [&str; 5] = [
        "user_speech",
        "bot_speech",
        "user_speech",
        "bot_speech",
        "system",
    ];
    let kind = KINDS[(k % 5) as usize];
    let timestamp = if with_timestamp {
        format!(
            r#","timestamp":"2026-01-01T{:02}:{:02}:{:02}.{:03}Z""#,
            (k / 3_600_000) % 24,
            (k / 60_000) % 60,
            (k / 1000) % 60,
            k % 1000
        )
    } else {
        String::new()
    };
    Bytes::from(format!(
        r#"{{"eventId":"{event_id}","type":"{kind}","payload":{{"text":"turn {k}: I would like to know the status of my order","turn":{k},"confidence":0.93,"words":[{{"w":"order","startMs":1200}},{{"w":"status","startMs":1480}}]}}{timestamp}}}"#
    ))
}

/// The items of a batch response (`{"data":[{"event":…,"replayed":…},…]}`): per item its seq,
/// the event and whether it was a replay; exactly `expected` of them.
pub fn batch_events(body: &[u8], expected: usize) -> Result<Vec<(u64, Value, bool)>, String> {
    #[derive(Deserialize)]
    struct Item {
        event: Value,
        replayed: bool,
    }
    #[derive(Deserialize)]
    struct Batch {
        data: Vec<Item>,
    }
    let batch: Batch =
        serde_json::from_slice(body).map_err(|e| format!("not a batch response: {e}"))?;
    if batch.data.len() != expected {
        return Err(format!(
            "{} items answered for {expected} sent",
            batch.data.len()
        ));
    }
    batch
        .data
        .into_iter()
        .map(|item| match item.event.get("seq").and_then(Value::as_u64) {
            Some(seq) => Ok((seq, item.event, item.replayed)),
            None => Err(format!("an item has no seq: {}", item.event)),
        })
        .collect()
}

pub struct Worker {
    pub id: usize,
    ctx: Arc<Ctx>,
    conn: Conn,
    stats: Stats,
    ledger: Ledger,
    violations: Violations,
    rng: StdRng,
    /// Per session, the seq of this connection's latest 201: the next must be larger.
    last_seq: HashMap<String, u64>,
    /// With `ctx.pace`: when the next request may start.
    next_at: Option<Instant>,
}

impl Worker {
    pub fn new(id: usize, ctx: Arc<Ctx>, seed: u64) -> Self {
        let conn = Conn::new(ctx.target.clone(), ctx.timeout);
        Self {
            id,
            ctx,
            conn,
            stats: Stats::default(),
            ledger: Ledger::default(),
            violations: Violations::default(),
            rng: StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            last_seq: HashMap::new(),
            next_at: None,
        }
    }

    pub fn finish(self) -> WorkerResult {
        WorkerResult {
            stats: self.stats,
            ledger: self.ledger,
            violations: self.violations,
        }
    }

    fn go(&self) -> bool {
        self.ctx.limit.go()
    }

    fn coin(&mut self, share: f64) -> bool {
        share > 0.0 && self.rng.random_bool(share.min(1.0))
    }

    /// One timed request; a body makes it a POST.
    async fn call(&mut self, op: Op, path: &str, body: Option<Bytes>, expect: u16) -> Outcome {
        if let Some(interval) = self.ctx.pace {
            // Workers start spread over one interval, then keep their own beat (a late request
            // does not make the next one early).
            let at = self.next_at.unwrap_or_else(|| {
                Instant::now() + interval.mul_f64(self.id as f64 / self.ctx.workers as f64)
            });
            tokio::time::sleep_until(at.into()).await;
            self.next_at = Some(at.max(Instant::now()) + interval);
        }
        let started = Instant::now();
        let result = match body {
            Some(body) => self.conn.post(path, body).await,
            None => self.conn.get(path).await,
        };
        let latency = started.elapsed();
        match result {
            Ok(response) => {
                let expected = response.status == expect;
                self.stats.op(op).record(latency, response.status, expected);
                self.ctx.progress.response(response.status);
                if expected {
                    Outcome::Expected(response)
                } else {
                    self.violations.push(format!(
                        "{} {path}: expected {expect}, got {}: {}",
                        op.name(),
                        response.status,
                        snippet(&response.body)
                    ));
                    Outcome::Other(response)
                }
            }
            Err(err) => {
                self.stats.op(op).errors += 1;
                self.ctx.progress.error();
                self.violations
                    .push(format!("{} {path}: no response: {err:#}", op.name()));
                Outcome::Failed
            }
        }
    }

    /// Checks a 200 replay against the body of the original.
    fn check_replay(&mut self, what: &str, response: &Response, original: &Bytes) {
        if !response.replayed {
            self.violations
                .push(format!("{what}: 200 without Idempotent-Replayed: true"));
        }
        if response.body != *original {
            let same = serde_json::from_slice::<Value>(&response.body).ok()
                == serde_json::from_slice::<Value>(original).ok()
                && serde_json::from_slice::<Value>(original).is_ok();
            if same {
                self.violations.replay_byte_diffs += 1;
            } else {
                self.violations.push(format!(
                    "{what}: replay body differs from the original: {} vs {}",
                    snippet(&response.body),
                    snippet(original)
                ));
            }
        }
    }

    /// Records that `session` acknowledged seqs `first..=last` to this connection (`what`: the
    /// request, for the violation): they must come after its earlier acknowledgements there.
    fn check_order(&mut self, session: &str, what: &str, first: u64, last: u64) {
        let previous = self.last_seq.insert(session.to_owned(), last).unwrap_or(0);
        if first <= previous {
            self.violations.push(format!(
                "{what}: acknowledged with seq {first} after this connection's earlier ack of seq {previous}"
            ));
        }
    }

    /// Appends a new event; records it in the ledger. True when acknowledged with 201.
    async fn append(&mut self, op: Op, session: &str, event_id: String, body: Bytes) -> bool {
        let path = format!("/sessions/{session}/events");
        match self.call(op, &path, Some(body.clone()), 201).await {
            Outcome::Expected(response) => {
                let seq = match serde_json::from_slice::<SeqOnly>(&response.body) {
                    Ok(s) => s.seq,
                    Err(e) => {
                        self.violations
                            .push(format!("201 for {session}/{event_id} has no seq: {e}"));
                        self.ledger.session(session).uncertain.push(event_id);
                        return false;
                    }
                };
                self.check_order(session, &format!("{session}/{event_id}"), seq, seq);
                self.ledger.session(session).acked.push(Acked {
                    event_id,
                    seq,
                    request: body,
                    response: response.body,
                });
                true
            }
            Outcome::Other(response) if matches!(response.status, 400 | 404 | 413 | 415) => false,
            Outcome::Other(_) | Outcome::Failed => {
                // It may be stored (a 5xx after commit, a lost response): neither required nor
                // forbidden in the final list.
                self.ledger.session(session).uncertain.push(event_id);
                false
            }
        }
    }

    /// Resends the `index`-th event this worker had acknowledged in `session`.
    async fn replay_append(&mut self, session: &str, index: usize) {
        let Some(acked) = self
            .ledger
            .sessions
            .get(session)
            .and_then(|s| s.acked.get(index))
        else {
            return;
        };
        let (event_id, request, original) = (
            acked.event_id.clone(),
            acked.request.clone(),
            acked.response.clone(),
        );
        let path = format!("/sessions/{session}/events");
        if let Outcome::Expected(response) =
            self.call(Op::AppendReplay, &path, Some(request), 200).await
        {
            self.check_replay(
                &format!("replay of {session}/{event_id}"),
                &response,
                &original,
            );
            self.ledger.session(session).replays_checked += 1;
        }
    }

    fn acked_len(&self, session: &str) -> usize {
        self.ledger
            .sessions
            .get(session)
            .map_or(0, |s| s.acked.len())
    }

    pub async fn run(mut self, scenario: Scenario) -> WorkerResult {
        match scenario {
            Scenario::Healthz => self.healthz().await,
            Scenario::Create => self.create().await,
            Scenario::Append => self.append_load().await,
            Scenario::Page => self.page().await,
            Scenario::Mixed => self.mixed().await,
            // Not a request loop: `stream::run` drives it from `main`.
            Scenario::Stream => {}
            Scenario::List => self.list().await,
            Scenario::Batch => self.batch_load().await,
        }
        self.finish()
    }

    async fn batch_load(&mut self) {
        let owned = owned_sessions(self.id, self.ctx.workers, self.ctx.sessions.len());
        if owned.is_empty() {
            return;
        }
        let sessions = Arc::clone(&self.ctx.sessions);
        // This worker's acknowledged batches: session, request body, the events of the 201.
        let mut sent: Vec<(String, Bytes, Vec<Value>)> = Vec::new();
        let mut n = 0u64;
        while self.go() {
            if !sent.is_empty() && self.coin(self.ctx.duplicate_share) {
                let (session, request, events) = sent[self.rng.random_range(0..sent.len())].clone();
                self.replay_batch(&session, request, &events).await;
                continue;
            }
            n += 1;
            let session = sessions[owned[self.rng.random_range(0..owned.len())]].clone();
            let items: Vec<(String, Bytes)> = (0..self.ctx.batch_size as u64)
                .map(|i| {
                    let event_id = format!("{}-w{}-b{n}-{i}", self.ctx.run_tag, self.id);
                    let k = n * 1000 + i;
                    let body = event_body(&event_id, k, k.is_multiple_of(4));
                    (event_id, body)
                })
                .collect();
            if let Some((request, events)) = self.append_batch(&session, items).await {
                sent.push((session, request, events));
            }
        }
    }

    /// Sends one batch of new events; records each in the ledger. Returns the request and the
    /// acknowledged events when the batch got 201.
    async fn append_batch(
        &mut self,
        session: &str,
        items: Vec<(String, Bytes)>,
    ) -> Option<(Bytes, Vec<Value>)> {
        let mut request = b"{\"events\":[".to_vec();
        for (i, (_, body)) in items.iter().enumerate() {
            if i > 0 {
                request.push(b',');
            }
            request.extend_from_slice(body);
        }
        request.extend_from_slice(b"]}");
        let request = Bytes::from(request);
        let path = format!("/sessions/{session}/events:batch");
        match self
            .call(Op::Batch, &path, Some(request.clone()), 201)
            .await
        {
            Outcome::Expected(response) => {
                let events = match batch_events(&response.body, items.len()) {
                    Ok(events) => events,
                    Err(e) => {
                        self.violations
                            .push(format!("201 for a batch into {session}: {e}"));
                        let ledger = self.ledger.session(session);
                        ledger.uncertain.extend(items.into_iter().map(|(id, _)| id));
                        return None;
                    }
                };
                let seqs: Vec<u64> = events.iter().map(|(seq, _, _)| *seq).collect();
                if seqs.windows(2).any(|w| w[1] != w[0] + 1) {
                    self.violations.push(format!(
                        "batch into {session} stored at seqs {seqs:?}: not consecutive"
                    ));
                }
                if events.iter().any(|(_, _, replayed)| *replayed) {
                    self.violations.push(format!(
                        "batch of new events into {session} answered with a replayed item"
                    ));
                }
                let what = format!("batch into {session}");
                self.check_order(session, &what, seqs[0], seqs[seqs.len() - 1]);
                let mut acknowledged = Vec::with_capacity(events.len());
                let ledger = self.ledger.session(session);
                for ((event_id, body), (seq, event, _)) in items.into_iter().zip(events) {
                    ledger.acked.push(Acked {
                        event_id,
                        seq,
                        request: body,
                        response: Bytes::from(event.to_string()),
                    });
                    acknowledged.push(event);
                }
                Some((request, acknowledged))
            }
            Outcome::Other(response) if matches!(response.status, 400 | 404 | 413 | 415) => None,
            Outcome::Other(_) | Outcome::Failed => {
                // Stored whole or not at all: neither required nor forbidden in the final list.
                let ledger = self.ledger.session(session);
                ledger.uncertain.extend(items.into_iter().map(|(id, _)| id));
                None
            }
        }
    }

    /// Resends an acknowledged batch: 200, `Idempotent-Replayed`, every item replayed and
    /// equal to the event first acknowledged.
    async fn replay_batch(&mut self, session: &str, request: Bytes, original: &[Value]) {
        let path = format!("/sessions/{session}/events:batch");
        let Outcome::Expected(response) =
            self.call(Op::BatchReplay, &path, Some(request), 200).await
        else {
            return;
        };
        if !response.replayed {
            self.violations.push(format!(
                "replay of a batch into {session}: 200 without Idempotent-Replayed: true"
            ));
        }
        match batch_events(&response.body, original.len()) {
            Ok(events) => {
                for ((_, event, replayed), first) in events.iter().zip(original) {
                    if !replayed || event != first {
                        self.violations.push(format!(
                            "replay of a batch into {session}: item {event} (replayed {replayed}) differs from {first}"
                        ));
                    }
                }
            }
            Err(e) => self
                .violations
                .push(format!("replay of a batch into {session}: {e}")),
        }
        self.ledger.session(session).replays_checked += 1;
    }

    async fn healthz(&mut self) {
        while self.go() {
            self.call(Op::Healthz, "/healthz", None, 200).await;
        }
    }

    async fn create(&mut self) {
        let mut created: Vec<(String, Bytes, Bytes)> = Vec::new();
        let mut n = 0u64;
        while self.go() {
            if !created.is_empty() && self.coin(self.ctx.duplicate_share) {
                let i = self.rng.random_range(0..created.len());
                let (id, request, original) = created[i].clone();
                if let Outcome::Expected(response) = self
                    .call(Op::CreateReplay, "/sessions", Some(request), 200)
                    .await
                {
                    self.check_replay(&format!("replay of create {id}"), &response, &original);
                    self.ledger.session(&id).replays_checked += 1;
                }
                continue;
            }
            n += 1;
            let id = format!("{}-w{}-c{n}", self.ctx.prefix, self.id);
            let body = Bytes::from(format!(
                r#"{{"sessionId":"{id}","language":"en-US","metadata":{{"caller":"+1555{n:07}","worker":{}}}}}"#,
                self.id
            ));
            match self
                .call(Op::Create, "/sessions", Some(body.clone()), 201)
                .await
            {
                Outcome::Expected(response) => {
                    self.ledger.session(&id);
                    created.push((id, body, response.body));
                }
                _ => self.ledger.session(&id).create_uncertain = true,
            }
        }
    }

    async fn append_load(&mut self) {
        let owned = owned_sessions(self.id, self.ctx.workers, self.ctx.sessions.len());
        if owned.is_empty() {
            return;
        }
        let sessions = Arc::clone(&self.ctx.sessions);
        let mut n = 0u64;
        while self.go() {
            let session = &sessions[owned[self.rng.random_range(0..owned.len())]];
            let acked = self.acked_len(session);
            if acked > 0 && self.coin(self.ctx.duplicate_share) {
                let index = self.rng.random_range(0..acked);
                self.replay_append(session, index).await;
                continue;
            }
            n += 1;
            let event_id = format!("{}-w{}-{n}", self.ctx.run_tag, self.id);
            let body = event_body(&event_id, n, n.is_multiple_of(4));
            self.append(Op::Append, session, event_id, body).await;
        }
    }

    /// Appends this worker's share of the prefill (no duplicates, no stop but the work's end).
    pub async fn prefill(mut self, work: Vec<(usize, u64)>) -> WorkerResult {
        let sessions = Arc::clone(&self.ctx.sessions);
        for (s, count) in work {
            let session = &sessions[s];
            for j in 0..count {
                let event_id = format!("{}-p{}-{j}", self.ctx.run_tag, self.id);
                let body = event_body(&event_id, j, j.is_multiple_of(4));
                self.append(Op::Append, session, event_id, body).await;
            }
        }
        self.finish()
    }

    async fn page(&mut self) {
        let paths = Arc::clone(&self.ctx.page_paths);
        if paths.iter().all(Vec::is_empty) {
            return;
        }
        while self.go() {
            let s = self.rng.random_range(0..paths.len());
            if paths[s].is_empty() {
                continue;
            }
            let k = self.rng.random_range(0..paths[s].len());
            self.call(Op::Page, &paths[s][k], None, 200).await;
        }
    }

    /// One page read that follows cursors; returns the next cursor when the read succeeded.
    async fn read_page(&mut self, session: &str, cursor: Option<&str>) -> Option<PageMeta> {
        let limit = self.ctx.page_limit;
        let path = match cursor {
            Some(c) => format!(
                "/sessions/{session}/events?limit={limit}&cursor={}",
                encode_query(c)
            ),
            None => format!("/sessions/{session}/events?limit={limit}"),
        };
        match self.call(Op::Page, &path, None, 200).await {
            Outcome::Expected(response) => match serde_json::from_slice::<PageMeta>(&response.body)
            {
                Ok(meta) => Some(meta),
                Err(e) => {
                    self.violations
                        .push(format!("page of {session} is not a page: {e}"));
                    None
                }
            },
            _ => None,
        }
    }

    /// One page of `GET /sessions?{query}` (`cursor` appended), checked: at most `limit`
    /// sessions, newest first, each after `previous` (the walk's last position so far), each
    /// passing the filter (`status`, `metadata.agent`, `created_before`). Returns the page's
    /// last position and next cursor when there is more.
    async fn list_page(
        &mut self,
        op: Op,
        query: &ListQuery,
        cursor: Option<&str>,
        previous: Option<(String, String)>,
    ) -> Option<((String, String), Option<String>)> {
        let mut path = format!("/sessions?limit={}{}", self.ctx.page_limit, query.text);
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={}", encode_query(c)));
        }
        let Outcome::Expected(response) = self.call(op, &path, None, 200).await else {
            return None;
        };
        let page: ListPage = match serde_json::from_slice(&response.body) {
            Ok(page) => page,
            Err(e) => {
                self.violations
                    .push(format!("{path}: not a session page: {e}"));
                return None;
            }
        };
        if page.data.len() > self.ctx.page_limit as usize {
            self.violations
                .push(format!("{path}: {} sessions on one page", page.data.len()));
        }
        let mut last = previous;
        for s in &page.data {
            let position = (s.created_at.clone(), s.session_id.clone());
            if last.as_ref().is_some_and(|l| position >= *l) {
                self.violations.push(format!(
                    "{path}: {position:?} after {last:?} in a newest-first walk"
                ));
            }
            let agent = s.metadata.get("agent").and_then(Value::as_str);
            let fails = query.status.is_some_and(|st| s.status != st)
                || query.agent.as_deref().is_some_and(|a| agent != Some(a))
                || query
                    .before
                    .as_deref()
                    .is_some_and(|b| s.created_at.as_str() >= b);
            if fails {
                self.violations
                    .push(format!("{path}: {} does not pass the filter", s.session_id));
            }
            last = Some(position);
        }
        let next = page.next_cursor.filter(|_| page.has_more);
        Some((last?, next))
    }

    async fn list(&mut self) {
        // The store's span of `createdAt`, for pages at random depths.
        let span = |page: Option<((String, String), Option<String>)>| {
            page.and_then(|((created, _), _)| domain::Timestamp::parse_rfc3339(&created).ok())
        };
        let newest = ListQuery::new("", None, None, None);
        let oldest = ListQuery::new("&order=asc", None, None, None);
        let newest = self.list_page(Op::List, &newest, None, None).await;
        let Some(newest) = span(newest) else {
            return;
        };
        let oldest = self.list_oldest(&oldest).await;
        let Some(oldest) = span(oldest) else {
            return;
        };
        // A walk in progress: its query, last position, next cursor and pages left.
        let mut walk: Option<(ListQuery, (String, String), String, u32)> = None;
        while self.go() {
            if let Some((query, last, cursor, left)) = walk.take() {
                if let Some((last, Some(next))) = self
                    .list_page(Op::List, &query, Some(&cursor), Some(last))
                    .await
                    && left > 1
                {
                    walk = Some((query, last, next, left - 1));
                }
                continue;
            }
            let shape = self.rng.random_range(0..4);
            let agent = format!("a{}", self.rng.random_range(0..10));
            let mut query = match shape {
                0 => ListQuery::new("", None, None, None),
                1 => ListQuery::new("&status=active", Some("active"), None, None),
                2 => ListQuery::new(&format!("&metadata.agent={agent}"), None, Some(agent), None),
                _ => ListQuery::new(
                    &format!("&status=completed&metadata.agent={agent}"),
                    Some("completed"),
                    Some(agent),
                    None,
                ),
            };
            if self.coin(0.5) {
                // A deep cursor: the first page before a random time, then the page its
                // cursor points to.
                let at = self.rng.random_range(oldest.millis()..=newest.millis());
                let before = domain::Timestamp::from_millis(at)
                    .expect("between two stored times")
                    .to_rfc3339();
                query.text.push_str(&format!("&createdBefore={before}"));
                query.before = Some(before);
                if let Some((last, Some(cursor))) =
                    self.list_page(Op::List, &query, None, None).await
                {
                    self.list_page(Op::ListDeep, &query, Some(&cursor), Some(last))
                        .await;
                }
            } else if let Some((last, Some(cursor))) =
                self.list_page(Op::List, &query, None, None).await
            {
                walk = Some((query, last, cursor, WALK_PAGES));
            }
        }
    }

    /// The oldest session's position (an ascending first page is not checked as newest-first).
    async fn list_oldest(
        &mut self,
        query: &ListQuery,
    ) -> Option<((String, String), Option<String>)> {
        let path = format!("/sessions?limit=1{}", query.text);
        let Outcome::Expected(response) = self.call(Op::List, &path, None, 200).await else {
            return None;
        };
        let page: ListPage = serde_json::from_slice(&response.body).ok()?;
        let s = page.data.first()?;
        Some(((s.created_at.clone(), s.session_id.clone()), None))
    }

    async fn mixed(&mut self) {
        const LANGUAGES: [&str; 4] = ["en-US", "hi-IN", "en", "de-DE"];
        let mut call = 0u64;
        while self.go() {
            call += 1;
            let session = format!("{}-w{}-call{call}", self.ctx.prefix, self.id);
            let language = LANGUAGES[self.rng.random_range(0..LANGUAGES.len())];
            let status = if self.rng.random_bool(0.5) {
                r#","status":"active""#
            } else {
                ""
            };
            let body = Bytes::from(format!(
                r#"{{"sessionId":"{session}","language":"{language}","metadata":{{"from":"+1555{call:07}","campaign":"load"}}{status}}}"#
            ));
            match self.call(Op::Create, "/sessions", Some(body), 201).await {
                Outcome::Expected(_) => {
                    self.ledger.session(&session);
                }
                _ => {
                    self.ledger.session(&session).create_uncertain = true;
                    continue;
                }
            }

            let events = self.rng.random_range(20..=60u64);
            let mut tail: Option<String> = None;
            for k in 1..=events {
                if !self.go() {
                    return;
                }
                let event_id = format!("e{k}");
                let body = event_body(&event_id, k, k.is_multiple_of(3));
                let acked = self.append(Op::Append, &session, event_id, body).await;
                if acked && self.coin(self.ctx.duplicate_share) {
                    // The pipeline did not see the answer and sends the same event again.
                    if !self.go() {
                        return;
                    }
                    let last = self.acked_len(&session) - 1;
                    self.replay_append(&session, last).await;
                }
                if k % 15 == 0 {
                    // A live dashboard tails the session from its last cursor.
                    if !self.go() {
                        return;
                    }
                    if let Some(meta) = self.read_page(&session, tail.as_deref()).await {
                        tail = meta.next_cursor.or(tail);
                    }
                }
            }

            // A post-call processor reads the first pages.
            let mut cursor: Option<String> = None;
            for _ in 0..2 {
                if !self.go() {
                    return;
                }
                match self.read_page(&session, cursor.as_deref()).await {
                    Some(PageMeta {
                        has_more: true,
                        next_cursor: Some(next),
                    }) => cursor = Some(next),
                    _ => break,
                }
            }

            if !self.go() {
                return;
            }
            let terminal = if self.rng.random_bool(0.1) {
                "failed"
            } else {
                "completed"
            };
            let body = Bytes::from(format!(r#"{{"status":"{terminal}"}}"#));
            let path = format!("/sessions/{session}/complete");
            match self
                .call(Op::Complete, &path, Some(body.clone()), 200)
                .await
            {
                Outcome::Expected(response) => {
                    if response.replayed {
                        self.violations
                            .push(format!("first complete of {session} says it is a replay"));
                    }
                    self.ledger.session(&session).closed = Some(terminal.to_owned());
                    if self.coin(self.ctx.duplicate_share)
                        && self.go()
                        && let Outcome::Expected(replay) =
                            self.call(Op::CompleteReplay, &path, Some(body), 200).await
                    {
                        self.check_replay(
                            &format!("replay of complete {session}"),
                            &replay,
                            &response.body,
                        );
                        self.ledger.session(&session).replays_checked += 1;
                    }
                }
                _ => self.ledger.session(&session).close_uncertain = true,
            }
        }
    }
}

/// Creates (or finds) the fixed sessions of `append`/`page`: returns each one's event count and
/// records pre-existing ones as baselines in the ledger.
pub async fn setup_sessions(
    ctx: &Arc<Ctx>,
    connections: usize,
    ledger: &mut Ledger,
) -> anyhow::Result<Vec<u64>> {
    let n = ctx.sessions.len();
    let workers = connections.clamp(1, n.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let ctx = Arc::clone(ctx);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(ctx.target.clone(), ctx.timeout);
            let mut found = Vec::new();
            for s in (w..n).step_by(workers) {
                let id = &ctx.sessions[s];
                let body = Bytes::from(format!(
                    r#"{{"sessionId":"{id}","language":"en-US","metadata":{{"purpose":"loadtest"}}}}"#
                ));
                let response = conn.post("/sessions", body).await?;
                ctx.progress.response(response.status);
                match response.status {
                    201 => found.push((s, None)),
                    200 => {
                        let meta: SessionMeta = serde_json::from_slice(&response.body)?;
                        if meta.status == "completed" || meta.status == "failed" {
                            anyhow::bail!("session {id} exists and is {}", meta.status);
                        }
                        found.push((
                            s,
                            Some(Baseline {
                                event_count: meta.event_count,
                                last_seq: meta.last_seq,
                            }),
                        ));
                    }
                    status => anyhow::bail!(
                        "POST /sessions for {id} answered {status}: {}",
                        snippet(&response.body)
                    ),
                }
            }
            Ok::<_, anyhow::Error>(found)
        }));
    }
    let mut counts = vec![0u64; n];
    for task in tasks {
        for (s, baseline) in task.await?? {
            if let Some(b) = baseline {
                counts[s] = b.event_count;
                ledger.session(&ctx.sessions[s]).baseline = Some(b);
            } else {
                ledger.session(&ctx.sessions[s]);
            }
        }
    }
    Ok(counts)
}

/// Walks every session with the page size of the run and returns the path of each full page.
pub async fn collect_page_paths(
    ctx: &Arc<Ctx>,
    connections: usize,
) -> anyhow::Result<Vec<Vec<String>>> {
    let n = ctx.sessions.len();
    let workers = connections.clamp(1, n.max(1));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let ctx = Arc::clone(ctx);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(ctx.target.clone(), ctx.timeout);
            let limit = ctx.page_limit;
            let mut out = Vec::new();
            for s in (w..n).step_by(workers) {
                let id = &ctx.sessions[s];
                let mut paths = Vec::new();
                let mut path = format!("/sessions/{id}/events?limit={limit}");
                loop {
                    let response = conn.get(&path).await?;
                    ctx.progress.response(response.status);
                    if response.status != 200 {
                        anyhow::bail!(
                            "GET {path} answered {}: {}",
                            response.status,
                            snippet(&response.body)
                        );
                    }
                    let meta: PageMeta = serde_json::from_slice(&response.body)?;
                    if meta.next_cursor.is_none() {
                        // An empty session: no page to read at depth.
                        break;
                    }
                    paths.push(path);
                    match (meta.has_more, meta.next_cursor) {
                        (true, Some(cursor)) => {
                            path = format!(
                                "/sessions/{id}/events?limit={limit}&cursor={}",
                                encode_query(&cursor)
                            );
                        }
                        _ => break,
                    }
                }
                out.push((s, paths));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = vec![Vec::new(); n];
    for task in tasks {
        for (s, paths) in task.await?? {
            all[s] = paths;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_responses_are_read_item_by_item() {
        let body = br#"{"data":[{"event":{"eventId":"a","seq":7},"replayed":false},{"event":{"eventId":"b","seq":8},"replayed":true}]}"#;
        let items = batch_events(body, 2).unwrap();
        assert_eq!(items[0].0, 7);
        assert_eq!(items[1].1["eventId"], "b");
        assert!(!items[0].2 && items[1].2);
        assert!(
            batch_events(body, 3)
                .unwrap_err()
                .contains("2 items answered for 3")
        );
        assert!(batch_events(br#"{"data":[{"event":{},"replayed":false}]}"#, 1).is_err());
        assert!(batch_events(b"[]", 0).is_err());
    }

    #[test]
    fn sessions_are_owned_or_shared() {
        assert_eq!(owned_sessions(1, 4, 10), vec![1, 5, 9]);
        assert_eq!(owned_sessions(5, 8, 2), vec![1]);
        // Every session has at least one owner.
        for (workers, sessions) in [(64, 1), (64, 64), (64, 1000), (3, 7)] {
            let mut seen = vec![false; sessions];
            for w in 0..workers {
                for s in owned_sessions(w, workers, sessions) {
                    seen[s] = true;
                }
            }
            assert!(
                seen.iter().all(|x| *x),
                "{workers} workers, {sessions} sessions"
            );
        }
    }

    #[test]
    fn prefill_shares_add_up() {
        for (workers, deficits) in [
            (64usize, vec![100_000u64]),
            (64, vec![1000, 0, 7]),
            (5, vec![3; 12]),
            (7, vec![10, 11]),
        ] {
            let mut total = vec![0u64; deficits.len()];
            for w in 0..workers {
                for (s, n) in prefill_share(w, workers, &deficits) {
                    total[s] += n;
                }
            }
            assert_eq!(total, deficits, "{workers} workers");
        }
    }

    #[test]
    fn event_bodies_are_json() {
        for k in [0, 1, 4, 1234567] {
            let body = event_body("e-1", k, k.is_multiple_of(2));
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["eventId"], "e-1");
            assert_eq!(v["payload"]["turn"], k);
        }
    }
}
