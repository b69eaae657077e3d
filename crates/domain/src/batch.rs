//! An append request: one or more events written all or nothing, with an optional
//! `expectedLastSeq`. A single append is a batch of one.

use std::collections::HashMap;

use crate::event::{Event, NewEvent};
use crate::ids::EventId;
use crate::written::Written;

/// Why a batch is refused before it reaches storage (400, naming `events[index]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("must hold between 1 and {max} events", max = AppendBatch::MAX)]
    Size,
    /// Item `index` repeats an earlier item's `eventId` with other content.
    #[error("repeats the eventId of events[{first}] with other content")]
    DifferentContent { index: usize, first: usize },
}

/// The events of one append request, in request order, and the optional `expectedLastSeq`.
///
/// Items repeating an earlier item's `eventId` with the same content count once: storage sees
/// each id once ([`AppendBatch::events`]), and [`AppendBatch::answer`] gives every request
/// item its answer back, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendBatch {
    /// The distinct events, in order of first appearance.
    events: Vec<NewEvent>,
    /// For each request item, its event's index in `events`.
    items: Vec<usize>,
    expected_last_seq: Option<u64>,
}

impl AppendBatch {
    /// Most events in one request.
    pub const MAX: usize = 500;

    /// Errors: [`BatchError::Size`] (0 or more than [`AppendBatch::MAX`] items),
    /// [`BatchError::DifferentContent`] (an `eventId` twice with different content).
    pub fn new(
        requested: Vec<NewEvent>,
        expected_last_seq: Option<u64>,
    ) -> Result<Self, BatchError> {
        if requested.is_empty() || requested.len() > Self::MAX {
            return Err(BatchError::Size);
        }
        let mut first: HashMap<EventId, (usize, usize)> = HashMap::new();
        let mut events: Vec<NewEvent> = Vec::with_capacity(requested.len());
        let mut items = Vec::with_capacity(requested.len());
        for (index, new) in requested.into_iter().enumerate() {
            match first.get(&new.event_id) {
                // Same id, same request content (type, payload, timestamp as sent): counts once.
                Some(&(_, at)) if events[at] == new => items.push(at),
                Some(&(item, _)) => {
                    return Err(BatchError::DifferentContent { index, first: item });
                }
                None => {
                    first.insert(new.event_id.clone(), (index, events.len()));
                    items.push(events.len());
                    events.push(new);
                }
            }
        }
        Ok(Self {
            events,
            items,
            expected_last_seq,
        })
    }

    /// One event (the single append).
    pub fn single(new: NewEvent, expected_last_seq: Option<u64>) -> Self {
        Self {
            events: vec![new],
            items: vec![0],
            expected_last_seq,
        }
    }

    /// The distinct events, each id once, in request order: what storage writes.
    pub fn events(&self) -> &[NewEvent] {
        &self.events
    }

    /// The ids the events correct (`supersedes`), each once: storage reads the events stored
    /// under them for [`crate::decision::append_batch`].
    pub fn targets(&self) -> Vec<EventId> {
        let mut targets: Vec<EventId> = Vec::new();
        for target in self.events.iter().filter_map(|e| e.supersedes.as_ref()) {
            if !targets.contains(target) {
                targets.push(target.clone());
            }
        }
        targets
    }

    /// The number of request items (repeated ones included).
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn expected_last_seq(&self) -> Option<u64> {
        self.expected_last_seq
    }

    /// The request index of the first item holding `events()[event]`.
    pub fn item_of(&self, event: usize) -> usize {
        self.items
            .iter()
            .position(|&at| at == event)
            .expect("every event comes from an item")
    }

    /// The answer to every request item, in request order, from storage's answer for each of
    /// [`AppendBatch::events`]. A repeated item is a replay of its first occurrence.
    pub fn answer(&self, stored: Vec<Written<Event>>) -> Vec<Written<Event>> {
        let mut seen = vec![false; stored.len()];
        self.items
            .iter()
            .map(|&at| {
                let written = &stored[at];
                if std::mem::replace(&mut seen[at], true) {
                    Written::replayed(written.value.clone())
                } else {
                    written.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{EventType, SessionId};
    use crate::json::JsonObject;
    use crate::time::Timestamp;

    fn new_event(id: &str, payload: &str) -> NewEvent {
        NewEvent::new(
            EventId::parse(id).unwrap(),
            EventType::parse("t").unwrap(),
            JsonObject::from_stored(payload.into()).unwrap(),
        )
    }

    #[test]
    fn size_is_one_to_five_hundred() {
        assert_eq!(AppendBatch::new(vec![], None), Err(BatchError::Size));
        let many: Vec<NewEvent> = (0..=AppendBatch::MAX)
            .map(|i| new_event(&format!("e{i}"), "{}"))
            .collect();
        assert_eq!(AppendBatch::new(many.clone(), None), Err(BatchError::Size));
        assert!(AppendBatch::new(many[..AppendBatch::MAX].to_vec(), None).is_ok());
    }

    #[test]
    fn a_repeated_id_counts_once_or_is_refused() {
        let batch = AppendBatch::new(
            vec![
                new_event("a", "{}"),
                new_event("b", "{}"),
                new_event("a", "{}"),
            ],
            Some(3),
        )
        .unwrap();
        assert_eq!(batch.events().len(), 2);
        assert_eq!(batch.expected_last_seq(), Some(3));
        assert_eq!(batch.item_of(1), 1);
        let stored: Vec<Written<Event>> = batch
            .events()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Written::created(e.to_event(
                    &SessionId::parse("s").unwrap(),
                    i as u64 + 1,
                    Timestamp::from_millis(0).unwrap(),
                ))
            })
            .collect();
        let answers = batch.answer(stored.clone());
        assert_eq!(
            answers.iter().map(|w| w.replayed).collect::<Vec<_>>(),
            [false, false, true]
        );
        assert_eq!(answers[2].value, stored[0].value);

        let refused = AppendBatch::new(
            vec![
                new_event("a", "{}"),
                new_event("b", "{}"),
                new_event("a", r#"{"x":1}"#),
            ],
            None,
        );
        assert_eq!(
            refused,
            Err(BatchError::DifferentContent { index: 2, first: 0 })
        );
    }
}
