//! Events: immutable once stored, idempotent by `eventId` within their session.

use crate::ids::{EventId, EventType, SessionId};
use crate::json::JsonObject;
use crate::session::SessionStatus;
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
}

/// A request to append an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: EventId,
    pub event_type: EventType,
    pub payload: JsonObject,
    /// When it happened; `None` means "when the server first stores it".
    pub timestamp: Option<Timestamp>,
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
    /// Replays compare content: `type`, `payload`, and `timestamp` when the request has one.
    pub fn matches(&self, stored: &Event) -> bool {
        self.event_id == stored.event_id
            && self.event_type == stored.event_type
            && self.timestamp.is_none_or(|t| t == stored.timestamp)
            && self.payload == stored.payload
    }

    /// The rule for an append, given the session's status and the event stored under the same
    /// id (if any): a replay is answered forever (also once the session is closed), a different
    /// event under the same id conflicts, and a closed session takes nothing new.
    pub fn decide(&self, status: SessionStatus, existing: Option<&Event>) -> AppendOutcome {
        match existing {
            Some(stored) if self.matches(stored) => AppendOutcome::Replay,
            Some(_) => AppendOutcome::Conflict,
            None if status.is_terminal() => AppendOutcome::Closed,
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
        NewEvent {
            event_id: EventId::parse("e1").unwrap(),
            event_type: EventType::parse("user_speech").unwrap(),
            payload: JsonObject::from_stored(payload.into()).unwrap(),
            timestamp,
        }
    }

    const OPEN: SessionStatus = SessionStatus::Active;

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
    fn closed_session_takes_replays_but_nothing_new() {
        let closed = SessionStatus::Completed;
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
