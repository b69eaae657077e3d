//! Finding a project's sessions on MongoDB (migration 0004): keyset pages served from compound
//! indexes on `sessions`.
//!
//! The index that serves a page, by filter (the table in `docs/mongodb.md`):
//! - a metadata filter: `{project, labels, createdAt, sessionId}` (`labels` is a multikey array
//!   of the metadata's top-level string entries, [`Label::encoded`]: `"key=value"`);
//! - else a status filter: `{project, status, createdAt, sessionId}`;
//! - else `{project, createdAt, sessionId}`.
//!
//! The session document's `status` is a copy (the events' top is the authority, see
//! `documents::session`): `complete` copies the terminal status, but the first event does not
//! copy `active` (an append stays one round trip). So `status=active` reads the documents still
//! saying `initiated` too, and every candidate is checked against its real state (its top, read
//! anyway for `eventCount`/`lastSeq`) before it is listed.

use domain::{
    Label, Order, ProjectId, Session, SessionId, SessionPage, SessionPosition, SessionQuery,
    SessionStatus, StorageError, Timestamp,
};
use futures_util::TryStreamExt;
use futures_util::future::try_join_all;
use mongodb::bson::{Document, doc};
use mongodb::options::Hint;

use crate::documents::{self, SessionKey, date};
use crate::error::MongoResultExt;
use crate::schema::{BY_CREATED, BY_LABELS, BY_STATUS};
use crate::store::MongoStore;

/// The values the session document's `status` may hold for a session in `status`: a terminal
/// status is copied there by `complete`; an open session's is any open status (the first event
/// does not copy its change into the document).
fn stored_statuses(status: SessionStatus) -> Vec<&'static str> {
    if status.is_terminal() {
        vec![status.as_str()]
    } else {
        SessionStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .map(SessionStatus::as_str)
            .collect()
    }
}

/// One `find` of candidates for a page: beyond `from`, in walk order, from one index.
struct ListFind {
    filter: Document,
    sort: Document,
    index: &'static str,
    limit: i64,
}

impl ListFind {
    fn new(project: &ProjectId, query: &SessionQuery, from: Option<&SessionPosition>) -> Self {
        let f = &query.filter;
        let mut filter = doc! { "project": project.as_str() };
        let mut created = Document::new();
        if let Some(t) = f.created_after() {
            created.insert("$gt", date(t));
        }
        if let Some(t) = f.created_before() {
            created.insert("$lt", date(t));
        }
        let (dir, cmp, edge) = match query.order {
            Order::Asc => (1, "$gte", "$lte"),
            Order::Desc => (-1, "$lte", "$gte"),
        };
        if let Some(from) = from {
            // The position bounds the index range; the sessions sharing its millisecond up to
            // it are left out by a residual filter.
            created.insert(cmp, date(from.created_at));
            filter.insert(
                "$nor",
                vec![doc! {
                    "createdAt": date(from.created_at),
                    "sessionId": { edge: from.session_id.as_str() },
                }],
            );
        }
        if created.is_empty() {
            // Tombstones of erased sessions (no `createdAt`) are in no list: a date bound keeps
            // them out of the index range.
            // (Year 1: the earliest date every MongoDB-wire server and driver represents.)
            created.insert(
                "$gte",
                mongodb::bson::DateTime::from_millis(-62_135_596_800_000),
            );
        }
        filter.insert("createdAt", created);
        let mut statuses: Vec<&str> = f
            .statuses()
            .iter()
            .flat_map(|s| stored_statuses(*s))
            .collect();
        statuses.sort_unstable();
        statuses.dedup();
        if !statuses.is_empty() {
            filter.insert("status", doc! { "$in": statuses });
        }
        let labels: Vec<String> = f.labels().iter().map(Label::encoded).collect();
        let index = if !labels.is_empty() {
            filter.insert("labels", doc! { "$all": labels });
            BY_LABELS
        } else if !f.statuses().is_empty() {
            BY_STATUS
        } else {
            BY_CREATED
        };
        Self {
            filter,
            sort: doc! { "createdAt": dir, "sessionId": dir },
            index,
            limit: i64::from(query.limit) + 1,
        }
    }

    fn command(&self) -> Document {
        doc! {
            "find": "sessions",
            "filter": self.filter.clone(),
            "sort": self.sort.clone(),
            "hint": self.index,
            "limit": self.limit,
        }
    }
}

fn position(d: &Document) -> Result<SessionPosition, StorageError> {
    let bad = || StorageError::Internal("stored session has a bad position".into());
    let created = d.get_datetime("createdAt").map_err(|_| bad())?;
    Ok(SessionPosition {
        created_at: Timestamp::from_millis(created.timestamp_millis()).map_err(|_| bad())?,
        session_id: SessionId::parse(d.get_str("sessionId").map_err(|_| bad())?)
            .map_err(|_| bad())?,
    })
}

impl MongoStore {
    /// One page of `project`'s sessions as `query` asks. Candidates come from the index in
    /// batches of `limit + 1`; each is completed by its top and kept when it passes the filter.
    pub(crate) async fn list(
        &self,
        project: &ProjectId,
        query: &SessionQuery,
    ) -> Result<SessionPage, StorageError> {
        let wanted = query.limit as usize + 1;
        let mut found: Vec<Session> = Vec::with_capacity(wanted);
        let mut from = query.after.clone();
        loop {
            let find = ListFind::new(project, query, from.as_ref());
            let docs: Vec<Document> = self
                .driver()
                .sessions
                .find(find.filter)
                .sort(find.sort)
                .hint(Hint::Name(find.index.to_owned()))
                .limit(find.limit)
                .await
                .storage()?
                .try_collect()
                .await
                .storage()?;
            let exhausted = docs.len() < wanted;
            if let Some(last) = docs.last() {
                from = Some(position(last)?);
            }
            let tops = try_join_all(docs.iter().map(|d| async move {
                let id = SessionId::parse(d.get_str("sessionId").unwrap_or_default())
                    .map_err(|_| StorageError::Internal("stored session has a bad id".into()))?;
                self.top(&SessionKey::new(project, &id)).await
            }))
            .await?;
            for (d, top) in docs.iter().zip(tops) {
                let session = documents::session(d, top.as_ref())?;
                if query.filter.matches(&session) && found.len() < wanted {
                    found.push(session);
                }
            }
            if found.len() == wanted || exhausted {
                break;
            }
        }
        let has_more = found.len() > query.limit as usize;
        found.truncate(query.limit as usize);
        Ok(SessionPage {
            sessions: found,
            has_more,
        })
    }

    /// The server's `explain` (`queryPlanner`) of the first `find` a page of `query` runs: for
    /// operators and the tests that keep pages on their indexes.
    pub async fn explain_list_sessions(
        &self,
        project: &ProjectId,
        query: &SessionQuery,
    ) -> Result<Document, StorageError> {
        let find = ListFind::new(project, query, query.after.as_ref());
        self.driver()
            .db
            .run_command(doc! { "explain": find.command(), "verbosity": "queryPlanner" })
            .await
            .storage()
    }
}
