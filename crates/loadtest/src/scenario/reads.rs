//! The read scenarios: `page` (event pages at random depths) and `list` (`GET /sessions` walks
//! with and without filters, every page checked).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::shares::PageMeta;
use super::worker::{Outcome, Worker};
use rand::Rng;

use crate::client::encode_query;
use crate::stats::Op;

/// Pages of one walk in the `list` scenario before it starts another.
pub(super) const WALK_PAGES: u32 = 20;

/// A `GET /sessions` query of the `list` scenario and what its sessions must pass.
pub(super) struct ListQuery {
    /// `&name=value…`, appended to `?limit=L`.
    pub(super) text: String,
    pub(super) status: Option<&'static str>,
    pub(super) agent: Option<String>,
    /// `createdBefore`, as sent (RFC 3339 in the service's own format: comparable as text).
    pub(super) before: Option<String>,
}

impl ListQuery {
    pub(super) fn new(
        text: &str,
        status: Option<&'static str>,
        agent: Option<String>,
        before: Option<String>,
    ) -> Self {
        Self {
            text: text.to_owned(),
            status,
            agent,
            before,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListPage {
    pub(super) data: Vec<ListedSession>,
    pub(super) has_more: bool,
    pub(super) next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListedSession {
    pub(super) session_id: String,
    pub(super) status: String,
    pub(super) created_at: String,
    pub(super) metadata: serde_json::Map<String, Value>,
}

impl Worker {
    pub(super) async fn page(&mut self) {
        let paths = Arc::clone(&self.ctx.page_paths);
        if paths.iter().all(Vec::is_empty) {
            return;
        }
        while self.go() {
            let s = self.rng.random_range(0..paths.len());
            if paths[s].is_empty() {
                continue;
            }
            let k = self.rng.random_range(0..paths[s].len());
            self.call(Op::Page, &paths[s][k], None, 200).await;
        }
    }

    /// One page read that follows cursors; returns the next cursor when the read succeeded.
    pub(super) async fn read_page(
        &mut self,
        session: &str,
        cursor: Option<&str>,
    ) -> Option<PageMeta> {
        let query = self.ctx.page_query();
        let path = match cursor {
            Some(c) => format!(
                "/sessions/{session}/events?{query}&cursor={}",
                encode_query(c)
            ),
            None => format!("/sessions/{session}/events?{query}"),
        };
        match self.call(Op::Page, &path, None, 200).await {
            Outcome::Expected(response) => match serde_json::from_slice::<PageMeta>(&response.body)
            {
                Ok(meta) => Some(meta),
                Err(e) => {
                    self.violations
                        .push(format!("page of {session} is not a page: {e}"));
                    None
                }
            },
            _ => None,
        }
    }

    /// One page of `GET /sessions?{query}` (`cursor` appended), checked: at most `limit`
    /// sessions, newest first, each after `previous` (the walk's last position so far), each
    /// passing the filter (`status`, `metadata.agent`, `created_before`). Returns the page's
    /// last position and next cursor when there is more.
    pub(super) async fn list_page(
        &mut self,
        op: Op,
        query: &ListQuery,
        cursor: Option<&str>,
        previous: Option<(String, String)>,
    ) -> Option<((String, String), Option<String>)> {
        let mut path = format!("/sessions?limit={}{}", self.ctx.page_limit, query.text);
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={}", encode_query(c)));
        }
        let Outcome::Expected(response) = self.call(op, &path, None, 200).await else {
            return None;
        };
        let page: ListPage = match serde_json::from_slice(&response.body) {
            Ok(page) => page,
            Err(e) => {
                self.violations
                    .push(format!("{path}: not a session page: {e}"));
                return None;
            }
        };
        if page.data.len() > self.ctx.page_limit as usize {
            self.violations
                .push(format!("{path}: {} sessions on one page", page.data.len()));
        }
        let mut last = previous;
        for s in &page.data {
            let position = (s.created_at.clone(), s.session_id.clone());
            if last.as_ref().is_some_and(|l| position >= *l) {
                self.violations.push(format!(
                    "{path}: {position:?} after {last:?} in a newest-first walk"
                ));
            }
            let agent = s.metadata.get("agent").and_then(Value::as_str);
            let fails = query.status.is_some_and(|st| s.status != st)
                || query.agent.as_deref().is_some_and(|a| agent != Some(a))
                || query
                    .before
                    .as_deref()
                    .is_some_and(|b| s.created_at.as_str() >= b);
            if fails {
                self.violations
                    .push(format!("{path}: {} does not pass the filter", s.session_id));
            }
            last = Some(position);
        }
        let next = page.next_cursor.filter(|_| page.has_more);
        Some((last?, next))
    }

    pub(super) async fn list(&mut self) {
        // The store's span of `createdAt`, for pages at random depths.
        let span = |page: Option<((String, String), Option<String>)>| {
            page.and_then(|((created, _), _)| domain::Timestamp::parse_rfc3339(&created).ok())
        };
        let newest = ListQuery::new("", None, None, None);
        let oldest = ListQuery::new("&order=asc", None, None, None);
        let newest = self.list_page(Op::List, &newest, None, None).await;
        let Some(newest) = span(newest) else {
            return;
        };
        let oldest = self.list_oldest(&oldest).await;
        let Some(oldest) = span(oldest) else {
            return;
        };
        // A walk in progress: its query, last position, next cursor and pages left.
        let mut walk: Option<(ListQuery, (String, String), String, u32)> = None;
        while self.go() {
            if let Some((query, last, cursor, left)) = walk.take() {
                if let Some((last, Some(next))) = self
                    .list_page(Op::List, &query, Some(&cursor), Some(last))
                    .await
                    && left > 1
                {
                    walk = Some((query, last, next, left - 1));
                }
                continue;
            }
            let shape = self.rng.random_range(0..4);
            let agent = format!("a{}", self.rng.random_range(0..10));
            let mut query = match shape {
                0 => ListQuery::new("", None, None, None),
                1 => ListQuery::new("&status=active", Some("active"), None, None),
                2 => ListQuery::new(&format!("&metadata.agent={agent}"), None, Some(agent), None),
                _ => ListQuery::new(
                    &format!("&status=completed&metadata.agent={agent}"),
                    Some("completed"),
                    Some(agent),
                    None,
                ),
            };
            if self.coin(0.5) {
                // A deep cursor: the first page before a random time, then the page its
                // cursor points to.
                let at = self.rng.random_range(oldest.millis()..=newest.millis());
                let before = domain::Timestamp::from_millis(at)
                    .expect("between two stored times")
                    .to_rfc3339();
                query.text.push_str(&format!("&createdBefore={before}"));
                query.before = Some(before);
                if let Some((last, Some(cursor))) =
                    self.list_page(Op::List, &query, None, None).await
                {
                    self.list_page(Op::ListDeep, &query, Some(&cursor), Some(last))
                        .await;
                }
            } else if let Some((last, Some(cursor))) =
                self.list_page(Op::List, &query, None, None).await
            {
                walk = Some((query, last, cursor, WALK_PAGES));
            }
        }
    }

    /// The oldest session's position (an ascending first page is not checked as newest-first).
    pub(super) async fn list_oldest(
        &mut self,
        query: &ListQuery,
    ) -> Option<((String, String), Option<String>)> {
        let path = format!("/sessions?limit=1{}", query.text);
        let Outcome::Expected(response) = self.call(Op::List, &path, None, 200).await else {
            return None;
        };
        let page: ListPage = serde_json::from_slice(&response.body).ok()?;
        let s = page.data.first()?;
        Some(((s.created_at.clone(), s.session_id.clone()), None))
    }
}
