//! The domain's answers to an append and a complete, given what storage holds.
//!
//! An adapter reads what its store holds (the session's status, the event stored under the
//! requested id, the stored session) and hands it here; the answer is either "write this" or the
//! port's result itself. No adapter re-codes these rules: its code is storage mechanics only.

use crate::event::{AppendOutcome, Event, NewEvent};
use crate::ports::{AppendEventError, CompleteSessionError, Written};
use crate::session::{CompleteRequest, CompletionDecision, Session, SessionStatus};
use crate::time::Timestamp;

/// What an adapter does next with an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendStep {
    /// Nothing is stored under this id and the session is open: store the event (given back)
    /// at the session's next `seq`.
    Insert(NewEvent),
    /// The append is answered: the stored event replayed, a conflict, or a closed session.
    Answer(Result<Written<Event>, AppendEventError>),
}

/// The step for `new` in a session of `status` where `existing` is the event stored under
/// `new`'s id, if any (see [`NewEvent::decide`] for the rule).
pub fn append(new: NewEvent, status: SessionStatus, existing: Option<Event>) -> AppendStep {
    match (new.decide(status, existing.as_ref()), existing) {
        (AppendOutcome::Insert, _) => AppendStep::Insert(new),
        (AppendOutcome::Replay, Some(stored)) => AppendStep::Answer(Ok(Written::replayed(stored))),
        (AppendOutcome::Conflict, Some(stored)) => {
            AppendStep::Answer(Err(AppendEventError::Conflict(Box::new(stored))))
        }
        (AppendOutcome::Closed, _) => AppendStep::Answer(Err(AppendEventError::SessionClosed)),
        (AppendOutcome::Replay | AppendOutcome::Conflict, None) => {
            unreachable!("replay and conflict are decided on a stored event")
        }
    }
}

/// What an adapter does next with a complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompleteStep {
    /// The session was open: store it closed (this value), then answer
    /// `Ok(Written::created(closed))`.
    Close(Session),
    /// The request is answered: the stored session replayed, or a state conflict.
    Answer(Result<Written<Session>, CompleteSessionError>),
}

/// The step for `request` on the stored `session` at time `now` (see
/// [`Session::decide_completion`] for the rule).
pub fn complete(mut session: Session, request: &CompleteRequest, now: Timestamp) -> CompleteStep {
    match session.decide_completion(request) {
        CompletionDecision::Close => {
            session.close(request, now);
            CompleteStep::Close(session)
        }
        CompletionDecision::Replay => CompleteStep::Answer(Ok(Written::replayed(session))),
        CompletionDecision::Conflict => {
            CompleteStep::Answer(Err(CompleteSessionError::StateConflict(Box::new(session))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, EventType, SessionId};
    use crate::json::JsonObject;
    use crate::session::NewSession;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    fn new_event(payload: &str) -> NewEvent {
        NewEvent {
            event_id: EventId::parse("e1").unwrap(),
            event_type: EventType::parse("user_speech").unwrap(),
            payload: JsonObject::from_stored(payload.into()).unwrap(),
            timestamp: None,
        }
    }

    fn stored(payload: &str) -> Event {
        new_event(payload).to_event(&SessionId::parse("s").unwrap(), 3, ts(50))
    }

    fn session(status: Option<SessionStatus>) -> Session {
        NewSession::new(
            SessionId::parse("s").unwrap(),
            status,
            None,
            JsonObject::empty(),
            None,
        )
        .unwrap()
        .into_session(ts(0))
    }

    #[test]
    fn a_new_id_in_an_open_session_is_inserted() {
        for open in [SessionStatus::Initiated, SessionStatus::Active] {
            assert_eq!(
                append(new_event("{}"), open, None),
                AppendStep::Insert(new_event("{}"))
            );
        }
    }

    #[test]
    fn the_same_event_is_replayed_open_or_closed() {
        for status in SessionStatus::ALL {
            assert_eq!(
                append(new_event("{}"), status, Some(stored("{}"))),
                AppendStep::Answer(Ok(Written::replayed(stored("{}"))))
            );
        }
    }

    #[test]
    fn another_event_under_the_id_conflicts_open_or_closed() {
        for status in SessionStatus::ALL {
            assert_eq!(
                append(new_event(r#"{"a":1}"#), status, Some(stored("{}"))),
                AppendStep::Answer(Err(AppendEventError::Conflict(Box::new(stored("{}")))))
            );
        }
    }

    #[test]
    fn a_new_id_in_a_closed_session_is_refused() {
        for closed in [SessionStatus::Completed, SessionStatus::Failed] {
            assert_eq!(
                append(new_event("{}"), closed, None),
                AppendStep::Answer(Err(AppendEventError::SessionClosed))
            );
        }
    }

    #[test]
    fn completing_an_open_session_closes_it() {
        let request = CompleteRequest::new(Some(SessionStatus::Failed), None).unwrap();
        let CompleteStep::Close(closed) = complete(session(None), &request, ts(9)) else {
            panic!("an open session is closed");
        };
        assert_eq!(closed.status, SessionStatus::Failed);
        assert_eq!((closed.ended_at, closed.updated_at), (Some(ts(9)), ts(9)));
    }

    #[test]
    fn completing_again_replays_or_conflicts() {
        let completed = CompleteRequest::new(None, None).unwrap();
        let CompleteStep::Close(closed) = complete(session(None), &completed, ts(9)) else {
            panic!("an open session is closed");
        };
        assert_eq!(
            complete(closed.clone(), &completed, ts(10)),
            CompleteStep::Answer(Ok(Written::replayed(closed.clone())))
        );
        let failed = CompleteRequest::new(Some(SessionStatus::Failed), None).unwrap();
        assert_eq!(
            complete(closed.clone(), &failed, ts(10)),
            CompleteStep::Answer(Err(CompleteSessionError::StateConflict(Box::new(closed))))
        );
    }

    #[test]
    fn written_constructors() {
        assert_eq!(
            (Written::created(1).replayed, Written::replayed(1).replayed),
            (false, true)
        );
    }
}
