//! Paging through a session's events by `seq`.

use crate::event::Event;
use crate::ids::{ProjectId, SessionId};

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

/// One page to read. `after` is a position in the walk: for `Asc` the page holds events with
/// `seq > after`, for `Desc` events with `seq < after`; `None` starts at the beginning (lowest
/// seq for `Asc`, highest for `Desc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
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

/// A page of events in walk order, and whether events exist beyond its last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub has_more: bool,
}

/// A live tail's question to the store: has this session changed since version `known` (see
/// [`crate::Session::version`])?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub project: ProjectId,
    pub session: SessionId,
    pub known: u64,
}
