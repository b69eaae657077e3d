//! Events: immutable once stored, idempotent by `eventId` within their session.

use sha2::{Digest, Sha256};

use crate::canonical::Form;
use crate::ids::{EventId, EventType, SessionId};
use crate::json::JsonObject;
use crate::session::SessionState;
use crate::time::Timestamp;

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub session_id: SessionId,
    pub event_id: EventId,
    /// Server-assigned position in the session, ≥ 1, strictly increasing in commit order.
    pub seq: u64,
    pub event_type: EventType,
    pub payload: JsonObject,
    pub timestamp: Timestamp,
    pub received_at: Timestamp,
    /// Set once the payload was redacted: the payload is then `{}`.
    pub redaction: Option<Redaction>,
    /// The earlier event of the session this one corrects (SPEC "Corrections").
    pub supersedes: Option<EventId>,
    /// The event that corrects this one, set atomically with that event's append.
    pub superseded_by: Option<EventId>,
}

/// What remains of a redacted payload: when it was redacted and the [`Fingerprint`] of the
/// original payload (so that a retry of the original append is still told from a conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redaction {
    pub at: Timestamp,
    pub fingerprint: Fingerprint,
}

/// The SHA-256 of a payload's [canonical text](JsonObject::canonical): the very text that
/// payload equality ([`NewEvent::matches`]) compares, so a retry is a replay of a redacted event
/// exactly when it would have been one of the event before redaction (decision 34). It covers
/// the payload only: `type` and `timestamp`, the rest of what decides a replay, stay stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(payload: &JsonObject) -> Self {
        Self::in_form(payload, Form::Jcs)
    }

    fn in_form(payload: &JsonObject, form: Form) -> Self {
        Self(Sha256::digest(payload.in_form(form)).into())
    }

    /// Whether this is the fingerprint of `payload`. A fingerprint stored before decision 34
    /// was taken of [`Form::BeforeJcs`]: it cannot be taken again (the payload is gone), so
    /// that form is tried too. It only ever admits a payload the canonical form also calls the
    /// same (that form's text parses back to the same value), never one more.
    pub fn admits(&self, payload: &JsonObject) -> bool {
        *self == Self::of(payload) || *self == Self::in_form(payload, Form::BeforeJcs)
    }
}

impl Event {
    /// Redacts the payload at `at`: it becomes `{}` and only its fingerprint is kept. Says
    /// whether it changed anything (an event is redacted once; later calls keep the first).
    pub fn redact(&mut self, at: Timestamp) -> bool {
        if self.redaction.is_some() {
            return false;
        }
        self.redaction = Some(Redaction {
            at,
            fingerprint: Fingerprint::of(&self.payload),
        });
        self.payload = JsonObject::empty();
        true
    }
}

/// A request to append an event. Built with [`NewEvent::new`] and the `with_…` methods of its
/// optional fields (outside this crate no literal can be written: a new optional field breaks
/// no caller).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: EventType,
    pub payload: JsonObject,
    /// When it happened; `None` means "when the server first stores it".
    pub timestamp: Option<Timestamp>,
    /// The earlier event of the session this one corrects, if any.
    pub supersedes: Option<EventId>,
}

/// What an append does, given the session and any event already stored under the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Store it as a new event.
    Insert,
    /// The same event is already stored: answer with it.
    Replay,
    /// Another event with this id is stored.
    Conflict,
    /// The session is closed and the event is new.
    Closed,
}

impl NewEvent {
    /// An event with its required fields; every optional one unset.
    pub fn new(event_id: EventId, event_type: EventType, payload: JsonObject) -> Self {
        Self {
            event_id,
            event_type,
            payload,
            timestamp: None,
            supersedes: None,
        }
    }

    /// The earlier event of the session this one corrects (`None`: none).
    pub fn with_supersedes(mut self, supersedes: Option<EventId>) -> Self {
        self.supersedes = supersedes;
        self
    }

    /// When it happened (`None`: when the server first stores it).
    pub fn with_timestamp(mut self, timestamp: Option<Timestamp>) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Replays compare content: `type`, `payload`, `supersedes`, and `timestamp` when the
    /// request has one.
    /// Payloads are the same when their canonical texts are ([`JsonObject`]'s equality); a
    /// redacted event's payload is compared by its [`Fingerprint`], the hash of that text.
    pub fn matches(&self, stored: &Event) -> bool {
        self.event_id == stored.event_id
            && self.event_type == stored.event_type
            && self.timestamp.is_none_or(|t| t == stored.timestamp)
            && self.supersedes == stored.supersedes
            && match &stored.redaction {
                Some(redaction) => redaction.fingerprint.admits(&self.payload),
                None => self.payload == stored.payload,
            }
    }

    /// The rule for an append, given the session's state and the event stored under the same
    /// id (if any): a replay is answered forever (also once the session is closed), a different
    /// event under the same id conflicts, and a closed session takes nothing new.
    pub fn decide(&self, state: SessionState, existing: Option<&Event>) -> AppendOutcome {
        match existing {
            Some(stored) if self.matches(stored) => AppendOutcome::Replay,
            Some(_) => AppendOutcome::Conflict,
            None if !state.accepts_new_events() => AppendOutcome::Closed,
            None => AppendOutcome::Insert,
        }
    }

    /// The event as it is stored at `seq` at time `now` (the request itself is kept, so that a
    /// failed insert can still be decided on).
    pub fn to_event(&self, session_id: &SessionId, seq: u64, now: Timestamp) -> Event {
        Event {
            session_id: session_id.clone(),
            event_id: self.event_id.clone(),
            seq,
            event_type: self.event_type.clone(),
            payload: self.payload.clone(),
            timestamp: self.timestamp.unwrap_or(now),
            received_at: now,
            redaction: None,
            supersedes: self.supersedes.clone(),
            superseded_by: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    fn new_event(payload: &str, timestamp: Option<Timestamp>) -> NewEvent {
        NewEvent::new(
            EventId::parse("e1").unwrap(),
            EventType::parse("user_speech").unwrap(),
            JsonObject::from_stored(payload.into()).unwrap(),
        )
        .with_timestamp(timestamp)
    }

    const OPEN: SessionState = SessionState::Open { last_seq: 1 };

    fn stored(payload: &str, timestamp: Option<Timestamp>) -> Event {
        new_event(payload, timestamp).to_event(&SessionId::parse("s").unwrap(), 1, ts(50))
    }

    #[test]
    fn timestamp_defaults_to_received_at() {
        let e = stored("{}", None);
        assert_eq!(e.timestamp, ts(50));
        assert_eq!(e.received_at, ts(50));
        assert_eq!(stored("{}", Some(ts(7))).timestamp, ts(7));
    }

    #[test]
    fn replay_compares_content() {
        let existing = stored(r#"{"a":1,"b":2}"#, Some(ts(7)));
        // same content, keys in another order
        assert_eq!(
            new_event(r#"{"b":2,"a":1}"#, Some(ts(7))).decide(OPEN, Some(&existing)),
            AppendOutcome::Replay
        );
        // timestamp omitted in the retry: still a replay
        assert_eq!(
            new_event(r#"{"a":1,"b":2}"#, None).decide(OPEN, Some(&existing)),
            AppendOutcome::Replay
        );
        // different payload, type or timestamp: conflict
        assert_eq!(
            new_event(r#"{"a":2,"b":2}"#, None).decide(OPEN, Some(&existing)),
            AppendOutcome::Conflict
        );
        assert_eq!(
            new_event(r#"{"a":1,"b":2}"#, Some(ts(8))).decide(OPEN, Some(&existing)),
            AppendOutcome::Conflict
        );
        let mut other_type = new_event(r#"{"a":1,"b":2}"#, None);
        other_type.event_type = EventType::parse("bot_speech").unwrap();
        assert_eq!(
            other_type.decide(OPEN, Some(&existing)),
            AppendOutcome::Conflict
        );
    }

    #[test]
    fn a_redacted_event_is_still_told_from_a_conflict() {
        let mut existing = stored(r#"{"card":"4111","n":[1,{"b":2,"a":1}]}"#, Some(ts(7)));
        assert!(existing.redact(ts(9)));
        assert_eq!(existing.payload, JsonObject::empty());
        assert_eq!(existing.redaction.map(|r| r.at), Some(ts(9)));
        // the original content, keys in any order: a replay
        assert_eq!(
            new_event(r#"{"n":[1,{"a":1,"b":2}],"card":"4111"}"#, None)
                .decide(OPEN, Some(&existing)),
            AppendOutcome::Replay
        );
        // anything else, also the redacted payload itself: a conflict
        for other in [
            r#"{"card":"4112","n":[1,{"b":2,"a":1}]}"#,
            "{}",
            r#"{"card":"4111"}"#,
        ] {
            assert_eq!(
                new_event(other, None).decide(OPEN, Some(&existing)),
                AppendOutcome::Conflict,
                "{other}"
            );
        }
        // redacting again keeps the first redaction
        let first = existing.clone();
        assert!(!existing.redact(ts(10)));
        assert_eq!(existing, first);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_fingerprint_is_of_the_json_value() {
        let of = |text: &str| Fingerprint::of(&JsonObject::from_stored(text.into()).unwrap());
        assert_eq!(of(r#"{"a":1,"b":"x"}"#), of(r#"{ "b": "x", "a": 1 }"#));
        assert_eq!(of(r#"{"a":-0.0,"b":1.0}"#), of(r#"{"b":1,"a":0}"#));
        assert_ne!(of(r#"{"a":1}"#), of(r#"{"a":"1"}"#));
        assert_ne!(of(r#"{"a":[1,2]}"#), of(r#"{"a":[2,1]}"#));
        assert_ne!(of(r#"{"a":{}}"#), of("{}"));
        // The SHA-256 of the canonical text (RFC 8785, computed outside this code).
        let payload = r#"{"z":-0.0,"card":"4111","at":1e21,"amount":1.0}"#;
        assert_eq!(
            hex(&of(payload).0),
            "5032d15e40032e2901877f86f80b4a8368cad143ace363a3f018a72b245e98af"
        );
    }

    /// A fingerprint stored before decision 34 (SHA-256 of the keys sorted by UTF-8 bytes and
    /// serde_json's numbers: `{"amount":1.0,"at":1e+21,"card":"4111","z":-0.0}`, computed outside
    /// this code) still admits the original payload, and no other.
    #[test]
    fn a_fingerprint_of_the_form_before_jcs_still_decides() {
        let before: [u8; 32] = (0..32)
            .map(|i| {
                let text = "d33657e4d0a19ea11ed1fb4eb102b94627f213c4468b1ed8cc44b2a5bb3c8090";
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap()
            })
            .collect::<Vec<_>>()
            .try_into()
            .unwrap();
        let mut existing = stored("{}", None);
        existing.redaction = Some(Redaction {
            at: ts(9),
            fingerprint: Fingerprint(before),
        });
        let decide = |text: &str| new_event(text, None).decide(OPEN, Some(&existing));
        assert_eq!(
            decide(r#"{"z":-0.0,"card":"4111","at":1e21,"amount":1.0}"#),
            AppendOutcome::Replay
        );
        assert_eq!(
            decide(r#"{"amount":1.0,"at":1e21,"card":"4112","z":-0.0}"#),
            AppendOutcome::Conflict
        );
        assert_eq!(decide("{}"), AppendOutcome::Conflict);
    }

    #[test]
    fn closed_session_takes_replays_but_nothing_new() {
        let closed = SessionState::Sealed {
            status: crate::SessionStatus::Completed,
            ended_at: ts(60),
            last_seq: 1,
        };
        let existing = stored("{}", None);
        assert_eq!(
            new_event("{}", None).decide(closed, Some(&existing)),
            AppendOutcome::Replay
        );
        assert_eq!(
            new_event(r#"{"x":1}"#, None).decide(closed, Some(&existing)),
            AppendOutcome::Conflict
        );
        assert_eq!(
            new_event("{}", None).decide(closed, None),
            AppendOutcome::Closed
        );
        assert_eq!(
            new_event("{}", None).decide(OPEN, None),
            AppendOutcome::Insert
        );
    }
}
