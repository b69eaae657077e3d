//! Erasure, redaction, retention. No transaction: the order of the steps makes every cut-short
//! erasure either invisible or finishable by calling again (see `docs/privacy.md`).
//!
//! Erasing a session:
//! 1. its document is replaced by its tombstone `{project, sessionId, erasedAt}` (the call
//!    that replaces it is the erasure that counts): from here on the unique index on
//!    (project, sessionId) refuses every create, and reads, completes and appends answered
//!    "closed" say "erased";
//! 2. unless a seal is on top already, seals are inserted on the next free `seq`s (retried
//!    until the top is a seal): every append of any instance collides from here on (appends
//!    that landed between 1 and 2 are blanked in 3, before `DELETE` answers);
//! 3. every event below the seal is blanked in place: content, client id and times removed, its
//!    `seq` kept taken so that an append of another instance with a stale top-`seq` hint still
//!    collides (a deleted `seq` would be free again). Blanks and seals are deleted with the
//!    tombstone when it expires.

use domain::{
    EraseIf, EraseSessionError, ErasureFound, Event, EventId, ProjectId, RedactEventError,
    SessionId, StorageError, Timestamp, WebhookEventType, Written, decision,
};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};

use crate::announce::Target::{Events, Sessions};
use crate::announce::{Change, record_and_commit, update_announced};
use crate::documents::{self, SessionKey, missing, set_where};
use crate::error::{MongoResultExt, held_by_transactions, is_write_conflict, storage_error};
use crate::store::{MongoStore, every_document};
use crate::writes::{backoff, is_lost_race};

/// Seals an erasure writes at once above the top (see `seal_for_erasure`).
const SEAL_WINDOW: u64 = 32;

/// The tombstone's field naming the erasure by retention that wrote it (see `tombstone_if`).
const ERASURE_TOKEN: &str = "erasure";

/// The retention sweep's candidates by the stored time, a range of the index `updatedAt`: the
/// session document's `updatedAt` is the server's time of the complete for a closed session
/// (retention never counts from the client's `endedAt`) and of the creation for an open one.
/// It lags behind appends, which only write events, so each candidate is checked before it is
/// erased.
fn expired_filter(before: Timestamp) -> Document {
    doc! { "updatedAt": { "$lt": documents::date(before) } }
}

/// The tombstones erased before `before`, a range of the index `erasedAt`.
fn tombstones_filter(before: Timestamp) -> Document {
    doc! { "erasedAt": { "$lt": documents::date(before) } }
}

impl MongoStore {
    /// The server's `explain` (`queryPlanner`) of the retention sweep's two queries (expired
    /// sessions, expired tombstones): for operators, and the test that keeps them on indexes.
    pub async fn explain_sweep(&self) -> Result<Vec<Document>, StorageError> {
        let now = Timestamp::now();
        let mut plans = Vec::new();
        for filter in [expired_filter(now), tombstones_filter(now)] {
            let find = doc! { "find": "sessions", "filter": filter, "limit": 100_i64 };
            let explained = self
                .driver()
                .db
                .run_command(doc! { "explain": find, "verbosity": "queryPlanner" })
                .await
                .storage()?;
            plans.push(explained);
        }
        Ok(plans)
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Internal(format!("stored {what} is not valid"))
}

/// The update that replaces a session document by its tombstone `{project, sessionId,
/// erasedAt: at}`, only if it is no tombstone yet: the condition is in the update, so that the
/// filter is an index alone. `token`, when given, is stored with it (`erasure`): the erasure
/// that wrote it knows it again by it after a commit whose outcome it was not told.
fn tombstone_update(key: &SessionKey, at: Timestamp, token: Option<ObjectId>) -> Vec<Document> {
    let mut tomb = key.filter();
    tomb.insert("erasedAt", documents::date(at));
    if let Some(token) = token {
        tomb.insert(ERASURE_TOKEN, token);
    }
    vec![doc! { "$replaceWith": { "$cond": {
        "if": missing("erasedAt"),
        "then": { "$mergeObjects": [{ "_id": "$_id" }, { "$literal": tomb }] },
        "else": "$$ROOT",
    } } }]
}

/// A session document found by a sweep's read: its key, and its `_id` (the exact document).
struct Found {
    key: SessionKey,
    id: Bson,
}

impl MongoStore {
    pub(crate) async fn erase(
        &self,
        key: &SessionKey,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        let found = match only {
            EraseIf::Always => self.tombstone_first(key, at).await?,
            EraseIf::ExpiredBefore(_) => self.tombstone_if(key, at, only).await?,
        };
        let erased = decision::erase(found, at)?;
        self.seal_for_erasure(key, at).await?;
        self.blank_events(key).await?;
        Ok(erased)
    }

    /// Step 1 of `DELETE`: the tombstone in the session document's place.
    async fn tombstone_first(
        &self,
        key: &SessionKey,
        at: Timestamp,
    ) -> Result<ErasureFound, StorageError> {
        let announced = self.erasure_deliveries(key, at).await?;
        let update = tombstone_update(key, at, None);
        let driver = self.driver();
        let replaced = update_announced(&driver, Sessions, key.filter(), update, announced);
        if replaced.await.storage()? {
            return Ok(ErasureFound::Session);
        }
        // Erased already (maybe cut short: finished by the caller), or never there.
        Ok(match self.tombstone(key).await? {
            Some(erased_at) => ErasureFound::Tombstone(erased_at),
            None => ErasureFound::Nothing,
        })
    }

    /// Step 1 of an erasure by retention, `only` checked atomically with it: the session is
    /// read (its document and its top), and if `only` allows its time, the tombstone replaces
    /// that document and a seal takes the `seq` above that top, in one transaction
    /// ([`MongoStore::seal_and_tombstone`]). Every write that moves a session's time (append,
    /// batch, complete) inserts at that `seq`, so one committed since the read makes the
    /// transaction fail (a duplicate key or a write conflict) and the session is read again —
    /// and kept; one after the commit finds the seal. Appends pay nothing for it.
    async fn tombstone_if(
        &self,
        key: &SessionKey,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<ErasureFound, StorageError> {
        // Names this erasure's tombstone: another instance's, written at the same instant,
        // is not this one's (both would otherwise count the session as theirs).
        let token = ObjectId::new();
        let mut losses = 0;
        loop {
            let Some(doc) = self.stored_session(key).await? else {
                return Ok(ErasureFound::Nothing);
            };
            if let Some(erased_at) = documents::optional_time(&doc, "erasedAt")? {
                // This erasure's own, when a commit whose outcome was unknown did commit.
                let ours = doc.get_object_id(ERASURE_TOKEN).ok() == Some(token);
                return Ok(if ours {
                    ErasureFound::Session
                } else {
                    ErasureFound::Tombstone(erased_at)
                });
            }
            let top = self.top(key).await?;
            if top.as_ref().is_some_and(documents::is_erasure_left) {
                // Another erasure's transaction, not yet committed (or aborted): its outcome
                // decides, read again.
                losses += 1;
                backoff(losses).await;
                continue;
            }
            if !only.allows(documents::session(&doc, top.as_ref())?.retained_since()) {
                return Ok(ErasureFound::Kept);
            }
            // A sealed session takes no more writes: its tombstone alone.
            let seal_at = match &top {
                Some(top) if documents::seal(top)?.is_some() => None,
                Some(top) => Some(documents::seq(top)? + 1),
                None => Some(1),
            };
            let id = doc.get("_id").ok_or_else(|| corrupt("session"))?;
            let announced = self.erasure_deliveries(key, at).await?;
            let sealed = self.seal_and_tombstone(key, id, seal_at, at, token, announced);
            match sealed.await {
                Ok(true) => return Ok(ErasureFound::Session),
                // The document changed since it was read (erased, or another incarnation).
                Ok(false) => {}
                Err(e) if is_lost_race(&e) => {}
                Err(e) => return Err(storage_error(e)),
            }
            losses += 1;
            backoff(losses).await;
        }
    }

    /// The deliveries announcing the session's erasure at `at`, if anyone listens.
    async fn erasure_deliveries(
        &self,
        key: &SessionKey,
        at: Timestamp,
    ) -> Result<Vec<Document>, StorageError> {
        self.deliveries_of(&Change {
            kind: WebhookEventType::SessionErased,
            key,
            event: None,
            at,
            order: i64::MAX,
            message: ObjectId::new(),
        })
        .await
    }

    /// In one transaction: a seal at `seal_at` (if any) and the tombstone in place of the
    /// session document `id`. `false`: that document is no longer the session (nothing written).
    async fn seal_and_tombstone(
        &self,
        key: &SessionKey,
        id: &Bson,
        seal_at: Option<u64>,
        at: Timestamp,
        token: ObjectId,
        announced: Vec<Document>,
    ) -> Result<bool, mongodb::error::Error> {
        // The transaction's session belongs to one client: the same driver throughout.
        let driver = self.driver();
        let mut tx = driver.client.start_session().await?;
        tx.start_transaction().await?;
        if let Some(seq) = seal_at {
            driver
                .events
                .insert_one(documents::erasure_seal(key, seq, at))
                .session(&mut tx)
                .await?;
        }
        let replaced = driver
            .sessions
            .update_one(
                doc! { "_id": id.clone() },
                tombstone_update(key, at, Some(token)),
            )
            .session(&mut tx)
            .await?;
        if replaced.modified_count != 1 {
            tx.abort_transaction().await?;
            return Ok(false);
        }
        record_and_commit(&driver, &mut tx, announced).await?;
        Ok(true)
    }

    /// Step 2: seals on top of the session's events, unless one is there. One unordered
    /// `insertMany` puts a seal on every free `seq` of the next [`SEAL_WINDOW`]: appends racing
    /// it take some, the seals the rest, and the erasure does not lose the next `seq` to a
    /// steady stream of appends (as one seal per round trip would). A `seq` held by a batch's
    /// open transaction is tried again until that transaction ends (its event, or the seal,
    /// then holds it): a transaction aborted later must not leave a free `seq` under the top
    /// seal. Done when the top is a seal and no `seq` is left to try: every `seq` below it is
    /// taken, so no append of any instance can land anymore.
    async fn seal_for_erasure(&self, key: &SessionKey, at: Timestamp) -> Result<(), StorageError> {
        let mut held: Vec<u64> = Vec::new();
        let mut losses = 0;
        loop {
            let mut seqs = std::mem::take(&mut held);
            let top = self.top(key).await?;
            let sealed = match &top {
                Some(top) => documents::seal(top)?.is_some(),
                None => false,
            };
            if !sealed {
                let last = match &top {
                    Some(top) => documents::seq(top)?,
                    None => 0,
                };
                seqs.extend(last + 1..=last + SEAL_WINDOW);
            }
            if seqs.is_empty() {
                return Ok(());
            }
            let seals = seqs
                .iter()
                .map(|seq| documents::erasure_seal(key, *seq, at));
            match self.driver().events.insert_many(seals).ordered(false).await {
                // Every seq tried is now a seal, the window's last on top.
                Ok(_) => return Ok(()),
                Err(e) => match held_by_transactions(&e) {
                    Some(indexes) => held = indexes.into_iter().map(|i| seqs[i]).collect(),
                    None => return Err(storage_error(e)),
                },
            }
            if !held.is_empty() {
                losses += 1;
                backoff(losses).await;
            }
        }
    }

    /// Step 3: the session's events with content (a `type`) become blanks; the session's other
    /// documents (seals, blanks) are left as they are.
    /// Several instances may blank one session at once (a sweep on each, or `DELETE` again):
    /// a write conflict with another's `updateMany` is tried again (what is left to blank is
    /// what still has content), so that the erasure that counts does not fail on it.
    async fn blank_events(&self, key: &SessionKey) -> Result<(), StorageError> {
        let mut losses = 0;
        loop {
            match self
                .driver()
                .events
                .update_many(
                    every_document(key),
                    set_where(
                        doc! { "$not": [missing("type")] },
                        documents::blanked(Timestamp::now()),
                    ),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if is_write_conflict(&e) => {
                    losses += 1;
                    backoff(losses).await;
                }
                Err(e) => return Err(storage_error(e)),
            }
        }
    }

    pub(crate) async fn redact(
        &self,
        key: &SessionKey,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError> {
        let Some(mut event) = self.stored_event(key, event_id).await? else {
            return Err(self.missing_event(key).await);
        };
        if !event.redact(at) {
            return Ok(Written::replayed(event));
        }
        let redaction = event.redaction.expect("redact sets it");
        let mut filter = key.filter();
        filter.insert("eventId", event_id.as_str());
        // Only the first redaction writes: the condition is in the update (see `set_where`).
        let set = documents::redaction_set(&event.payload, &redaction);
        let literals: Document = set
            .get_document("$set")
            .map_err(|_| corrupt("redaction"))?
            .iter()
            .map(|(field, value)| (field.clone(), doc! { "$literal": value.clone() }.into()))
            .collect();
        let update = set_where(missing("redactedAt"), vec![doc! { "$set": literals }]);
        let announced = self
            .deliveries_of(&Change {
                kind: WebhookEventType::EventRedacted,
                key,
                event: Some(event_id),
                at,
                order: Change::order_of_seq(event.seq) + 1,
                message: ObjectId::new(),
            })
            .await?;
        let driver = self.driver();
        let redacted = update_announced(&driver, Events, filter, update, announced);
        if redacted.await.storage()? {
            return Ok(Written::created(event));
        }
        // Redacted meanwhile by another call (or erased): what is stored now is the answer.
        match self.stored_event(key, event_id).await? {
            Some(stored) if stored.redaction.is_some() => Ok(Written::replayed(stored)),
            _ => Err(self.missing_event(key).await),
        }
    }

    /// Sessions whose stored times say they may have expired (the session document's
    /// `updatedAt` lags behind appends, which only write events), each then checked on the
    /// session as it is now ([`domain::Session::retained_since`]); one found alive gets its
    /// document's times brought up to date, so that it is not found again before it expires.
    pub(crate) async fn expired(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        let candidates = self.session_keys(expired_filter(before), limit).await?;
        let mut expired = Vec::new();
        for Found { key, .. } in candidates {
            let Some(session) = self.load(&key).await? else {
                continue;
            };
            if session.retained_since() < before {
                expired.push((key.project, key.session));
            } else {
                let times = doc! { "$set": { "updatedAt": documents::date(session.updated_at) } };
                self.driver()
                    .sessions
                    .update_one(key.filter(), times)
                    .await
                    .storage()?;
            }
        }
        Ok(expired)
    }

    /// The (project, sessionId) and `_id` of at most `limit` session documents matching
    /// `filter`, an index range (no hint: SecantusDB walks a hinted index whole).
    async fn session_keys(&self, filter: Document, limit: u32) -> Result<Vec<Found>, StorageError> {
        let found: Vec<Document> = self
            .driver()
            .sessions
            .find(filter)
            .projection(doc! { "project": 1, "sessionId": 1 })
            .limit(i64::from(limit))
            .await
            .storage()?
            .try_collect()
            .await
            .storage()?;
        found
            .iter()
            .map(|d| {
                let project = d
                    .get_str("project")
                    .ok()
                    .and_then(|p| ProjectId::parse(p).ok());
                let id = d
                    .get_str("sessionId")
                    .ok()
                    .and_then(|s| SessionId::parse(s).ok());
                match (project, id, d.get("_id")) {
                    (Some(project), Some(session), Some(id)) => Ok(Found {
                        key: SessionKey::new(&project, &session),
                        id: id.clone(),
                    }),
                    _ => Err(corrupt("session")),
                }
            })
            .collect()
    }

    /// Expired tombstones go with what their erasure left (blanks and seal), events first.
    pub(crate) async fn purge(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        let mut removed = 0;
        for Found { key, id } in self.session_keys(tombstones_filter(before), limit).await? {
            self.driver()
                .events
                .delete_many(every_document(&key))
                .await
                .storage()?;
            // The tombstone read, by its `_id`: a tombstone never turns back into a session.
            let deleted = self
                .driver()
                .sessions
                .delete_one(doc! { "_id": id })
                .await
                .storage()?;
            removed += deleted.deleted_count;
        }
        Ok(removed)
    }
}
