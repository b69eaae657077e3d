//! The domain's answers to an append and a complete, given what storage holds.
//!
//! An adapter reads what its store holds (the session's [`SessionState`], the event stored under
//! the requested id, the stored session, what an erasure found) and hands it here; the answer is
//! either "write this" or the port's result itself. No adapter re-codes these rules: its code is
//! storage mechanics only.

use std::collections::{HashMap, HashSet};

use crate::batch::AppendBatch;
use crate::event::{AppendOutcome, Event, NewEvent};
use crate::ids::{EventId, SessionId};
use crate::ports::{
    Absent, AppendEventError, CompleteSessionError, EraseSessionError, StorageError,
    SupersedeRefusal,
};
use crate::session::{CompleteRequest, CompletionDecision, Session, SessionState};
use crate::time::Timestamp;
use crate::written::Written;

/// What an adapter does next with an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendStep {
    /// Nothing is stored under this id and the session is open: store the event (given back)
    /// at the session's next `seq`.
    Insert(NewEvent),
    /// The append is answered: the stored event replayed, a conflict, or a closed session.
    Answer(Result<Written<Event>, AppendEventError>),
}

/// The step for `new` in a session in `state` where `existing` is the event stored under
/// `new`'s id, if any (see [`NewEvent::decide`] for the rule; a missing session answers
/// "not found" or "erased").
pub fn append(new: NewEvent, state: SessionState, existing: Option<Event>) -> AppendStep {
    if let SessionState::Missing { erased } = state {
        return AppendStep::Answer(Err(AppendEventError::absent(erased)));
    }
    match existing {
        Some(stored) => AppendStep::Answer(taken(&new, stored)),
        None => match new.decide(state, None) {
            AppendOutcome::Closed => AppendStep::Answer(Err(AppendEventError::SessionClosed)),
            // A correction is decided with its target, by `append_batch`.
            _ if new.supersedes.is_some() => AppendStep::Answer(Err(StorageError::Internal(
                "a correction is decided with the event it corrects".into(),
            )
            .into())),
            _ => AppendStep::Insert(new),
        },
    }
}

/// A correction a batch makes: `target`'s `supersededBy` becomes `by`, atomically with the
/// insert of `by`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub target: EventId,
    pub by: EventId,
}

/// The answer to `new` whose id is taken in its session by `stored`, whatever the session's
/// state: `stored` replayed when it is the same event ([`NewEvent::matches`]), else a conflict.
pub fn taken(new: &NewEvent, stored: Event) -> Result<Written<Event>, AppendEventError> {
    // Any state will do: the session held `stored`, so it was open at its `seq`.
    let state = SessionState::Open {
        last_seq: stored.seq,
    };
    match new.decide(state, Some(&stored)) {
        AppendOutcome::Replay => Ok(Written::replayed(stored)),
        _ => Err(AppendEventError::Conflict {
            index: 0,
            stored: Box::new(stored),
        }),
    }
}

/// What an adapter does next with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchStep {
    /// Some events are new: store [`BatchPlan::new_events`] (all or nothing), then answer
    /// [`BatchPlan::answer`].
    Insert(BatchPlan),
    /// The batch is answered: every item a replay, or the error that refuses it whole.
    Answer(Result<Vec<Written<Event>>, AppendEventError>),
}

/// A batch with new events, decided against a session whose `lastSeq` was `last_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    batch: AppendBatch,
    /// Per distinct event of the batch: its stored event (a replay), or `None` (new).
    replays: Vec<Option<Event>>,
    last_seq: u64,
    corrections: Vec<Correction>,
}

impl BatchPlan {
    /// The new events as stored in `session_id` at time `now`: in request order, at the
    /// consecutive `seq`s after the `lastSeq` the batch was decided on.
    pub fn new_events(&self, session_id: &SessionId, now: Timestamp) -> Vec<Event> {
        let new = self
            .batch
            .events()
            .iter()
            .zip(&self.replays)
            .filter(|(_, replay)| replay.is_none())
            .map(|(new, _)| new);
        (self.last_seq + 1..)
            .zip(new)
            .map(|(seq, new)| self.corrected(new.to_event(session_id, seq, now)))
            .collect()
    }

    /// The corrections of stored events the new events make: the adapter sets each target's
    /// `supersededBy` in the same atomic step as the insert (targets among the new events are
    /// written corrected already, see [`BatchPlan::new_events`]).
    pub fn corrections(&self) -> Vec<&Correction> {
        let new: HashSet<&EventId> = self
            .batch
            .events()
            .iter()
            .zip(&self.replays)
            .filter(|(_, replay)| replay.is_none())
            .map(|(new, _)| &new.event_id)
            .collect();
        self.corrections
            .iter()
            .filter(|c| !new.contains(&c.target))
            .collect()
    }

    /// `event` with the `supersededBy` this batch gives it.
    fn corrected(&self, mut event: Event) -> Event {
        if let Some(c) = self.corrections.iter().find(|c| c.target == event.event_id) {
            event.superseded_by = Some(c.by.clone());
        }
        event
    }

    /// The `lastSeq` the batch was decided on: its new events go right after it.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The answer to every request item once `inserted` ([`BatchPlan::new_events`]) is stored.
    pub fn answer(self, inserted: Vec<Event>) -> Vec<Written<Event>> {
        let mut inserted = inserted.into_iter();
        let written = self
            .replays
            .iter()
            .cloned()
            .map(|replay| match replay {
                Some(stored) => Written::replayed(self.corrected(stored)),
                None => Written::created(inserted.next().expect("one inserted event per new one")),
            })
            .collect();
        self.batch.answer(written)
    }
}

/// The step for `batch` in a session in `state`, where `existing[i]` is the event stored under
/// the id of `batch.events()[i]`, if any, and `targets` the events stored under the ids of
/// [`AppendBatch::targets`] (those found). A missing session answers "not found" or "erased".
/// Each event follows the single-append rule ([`NewEvent::decide`]); the batch is refused whole
/// by the first conflicting item (409 naming it), else by a closed session when an event is
/// new, else by `expectedLastSeq` differing from the session's `lastSeq` when an event is new,
/// else by the first new event correcting what it may not ([`SupersedeRefusal`]).
/// A batch of replays only is answered whatever the session's state or `expectedLastSeq`.
pub fn append_batch(
    batch: AppendBatch,
    state: SessionState,
    existing: Vec<Option<Event>>,
    targets: &[Event],
) -> BatchStep {
    if let SessionState::Missing { erased } = state {
        return BatchStep::Answer(Err(AppendEventError::absent(erased)));
    }
    let last_seq = state.last_seq();
    debug_assert_eq!(existing.len(), batch.events().len());
    let mut replays = Vec::with_capacity(existing.len());
    let mut closed = false;
    for (i, (new, existing)) in batch.events().iter().zip(existing).enumerate() {
        match (new.decide(state, existing.as_ref()), existing) {
            (AppendOutcome::Replay, stored) => replays.push(stored),
            (AppendOutcome::Conflict, Some(stored)) => {
                return BatchStep::Answer(Err(AppendEventError::Conflict {
                    index: batch.item_of(i),
                    stored: Box::new(stored),
                }));
            }
            (AppendOutcome::Closed, _) => {
                closed = true;
                replays.push(None);
            }
            (AppendOutcome::Insert | AppendOutcome::Conflict, _) => replays.push(None),
        }
    }
    let any_new = replays.iter().any(Option::is_none);
    if !any_new {
        let written = replays
            .into_iter()
            .flatten()
            .map(Written::replayed)
            .collect();
        return BatchStep::Answer(Ok(batch.answer(written)));
    }
    if closed {
        return BatchStep::Answer(Err(AppendEventError::SessionClosed));
    }
    if batch
        .expected_last_seq()
        .is_some_and(|expected| expected != last_seq)
    {
        return BatchStep::Answer(Err(AppendEventError::SeqMismatch { last_seq }));
    }
    let corrections = match corrections(&batch, &replays, targets) {
        Ok(corrections) => corrections,
        Err(refused) => return BatchStep::Answer(Err(refused)),
    };
    BatchStep::Insert(BatchPlan {
        batch,
        replays,
        last_seq,
        corrections,
    })
}

/// The corrections the new events of `batch` make (`replays[i]`: `None` for a new event), each
/// target stored (in `targets`) or a new event earlier in the batch, and corrected once: by no
/// stored event, and by one event of the batch.
fn corrections(
    batch: &AppendBatch,
    replays: &[Option<Event>],
    targets: &[Event],
) -> Result<Vec<Correction>, AppendEventError> {
    let stored: HashMap<&EventId, &Event> = targets.iter().map(|e| (&e.event_id, e)).collect();
    let mut earlier: HashSet<&EventId> = HashSet::new();
    let mut corrections: Vec<Correction> = Vec::new();
    for (i, (new, replay)) in batch.events().iter().zip(replays).enumerate() {
        if replay.is_some() {
            continue;
        }
        if let Some(target) = &new.supersedes {
            let refuse = |refusal| AppendEventError::SupersedeConflict {
                index: batch.item_of(i),
                refusal,
            };
            let by_stored = match stored.get(target) {
                Some(event) => event.superseded_by.clone(),
                None if earlier.contains(target) => None,
                None => {
                    return Err(refuse(SupersedeRefusal::NotFound {
                        target: target.clone(),
                    }));
                }
            };
            let by_batch = corrections
                .iter()
                .find(|c| &c.target == target)
                .map(|c| c.by.clone());
            if let Some(by) = by_stored.or(by_batch) {
                return Err(refuse(SupersedeRefusal::AlreadySuperseded {
                    target: target.clone(),
                    by,
                }));
            }
            corrections.push(Correction {
                target: target.clone(),
                by: new.event_id.clone(),
            });
        }
        earlier.insert(&new.event_id);
    }
    Ok(corrections)
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

/// What an erasure found where the session was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasureFound {
    /// The session, which this erasure removed (and left its tombstone, erased at its time).
    Session,
    /// The tombstone of an earlier erasure, erased at this time.
    Tombstone(Timestamp),
    /// Neither session nor tombstone.
    Nothing,
    /// The session, which the erasure's condition kept ([`crate::EraseIf::allows`] said no): it was
    /// written since the sweep chose it.
    Kept,
}

/// The answer to an erasure at `at` that found `found`: erasing again is a replay (of the
/// first erasure's time), erasing what never was (or whose tombstone expired) is "not found".
pub fn erase(found: ErasureFound, at: Timestamp) -> Result<Written<Timestamp>, EraseSessionError> {
    match found {
        ErasureFound::Session => Ok(Written::created(at)),
        ErasureFound::Tombstone(erased_at) => Ok(Written::replayed(erased_at)),
        ErasureFound::Nothing => Err(EraseSessionError::NotFound),
        ErasureFound::Kept => Err(EraseSessionError::NotExpired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventId, EventType, SessionId};
    use crate::json::JsonObject;
    use crate::session::{EraseIf, NewSession, SessionStatus};

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    fn new_event(payload: &str) -> NewEvent {
        NewEvent::new(
            EventId::parse("e1").unwrap(),
            EventType::parse("user_speech").unwrap(),
            JsonObject::from_stored(payload.into()).unwrap(),
        )
    }

    fn stored(payload: &str) -> Event {
        new_event(payload).to_event(&SessionId::parse("s").unwrap(), 3, ts(50))
    }

    /// A session in `status` whose last event is at `last_seq`.
    fn state(status: SessionStatus, last_seq: u64) -> SessionState {
        let mut session = session(Some(SessionStatus::Active));
        session.last_seq = last_seq;
        if status.is_terminal() {
            session.close(&CompleteRequest::new(Some(status), None).unwrap(), ts(60));
        }
        session.status = status;
        SessionState::of(&session)
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
                append(new_event("{}"), state(open, 3), None),
                AppendStep::Insert(new_event("{}"))
            );
        }
    }

    #[test]
    fn the_same_event_is_replayed_open_or_closed() {
        for status in SessionStatus::ALL {
            assert_eq!(
                append(new_event("{}"), state(status, 3), Some(stored("{}"))),
                AppendStep::Answer(Ok(Written::replayed(stored("{}"))))
            );
        }
    }

    #[test]
    fn another_event_under_the_id_conflicts_open_or_closed() {
        for status in SessionStatus::ALL {
            assert_eq!(
                append(
                    new_event(r#"{"a":1}"#),
                    state(status, 3),
                    Some(stored("{}"))
                ),
                AppendStep::Answer(Err(AppendEventError::Conflict {
                    index: 0,
                    stored: Box::new(stored("{}"))
                }))
            );
        }
    }

    #[test]
    fn a_new_id_in_a_closed_session_is_refused() {
        for closed in [SessionStatus::Completed, SessionStatus::Failed] {
            assert_eq!(
                append(new_event("{}"), state(closed, 3), None),
                AppendStep::Answer(Err(AppendEventError::SessionClosed))
            );
        }
    }

    fn named(id: &str, payload: &str) -> NewEvent {
        NewEvent::new(
            EventId::parse(id).unwrap(),
            EventType::parse("user_speech").unwrap(),
            JsonObject::from_stored(payload.into()).unwrap(),
        )
    }

    fn batch(events: &[(&str, &str)], expected: Option<u64>) -> AppendBatch {
        AppendBatch::new(
            events.iter().map(|(id, p)| named(id, p)).collect(),
            expected,
        )
        .unwrap()
    }

    fn stored_as(id: &str, payload: &str, seq: u64) -> Event {
        named(id, payload).to_event(&SessionId::parse("s").unwrap(), seq, ts(50))
    }

    #[test]
    fn a_batch_takes_consecutive_seqs_and_answers_in_request_order() {
        let b = batch(
            &[("a", "{}"), ("old", "{}"), ("c", "{}"), ("a", "{}")],
            Some(4),
        );
        let existing = vec![None, Some(stored_as("old", "{}", 2)), None];
        let BatchStep::Insert(plan) =
            append_batch(b, state(SessionStatus::Active, 4), existing, &[])
        else {
            panic!("new events are inserted");
        };
        let events = plan.new_events(&SessionId::parse("s").unwrap(), ts(60));
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
        let answer = plan.answer(events);
        let seen: Vec<(&str, u64, bool)> = answer
            .iter()
            .map(|w| (w.value.event_id.as_str(), w.value.seq, w.replayed))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", 5, false),
                ("old", 2, true),
                ("c", 6, false),
                ("a", 5, true)
            ]
        );
    }

    #[test]
    fn a_batch_is_refused_whole() {
        let conflicting = append_batch(
            batch(&[("new", "{}"), ("a", r#"{"x":1}"#)], None),
            state(SessionStatus::Completed, 3),
            vec![None, Some(stored_as("a", "{}", 1))],
            &[],
        );
        assert_eq!(
            conflicting,
            BatchStep::Answer(Err(AppendEventError::Conflict {
                index: 1,
                stored: Box::new(stored_as("a", "{}", 1))
            }))
        );
        let closed = append_batch(
            batch(&[("new", "{}")], None),
            state(SessionStatus::Failed, 3),
            vec![None],
            &[],
        );
        assert_eq!(
            closed,
            BatchStep::Answer(Err(AppendEventError::SessionClosed))
        );
        let mismatch = append_batch(
            batch(&[("new", "{}")], Some(2)),
            state(SessionStatus::Active, 3),
            vec![None],
            &[],
        );
        assert_eq!(
            mismatch,
            BatchStep::Answer(Err(AppendEventError::SeqMismatch { last_seq: 3 }))
        );
    }

    #[test]
    fn replays_only_are_answered_whatever_the_state_or_expectation() {
        for status in SessionStatus::ALL {
            let step = append_batch(
                batch(&[("a", "{}"), ("a", "{}")], Some(99)),
                state(status, 3),
                vec![Some(stored_as("a", "{}", 1))],
                &[],
            );
            assert_eq!(
                step,
                BatchStep::Answer(Ok(vec![
                    Written::replayed(stored_as("a", "{}", 1)),
                    Written::replayed(stored_as("a", "{}", 1))
                ]))
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
    fn a_missing_session_answers_not_found_or_erased() {
        for (erased, answer) in [
            (false, AppendEventError::SessionNotFound),
            (true, AppendEventError::SessionErased),
        ] {
            let missing = SessionState::Missing { erased };
            assert_eq!(
                append(new_event("{}"), missing, None),
                AppendStep::Answer(Err(answer.clone()))
            );
            assert_eq!(
                append_batch(batch(&[("a", "{}")], Some(0)), missing, vec![None], &[]),
                BatchStep::Answer(Err(answer))
            );
        }
    }

    #[test]
    fn a_taken_id_is_a_replay_or_a_conflict() {
        assert_eq!(
            taken(&new_event("{}"), stored("{}")),
            Ok(Written::replayed(stored("{}")))
        );
        assert_eq!(
            taken(&new_event(r#"{"a":1}"#), stored("{}")),
            Err(AppendEventError::Conflict {
                index: 0,
                stored: Box::new(stored("{}"))
            })
        );
    }

    #[test]
    fn erasing_again_is_a_replay_of_the_first_erasure() {
        assert_eq!(
            erase(ErasureFound::Session, ts(9)),
            Ok(Written::created(ts(9)))
        );
        assert_eq!(
            erase(ErasureFound::Tombstone(ts(5)), ts(9)),
            Ok(Written::replayed(ts(5)))
        );
        assert_eq!(
            erase(ErasureFound::Nothing, ts(9)),
            Err(EraseSessionError::NotFound)
        );
        assert_eq!(
            erase(ErasureFound::Kept, ts(9)),
            Err(EraseSessionError::NotExpired)
        );
        assert!(EraseIf::Always.allows(ts(9)));
        assert!(EraseIf::ExpiredBefore(ts(9)).allows(ts(8)));
        assert!(!EraseIf::ExpiredBefore(ts(9)).allows(ts(9)));
    }

    #[test]
    fn written_constructors() {
        assert_eq!(
            (Written::created(1).replayed, Written::replayed(1).replayed),
            (false, true)
        );
    }
}
