//! Finding a project's sessions: filters, order and keyset pages by `(createdAt, sessionId)`.

use std::cmp::Ordering;

use crate::ids::{InvalidValue, SessionId};
use crate::json::JsonObject;
use crate::page::Order;
use crate::session::{Session, SessionStatus};
use crate::time::Timestamp;

/// A place in a walk through sessions: the `(createdAt, sessionId)` of a session. Sessions are
/// ordered by `createdAt`, ties by `sessionId`; no two sessions of a project share a position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionPosition {
    pub created_at: Timestamp,
    pub session_id: SessionId,
}

impl SessionPosition {
    pub fn of(session: &Session) -> Self {
        Self {
            created_at: session.created_at,
            session_id: session.id.clone(),
        }
    }
}

impl PartialOrd for SessionPosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionPosition {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.created_at, self.session_id.as_str())
            .cmp(&(other.created_at, other.session_id.as_str()))
    }
}

/// A top-level metadata entry whose value is a JSON string: what `metadata.<key>=<value>`
/// matches, and what stores index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub key: String,
    pub value: String,
}

impl Label {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Every top-level entry of `metadata` whose value is a string, in the order stored.
    /// Other values (numbers, objects, …) are not labels: filters match strings only.
    pub fn all_of(metadata: &JsonObject) -> Vec<Label> {
        let Ok(serde_json::Value::Object(map)) = metadata.to_value() else {
            return Vec::new();
        };
        map.into_iter()
            .filter_map(|(key, value)| match value {
                serde_json::Value::String(value) => Some(Label { key, value }),
                _ => None,
            })
            .collect()
    }

    /// One string standing for the pair, unambiguous whatever the key holds: the key with `\`
    /// and `=` escaped by `\`, then `=`, then the value (`"tier=gold"`). MongoDB indexes these.
    pub fn encoded(&self) -> String {
        let mut out = String::with_capacity(self.key.len() + self.value.len() + 1);
        for c in self.key.chars() {
            if c == '\\' || c == '=' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('=');
        out.push_str(&self.value);
        out
    }
}

/// Which sessions a list holds; every part optional, all combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SessionFilter {
    statuses: Vec<SessionStatus>,
    created_after: Option<Timestamp>,
    created_before: Option<Timestamp>,
    labels: Vec<Label>,
}

impl SessionFilter {
    /// At most this many metadata filters.
    pub const MAX_LABELS: usize = 5;

    /// `statuses`: any of them (empty: every status); `created_after`/`created_before`:
    /// exclusive bounds of `createdAt`; `labels`: the metadata holds every one of them. Kept in a
    /// canonical form (sorted, without repeats), so that equal filters compare equal.
    pub fn new(
        statuses: Vec<SessionStatus>,
        created_after: Option<Timestamp>,
        created_before: Option<Timestamp>,
        labels: Vec<Label>,
    ) -> Result<Self, InvalidValue> {
        let mut statuses = statuses;
        statuses.sort_by_key(|s| SessionStatus::ALL.iter().position(|a| a == s));
        statuses.dedup();
        if statuses.len() == SessionStatus::ALL.len() {
            statuses.clear();
        }
        let mut labels = labels;
        labels.sort();
        labels.dedup();
        if labels.len() > Self::MAX_LABELS {
            return Err(InvalidValue(format!(
                "at most {} metadata filters are allowed",
                Self::MAX_LABELS
            )));
        }
        Ok(Self {
            statuses,
            created_after,
            created_before,
            labels,
        })
    }

    /// The statuses asked for, in [`SessionStatus::ALL`] order; empty means every status.
    pub fn statuses(&self) -> &[SessionStatus] {
        &self.statuses
    }

    pub fn created_after(&self) -> Option<Timestamp> {
        self.created_after
    }

    pub fn created_before(&self) -> Option<Timestamp> {
        self.created_before
    }

    /// Sorted, without repeats.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Whether `session` passes every part of the filter.
    pub fn matches(&self, session: &Session) -> bool {
        let labels = || Label::all_of(&session.metadata);
        (self.statuses.is_empty() || self.statuses.contains(&session.status))
            && self.created_after.is_none_or(|t| session.created_at > t)
            && self.created_before.is_none_or(|t| session.created_at < t)
            && (self.labels.is_empty() || {
                let have = labels();
                self.labels.iter().all(|l| have.contains(l))
            })
    }

    /// A canonical text of the filter, equal for equal filters and different for different
    /// ones (cursors are bound to it).
    pub fn canonical(&self) -> String {
        let mut out = String::from("status=");
        for s in &self.statuses {
            out.push_str(s.as_str());
            out.push(',');
        }
        let bound = |t: Option<Timestamp>| t.map_or(String::from("-"), |t| t.millis().to_string());
        out.push_str(&format!(
            "\nafter={}\nbefore={}",
            bound(self.created_after),
            bound(self.created_before)
        ));
        for l in &self.labels {
            // Lengths first: keys and values may hold any character.
            out.push_str(&format!(
                "\nlabel={}:{}={}:{}",
                l.key.len(),
                l.key,
                l.value.len(),
                l.value
            ));
        }
        out
    }
}

/// One page of a project's sessions to read. `after` is a position in the walk: for `Desc`
/// (newest first) the page holds sessions before it, for `Asc` sessions after it; `None`
/// starts at the newest (`Desc`) or oldest (`Asc`) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionQuery {
    pub filter: SessionFilter,
    pub order: Order,
    pub limit: u32,
    pub after: Option<SessionPosition>,
}

impl SessionQuery {
    /// Whether `position` lies beyond `after` in this query's order (or there is no `after`).
    pub fn is_beyond(&self, position: &SessionPosition) -> bool {
        match (&self.after, self.order) {
            (None, _) => true,
            (Some(after), Order::Asc) => position > after,
            (Some(after), Order::Desc) => position < after,
        }
    }

    /// The position just after the last session of `page`, or the requested one for an empty
    /// page. `None` only when nothing was read and no position was given.
    pub fn next_position(&self, page: &SessionPage) -> Option<SessionPosition> {
        page.sessions
            .last()
            .map(SessionPosition::of)
            .or_else(|| self.after.clone())
    }
}

/// A page of sessions in walk order, and whether matching sessions exist beyond its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    pub has_more: bool,
}

/// The `createdAt` of a new session with id `id`, created at `now` in a project whose newest
/// session (in walk order) is at `newest`: `now`, unless that would not sort after `newest`
/// (a clock that went back, or another session in the same millisecond with a greater id);
/// then the first millisecond at which it does. So a project's positions grow in the order
/// sessions are stored, and an ascending walk meets sessions created during it at its end.
pub fn creation_time(
    now: Timestamp,
    newest: Option<&SessionPosition>,
    id: &SessionId,
) -> Timestamp {
    let Some(newest) = newest else {
        return now;
    };
    match now.cmp(&newest.created_at) {
        Ordering::Greater => now,
        _ if id.as_str() > newest.session_id.as_str() => newest.created_at,
        _ => Timestamp::from_millis(newest.created_at.millis() + 1).unwrap_or(newest.created_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    fn at(ms: i64, id: &str) -> SessionPosition {
        SessionPosition {
            created_at: Timestamp::from_millis(ms).unwrap(),
            session_id: sid(id),
        }
    }

    fn ms(t: Timestamp) -> i64 {
        t.millis()
    }

    #[test]
    fn creation_time_sorts_after_the_newest_session() {
        let now = Timestamp::from_millis(1_000).unwrap();
        assert_eq!(ms(creation_time(now, None, &sid("a"))), 1_000);
        assert_eq!(
            ms(creation_time(now, Some(&at(999, "z")), &sid("a"))),
            1_000
        );
        // same millisecond: a greater id sorts after as it is; a smaller one moves on by 1 ms
        assert_eq!(
            ms(creation_time(now, Some(&at(1_000, "m")), &sid("n"))),
            1_000
        );
        assert_eq!(
            ms(creation_time(now, Some(&at(1_000, "m")), &sid("a"))),
            1_001
        );
        // a clock behind the newest session
        assert_eq!(
            ms(creation_time(now, Some(&at(5_000, "m")), &sid("z"))),
            5_000
        );
        assert_eq!(
            ms(creation_time(now, Some(&at(5_000, "m")), &sid("a"))),
            5_001
        );
        for (newest, id) in [
            (at(1_000, "m"), "a"),
            (at(7, "b"), "c"),
            (at(9_000, "q"), "q"),
        ] {
            let created = creation_time(now, Some(&newest), &sid(id));
            let position = SessionPosition {
                created_at: created,
                session_id: sid(id),
            };
            assert!(position > newest);
        }
    }

    #[test]
    fn labels_are_the_top_level_strings() {
        let metadata = JsonObject::from_stored(
            r#"{"agent":"a-1","n":3,"o":{"x":"y"},"":"e","k=v":"w"}"#.into(),
        )
        .unwrap();
        assert_eq!(
            Label::all_of(&metadata),
            vec![
                Label::new("agent", "a-1"),
                Label::new("", "e"),
                Label::new("k=v", "w"),
            ]
        );
        assert_eq!(Label::new("agent", "a-1").encoded(), "agent=a-1");
        assert_eq!(Label::new("k=v", "w").encoded(), r"k\=v=w");
        assert_ne!(
            Label::new("k=v", "w").encoded(),
            Label::new("k", "v=w").encoded()
        );
        assert_eq!(Label::new(r"a\", "b").encoded(), r"a\\=b");
    }

    #[test]
    fn filters_are_canonical_and_bounded() {
        let a = SessionFilter::new(
            vec![
                SessionStatus::Failed,
                SessionStatus::Active,
                SessionStatus::Failed,
            ],
            None,
            None,
            vec![Label::new("b", "2"), Label::new("a", "1")],
        )
        .unwrap();
        let b = SessionFilter::new(
            vec![SessionStatus::Active, SessionStatus::Failed],
            None,
            None,
            vec![
                Label::new("a", "1"),
                Label::new("b", "2"),
                Label::new("a", "1"),
            ],
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical(), b.canonical());
        let all = SessionFilter::new(SessionStatus::ALL.to_vec(), None, None, vec![]).unwrap();
        assert_eq!(all, SessionFilter::default());
        let six = (0..6).map(|i| Label::new(format!("k{i}"), "v")).collect();
        assert!(SessionFilter::new(vec![], None, None, six).is_err());
        let tricky = |k: &str, v: &str| {
            SessionFilter::new(vec![], None, None, vec![Label::new(k, v)])
                .unwrap()
                .canonical()
        };
        assert_ne!(tricky("a:1", "b"), tricky("a", "1:b"));
    }
}
