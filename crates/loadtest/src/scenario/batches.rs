//! The `batch` scenario: batches of new events, and resends of acknowledged ones.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::shares::{batch_events, event_body, owned_sessions};
use super::worker::{Outcome, Worker};
use rand::Rng;

use crate::ledger::Acked;
use crate::stats::Op;

impl Worker {
    pub(super) async fn batch_load(&mut self) {
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
    pub(super) async fn append_batch(
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
    pub(super) async fn replay_batch(&mut self, session: &str, request: Bytes, original: &[Value]) {
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
}
