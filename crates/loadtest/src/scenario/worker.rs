//! The worker: one connection running a scenario until the run stops; its timed requests, the
//! checks of every acknowledgement, and the scenarios `healthz`, `create`, `append`, `mixed`
//! and the prefill (`batch`: `batches.rs`; `page`, `list`: `reads.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::Value;

use super::run::{Ctx, Scenario, Violations, WorkerResult};
use super::shares::{PageMeta, event_body, owned_sessions};
use crate::client::{Conn, Response};
use crate::ledger::{Acked, Ledger};
use crate::stats::{Op, Stats};
use crate::verify::snippet;

pub(super) enum Outcome {
    /// The expected status.
    Expected(Response),
    /// Another status (already counted as unexpected and reported).
    Other(Response),
    /// No response.
    Failed,
}

#[derive(Deserialize)]
pub(super) struct SeqOnly {
    seq: u64,
}

pub struct Worker {
    pub id: usize,
    pub(super) ctx: Arc<Ctx>,
    pub(super) conn: Conn,
    pub(super) stats: Stats,
    pub(super) ledger: Ledger,
    pub(super) violations: Violations,
    pub(super) rng: StdRng,
    /// Per session, the seq of this connection's latest 201: the next must be larger.
    pub(super) last_seq: HashMap<String, u64>,
    /// With `ctx.pace`: when the next request may start.
    pub(super) next_at: Option<Instant>,
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

    pub(super) fn go(&self) -> bool {
        self.ctx.limit.go()
    }

    pub(super) fn coin(&mut self, share: f64) -> bool {
        share > 0.0 && self.rng.random_bool(share.min(1.0))
    }

    /// One timed request; a body makes it a POST.
    pub(super) async fn call(
        &mut self,
        op: Op,
        path: &str,
        body: Option<Bytes>,
        expect: u16,
    ) -> Outcome {
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
    pub(super) fn check_replay(&mut self, what: &str, response: &Response, original: &Bytes) {
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
    pub(super) fn check_order(&mut self, session: &str, what: &str, first: u64, last: u64) {
        let previous = self.last_seq.insert(session.to_owned(), last).unwrap_or(0);
        if first <= previous {
            self.violations.push(format!(
                "{what}: acknowledged with seq {first} after this connection's earlier ack of seq {previous}"
            ));
        }
    }

    /// Appends a new event; records it in the ledger. True when acknowledged with 201.
    pub(super) async fn append(
        &mut self,
        op: Op,
        session: &str,
        event_id: String,
        body: Bytes,
    ) -> bool {
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
    pub(super) async fn replay_append(&mut self, session: &str, index: usize) {
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

    pub(super) fn acked_len(&self, session: &str) -> usize {
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

    pub(super) async fn healthz(&mut self) {
        while self.go() {
            self.call(Op::Healthz, "/healthz", None, 200).await;
        }
    }

    pub(super) async fn create(&mut self) {
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

    pub(super) async fn append_load(&mut self) {
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

    pub(super) async fn mixed(&mut self) {
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
