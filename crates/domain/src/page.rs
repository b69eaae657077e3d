//! Paging through a session's events by `seq`.

use std::collections::HashMap;

use crate::event::Event;
use crate::ids::{ProjectId, SessionId};
use crate::time::Timestamp;

/// Direction of a walk through a session's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "asc" => Some(Order::Asc),
            "desc" => Some(Order::Desc),
            _ => None,
        }
    }
}

/// Which of a session's events a walk lists; its cursors are bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// Every event (the default).
    All,
    /// Only the events no correction supersedes: the transcript as it finally stands (SPEC
    /// "Corrections").
    Current,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::All => "all",
            View::Current => "current",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "all" => Some(View::All),
            "current" => Some(View::Current),
            _ => None,
        }
    }

    /// Whether `event` belongs to this view.
    pub fn shows(self, event: &Event) -> bool {
        match self {
            View::All => true,
            View::Current => event.superseded_by.is_none(),
        }
    }
}

/// One page to read. `after` is a position in the walk: for `Asc` the page holds events with
/// `seq > after`, for `Desc` events with `seq < after`; `None` starts at the beginning (lowest
/// seq for `Asc`, highest for `Desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// The events listed.
    pub view: View,
    pub after: Option<u64>,
    pub order: Order,
    pub limit: u32,
}

impl PageRequest {
    /// The position just after the last event of `events`, or the requested one for an empty
    /// page. `None` only when nothing was read and no position was given.
    pub fn next_position(&self, events: &[Event]) -> Option<u64> {
        events.last().map(|e| e.seq).or(self.after)
    }
}

/// A page of events in walk order, whether events exist beyond its last one, and the
/// incarnation of the session they were read in (its `createdAt`: what an event cursor is bound
/// to, decision 30).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub has_more: bool,
    pub incarnation: Timestamp,
}

/// A live tail's question to the store: has this session changed since version `known` (see
/// [`crate::Session::version`])?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub project: ProjectId,
    pub session: SessionId,
    pub known: u64,
}

impl Watch {
    /// Matches what a store read for `watches` (a `(project, sessionId, version)` per session)
    /// back to them: each watch whose session's version is beyond its `known`, as its index in
    /// `watches` and the version. Sessions read but not watched are ignored.
    pub fn changed<P: AsRef<str>, S: AsRef<str>>(
        watches: &[Watch],
        read: impl IntoIterator<Item = (P, S, u64)>,
    ) -> Vec<(usize, u64)> {
        let index: HashMap<(&str, &str), usize> = watches
            .iter()
            .enumerate()
            .map(|(i, w)| ((w.project.as_str(), w.session.as_str()), i))
            .collect();
        read.into_iter()
            .filter_map(|(project, session, version)| {
                let i = *index.get(&(project.as_ref(), session.as_ref()))?;
                (version > watches[i].known).then_some((i, version))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(project: &str, session: &str, known: u64) -> Watch {
        Watch {
            project: ProjectId::parse(project).unwrap(),
            session: SessionId::parse(session).unwrap(),
            known,
        }
    }

    #[test]
    fn changed_keeps_watched_sessions_beyond_their_known_version() {
        let watches = [watch("p", "a", 3), watch("p", "b", 0), watch("q", "a", 0)];
        let read = [
            ("p", "a", 3), // not beyond
            ("p", "b", 2),
            ("q", "a", 5),
            ("p", "unwatched", 9),
        ];
        let mut changed = Watch::changed(&watches, read);
        changed.sort();
        assert_eq!(changed, [(1, 2), (2, 5)]);
    }
}
