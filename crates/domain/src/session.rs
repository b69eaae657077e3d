//! Sessions and their state rules.

use crate::ids::{InvalidValue, SessionId};
use crate::json::JsonObject;
use crate::time::Timestamp;

/// Where a session is in its life. `Completed` and `Failed` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    Initiated,
    Active,
    Completed,
    Failed,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 4] = [
        SessionStatus::Initiated,
        SessionStatus::Active,
        SessionStatus::Completed,
        SessionStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Initiated => "initiated",
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// A terminal session takes no new events and never changes status again.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionStatus::Completed | SessionStatus::Failed)
    }
}

/// What an adapter read of a session before writing to it: all that the rules of a write need
/// ([`crate::decision`]). A store that keeps the session's row reads it with
/// [`SessionState::of`]; a store that reads the top of the session's events says what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Not stored; `erased`: its tombstone remains.
    Missing { erased: bool },
    /// Open (`initiated` or `active`), its last event at `last_seq` (0: none yet).
    Open { last_seq: u64 },
    /// Ended in the terminal `status` at `ended_at`, its last event at `last_seq`.
    Sealed {
        status: SessionStatus,
        ended_at: Timestamp,
        last_seq: u64,
    },
}

impl SessionState {
    /// The state of a stored session.
    pub fn of(session: &Session) -> Self {
        if session.status.is_terminal() {
            Self::Sealed {
                status: session.status,
                // Set by every close.
                ended_at: session.ended_at.unwrap_or(session.updated_at),
                last_seq: session.last_seq,
            }
        } else {
            Self::Open {
                last_seq: session.last_seq,
            }
        }
    }

    /// Whether a new (not replayed) event may be appended.
    pub fn accepts_new_events(self) -> bool {
        matches!(self, Self::Open { .. })
    }

    /// The `seq` of the session's last event (0: none, or no session).
    pub fn last_seq(self) -> u64 {
        match self {
            Self::Missing { .. } => 0,
            Self::Open { last_seq } | Self::Sealed { last_seq, .. } => last_seq,
        }
    }
}

/// A BCP-47-shaped language tag (`en`, `en-US`, `zh-Hant-TW`), stored as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub const MAX_LEN: usize = 35;
    /// The shape [`Language::parse`] checks, as a regular expression (for documentation).
    pub const PATTERN: &'static str = "^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$";

    /// Checks the tag's shape: 1–8 letters, then `-` separated subtags of 1–8 letters or digits.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let mut parts = value.split('-');
        let primary_ok = parts.next().is_some_and(|p| {
            (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if primary_ok && rest_ok && value.len() <= Self::MAX_LEN {
            Ok(Self(value))
        } else {
            Err(InvalidValue(
                "language must be a BCP-47 tag such as en, en-US or hi-IN".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which session an erasure removes (see [`crate::SessionRepository::erase_session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraseIf {
    /// Whatever its times (`DELETE`).
    Always,
    /// Only a session still expired, checked in the erasure itself: its
    /// [`Session::retained_since`] as stored when it is removed is before this time (the
    /// retention sweep's cutoff), so a session written after the sweep chose it is kept.
    ExpiredBefore(Timestamp),
}

impl EraseIf {
    /// Whether a session retained since `retained_since` is removed.
    pub fn allows(self, retained_since: Timestamp) -> bool {
        match self {
            EraseIf::Always => true,
            EraseIf::ExpiredBefore(before) => retained_since < before,
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub status: SessionStatus,
    pub language: Option<Language>,
    pub metadata: JsonObject,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub event_count: u64,
    pub last_seq: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A request to create a session. The first write wins: a retry returns the stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: SessionId,
    status: SessionStatus,
    pub language: Option<Language>,
    pub metadata: JsonObject,
    pub started_at: Option<Timestamp>,
}

impl NewSession {
    /// A new session may start `initiated` (the default) or `active`, nothing else.
    pub fn new(
        id: SessionId,
        status: Option<SessionStatus>,
        language: Option<Language>,
        metadata: JsonObject,
        started_at: Option<Timestamp>,
    ) -> Result<Self, InvalidValue> {
        let status = status.unwrap_or(SessionStatus::Initiated);
        if status.is_terminal() {
            return Err(InvalidValue(
                "status of a new session must be initiated or active".into(),
            ));
        }
        Ok(Self {
            id,
            status,
            language,
            metadata,
            started_at,
        })
    }

    pub fn status(&self) -> SessionStatus {
        self.status
    }

    /// The session as first stored at `now`.
    pub fn into_session(self, now: Timestamp) -> Session {
        Session {
            id: self.id,
            status: self.status,
            language: self.language,
            metadata: self.metadata,
            started_at: self.started_at.unwrap_or(now),
            ended_at: None,
            event_count: 0,
            last_seq: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A request to end a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompleteRequest {
    status: SessionStatus,
    pub ended_at: Option<Timestamp>,
}

impl CompleteRequest {
    /// `status` defaults to `completed` and must be terminal.
    pub fn new(
        status: Option<SessionStatus>,
        ended_at: Option<Timestamp>,
    ) -> Result<Self, InvalidValue> {
        let status = status.unwrap_or(SessionStatus::Completed);
        if !status.is_terminal() {
            return Err(InvalidValue("status must be completed or failed".into()));
        }
        Ok(Self { status, ended_at })
    }

    pub fn status(&self) -> SessionStatus {
        self.status
    }
}

/// What a complete request does to a stored session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionDecision {
    /// The session is open: close it.
    Close,
    /// Already in the requested terminal status: answer with the stored session, unchanged.
    Replay,
    /// Already in the other terminal status.
    Conflict,
}

impl Session {
    /// The session's change counter, which live tails watch: its last event's `seq`, plus one
    /// once it is closed. Every append and the close make it grow; nothing else changes it.
    pub fn version(&self) -> u64 {
        Self::version_of(self.last_seq, self.status)
    }

    /// [`Session::version`] from the two stored values it depends on (for stores that read
    /// them without the whole session).
    pub fn version_of(last_seq: u64, status: SessionStatus) -> u64 {
        last_seq + u64::from(status.is_terminal())
    }

    /// The time retention counts from, by the server's clock: when the session was closed
    /// (the `complete`, which sets `updated_at` and after which nothing changes it), or, never
    /// closed, when it was last updated. Never the client's `ended_at`, which a client could
    /// set far ahead to opt out of retention. `RETENTION` erases a session once this is older
    /// than it.
    pub fn retained_since(&self) -> Timestamp {
        self.updated_at
    }

    /// Whether a new (not replayed) event may be appended.
    pub fn accepts_new_events(&self) -> bool {
        !self.status.is_terminal()
    }

    /// Records a newly appended event at `seq`: counts it, and the first event moves an
    /// `initiated` session to `active`.
    pub fn record_append(&mut self, seq: u64, now: Timestamp) {
        debug_assert!(seq > self.last_seq, "seq must grow");
        self.event_count += 1;
        self.last_seq = seq;
        self.activate();
        self.updated_at = now;
    }

    /// The session as its events say, for a store that keeps no counters in the session: what
    /// it recorded at creation (or since) completed by `state` (its events' top), the last of
    /// them written at `last_write`. `seq`s are dense: `last_seq` events. An event moves an
    /// `initiated` session to `active` (as [`Session::record_append`]); a seal gives the
    /// terminal status and `ended_at`.
    pub fn record_state(&mut self, state: SessionState, last_write: Timestamp) {
        match state {
            SessionState::Missing { .. } => return,
            SessionState::Open { last_seq } => {
                self.last_seq = last_seq;
                if last_seq > 0 {
                    self.activate();
                }
            }
            SessionState::Sealed {
                status,
                ended_at,
                last_seq,
            } => {
                self.last_seq = last_seq;
                self.status = status;
                self.ended_at = Some(ended_at);
            }
        }
        self.event_count = self.last_seq;
        self.updated_at = self.updated_at.max(last_write);
    }

    /// The first event's change: `initiated` becomes `active`.
    fn activate(&mut self) {
        if self.status == SessionStatus::Initiated {
            self.status = SessionStatus::Active;
        }
    }

    pub fn decide_completion(&self, request: &CompleteRequest) -> CompletionDecision {
        if !self.status.is_terminal() {
            CompletionDecision::Close
        } else if self.status == request.status {
            CompletionDecision::Replay
        } else {
            CompletionDecision::Conflict
        }
    }

    /// Closes an open session. Call only after [`Session::decide_completion`] said `Close`.
    pub fn close(&mut self, request: &CompleteRequest, now: Timestamp) {
        debug_assert!(!self.status.is_terminal());
        self.status = request.status;
        self.ended_at = Some(request.ended_at.unwrap_or(now));
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: Option<SessionStatus>) -> Session {
        NewSession::new(
            SessionId::parse("s1").unwrap(),
            status,
            None,
            JsonObject::empty(),
            None,
        )
        .unwrap()
        .into_session(Timestamp::from_millis(1_000).unwrap())
    }

    #[test]
    fn new_session_defaults() {
        let s = session(None);
        assert_eq!(s.status, SessionStatus::Initiated);
        assert_eq!(s.started_at.millis(), 1_000);
        assert_eq!((s.event_count, s.last_seq, s.ended_at), (0, 0, None));
        assert_eq!(s.created_at, s.updated_at);
    }

    #[test]
    fn new_session_may_start_active_but_not_terminal() {
        assert_eq!(
            session(Some(SessionStatus::Active)).status,
            SessionStatus::Active
        );
        for terminal in [SessionStatus::Completed, SessionStatus::Failed] {
            let r = NewSession::new(
                SessionId::parse("s").unwrap(),
                Some(terminal),
                None,
                JsonObject::empty(),
                None,
            );
            assert!(r.is_err());
        }
    }

    #[test]
    fn first_event_activates_and_counts() {
        let mut s = session(None);
        let later = Timestamp::from_millis(2_000).unwrap();
        s.record_append(1, later);
        assert_eq!(s.status, SessionStatus::Active);
        assert_eq!((s.event_count, s.last_seq), (1, 1));
        assert_eq!(s.updated_at, later);
        s.record_append(5, later);
        assert_eq!((s.event_count, s.last_seq), (2, 5));
    }

    #[test]
    fn the_state_read_from_events_completes_the_session() {
        let later = Timestamp::from_millis(2_000).unwrap();
        let mut empty = session(None);
        empty.record_state(SessionState::Open { last_seq: 0 }, later);
        assert_eq!(
            (empty.status, empty.event_count, empty.last_seq),
            (SessionStatus::Initiated, 0, 0)
        );
        let mut open = session(None);
        open.record_state(SessionState::Open { last_seq: 3 }, later);
        assert_eq!(
            (
                open.status,
                open.event_count,
                open.last_seq,
                open.updated_at
            ),
            (SessionStatus::Active, 3, 3, later)
        );
        assert_eq!(SessionState::of(&open), SessionState::Open { last_seq: 3 });
        let mut sealed = session(None);
        let ended = Timestamp::from_millis(1_500).unwrap();
        let state = SessionState::Sealed {
            status: SessionStatus::Failed,
            ended_at: ended,
            last_seq: 2,
        };
        sealed.record_state(state, later);
        assert_eq!(
            (sealed.status, sealed.ended_at, sealed.event_count),
            (SessionStatus::Failed, Some(ended), 2)
        );
        assert_eq!(SessionState::of(&sealed), state);
        assert!(!state.accepts_new_events());
        assert_eq!(state.last_seq(), 2);
        let mut untouched = session(None);
        untouched.record_state(SessionState::Missing { erased: true }, later);
        assert_eq!(untouched, session(None));
    }

    #[test]
    fn terminal_statuses_close_the_session() {
        for terminal in [SessionStatus::Completed, SessionStatus::Failed] {
            let mut s = session(Some(SessionStatus::Active));
            assert!(s.accepts_new_events());
            let req = CompleteRequest::new(Some(terminal), None).unwrap();
            assert_eq!(s.decide_completion(&req), CompletionDecision::Close);
            let now = Timestamp::from_millis(9_000).unwrap();
            s.close(&req, now);
            assert_eq!(s.status, terminal);
            assert_eq!(s.ended_at, Some(now));
            assert!(!s.accepts_new_events());
            assert_eq!(s.decide_completion(&req), CompletionDecision::Replay);
            let other = if terminal == SessionStatus::Completed {
                SessionStatus::Failed
            } else {
                SessionStatus::Completed
            };
            let other = CompleteRequest::new(Some(other), None).unwrap();
            assert_eq!(s.decide_completion(&other), CompletionDecision::Conflict);
        }
    }

    #[test]
    fn complete_request_rules() {
        assert_eq!(
            CompleteRequest::new(None, None).unwrap().status(),
            SessionStatus::Completed
        );
        assert!(CompleteRequest::new(Some(SessionStatus::Active), None).is_err());
        assert!(CompleteRequest::new(Some(SessionStatus::Initiated), None).is_err());
        let mut s = session(None);
        let ended = Timestamp::from_millis(5).unwrap();
        s.close(
            &CompleteRequest::new(None, Some(ended)).unwrap(),
            Timestamp::from_millis(7).unwrap(),
        );
        assert_eq!(s.ended_at, Some(ended));
        // Retention counts from the server's clock at the close, not the client's endedAt.
        assert_eq!(s.retained_since(), Timestamp::from_millis(7).unwrap());
    }

    #[test]
    fn status_round_trips() {
        for s in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SessionStatus::parse("Active"), None);
    }

    #[test]
    fn language_shapes() {
        for ok in ["en", "en-US", "hi-IN", "zh-Hant-TW", "es-419"] {
            assert!(Language::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-",
            "en-",
            "en_US",
            "123",
            "englishlanguage",
            "en US",
            "abcdefghi",
        ] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }
}
