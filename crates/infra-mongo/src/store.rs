//! [`MongoStore`]: the ports implemented on MongoDB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{
    Absent, AppendBatch, AppendEventError, CompleteRequest, CompleteSessionError,
    CreateSessionError, EraseIf, EraseSessionError, Event, EventId, EventMissing, EventPage,
    EventRepository, GetEventError, GetSessionError, ListEventsError, NewSession, Order,
    PageRequest, ProjectId, RedactEventError, Session, SessionId, SessionPage, SessionQuery,
    SessionRepository, StorageError, StoreAdmin, Timestamp, View, Watch, WebhookEventType, Written,
};
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use mongodb::options::{ClientOptions, ReadConcern, WriteConcern};

use crate::announce::Target::Sessions;
use crate::announce::{Change, Subscriptions, insert_announced};
use crate::clock::CreationClock;
use crate::documents::{self, SessionKey};
use crate::drivers::{Driver, Drivers};
use crate::error::{MongoResultExt, is_duplicate_key, storage_error};
use crate::lane::{Hint, Job, Lanes};
use crate::schema::META;

/// Write concerns, so that callers need not depend on the driver.
pub mod write_concern {
    pub use mongodb::options::WriteConcern;

    pub fn majority() -> WriteConcern {
        WriteConcern::majority()
    }

    pub fn nodes(n: u32) -> WriteConcern {
        WriteConcern::nodes(n)
    }
}

#[derive(Debug, Clone)]
pub struct MongoOptions {
    pub uri: String,
    pub database: String,
    /// Bound of the driver's server selection and connection, and of the start-up migrations
    /// (each call at run time is bounded by the `Bounded` decorator the server wraps around it).
    pub timeout: Duration,
    /// `majority` (default) or a number of nodes.
    pub write_concern: WriteConcern,
    /// Sees every command the driver sends (tests count round trips with it).
    pub command_monitor: Option<EventHandler<CommandEvent>>,
    /// `TOMBSTONE_RETENTION`, the same on every instance: a session document seen live cannot
    /// be erased and purged for that long, so an insert of events within half of it (at most
    /// [`TRUSTED_AT_MOST`]) of seeing it needs no check afterwards (decision 44). `None`: every
    /// insert is checked.
    pub tombstone_retention: Option<Duration>,
}

/// The longest a session document seen live is trusted for the check after an insert,
/// whatever `TOMBSTONE_RETENTION` (what an instance configured with a shorter one could
/// otherwise expose).
pub const TRUSTED_AT_MOST: Duration = Duration::from_secs(600);

impl MongoOptions {
    pub fn new(uri: impl Into<String>, database: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            database: database.into(),
            timeout: Duration::from_secs(5),
            write_concern: WriteConcern::majority(),
            command_monitor: None,
            tombstone_retention: None,
        }
    }
}

/// The MongoDB store. Cheap to clone: the clones share their driver clients (one per calling
/// thread, see `drivers.rs`), lanes and clock.
#[derive(Clone)]
pub struct MongoStore {
    pub(crate) drivers: Arc<Drivers>,
    /// This instance's queue and top-`seq` hint per session (see `writes.rs`).
    pub(crate) lanes: Arc<Lanes<Job>>,
    /// This instance's newest `createdAt` per project (see `clock.rs`).
    pub(crate) clock: Arc<CreationClock>,
    /// This instance's view of each project's webhook endpoints (see `outbox.rs`).
    pub(crate) subscriptions: Arc<Subscriptions>,
    /// How long after seeing a session document live an insert into it needs no check
    /// ([`MongoOptions::tombstone_retention`]).
    pub(crate) trusted_for: Duration,
}

impl MongoStore {
    /// Connects, checks the server answers, and applies pending migrations.
    pub async fn connect(options: &MongoOptions) -> Result<Self, StorageError> {
        let mut client_options = ClientOptions::parse(&options.uri)
            .await
            .map_err(|e| StorageError::Unavailable(format!("bad MongoDB URI: {e}")))?;
        client_options
            .app_name
            .get_or_insert_with(|| "conversation-sessions".into());
        client_options.server_selection_timeout = Some(options.timeout);
        client_options
            .connect_timeout
            .get_or_insert(options.timeout);
        client_options.write_concern = Some(options.write_concern.clone());
        client_options.read_concern = Some(ReadConcern::local());
        client_options.command_event_handler = options.command_monitor.clone();
        let store = Self {
            drivers: Arc::new(Drivers::new(client_options, options.database.clone())?),
            lanes: Arc::new(Lanes::new()),
            clock: Arc::default(),
            subscriptions: Arc::default(),
            trusted_for: options
                .tombstone_retention
                .map_or(Duration::ZERO, |kept| (kept / 2).min(TRUSTED_AT_MOST)),
        };
        store.ping().await?;
        // Start-up is outside the `Bounded` decorator: the migrations get the same bound here.
        let applied =
            tokio::time::timeout(options.timeout, crate::migrate::run(&store.driver().db))
                .await
                .map_err(|_| {
                    StorageError::Unavailable(format!(
                        "migrations did not finish within {:?}",
                        options.timeout
                    ))
                })??;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied MongoDB migrations");
        }
        Ok(store)
    }

    /// The calling thread's driver handles. An operation that must stay on one client (a
    /// transaction) keeps the one it took.
    pub(crate) fn driver(&self) -> Arc<Driver> {
        self.drivers.get()
    }

    /// The document stored under the session's key: the session's, or its tombstone. Read by
    /// the key alone (`project_sessionId_unique`): a residual clause (such as
    /// `erasedAt: {$exists: …}`) takes SecantusDB's planner off the index to a collection scan,
    /// so callers tell a tombstone apart here, after the read.
    pub(crate) async fn stored_session(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Document>, StorageError> {
        self.driver()
            .sessions
            .find_one(key.filter())
            .await
            .storage()
    }

    /// The session's document; a tombstone (an erased session's) is none.
    pub(crate) async fn session_doc(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Document>, StorageError> {
        Ok(self
            .stored_session(key)
            .await?
            .filter(|d| !d.contains_key("erasedAt")))
    }

    /// The document with the highest `seq` of a session: its newest event or its seal. The
    /// range `seq >= 1` ([`every_document`]) puts the read on the `seq` index
    /// (`project_sessionId_seq_unique`) by the filter itself: without it SecantusDB's planner picks the `eventId` index, and a hint
    /// makes it walk the whole index, every session's events (measured with `explain` and
    /// timings, see `docs/mongodb.md` "Every query on its index").
    pub(crate) async fn top(&self, key: &SessionKey) -> Result<Option<Document>, StorageError> {
        self.driver()
            .events
            .find_one(every_document(key))
            .sort(doc! { "seq": -1 })
            .await
            .storage()
    }

    /// The session as it is now, or `None`.
    pub(crate) async fn load(&self, key: &SessionKey) -> Result<Option<Session>, StorageError> {
        let (doc, top) = tokio::try_join!(self.session_doc(key), self.top(key))?;
        doc.map(|d| documents::session(&d, top.as_ref()))
            .transpose()
    }

    /// When the session was erased, if its tombstone remains.
    pub(crate) async fn tombstone(
        &self,
        key: &SessionKey,
    ) -> Result<Option<Timestamp>, StorageError> {
        match self.stored_session(key).await? {
            Some(d) => documents::optional_time(&d, "erasedAt"),
            None => Ok(None),
        }
    }

    /// The error `E` for a session that is not stored: erased (tombstone) or not found.
    pub(crate) async fn absent<E: Absent + From<StorageError>>(&self, key: &SessionKey) -> E {
        match self.tombstone(key).await {
            Ok(tomb) => E::absent(tomb.is_some()),
            Err(e) => e.into(),
        }
    }

    /// The error `E` for an event not stored: its session exists (event not found), or not.
    pub(crate) async fn missing_event<E>(&self, key: &SessionKey) -> E
    where
        E: Absent + From<StorageError> + From<EventMissing>,
    {
        match self.session_doc(key).await {
            Ok(Some(_)) => EventMissing.into(),
            Ok(None) => self.absent(key).await,
            Err(e) => e.into(),
        }
    }

    /// The event stored under `event_id` in the session, if any.
    pub(crate) async fn stored_event(
        &self,
        key: &SessionKey,
        event_id: &EventId,
    ) -> Result<Option<Event>, StorageError> {
        let mut filter = key.filter();
        filter.insert("eventId", event_id.as_str());
        self.driver()
            .raw_events
            .find_one(filter)
            .projection(documents::event_fields())
            .await
            .storage()?
            .map(|d| documents::event(&key.session, &d))
            .transpose()
    }
}

#[async_trait]
impl SessionRepository for MongoStore {
    async fn create_session(
        &self,
        project: &ProjectId,
        new: NewSession,
    ) -> Result<Written<Session>, CreateSessionError> {
        let key = SessionKey::new(project, &new.id);
        let session = new.into_session(self.clock.next(project, &key.session));
        let document = documents::session_doc(project, &session);
        // A second try only when the id's holder vanished between the two steps (a tombstone
        // purged, a session erased and purged): the id is then free.
        let announced = self
            .deliveries_of(&Change {
                kind: WebhookEventType::SessionCreated,
                key: &key,
                event: None,
                at: session.created_at,
                order: 0,
                message: ObjectId::new(),
            })
            .await?;
        for _ in 0..2 {
            let (inserting, announced) = (document.clone(), announced.clone());
            let inserting_at = Instant::now();
            match insert_announced(&self.driver(), Sessions, inserting, announced).await {
                Ok(inserted_id) => {
                    // Created here: its document and top are known, so this instance's first
                    // append into it needs no read before its insert.
                    let hint = Hint {
                        session: inserted_id,
                        top: 0,
                        created: session.created_at,
                        seen: inserting_at,
                    };
                    self.lanes.set_hint(&key, Some(hint));
                    return Ok(Written::created(session));
                }
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(storage_error(e).into()),
            }
            // Another writer created it first, or a tombstone holds the id (an erased session).
            if let Some(stored) = self.load(&key).await? {
                return Ok(Written::replayed(stored));
            }
            if self.tombstone(&key).await?.is_some() {
                return Err(CreateSessionError::Erased);
            }
        }
        Err(StorageError::Internal("duplicate session not readable".into()).into())
    }

    async fn get_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
    ) -> Result<Session, GetSessionError> {
        let key = SessionKey::new(project, id);
        match self.load(&key).await? {
            Some(session) => Ok(session),
            None => Err(self.absent(&key).await),
        }
    }

    async fn complete_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        request: CompleteRequest,
    ) -> Result<Written<Session>, CompleteSessionError> {
        self.complete(&SessionKey::new(project, id), request).await
    }

    async fn list_sessions(
        &self,
        project: &ProjectId,
        query: SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        self.list(project, &query).await
    }

    async fn erase_session(
        &self,
        project: &ProjectId,
        id: &SessionId,
        at: Timestamp,
        only: EraseIf,
    ) -> Result<Written<Timestamp>, EraseSessionError> {
        self.erase(&SessionKey::new(project, id), at, only).await
    }

    async fn expired_sessions(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<(ProjectId, SessionId)>, StorageError> {
        self.expired(before, limit).await
    }

    async fn purge_tombstones(&self, before: Timestamp, limit: u32) -> Result<u64, StorageError> {
        self.purge(before, limit).await
    }
}

#[async_trait]
impl EventRepository for MongoStore {
    async fn append_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        batch: AppendBatch,
    ) -> Result<Vec<Written<Event>>, AppendEventError> {
        self.append(&SessionKey::new(project, session_id), batch)
            .await
    }

    async fn get_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
    ) -> Result<Event, GetEventError> {
        let key = SessionKey::new(project, session_id);
        if let Some(event) = self.stored_event(&key, event_id).await? {
            return Ok(event);
        }
        Err(self.missing_event(&key).await)
    }

    async fn list_events(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        let key = SessionKey::new(project, session_id);
        if page.view == View::Current {
            return self.list_current(&key, page).await;
        }
        let wanted = page.limit as usize + 1;
        let mut read = PageRead::with_capacity(wanted);
        // Windows of `seq`s, each one range of the `seq` index, read until the page is full or
        // the session's end is reached. Seqs are dense (see `docs/mongodb.md`), so a window
        // holds its full size of documents until the top (asc) or `seq` 1 (desc). Content-less
        // documents (a seal, an erasure's blanks and seals) are dropped here, after the read:
        // a filter on `type` takes SecantusDB's planner off the index. The first window has
        // room for one of them (the seal of a completed session); a later one, needed only
        // around an erasure, is twice the size of the one before.
        let mut size = wanted as u64 + 1;
        let mut from = page.after;
        loop {
            let window = SeqWindow::new(page.order, from, size);
            if window.len == 0 {
                break;
            }
            let mut filter = key.filter();
            filter.insert("seq", window.range);
            let documents = self
                .read_range(&key, filter, window.sort, window.len, &mut read, &mut from)
                .await?;
            if read.events.len() >= wanted || documents < window.len || window.last {
                break;
            }
            size = size.saturating_mul(2);
        }
        self.finish_page(&key, read, page.limit).await
    }

    async fn redact_event(
        &self,
        project: &ProjectId,
        session_id: &SessionId,
        event_id: &EventId,
        at: Timestamp,
    ) -> Result<Written<Event>, RedactEventError> {
        self.redact(&SessionKey::new(project, session_id), event_id, at)
            .await
    }

    /// One aggregation per [`WATCHES_PER_QUERY`] watches: the documents beyond each watch's
    /// known version (an index range per watch), grouped by session to their highest `seq`. The
    /// seal sits one `seq` above the last event, so a sealed session's top is its version.
    async fn changed_sessions(&self, watches: &[Watch]) -> Result<Vec<(usize, u64)>, StorageError> {
        let mut changed = Vec::new();
        for (chunk_at, chunk) in watches.chunks(WATCHES_PER_QUERY).enumerate() {
            let branches: Vec<Document> = chunk
                .iter()
                .map(|w| {
                    let mut filter = SessionKey::new(&w.project, &w.session).filter();
                    filter.insert(
                        "seq",
                        doc! { "$gt": i64::try_from(w.known).unwrap_or(i64::MAX) },
                    );
                    filter
                })
                .collect();
            let pipeline = [
                doc! { "$match": { "$or": branches } },
                doc! { "$group": {
                    "_id": { "project": "$project", "sessionId": "$sessionId" },
                    "top": { "$max": "$seq" },
                } },
            ];
            let mut cursor = self.driver().events.aggregate(pipeline).await.storage()?;
            let mut read = Vec::new();
            while let Some(group) = cursor.try_next().await.storage()? {
                let Ok(id) = group.get_document("_id") else {
                    continue;
                };
                if let (Ok(project), Ok(session), Ok(top)) = (
                    id.get_str("project"),
                    id.get_str("sessionId"),
                    group.get_i64("top"),
                ) {
                    read.push((project.to_owned(), session.to_owned(), top.max(0) as u64));
                }
            }
            let offset = chunk_at * WATCHES_PER_QUERY;
            let found = Watch::changed(chunk, read);
            changed.extend(found.into_iter().map(|(i, v)| (offset + i, v)));
        }
        Ok(changed)
    }
}

/// The filter of all of a session's documents in `events` (events, seal, blanks): the range
/// `seq >= 1` of the `seq` index, so that the planner need not choose between the session's two
/// indexes (see [`MongoStore::top`]).
pub(crate) fn every_document(key: &SessionKey) -> Document {
    let mut filter = key.filter();
    filter.insert("seq", doc! { "$gte": 1_i64 });
    filter
}

/// Watches asked by one aggregation.
const WATCHES_PER_QUERY: usize = 200;

/// One read of an event page: a range of `seq`s on the `seq` index, in the page's order.
struct SeqWindow {
    range: Document,
    sort: i32,
    /// The documents the range holds when the session has them all (seqs are dense); a
    /// reading from the top (`desc` without a position) asks for this many.
    len: u64,
    /// The range reaches `seq` 1: no window after it.
    last: bool,
}

impl SeqWindow {
    /// The `size` seqs after `from` (asc), or before it (desc; from the top without one).
    fn new(order: Order, from: Option<u64>, size: u64) -> Self {
        let seq = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match (order, from) {
            (Order::Asc, from) => {
                let from = from.unwrap_or(0);
                Self {
                    range: doc! { "$gt": seq(from), "$lte": seq(from.saturating_add(size)) },
                    sort: 1,
                    len: size,
                    last: false,
                }
            }
            (Order::Desc, Some(before)) => {
                let low = before.saturating_sub(size).max(1);
                Self {
                    range: doc! { "$gte": seq(low), "$lt": seq(before) },
                    sort: -1,
                    len: before.saturating_sub(low),
                    last: low == 1,
                }
            }
            (Order::Desc, None) => Self {
                range: doc! { "$gte": 1_i64 },
                sort: -1,
                len: size,
                last: false,
            },
        }
    }
}

#[async_trait]
impl StoreAdmin for MongoStore {
    async fn ping(&self) -> Result<(), StorageError> {
        self.driver()
            .db
            .run_command(doc! { "ping": 1 })
            .await
            .storage()?;
        Ok(())
    }

    async fn shared_secret(&self) -> Result<Vec<u8>, StorageError> {
        let doc = self
            .driver()
            .db
            .collection::<Document>(META)
            .find_one(doc! { "_id": "shared_secret" })
            .await
            .storage()?
            .ok_or_else(|| StorageError::Internal("shared secret missing".into()))?;
        let binary = doc
            .get_binary_generic("value")
            .map_err(|_| StorageError::Internal("shared secret malformed".into()))?;
        Ok(binary.clone())
    }

    async fn close(&self) {
        self.drivers.shutdown(Duration::from_secs(5)).await;
    }

    fn kind(&self) -> &'static str {
        "mongodb"
    }
}

impl MongoStore {
    /// A page of `view=current`: the session's events with no `supersededBy`, a range of the
    /// index `project_sessionId_supersededBy_seq` (`supersededBy: null` matches the events
    /// without one) read with a limit: its `seq`s have gaps (the superseded events), so the
    /// windows of `list_events` do not apply. Content-less documents (a seal, an erasure's
    /// blanks, which carry no `supersededBy` either) are dropped after the read, and the range
    /// read on from the last `seq` seen while the page is short of them.
    async fn list_current(
        &self,
        key: &SessionKey,
        page: PageRequest,
    ) -> Result<EventPage, ListEventsError> {
        let wanted = page.limit as usize + 1;
        let mut read = PageRead::with_capacity(wanted);
        let mut from = page.after;
        let (sort, after) = match page.order {
            Order::Asc => (1, "$gt"),
            Order::Desc => (-1, "$lt"),
        };
        loop {
            let mut filter = key.filter();
            filter.insert(documents::SUPERSEDED_BY, Bson::Null);
            if let Some(seq) = from {
                filter.insert(
                    "seq",
                    doc! { after: i64::try_from(seq).unwrap_or(i64::MAX) },
                );
            }
            // Room for the seal of a completed session.
            let room = (wanted - read.events.len() + 1) as u64;
            let documents = self
                .read_range(key, filter, sort, room, &mut read, &mut from)
                .await?;
            if read.events.len() >= wanted || documents < room {
                break;
            }
        }
        self.finish_page(key, read, page.limit).await
    }

    /// Reads at most `limit` documents of `filter` (a range of an index) sorted by `seq` in
    /// `sort`'s direction: each event is read from the reply's BSON bytes in place (no
    /// `Document` per event) and added to `read`; content-less documents (a seal, an
    /// erasure's blanks) are skipped. `from` becomes the last `seq` read. Returns how many
    /// documents were read.
    async fn read_range(
        &self,
        key: &SessionKey,
        filter: Document,
        sort: i32,
        limit: u64,
        read: &mut PageRead,
        from: &mut Option<u64>,
    ) -> Result<u64, StorageError> {
        let mut cursor = self
            .driver()
            .raw_events
            .find(filter)
            .sort(doc! { "seq": sort })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .projection(documents::event_fields())
            .await
            .storage()?;
        let mut documents = 0;
        while cursor.advance().await.storage()? {
            documents += 1;
            let stored = documents::stored(&key.session, cursor.current())?;
            *from = Some(stored.seq);
            read.add(stored);
        }
        Ok(documents)
    }

    /// The page of what was `read` (up to `limit` + 1 events). Events exist only in existing
    /// sessions and carry their session's incarnation: only a page that does not tell it (empty,
    /// or of events stored before they carried it) reads the session.
    async fn finish_page(
        &self,
        key: &SessionKey,
        read: PageRead,
        limit: u32,
    ) -> Result<EventPage, ListEventsError> {
        let incarnation = match read.told {
            Told::One(incarnation) => incarnation,
            Told::Nothing | Told::Unknown => self.incarnation(key).await?,
        };
        let mut events = read.events;
        let has_more = events.len() > limit as usize;
        events.truncate(limit as usize);
        Ok(EventPage {
            events,
            has_more,
            incarnation,
        })
    }

    /// The session's incarnation, its `createdAt`, read from its document (only the two fields
    /// needed come back).
    async fn incarnation(&self, key: &SessionKey) -> Result<Timestamp, ListEventsError> {
        let stored = self
            .driver()
            .sessions
            .find_one(key.filter())
            .projection(doc! { "_id": 0, "createdAt": 1, "erasedAt": 1 })
            .await
            .storage()?;
        match stored {
            Some(d) if d.contains_key("erasedAt") => Err(ListEventsError::SessionErased),
            Some(d) => Ok(documents::created_at(&d)?),
            None => Err(self.absent(key).await),
        }
    }
}

/// What a page's reads found: its events, and what they say of their session's incarnation.
struct PageRead {
    events: Vec<Event>,
    told: Told,
}

/// The incarnation a page's events were stored with.
enum Told {
    /// No event read yet.
    Nothing,
    /// Every event read so far carries this one.
    One(Timestamp),
    /// One carries none (stored before events carried it), or two differ.
    Unknown,
}

impl PageRead {
    fn with_capacity(events: usize) -> Self {
        Self {
            events: Vec::with_capacity(events),
            told: Told::Nothing,
        }
    }

    /// Adds a document read: its event, if it has content.
    fn add(&mut self, stored: documents::Stored) {
        let Some(event) = stored.event else {
            return;
        };
        self.told = match (&self.told, stored.incarnation) {
            (Told::Nothing, Some(at)) => Told::One(at),
            (Told::One(known), Some(at)) if *known == at => Told::One(at),
            _ => Told::Unknown,
        };
        self.events.push(event);
    }
}
