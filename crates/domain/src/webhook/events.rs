//! The types of message an endpoint subscribes to.

use std::fmt;

use crate::ids::InvalidValue;

/// What a message announces; an endpoint subscribes to some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEventType {
    SessionCreated,
    SessionCompleted,
    SessionFailed,
    SessionErased,
    EventAppended,
    EventRedacted,
}

impl WebhookEventType {
    /// Every type, in the order the SPEC lists them.
    pub const ALL: [Self; 6] = [
        Self::SessionCreated,
        Self::SessionCompleted,
        Self::SessionFailed,
        Self::SessionErased,
        Self::EventAppended,
        Self::EventRedacted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionCreated => "session.created",
            Self::SessionCompleted => "session.completed",
            Self::SessionFailed => "session.failed",
            Self::SessionErased => "session.erased",
            Self::EventAppended => "event.appended",
            Self::EventRedacted => "event.redacted",
        }
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                InvalidValue(format!(
                    "unknown event type {value:?}: one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The types an endpoint subscribes to: at least one, each once, in [`WebhookEventType::ALL`]'s
/// order (so that two subscriptions to the same types are equal, however they were written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvents(Vec<WebhookEventType>);

impl WebhookEvents {
    /// Refuses an empty list and an unknown name; a name given twice counts once.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidValue> {
        let mut types = names
            .into_iter()
            .map(WebhookEventType::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if types.is_empty() {
            return Err(InvalidValue(
                "events must name at least one event type".into(),
            ));
        }
        types.sort_unstable();
        types.dedup();
        Ok(Self(types))
    }

    pub fn contains(&self, t: WebhookEventType) -> bool {
        self.0.contains(&t)
    }

    pub fn iter(&self) -> impl Iterator<Item = WebhookEventType> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_the_specs_six_and_a_list_is_non_empty_and_deduplicated() {
        let names: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "session.created",
                "session.completed",
                "session.failed",
                "session.erased",
                "event.appended",
                "event.redacted"
            ]
        );
        for t in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(t.as_str()), Ok(t));
        }
        let events =
            WebhookEvents::parse(["event.appended", "session.created", "event.appended"]).unwrap();
        assert_eq!(
            events.iter().collect::<Vec<_>>(),
            [
                WebhookEventType::SessionCreated,
                WebhookEventType::EventAppended
            ]
        );
        assert!(events.contains(WebhookEventType::EventAppended));
        assert!(!events.contains(WebhookEventType::SessionErased));
        assert!(WebhookEvents::parse([]).is_err());
        for unknown in ["session.*", "Session.Created", "event.appended ", ""] {
            let err = WebhookEvents::parse(["session.created", unknown]).unwrap_err();
            assert!(err.0.contains("unknown event type"), "{unknown}: {err}");
        }
    }
}
