//! What the run was told by the server, per session: the events acknowledged (with the request
//! sent and the 201 body received), the outcomes it cannot know, and whether a complete returned.
//! The verifier compares this with what the server lists afterwards.

use std::collections::HashMap;

use bytes::Bytes;

/// The state of a session that existed before the run touched it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub event_count: u64,
    pub last_seq: u64,
}

/// One event acknowledged with 201.
#[derive(Debug, Clone)]
pub struct Acked {
    pub event_id: String,
    pub seq: u64,
    /// The request body sent.
    pub request: Bytes,
    /// The 201 response body.
    pub response: Bytes,
}

#[derive(Debug, Clone, Default)]
pub struct SessionLedger {
    /// Set when the session already existed (create answered 200): its counts at that time.
    pub baseline: Option<Baseline>,
    /// The create got no clear answer: the session may not exist.
    pub create_uncertain: bool,
    pub acked: Vec<Acked>,
    /// Event ids whose append got no clear answer (no response, 5xx, …): they may or may not be
    /// stored, so the verifier neither requires nor forbids them.
    pub uncertain: Vec<String>,
    /// The terminal status a `complete` returned 200 for.
    pub closed: Option<String>,
    /// A complete got no clear answer: the session may or may not be closed.
    pub close_uncertain: bool,
    /// Idempotent replays whose body was checked against the original.
    pub replays_checked: u64,
}

impl SessionLedger {
    fn merge(&mut self, other: SessionLedger) {
        self.baseline = self.baseline.or(other.baseline);
        self.create_uncertain |= other.create_uncertain;
        self.acked.extend(other.acked);
        self.uncertain.extend(other.uncertain);
        if self.closed.is_none() {
            self.closed = other.closed;
        }
        self.close_uncertain |= other.close_uncertain;
        self.replays_checked += other.replays_checked;
    }
}

/// Sessions by id.
#[derive(Debug, Default)]
pub struct Ledger {
    pub sessions: HashMap<String, SessionLedger>,
}

impl Ledger {
    pub fn session(&mut self, id: &str) -> &mut SessionLedger {
        if !self.sessions.contains_key(id) {
            self.sessions
                .insert(id.to_owned(), SessionLedger::default());
        }
        self.sessions.get_mut(id).expect("inserted above")
    }

    pub fn merge(&mut self, other: Ledger) {
        for (id, session) in other.sessions {
            match self.sessions.get_mut(&id) {
                Some(mine) => mine.merge(session),
                None => {
                    self.sessions.insert(id, session);
                }
            }
        }
    }

    /// Self-test of the verifier (`--inject-fault`): pretends the server acknowledged an event it
    /// never stored, in the first session (by id) that has events; else pretends a session was
    /// completed. Returns what was faked.
    pub fn inject_fault(&mut self) -> Option<String> {
        let mut ids: Vec<&String> = self.sessions.keys().collect();
        ids.sort();
        let with_events = ids
            .iter()
            .find(|id| !self.sessions[id.as_str()].acked.is_empty())
            .or(ids.first())
            .map(|id| (*id).clone())?;
        let session = self.sessions.get_mut(&with_events).expect("listed above");
        if let Some(last) = session.acked.last().cloned() {
            session.acked.push(Acked {
                event_id: "zz-injected-never-stored".to_owned(),
                seq: last.seq + 1_000_000,
                ..last
            });
            Some(format!(
                "ledger of {with_events}: an acknowledged event that was never sent"
            ))
        } else {
            session.closed = Some("completed".to_owned());
            Some(format!(
                "ledger of {with_events}: a complete that was never sent"
            ))
        }
    }

    pub fn acked_events(&self) -> usize {
        self.sessions.values().map(|s| s.acked.len()).sum()
    }

    pub fn replays_checked(&self) -> u64 {
        self.sessions.values().map(|s| s.replays_checked).sum()
    }
}
