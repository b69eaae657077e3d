//! The repository ports: what the application needs from storage. Adapters (SQLite, MongoDB, …)
//! implement them and prove it with the `conformance` suite.
//!
//! Every operation is atomic: a call either happens completely or not at all, and the guarantees
//! written on each method hold under any number of concurrent callers, also across processes
//! sharing one database.
//!
//! Every session operation names the caller's project first: a session is identified by
//! `(project, sessionId)`, and a session of another project is, to every method, an absent one.

use async_trait::async_trait;

use crate::batch::AppendBatch;
use crate::event::{Event, NewEvent};
use crate::ids::{EventId, ProjectId, SessionId};
use crate::keys::{ApiKey, KeyId};
use crate::listing::{SessionPage, SessionQuery};
use crate::page::{EventPage, PageRequest, Watch};
use crate::session::{CompleteRequest, EraseIf, NewSession, Session};
use crate::time::Timestamp;
use crate::webhook::{
    AfterAttempt, Attempt, ClaimedDelivery, DeliveryQuery, DeliveryRecord, Lease, MessageId,
    OutgoingWebhook, Resend, WebhookChange, WebhookEndpoint, WebhookId, WebhookReply,
};
use crate::written::Written;

/// Storage failed. Never shown to API clients beyond its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The store cannot be reached or did not answer in time. Retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug, corrupt data, an unexpected driver error.
    #[error("storage error: {0}")]
    Internal(String),
}

/// What the store says of a session it does not hold: never there (or its tombstone expired),
/// or erased (its tombstone remains). Every error of a session method has its two answers, so
/// an adapter asks once ([`Absent::absent`]) whatever the method.
pub trait Absent {
    /// The error for a session that is not stored; `erased`: its tombstone remains.
    fn absent(erased: bool) -> Self;
}

macro_rules! absent {
    ($($error:ident: $missing:ident, $erased:ident;)*) => {$(
        impl Absent for $error {
            fn absent(erased: bool) -> Self {
                if erased { $error::$erased } else { $error::$missing }
            }
        }
    )*};
}

absent! {
    GetSessionError: NotFound, Erased;
    CompleteSessionError: NotFound, Erased;
    AppendEventError: SessionNotFound, SessionErased;
    GetEventError: SessionNotFound, SessionErased;
    ListEventsError: SessionNotFound, SessionErased;
    RedactEventError: SessionNotFound, SessionErased;
}

/// An event that is not stored in a session that is: the case of event errors that have one
/// (`EventNotFound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMissing;

impl From<EventMissing> for GetEventError {
    fn from(_: EventMissing) -> Self {
        GetEventError::EventNotFound
    }
}

impl From<EventMissing> for RedactEventError {
    fn from(_: EventMissing) -> Self {
        RedactEventError::EventNotFound
    }
}

/// Errors of [`SessionRepository::create_session`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateSessionError {
    /// The session was erased and its tombstone remains: the id cannot be used again until
    /// the tombstone expires.
    #[error("session erased")]
    Erased,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`SessionRepository::erase_session`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EraseSessionError {
    /// Neither the session nor its tombstone is stored.
    #[error("session not found")]
    NotFound,
    /// The erasure's condition ([`EraseIf::ExpiredBefore`]) kept the session: it was
    /// written since the cutoff. Nothing was changed.
    #[error("session not expired")]
    NotExpired,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`EventRepository::redact_event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactEventError {
    #[error("session not found")]
    SessionNotFound,
    #[error("session erased")]
    SessionErased,
    #[error("event not found")]
    EventNotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`SessionRepository::get_session`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetSessionError {
    #[error("session not found")]
    NotFound,
    #[error("session erased")]
    Erased,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`SessionRepository::complete_session`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteSessionError {
    #[error("session not found")]
    NotFound,
    #[error("session erased")]
    Erased,
    /// The session already ended in the other terminal status; carries the stored session.
    #[error("session already ended as {}", .0.status.as_str())]
    StateConflict(Box<Session>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`EventRepository::append_events`] (and [`EventRepository::append_event`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendEventError {
    #[error("session not found")]
    SessionNotFound,
    /// The session was erased (its tombstone remains): nothing is added.
    #[error("session erased")]
    SessionErased,
    /// Another event with the id of request item `index` (0 for a single append) is stored in
    /// the session; carries it.
    #[error("a different event with the id of item {index} exists")]
    Conflict { index: usize, stored: Box<Event> },
    /// The session is completed or failed and at least one event is new.
    #[error("session is closed")]
    SessionClosed,
    /// The request's `expectedLastSeq` is not the session's `lastSeq` (given) and at least one
    /// event is new.
    #[error("the session's lastSeq is {last_seq}")]
    SeqMismatch { last_seq: u64 },
    /// Request item `index` corrects an event it may not (`supersedes`): none of that id is
    /// stored (or comes earlier in the batch), or another event corrects it already.
    #[error("item {index} cannot supersede: {refusal}")]
    SupersedeConflict {
        index: usize,
        refusal: SupersedeRefusal,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a correction is refused (409 `supersede-conflict`, SPEC "Corrections").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupersedeRefusal {
    /// No event of the session has the id `supersedes` names (an erased session has none; an
    /// item later in the same batch is not earlier).
    #[error("no earlier event of this session has the eventId {target}")]
    NotFound { target: EventId },
    /// The event is corrected already: chains are linear.
    #[error("event {target} is already superseded by {by}")]
    AlreadySuperseded { target: EventId, by: EventId },
}

/// Errors of [`EventRepository::get_event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetEventError {
    #[error("session not found")]
    SessionNotFound,
    #[error("session erased")]
    SessionErased,
    #[error("event not found")]
    EventNotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl GetEventError {
    /// The error for an event that is not stored: which "not found" depends on whether its
    /// session exists.
    pub fn missing(session_exists: bool) -> Self {
        if session_exists {
            GetEventError::EventNotFound
        } else {
            GetEventError::SessionNotFound
        }
    }
}

/// Errors of [`EventRepository::list_events`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListEventsError {
    #[error("session not found")]
    SessionNotFound,
    #[error("session erased")]
    SessionErased,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Creates the session, or returns the stored one unchanged (`replayed: true`) when a
    /// session with this id exists: the first write wins. Concurrent identical calls store
    /// exactly one session and all return it.
    ///
    /// Errors: [`CreateSessionError::Erased`] (a tombstone of this id remains),
    /// [`CreateSessionError::Storage`].
    async fn create_session(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError>;

    /// Errors: [`GetSessionError::NotFound`], [`GetSessionError::Erased`],
    /// [`GetSessionError::Storage`].
    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError>;

    /// Ends an open session with the requested terminal status. Already in that status:
    /// `replayed: true` and the stored session unchanged. Once this returns, no new event is
    /// ever accepted for the session (the seal), and every event accepted before is in it.
    /// Concurrent calls: exactly one closes the session; all agree on the result.
    ///
    /// Errors: [`CompleteSessionError::NotFound`], [`CompleteSessionError::Erased`],
    /// [`CompleteSessionError::StateConflict`]
    /// (already in the other terminal status), [`CompleteSessionError::Storage`].
    async fn complete_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError>;

    /// One page of the project's sessions as [`SessionQuery`] describes: the sessions passing
    /// its filter, in walk order (`createdAt`, ties by `sessionId`; newest first for `Desc`)
    /// beyond its position, at most `limit`, with `has_more` true when matching sessions exist
    /// beyond the page's last one at the time of the read. Sessions of other projects never
    /// appear.
    ///
    /// Guarantees:
    /// - a page is served from indexes: its cost does not grow with the number of sessions
    ///   stored or with the depth of the position (see `docs/performance.md` per store);
    /// - positions are unique within a project, so walking the pages returns every session
    ///   that matched when the walk began, and still matches, exactly once, in order;
    /// - a session created in the project gets a `createdAt` that sorts it after the
    ///   project's newest session known to the store ([`crate::creation_time`]), so an
    ///   ascending walk meets sessions created during it at its end (the store's limits on
    ///   this are in `docs/decisions.md`).
    ///
    /// Errors: [`StorageError`].
    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError>;

    /// Erases the session: the session and every one of its events are removed, and a
    /// tombstone (project, id, `erased_at` = `at`) is stored in their place. From the moment
    /// this returns, every method answers "erased" for the session (creating it again too)
    /// until the tombstone is purged ([`SessionRepository::purge_tombstones`]), and no append
    /// racing it (on any instance) is acknowledged after it unless it is erased with the rest.
    /// Returns the tombstone's `erased_at`: `replayed: false` when this call removed the
    /// session, `replayed: true` when it was erased already (only one of concurrent erasures
    /// of a session is not replayed). An erasure cut short (crash, timeout) leaves the session
    /// answering "erased" or unchanged, never half there; calling again finishes it.
    /// `only` [`EraseIf::ExpiredBefore`] removes the session only if it is still
    /// expired when the erasure removes it (checked atomically with the removal: an append or
    /// complete committed before it keeps the session, one after it is refused as for any
    /// erasure); a tombstone found is answered as always.
    ///
    /// Errors: [`EraseSessionError::NotFound`] (no session, no tombstone),
    /// [`EraseSessionError::NotExpired`] (kept by `only`), [`EraseSessionError::Storage`].
    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError>;

    /// At most `limit` sessions, of any project, whose [`Session::retained_since`] is before
    /// `before` (the retention sweep erases them with [`SessionRepository::erase_session`],
    /// [`EraseIf::ExpiredBefore`] `before`).
    /// Served from an index on the time retention counts from, not a scan.
    ///
    /// Errors: [`StorageError`].
    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError>;

    /// Removes at most `limit` tombstones erased before `before`; returns how many it removed.
    /// An id whose tombstone is removed can be created again.
    ///
    /// Errors: [`StorageError`].
    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError>;
}

#[async_trait]
pub trait EventRepository: Send + Sync + 'static {
    /// Appends the batch's events all or nothing (see [`crate::decision::append_batch`] for
    /// the rules): the new ones at consecutive `seq`s after the session's `lastSeq`, in order
    /// (strictly increasing in commit order, never interleaved with other writes), counted in
    /// the session (`eventCount`, `lastSeq`, `initiated` → `active`), all atomically: a reader
    /// sees all of them or none. An event whose same (see [`NewEvent::matches`]) is stored
    /// already is answered with `replayed: true` — forever, also after the session closed. The
    /// batch's `expectedLastSeq` is compared with `lastSeq` at the write's commit point, never
    /// by a read racing the write. Concurrent appends never lose an event, never store one
    /// twice and never share a `seq`. Answers one [`Written`] per request item, in request
    /// order ([`AppendBatch::answer`]).
    ///
    /// Errors: [`AppendEventError::SessionNotFound`], [`AppendEventError::SessionErased`],
    /// [`AppendEventError::Conflict`] (another event under an item's id),
    /// [`AppendEventError::SessionClosed`] (a new event, session ended),
    /// [`AppendEventError::SeqMismatch`], [`AppendEventError::Storage`]. On any error nothing
    /// is stored.
    async fn append_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError>;

    /// [`EventRepository::append_events`] with a batch of one and no `expectedLastSeq`.
    async fn append_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        new: NewEvent,
    ) -> Result<Written<Event>, AppendEventError> {
        let batch = AppendBatch::single(new, None);
        let mut written = self.append_events(project, session_id, batch).await?;
        written.pop().ok_or_else(|| {
            StorageError::Internal("a batch of one was answered with nothing".into()).into()
        })
    }

    /// Errors: [`GetEventError::SessionNotFound`], [`GetEventError::SessionErased`],
    /// [`GetEventError::EventNotFound`], [`GetEventError::Storage`].
    async fn get_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
    ) -> Result<Event, GetEventError>;

    /// One page of events ordered by `seq` as [`PageRequest`] describes, with `has_more` true
    /// when events exist beyond the page's last one at the time of the read, and the session's
    /// incarnation (its `createdAt`) as of the read: a cursor is checked against it after the
    /// read, so a page is one read of the store where the store can tell both at once.
    ///
    /// Errors: [`ListEventsError::SessionNotFound`], [`ListEventsError::SessionErased`],
    /// [`ListEventsError::Storage`].
    async fn list_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError>;

    /// Redacts the event's payload ([`Event::redact`]) at `at`: the stored payload becomes
    /// `{}`, only its fingerprint is kept, and the original content is stored nowhere. Works on
    /// open and closed sessions; changes no `seq` and no session field. Returns the redacted
    /// event: `replayed: true` when it was redacted already (unchanged).
    ///
    /// Errors: [`RedactEventError::SessionNotFound`], [`RedactEventError::SessionErased`],
    /// [`RedactEventError::EventNotFound`], [`RedactEventError::Storage`].
    async fn redact_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError>;

    /// The sessions of `watches` whose version (see [`crate::Session::version`]) is now beyond
    /// the watch's `known`: each as its index in `watches` and its version, in any order.
    /// A watched session erased since is reported with a version beyond any it had, so that
    /// its tails wake, find it erased and end; sessions absent otherwise are left out. Live tails of one instance ask this for all their sessions
    /// at once, so it reads them in as few round trips as the store allows (not one per watch).
    /// An event visible to this call has every lower `seq` of its session visible too, so a
    /// tail reading on from its position never skips one.
    ///
    /// Errors: [`StorageError`].
    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError>;
}

#[async_trait]
pub trait StoreAdmin: Send + Sync + 'static {
    /// A cheap round trip to the store, for readiness checks.
    ///
    /// Errors: [`StorageError::Unavailable`] when the store does not answer.
    async fn ping(&self) -> Result<(), StorageError>;

    /// A random secret created once per store and kept in it, shared by every instance using
    /// the store (it signs pagination cursors). Always the same value for the same store.
    ///
    /// Errors: [`StorageError`].
    async fn shared_secret(&self) -> Result<Vec<u8>, StorageError>;

    /// Finishes work in flight and releases the store (files, connections). Called once at
    /// shutdown, after the last request; later calls of any method answer
    /// [`StorageError::Unavailable`] or are no-ops.
    async fn close(&self);

    /// Short name of the adapter for logs and metrics (`sqlite`, `mongodb`).
    fn kind(&self) -> &'static str;
}

/// Everything the application needs from a store.
pub trait Repository:
    SessionRepository
    + EventRepository
    + KeyRepository
    + WebhookRepository
    + WebhookDeliveries
    + StoreAdmin
{
}

impl<T> Repository for T where
    T: SessionRepository
        + EventRepository
        + KeyRepository
        + WebhookRepository
        + WebhookDeliveries
        + StoreAdmin
{
}

/// Errors of [`KeyRepository::create_key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateKeyError {
    /// A key with this id is stored already (ids are 64 random bits: draw another).
    #[error("a key with this id exists")]
    IdTaken,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`KeyRepository::revoke_key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevokeKeyError {
    #[error("key not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The API keys. Keys are few and read far more often than written; every instance reads
/// them through the store, so a revocation written by one is seen by all.
#[async_trait]
pub trait KeyRepository: Send + Sync + 'static {
    /// Stores a new key as given (its secret only as the hash the key holds).
    ///
    /// Errors: [`CreateKeyError::IdTaken`] (nothing is stored), [`CreateKeyError::Storage`].
    async fn create_key(&self, key: &ApiKey) -> Result<(), CreateKeyError>;

    /// The stored keys, revoked ones included, of `project` (or of every project), ordered by
    /// `created_at` then id.
    ///
    /// Errors: [`StorageError`].
    async fn list_keys(&self, project: Option<&ProjectId>) -> Result<Vec<ApiKey>, StorageError>;

    /// The key stored under `id`, if any (revoked and expired ones too).
    ///
    /// Errors: [`StorageError`].
    async fn find_key(&self, id: &KeyId) -> Result<Option<ApiKey>, StorageError>;

    /// Marks the key revoked at `at` and returns it. Idempotent: a revoked key stays revoked
    /// at its first `revoked_at`, and revoking it again returns it unchanged.
    ///
    /// Errors: [`RevokeKeyError::NotFound`], [`RevokeKeyError::Storage`].
    async fn revoke_key(&self, id: &KeyId, at: Timestamp) -> Result<ApiKey, RevokeKeyError>;
}

/// Errors of [`WebhookRepository::create_webhook`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateWebhookError {
    /// An endpoint with this id is stored already (ids are 64 random bits: draw another).
    #[error("a webhook endpoint with this id exists")]
    IdTaken,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors of [`WebhookRepository::change_webhook`] and [`WebhookRepository::delete_webhook`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeWebhookError {
    #[error("webhook endpoint not found")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Webhook endpoints (SPEC "Webhooks"). Like keys, few and shared by every instance through the
/// store.
#[async_trait]
pub trait WebhookRepository: Send + Sync + 'static {
    /// Stores a new endpoint as given.
    ///
    /// Errors: [`CreateWebhookError::IdTaken`] (nothing is stored), [`CreateWebhookError::Storage`].
    async fn create_webhook(&self, endpoint: &WebhookEndpoint) -> Result<(), CreateWebhookError>;

    /// The endpoints of `project`, ordered by `created_at` then id.
    ///
    /// Errors: [`StorageError`].
    async fn list_webhooks(
        &self,
        project: &ProjectId,
    ) -> Result<Vec<WebhookEndpoint>, StorageError>;

    /// The endpoint stored under `id`, if any.
    ///
    /// Errors: [`StorageError`].
    async fn find_webhook(&self, id: &WebhookId) -> Result<Option<WebhookEndpoint>, StorageError>;

    /// Stores [`WebhookEndpoint::changed`] of the endpoint as stored when the write commits, and
    /// returns it: of two changes at once, each applies to what the other wrote (none is lost).
    ///
    /// Errors: [`ChangeWebhookError::NotFound`], [`ChangeWebhookError::Storage`].
    async fn change_webhook(
        &self,
        id: &WebhookId,
        change: &WebhookChange,
        at: Timestamp,
    ) -> Result<WebhookEndpoint, ChangeWebhookError>;

    /// Removes the endpoint; its messages not yet delivered are never sent.
    ///
    /// Errors: [`ChangeWebhookError::NotFound`], [`ChangeWebhookError::Storage`].
    async fn delete_webhook(&self, id: &WebhookId) -> Result<(), ChangeWebhookError>;
}

/// The deliveries of webhook messages (SPEC "Webhooks"). No method here records a message: a
/// store records one in the same transaction as the change it announces (`create_session`, a
/// closing `complete_session`, `append_events`, `redact_event`, `erase_session`), so an
/// acknowledged change is announced and an aborted one is not, with one delivery for every
/// endpoint enabled and subscribed to its type at that moment. A store may write those
/// deliveries later (SQLite, decision 45), but every method here sees them as if written with
/// the change. The dispatcher claims what is due and settles each claim with its attempt.
#[async_trait]
pub trait WebhookDeliveries: Send + Sync + 'static {
    /// Claims up to `limit` deliveries due at `now`, each leased to `lease` until `lease.until`:
    /// pending, of an enabled endpoint, not held by a lease unexpired at `now`, and each the
    /// oldest pending delivery of its endpoint and session (a session's messages are attempted
    /// in order; sessions and endpoints never wait for each other). A lease that expired is
    /// taken over, so a crashed dispatcher's claims are attempted again.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease: &Lease,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StorageError>;

    /// Whether this instance committed a message (recorded with a change it wrote) since the
    /// last call; the call resets it. What the dispatcher asks when a write of this instance
    /// wakes it, before it claims: a change nobody listens to costs no claim. Other instances'
    /// messages are found by its polling. A failed write may still answer `true` (a claim for
    /// nothing); a committed message never answers `false`. A claim that left messages it
    /// could have handed out to the next claim (a store that prepares deliveries in steps)
    /// also makes it answer `true`: the dispatcher asks after each claim.
    fn take_recorded(&self) -> bool;

    /// Records `attempt` of a delivery claimed with `lease` and makes it what `next` says, if
    /// the delivery is still pending under that lease; `false` (nothing stored) when the lease
    /// was taken over.
    async fn settle_delivery(
        &self,
        endpoint: &WebhookId,
        message: &MessageId,
        lease: &Lease,
        attempt: &Attempt,
        next: AfterAttempt,
    ) -> Result<bool, StorageError>;

    /// A page of `endpoint`'s deliveries ([`DeliveryQuery`]: newest message first, older than
    /// `before`, of one status when given, at most `limit`), each with its attempts in order.
    /// An unknown endpoint has none.
    ///
    /// Errors: [`StorageError`].
    async fn list_deliveries(
        &self,
        endpoint: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<DeliveryRecord>, StorageError>;

    /// Makes the deliveries of `endpoint` that `which` names pending again, due at `now`, with
    /// the retry schedule from its start (their attempts so far stay listed); the number of
    /// deliveries so made. A delivery claimed at the time keeps its claim: its attempt in
    /// flight then counts as the one asked for. An unknown message or endpoint: 0.
    ///
    /// Errors: [`StorageError`].
    async fn resend_deliveries(
        &self,
        endpoint: &WebhookId,
        which: &Resend,
        now: Timestamp,
    ) -> Result<u64, StorageError>;

    /// How many deliveries are pending, of every endpoint (`webhook_backlog`).
    ///
    /// Errors: [`StorageError`].
    async fn count_backlog(&self) -> Result<u64, StorageError>;

    /// Removes up to `limit` messages recorded before `before`, the oldest first, each with its
    /// deliveries of every status and their attempts (`RETENTION`: nothing of a change is kept
    /// longer than the change itself; decision 41). A queue whose head goes moves on to its
    /// next message. How many messages it removed: 0 when none that old is left.
    ///
    /// Errors: [`StorageError`].
    async fn prune_messages(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError>;
}

/// Sends webhook attempts (an outbound adapter: HTTP). It judges each connection's addresses
/// by the service's `Destinations` (SPEC "Safety": again at every connection), follows no
/// redirect, waits at most `WEBHOOK_TIMEOUT` and reads at most 64 KiB of the reply. It never
/// fails: a refused destination, a connection error or a timeout is an
/// [`AttemptResult::Error`](crate::webhook::AttemptResult::Error) with a short reason.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    async fn send(&self, request: OutgoingWebhook) -> WebhookReply;
}
