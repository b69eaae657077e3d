//! Appends and completes. This instance's writes to one session go through the session's lane
//! ([`crate::lane`]) and are done by one drainer task at a time: the appends queued together
//! become one ordered `insertMany` at consecutive seqs after the lane's hint of the top `seq`
//! (one round trip), a complete is written in its place in the queue. Correctness stays in the
//! unique indexes and the seal: a taken `seq` (another instance, a seal, a stale hint) is a
//! duplicate-key error, answered by reading what storage holds and asking the domain.
//!
//! An append of one event without `expectedLastSeq` (the common case) takes that path: one
//! document is atomic by itself. Any other batch (several new events, or `expectedLastSeq`) is
//! written in its place in the queue ([`MongoStore::write_batch`]): it reads the top and the
//! batch's ids, asks the domain, then inserts the new events at consecutive seqs above that top
//! in a short multi-document transaction and commits, so the events become visible together or
//! not at all, and the unique indexes condition the insert on what was read (the
//! `expectedLastSeq` check included). A lost race aborts it; it is tried again from the reads.
//!
//! Every insert of events is then checked: the session document the lane's hint names (by its
//! `_id`) must still be there and no tombstone. Otherwise the session was erased meanwhile, or
//! erased and purged and maybe created again, which no unique index can tell (a purge frees
//! every `seq`): the inserted events are deleted by their `_id`s and the write decided afresh
//! on what is stored now (see `docs/mongodb.md`, "Writes into a session that is gone").

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{
    AppendBatch, AppendEventError, AppendStep, BatchStep, CompleteRequest, CompleteSessionError,
    CompleteStep, Event, EventId, NewEvent, Session, SessionState, StorageError, Timestamp,
    WebhookEventType, Written, decision,
};
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{Error, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use rand::Rng;
use tokio::sync::oneshot;

use crate::announce::Target::Events;
use crate::announce::{Change, insert_announced, record_and_commit};
use crate::documents::{self, SessionKey};
use crate::error::{duplicate_at, is_duplicate_key, is_write_conflict, storage_error};
use crate::lane::{Hint, Job, Lane, Reply};
use crate::store::MongoStore;

/// Most appends written by one `insertMany`.
const MAX_ROUND: usize = 500;

/// An append of one event (a batch whose items all carry it) waiting for its `seq`.
struct Pending {
    new: NewEvent,
    batch: AppendBatch,
    reply: Reply<Vec<Written<Event>>, AppendEventError>,
}

impl Pending {
    fn answer(self, answer: Result<Written<Event>, AppendEventError>) {
        // The caller may have given up (its timeout); the answer is then nobody's business.
        let _ = self
            .reply
            .send(answer.map(|written| self.batch.answer(vec![written])));
    }

    /// Answers the append whose id `stored` holds (the domain says: a replay or a conflict).
    fn answer_taken(self, stored: Event) {
        let answer = decision::taken(&self.new, stored);
        self.answer(answer);
    }
}

/// The answer of an append the domain decided on a session it does not insert into (missing
/// or sealed).
fn answer_of(step: AppendStep) -> Result<Written<Event>, AppendEventError> {
    match step {
        AppendStep::Answer(answer) => answer,
        AppendStep::Insert(_) => Err(StorageError::Internal(
            "the domain inserts into a missing or sealed session".into(),
        )
        .into()),
    }
}

/// A batch's answer, and the hint to keep on the lane.
type BatchTry = (Result<Vec<Written<Event>>, AppendEventError>, Option<Hint>);

/// A session as a write finds it in the database.
enum Found {
    /// Open: its document's `_id` and top, to insert on.
    Open(Hint),
    /// Missing (maybe erased) or sealed: the domain answers without an insert.
    Shut(SessionState),
}

/// Events to insert into the session `hint` names, each under the `_id` chosen for it (see
/// [`MongoStore::take_back`]).
fn with_ids<'a>(
    project: &'a domain::ProjectId,
    hint: &Hint,
    events: &'a [Event],
) -> (
    Vec<ObjectId>,
    impl Iterator<Item = mongodb::bson::RawDocumentBuf> + 'a,
) {
    let ids: Vec<ObjectId> = events.iter().map(|_| ObjectId::new()).collect();
    let incarnation = hint.created;
    let docs = ids
        .clone()
        .into_iter()
        .zip(events)
        .map(move |(id, e)| documents::event_doc(id, project, incarnation, e));
    (ids, docs)
}

/// A corrupt document read while writing a batch: a driver error, so that the batch's
/// error path (not retried) reports it.
fn internal(e: StorageError) -> Error {
    Error::custom(e)
}

/// The transaction lost a race: a unique index or another transaction took what it wrote, or
/// the server asks for a retry. It is tried again from its reads.
pub(crate) fn is_lost_race(e: &Error) -> bool {
    is_duplicate_key(e)
        || is_write_conflict(e)
        || e.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
}

fn interrupted() -> StorageError {
    StorageError::Unavailable("the write was interrupted".into())
}

/// A short random pause after losing a `seq` to another instance, growing with the losses, so
/// that competing instances do not retry in lockstep.
pub(crate) async fn backoff(losses: u32) {
    let cap_micros = (500_u64 << losses.min(6)).min(20_000);
    let pause = rand::rng().random_range(0..=cap_micros);
    tokio::time::sleep(Duration::from_micros(pause)).await;
}

/// Drops the lane's queue if its drainer ends early (a panic, or its runtime shutting down), so
/// that the lane works again and the waiting callers get an answer (their reply channels close)
/// instead of their timeout.
struct AbandonUnlessDone<'a> {
    lane: &'a Lane<Job>,
    done: bool,
}

impl Drop for AbandonUnlessDone<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.lane.abandon();
        }
    }
}

impl MongoStore {
    pub(crate) async fn append(
        &self,
        key: &SessionKey,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        self.submit(key, |reply| Job::Append { batch, reply }).await
    }

    pub(crate) async fn complete(
        &self,
        key: &SessionKey,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        self.submit(key, |reply| Job::Complete { request, reply })
            .await
    }

    /// Queues the job made with the reply channel, starts the session's drainer when none runs,
    /// and waits for the answer. The drainer is a task of its own, so a caller that gives up
    /// (timeout, closed connection) never cuts a write in half.
    async fn submit<T, E: From<StorageError>>(
        &self,
        key: &SessionKey,
        job: impl FnOnce(Reply<T, E>) -> Job,
    ) -> Result<T, E> {
        let (reply, answer) = oneshot::channel();
        if let Some(lane) = self.lanes.push(key, job(reply)) {
            tokio::spawn(self.clone().drain(key.clone(), lane));
        }
        answer.await.unwrap_or_else(|_| Err(interrupted().into()))
    }

    async fn drain(self, session: SessionKey, lane: Arc<Lane<Job>>) {
        let mut guard = AbandonUnlessDone {
            lane: &lane,
            done: false,
        };
        while let Some(jobs) = lane.take() {
            let mut appends = VecDeque::new();
            // An append someone listens to is written as a batch: with its deliveries, in a
            // transaction. (Unknown: the same; the batch's own read reports the trouble.)
            let announced = self
                .listened(&session.project, WebhookEventType::EventAppended)
                .await
                .unwrap_or(true);
            for job in jobs {
                match job {
                    // A correction is written as a batch: with its target's update, in a
                    // transaction.
                    Job::Append { batch, reply }
                        if !announced
                            && batch.events().len() == 1
                            && batch.expected_last_seq().is_none()
                            && batch.events()[0].supersedes.is_none() =>
                    {
                        let new = batch.events()[0].clone();
                        appends.push_back(Pending { new, batch, reply });
                    }
                    Job::Append { batch, reply } => {
                        // Appends queued before the batch are written before it.
                        self.write_appends(&session, &lane, std::mem::take(&mut appends))
                            .await;
                        let answer = self.write_batch(&session, &lane, batch, &reply).await;
                        let _ = reply.send(answer);
                    }
                    Job::Complete { request, reply } => {
                        // Appends queued before the complete are written before it.
                        self.write_appends(&session, &lane, std::mem::take(&mut appends))
                            .await;
                        let answer = self.write_complete(&session, &lane, request, &reply).await;
                        let _ = reply.send(answer);
                    }
                }
            }
            self.write_appends(&session, &lane, appends).await;
        }
        guard.done = true;
    }

    /// The session as stored: its document (by the key), then, while it is no tombstone, the
    /// top of its events. An insert on what this finds is checked afterwards against the
    /// document read here ([`MongoStore::still_there`]).
    async fn read_top(&self, session: &SessionKey) -> Result<Found, StorageError> {
        let seen = Instant::now();
        let Some(stored) = self.stored_session(session).await? else {
            return Ok(Found::Shut(SessionState::Missing { erased: false }));
        };
        if stored.contains_key("erasedAt") {
            return Ok(Found::Shut(SessionState::Missing { erased: true }));
        }
        let id = stored
            .get("_id")
            .cloned()
            .ok_or_else(|| StorageError::Internal("stored session has no _id".into()))?;
        let created = documents::created_at(&stored)?;
        let hint = |top| {
            Found::Open(Hint {
                session: id,
                top,
                created,
                seen,
            })
        };
        Ok(match self.top(session).await? {
            Some(top) => match documents::state(&top)? {
                SessionState::Open { last_seq } => hint(last_seq),
                state => Found::Shut(state),
            },
            None => hint(0),
        })
    }

    /// The check after an insert of events: the session document `id` (the one the insert was
    /// decided on) is still there, and no tombstone. One `find` by `_id`. Sound because a
    /// tombstone never turns back into a session: if the document is live after the insert,
    /// any erasure of it starts after the insert, and seals above and blanks the inserted
    /// events like any other.
    async fn still_there(&self, id: &Bson) -> Result<bool, Error> {
        let found = self
            .driver()
            .sessions
            .find_one(doc! { "_id": id.clone() })
            .projection(doc! { "erasedAt": 1 })
            .await?;
        Ok(found.is_some_and(|d| !d.contains_key("erasedAt")))
    }

    /// Takes back events inserted into a session that was gone (their `_id`s).
    async fn take_back(&self, ids: &[ObjectId]) -> Result<(), Error> {
        self.driver()
            .events
            .delete_many(doc! { "_id": { "$in": ids } })
            .await?;
        Ok(())
    }

    /// Checks an insert of events on `hint` (see [`MongoStore::still_there`]), and takes them
    /// back when their session is gone. `Ok(false)`: taken back, the write is decided again.
    /// An error leaves the events where they are (see `docs/mongodb.md`), and is logged.
    ///
    /// Within the store's trust window of the session document's last read ([`Hint::seen`],
    /// decision 44) there is nothing to check: a session seen live then cannot have been
    /// erased and purged since, and until its purge its erasure's seals and blanks refuse the
    /// insert on the unique index. A check made sees the document live again.
    async fn checked(&self, hint: &mut Hint, ids: &[ObjectId]) -> Result<bool, Error> {
        if hint.seen.elapsed() < self.trusted_for {
            return Ok(true);
        }
        let seen = Instant::now();
        let checked = async {
            if self.still_there(&hint.session).await? {
                hint.seen = seen;
                return Ok(true);
            }
            self.take_back(ids).await?;
            Ok(false)
        }
        .await;
        if let Err(e) = &checked {
            tracing::warn!(
                error = %e,
                events = ids.len(),
                "inserted events not checked against their session, or not taken back"
            );
        }
        checked
    }

    /// Writes queued appends, in order, until each is answered.
    async fn write_appends(
        &self,
        session: &SessionKey,
        lane: &Lane<Job>,
        mut pending: VecDeque<Pending>,
    ) {
        // Events this call saw stored (inserted or read): a repeated id is answered from them.
        let mut stored: HashMap<EventId, Event> = HashMap::new();
        let mut losses = 0;
        loop {
            pending.retain(|p| !p.reply.is_closed());
            let mut waiting = VecDeque::with_capacity(pending.len());
            for p in pending.drain(..) {
                match stored.get(&p.new.event_id) {
                    Some(event) => p.answer_taken(event.clone()),
                    None => waiting.push_back(p),
                }
            }
            pending = waiting;
            if pending.is_empty() {
                return;
            }
            let mut hint = match lane.hint() {
                Some(hint) => hint,
                None => match self.read_top(session).await {
                    Ok(Found::Open(hint)) => {
                        lane.set_hint(Some(hint.clone()));
                        hint
                    }
                    Ok(Found::Shut(state @ SessionState::Missing { .. })) => {
                        for p in pending {
                            let answer = answer_of(decision::append(p.new.clone(), state, None));
                            p.answer(answer);
                        }
                        return;
                    }
                    Ok(Found::Shut(state)) => {
                        for p in pending {
                            let answer = self.answer_sealed(session, state, p.new.clone()).await;
                            p.answer(answer);
                        }
                        return;
                    }
                    Err(e) => {
                        for p in pending {
                            p.answer(Err(e.clone().into()));
                        }
                        return;
                    }
                },
            };
            // One round: the leading run of distinct ids (a repeated id waits for the first).
            let mut ids = HashSet::new();
            let len = pending
                .iter()
                .take(MAX_ROUND)
                .take_while(|p| ids.insert(&p.new.event_id))
                .count();
            let round: Vec<Pending> = pending.drain(..len).collect();
            let now = Timestamp::now();
            let events: Vec<Event> = (hint.top + 1..)
                .zip(&round)
                .map(|(seq, p)| p.new.to_event(&session.session, seq, now))
                .collect();
            let (ids, docs) = with_ids(&session.project, &hint, &events);
            let result = self.driver().raw_events.insert_many(docs).await;
            let (inserted, refused) = match result {
                Ok(_) => (len, None),
                Err(e) => match duplicate_at(&e) {
                    Some(index) => (index, Some(index)),
                    None => {
                        // Some may be stored, some not: the callers' retries will tell (replays).
                        lane.set_hint(None);
                        let e = storage_error(e);
                        for p in round.into_iter().chain(pending) {
                            p.answer(Err(e.clone().into()));
                        }
                        return;
                    }
                },
            };
            if inserted > 0 {
                match self.checked(&mut hint, &ids[..inserted]).await {
                    Ok(true) => {}
                    // Taken back: the whole round is decided again on what is stored now.
                    Ok(false) => {
                        lane.set_hint(None);
                        for p in round.into_iter().rev() {
                            pending.push_front(p);
                        }
                        continue;
                    }
                    // Unknown whether the session is still there: the events may stay.
                    Err(e) => {
                        lane.set_hint(None);
                        let e = storage_error(e);
                        for p in round.into_iter().chain(pending) {
                            p.answer(Err(e.clone().into()));
                        }
                        return;
                    }
                }
                lane.set_hint(Some(hint.above(inserted as u64)));
                losses = 0;
            }
            let mut round = round.into_iter();
            for (p, event) in round.by_ref().zip(events).take(inserted) {
                stored.insert(event.event_id.clone(), event.clone());
                p.answer(Ok(Written::created(event)));
            }
            let Some(refused) = refused.and_then(|_| round.next()) else {
                continue;
            };
            // The rest of the round was not attempted: back in the queue, in order.
            for p in round.rev() {
                pending.push_front(p);
            }
            // Its id is stored already, or its seq was taken (another instance, a seal).
            let existing = match self.stored_event(session, &refused.new.event_id).await {
                Ok(existing) => existing,
                Err(e) => {
                    refused.answer(Err(e.into()));
                    continue;
                }
            };
            match existing {
                Some(event) => {
                    stored.insert(event.event_id.clone(), event.clone());
                    refused.answer_taken(event);
                }
                // Its id is free: its seq was taken. Tried again on a new top.
                None => {
                    pending.push_front(refused);
                    lane.set_hint(None);
                    losses += 1;
                    backoff(losses).await;
                }
            }
        }
    }

    /// Writes a batch in one short transaction, retried from its reads while it loses races
    /// (another writer took one of its seqs, or sealed the session, since it read the top).
    async fn write_batch(
        &self,
        session: &SessionKey,
        lane: &Lane<Job>,
        batch: AppendBatch,
        reply: &Reply<Vec<Written<Event>>, AppendEventError>,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        let mut losses = 0;
        while !reply.is_closed() {
            match self.try_batch(session, batch.clone(), lane.hint()).await {
                Ok(Some((answer, hint))) => {
                    lane.set_hint(hint);
                    return answer;
                }
                // Refused on the hint alone, or written into a session gone since and taken
                // back: read the session and decide again.
                Ok(None) => lane.set_hint(None),
                Err(e) if is_lost_race(&e) => {
                    lane.set_hint(None);
                    losses += 1;
                    backoff(losses).await;
                }
                Err(e) => {
                    lane.set_hint(None);
                    return Err(storage_error(e).into());
                }
            }
        }
        Err(interrupted().into())
    }

    /// One try of [`MongoStore::write_batch`] on the lane's `hint` (or, without one, the
    /// session read now): the answer and the hint to keep (`None`: none). `Ok(None)`:
    /// `expectedLastSeq` (or a correction) refused on the hint, which may be stale, or the session written into
    /// was gone (the events are taken back); the caller tries again without the hint. Nothing
    /// is stored unless the commit succeeds and the check after it finds the session.
    async fn try_batch(
        &self,
        key: &SessionKey,
        batch: AppendBatch,
        hint: Option<Hint>,
    ) -> Result<Option<BatchTry>, Error> {
        // The reads need no snapshot: the insert is conditioned on what they saw by the unique
        // indexes (a seq or an id taken since, or a seal above a stale hint, is a duplicate key,
        // and the batch is tried again), so the transaction holds the insert only, for one
        // round trip. The hint saves the top read, which SecantusDB answers by sorting the
        // whole session.
        let hinted = hint.is_some();
        let (state, hint) = match hint {
            // A hint is an event's seq, kept while the session is open.
            Some(hint) => (SessionState::Open { last_seq: hint.top }, Some(hint)),
            None => match self.read_top(key).await {
                Ok(Found::Open(hint)) => (SessionState::Open { last_seq: hint.top }, Some(hint)),
                Ok(Found::Shut(state)) => (state, None),
                Err(e) => return Ok(Some((Err(e.into()), None))),
            },
        };
        let (existing, targets) = match state {
            // Events exist only in existing sessions.
            SessionState::Missing { .. } => (vec![None; batch.events().len()], Vec::new()),
            _ => self.stored_events(key, &batch).await?,
        };
        let plan = match decision::append_batch(batch, state, existing, &targets) {
            // Refusals that depend on the session as the hint knows it (stale: the session
            // may be erased, or written since by another instance): decided again on a read.
            BatchStep::Answer(Err(
                AppendEventError::SeqMismatch { .. } | AppendEventError::SupersedeConflict { .. },
            )) if hinted => {
                return Ok(None);
            }
            BatchStep::Answer(Err(AppendEventError::SessionClosed)) => {
                return Ok(Some((Err(self.closed(key).await), hint)));
            }
            BatchStep::Answer(answer) => return Ok(Some((answer, hint))),
            BatchStep::Insert(plan) => plan,
        };
        // The domain inserts only into an open session, which is read with its document.
        let Some(mut hint) = hint else {
            let e = StorageError::Internal(
                "the domain inserts into a missing or sealed session".into(),
            );
            return Ok(Some((Err(e.into()), None)));
        };
        let last_seq = plan.last_seq();
        let events = plan.new_events(&key.session, Timestamp::now());
        // Only the insert is in the transaction: its documents become visible together at the
        // commit, or never.
        // The transaction's session belongs to one client: the same driver throughout.
        let driver = self.driver();
        let mut tx = driver.client.start_session().await?;
        tx.start_transaction().await?;
        let (ids, docs) = with_ids(&key.project, &hint, &events);
        driver.raw_events.insert_many(docs).session(&mut tx).await?;
        // Each stored event corrected gets its `supersededBy`, unless another correction set
        // it since it was read (then nothing is stored: decided again from the reads). Two
        // transactions correcting one event conflict on it: one wins.
        for correction in plan.corrections() {
            let mut filter = key.filter();
            filter.insert("eventId", correction.target.as_str());
            let updated = driver
                .events
                .update_one(filter, documents::supersede(&correction.by))
                .session(&mut tx)
                .await?;
            if updated.modified_count != 1 {
                tx.abort_transaction().await?;
                return Ok(None);
            }
        }
        // Each new event's announcement (`event.appended`), if anyone listens: one insert.
        let mut announced = Vec::new();
        for (id, event) in ids.iter().zip(&events) {
            let deliveries = self
                .deliveries_of(&Change {
                    kind: WebhookEventType::EventAppended,
                    key,
                    event: Some(&event.event_id),
                    at: event.received_at,
                    order: Change::order_of_seq(event.seq),
                    message: *id,
                })
                .await
                .map_err(internal)?;
            announced.extend(deliveries);
        }
        record_and_commit(&driver, &mut tx, announced).await?;
        if !self.checked(&mut hint, &ids).await? {
            if let Err(e) = self.take_back_deliveries(&ids).await {
                tracing::warn!(error = %e, "deliveries of events taken back not deleted");
            }
            return Ok(None);
        }
        let top = events.last().map_or(last_seq, |e| e.seq);
        let hint = Hint { top, ..hint };
        Ok(Some((Ok(plan.answer(events)), Some(hint))))
    }

    /// The events stored under the ids of `batch`, in the order of its events, and those under
    /// the ids its events correct (one `find`).
    async fn stored_events(
        &self,
        key: &SessionKey,
        batch: &AppendBatch,
    ) -> Result<(Vec<Option<Event>>, Vec<Event>), Error> {
        let targets = batch.targets();
        let mut ids: Vec<&str> = batch.events().iter().map(|e| e.event_id.as_str()).collect();
        ids.extend(targets.iter().map(EventId::as_str));
        let mut filter = key.filter();
        filter.insert("eventId", doc! { "$in": ids });
        let mut found: HashMap<EventId, Event> = HashMap::new();
        let mut cursor = self
            .driver()
            .raw_events
            .find(filter)
            .projection(documents::event_fields())
            .await?;
        while let Some(raw) = cursor.try_next().await? {
            let event = documents::event(&key.session, &raw).map_err(internal)?;
            found.insert(event.event_id.clone(), event);
        }
        let stored_targets = targets
            .iter()
            .filter_map(|id| found.get(id).cloned())
            .collect();
        let existing = batch
            .events()
            .iter()
            .map(|e| found.remove(&e.event_id))
            .collect();
        Ok((existing, stored_targets))
    }

    /// The refusal of a new event in a sealed session: `SessionErased` when the seal is an
    /// erasure's (in progress or done: its tombstone remains), else `SessionClosed`.
    async fn closed(&self, key: &SessionKey) -> AppendEventError {
        match self.tombstone(key).await {
            Ok(Some(_)) => AppendEventError::SessionErased,
            Ok(None) => AppendEventError::SessionClosed,
            Err(e) => e.into(),
        }
    }

    /// The answer to an append into a sealed session.
    async fn answer_sealed(
        &self,
        session: &SessionKey,
        state: SessionState,
        new: NewEvent,
    ) -> Result<Written<Event>, AppendEventError> {
        let existing = self.stored_event(session, &new.event_id).await?;
        match answer_of(decision::append(new, state, existing)) {
            Err(AppendEventError::SessionClosed) => Err(self.closed(session).await),
            answer => answer,
        }
    }

    /// Seals the session at the next `seq`, retrying while appends take that `seq`. A loss
    /// means only the top moved (an append or a seal took the `seq`), so a retry reads just the
    /// top and tries again at once: appends written with a hint need one round trip, and a
    /// complete that re-read more, or paused, between its tries could lose to a steady stream of
    /// them until its timeout.
    async fn write_complete(
        &self,
        id: &SessionKey,
        lane: &Lane<Job>,
        request: CompleteRequest,
        reply: &Reply<Written<Session>, CompleteSessionError>,
    ) -> Result<Written<Session>, CompleteSessionError> {
        let Some(session_doc) = self.session_doc(id).await? else {
            return Err(self.absent(id).await);
        };
        let mut top = self.top(id).await?;
        while !reply.is_closed() {
            let session = documents::session(&session_doc, top.as_ref())?;
            let last_seq = session.last_seq;
            let now = Timestamp::now();
            let closed = match decision::complete(session, &request, now) {
                CompleteStep::Answer(answer) => return answer,
                CompleteStep::Close(closed) => closed,
            };
            let ended_at = closed.ended_at.expect("close sets endedAt");
            let seal = documents::seal_doc(id, last_seq + 1, closed.status, ended_at, now);
            // Sealed or not, the hint is dropped: a seal's seq is never a hint.
            lane.set_hint(None);
            let announced = match WebhookEventType::closing(closed.status) {
                Some(kind) => {
                    self.deliveries_of(&Change {
                        kind,
                        key: id,
                        event: None,
                        at: now,
                        order: Change::order_of_seq(last_seq + 1),
                        message: ObjectId::new(),
                    })
                    .await?
                }
                None => Vec::new(),
            };
            match insert_announced(&self.driver(), Events, seal, announced).await {
                Ok(_) => {
                    self.copy_status(id, &closed, now).await;
                    return Ok(Written::created(closed));
                }
                // Lost the race for this seq (to an event or another seal): look again.
                // (or to a batch's transaction holding it: a write conflict).
                Err(e) if is_duplicate_key(&e) || is_write_conflict(&e) => {
                    top = self.top(id).await?
                }
                Err(e) => return Err(storage_error(e).into()),
            }
        }
        Err(interrupted().into())
    }

    /// The seal is the authority; this copy in the session document serves people querying
    /// the database.
    async fn copy_status(&self, id: &SessionKey, closed: &Session, now: Timestamp) {
        let update: Document = doc! { "$set": {
            "status": closed.status.as_str(),
            "endedAt": closed.ended_at.map(documents::date),
            "updatedAt": documents::date(now),
        }};
        if let Err(e) = self.driver().sessions.update_one(id.filter(), update).await {
            tracing::warn!(error = %e, "session document not updated after the seal");
        }
    }
}
