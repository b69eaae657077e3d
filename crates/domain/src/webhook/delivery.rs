//! Messages and their delivery (SPEC "Webhooks"): a message announces one change of a session;
//! it is recorded with the change, once per endpoint subscribed to its type (a delivery), and
//! attempted until a 2xx or until the retry schedule is exhausted. What an attempt's outcome
//! makes of a delivery is decided here ([`after_attempt`]); adapters store it.

use std::fmt;

use super::endpoint::WebhookId;
use super::events::WebhookEventType;
use crate::ids::{EventId, InvalidValue, ProjectId, SessionId};
use crate::session::SessionStatus;
use crate::time::{Timestamp, parse_duration_ms};

/// The id of a message: the `webhook-id` header, the same for every attempt (the receiver's
/// idempotency key). `msg_` and 16 to 24 lowercase hex digits, given by the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    pub const PATTERN: &'static str = "^msg_[0-9a-f]{16,24}$";
    const PREFIX: &'static str = "msg_";

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        let ok = value.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            (16..=24).contains(&hex.len())
                && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "a message id must match {}",
                Self::PATTERN
            )))
        }
    }

    /// The id of the message a store numbered `n` (SQLite's row id).
    pub fn numbered(n: u64) -> Self {
        Self(format!("{}{n:016x}", Self::PREFIX))
    }

    /// The number of an id made by [`MessageId::numbered`].
    pub fn number(&self) -> Option<u64> {
        let hex = &self.0[Self::PREFIX.len()..];
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change of a session, as recorded with it: what the message announces. Its body is made
/// at each attempt from the session as it then stands (so an erased session's messages carry
/// ids only, SPEC "Erasure").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookMessage {
    pub id: MessageId,
    pub kind: WebhookEventType,
    pub project: ProjectId,
    pub session: SessionId,
    /// The event of `event.appended` and `event.redacted`.
    pub event: Option<EventId>,
    /// When the change committed (the store's clock).
    pub recorded_at: Timestamp,
}

impl WebhookEventType {
    /// The type announcing that a session closed with `status` (`None`: it did not close).
    pub fn closing(status: SessionStatus) -> Option<Self> {
        match status {
            SessionStatus::Completed => Some(Self::SessionCompleted),
            SessionStatus::Failed => Some(Self::SessionFailed),
            SessionStatus::Initiated | SessionStatus::Active => None,
        }
    }
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not attempted yet, or to be attempted again.
    Pending,
    /// A 2xx answered.
    Delivered,
    /// Every attempt of the schedule failed.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused destination, connection, timeout, TLS… (a short reason for people).
    Error(String),
}

/// One attempt, as listed with its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Timestamp,
    pub result: AttemptResult,
    pub duration_ms: u64,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        matches!(self.result, AttemptResult::Status(200..=299))
    }
}

/// `WEBHOOK_RETRY_SCHEDULE`: the waits before each attempt after the first, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<u64>);

impl RetrySchedule {
    /// The SPEC's default: `5s,5m,30m,2h,5h,10h,10h`.
    pub const DEFAULT: &'static str = "5s,5m,30m,2h,5h,10h,10h";

    /// A comma-separated list of durations (`500ms`, `5s`, `5m`, `2h`, `1d`); empty: no retry.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        if text.trim().is_empty() {
            return Ok(Self(Vec::new()));
        }
        text.split(',')
            .map(parse_duration_ms)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn waits(&self) -> &[u64] {
        &self.0
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::parse(Self::DEFAULT).expect("the default schedule parses")
    }
}

/// What a delivery becomes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Attempted again at this time.
    RetryAt(Timestamp),
    /// The schedule is exhausted: the next message of the session's queue goes.
    Failed,
}

/// The longest `Retry-After` honoured: beyond it the schedule's wait stands (a receiver cannot
/// park a delivery for days).
pub const MAX_RETRY_AFTER_MS: u64 = 60 * 60 * 1000;

/// Decides the delivery's next step after its `attempts`-th attempt (counting this one) ended
/// in `attempt`: a 2xx delivers; otherwise the schedule's next wait, or `Retry-After` (on 429
/// and 503, up to [`MAX_RETRY_AFTER_MS`]) when the receiver sent one; no wait left: failed.
pub fn after_attempt(
    attempt: &Attempt,
    attempts: u32,
    schedule: &RetrySchedule,
    retry_after_ms: Option<u64>,
) -> AfterAttempt {
    if attempt.succeeded() {
        return AfterAttempt::Delivered;
    }
    let Some(&wait) = schedule.waits().get(attempts.saturating_sub(1) as usize) else {
        return AfterAttempt::Failed;
    };
    let wait = match (&attempt.result, retry_after_ms) {
        (AttemptResult::Status(429 | 503), Some(asked)) if asked <= MAX_RETRY_AFTER_MS => asked,
        _ => wait,
    };
    AfterAttempt::RetryAt(attempt.at.plus_millis(wait as i64))
}

/// A delivery claimed by a dispatcher: the message, the endpoint it goes to, and how many
/// attempts were made before. The claim holds until the lease given to the store expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub endpoint: WebhookId,
    pub message: WebhookMessage,
    /// Attempts made before this claim.
    pub attempts: u32,
    /// Of those, the attempts the retry schedule counts: since the message was recorded, or
    /// since it was last sent again ([`Resend`]).
    pub scheduled: u32,
}

/// A delivery as the admin API lists it: the message, where it stands, every attempt in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub message: WebhookMessage,
    pub status: DeliveryStatus,
    /// When a pending delivery is attempted (again).
    pub next_attempt_at: Option<Timestamp>,
    pub attempts: Vec<Attempt>,
}

/// A page of an endpoint's deliveries: newest message first, those older than `before` (the
/// last message of the previous page), only `status` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    pub before: Option<MessageId>,
    pub limit: u32,
}

/// Which of an endpoint's deliveries are sent again (SPEC "Seeing and repairing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// One message.
    Message(MessageId),
    /// Every message recorded at or after this time.
    Since(Timestamp),
}

/// One attempt as the dispatcher made it, for the sender: a `POST` of `body` to `url` with
/// `headers` (Standard Webhooks' three and `content-type`).
#[derive(Debug, Clone)]
pub struct OutgoingWebhook {
    pub url: super::WebhookUrl,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// What the receiver made of an attempt: its status (or why there was none), and the wait its
/// `Retry-After` asked for, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub result: AttemptResult,
    pub retry_after_ms: Option<u64>,
}

/// A dispatcher's hold on the deliveries it claimed: a token of its own and the time the hold
/// ends. Until then no other claim takes them; after it, another claim may (the holder is
/// presumed dead), and the holder's late outcome is then refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub until: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(result: AttemptResult) -> Attempt {
        Attempt {
            at: Timestamp::from_millis(1_000_000).unwrap(),
            result,
            duration_ms: 3,
        }
    }

    #[test]
    fn message_ids_are_msg_and_hex() {
        assert_eq!(MessageId::numbered(42).as_str(), "msg_000000000000002a");
        assert_eq!(MessageId::numbered(42).number(), Some(42));
        assert_eq!(
            MessageId::parse("msg_65a1b2c3d4e5f60718293a4b")
                .unwrap()
                .number(),
            None
        );
        assert!(MessageId::parse("msg_000000000000002a").is_ok());
        assert!(MessageId::parse("msg_65a1b2c3d4e5f60718293a4b").is_ok());
        for bad in [
            "msg_",
            "msg_123",
            "msg_000000000000002A",
            "wh_0000000000000000",
        ] {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules_parse_every_unit_and_refuse_the_rest() {
        assert_eq!(
            RetrySchedule::default().waits(),
            [
                5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000
            ]
        );
        assert_eq!(
            RetrySchedule::parse("250ms, 1s,1d").unwrap().waits(),
            [250, 1_000, 86_400_000]
        );
        assert!(RetrySchedule::parse("").unwrap().waits().is_empty());
        for bad in [
            "5",
            "s",
            "5x",
            "-5s",
            "0s",
            "5s,,5s",
            "99999999999999999999d",
        ] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_attempt_delivers_retries_on_schedule_or_fails_when_it_is_exhausted() {
        let schedule = RetrySchedule::parse("5s,5m").unwrap();
        let at = Timestamp::from_millis(1_000_000).unwrap();
        assert_eq!(
            after_attempt(&attempt(AttemptResult::Status(204)), 1, &schedule, None),
            AfterAttempt::Delivered
        );
        assert_eq!(
            after_attempt(&attempt(AttemptResult::Status(500)), 1, &schedule, None),
            AfterAttempt::RetryAt(at.plus_millis(5_000))
        );
        assert_eq!(
            after_attempt(
                &attempt(AttemptResult::Error("timeout".into())),
                2,
                &schedule,
                None
            ),
            AfterAttempt::RetryAt(at.plus_millis(300_000))
        );
        assert_eq!(
            after_attempt(&attempt(AttemptResult::Status(500)), 3, &schedule, None),
            AfterAttempt::Failed
        );
        // A redirect is not followed: a failure like any other.
        assert_eq!(
            after_attempt(&attempt(AttemptResult::Status(301)), 3, &schedule, None),
            AfterAttempt::Failed
        );
    }

    #[test]
    fn retry_after_is_honoured_on_429_and_503_only_and_within_an_hour() {
        let schedule = RetrySchedule::parse("5s").unwrap();
        let at = Timestamp::from_millis(1_000_000).unwrap();
        for status in [429, 503] {
            assert_eq!(
                after_attempt(
                    &attempt(AttemptResult::Status(status)),
                    1,
                    &schedule,
                    Some(120_000)
                ),
                AfterAttempt::RetryAt(at.plus_millis(120_000)),
                "{status}"
            );
        }
        assert_eq!(
            after_attempt(
                &attempt(AttemptResult::Status(500)),
                1,
                &schedule,
                Some(120_000)
            ),
            AfterAttempt::RetryAt(at.plus_millis(5_000))
        );
        assert_eq!(
            after_attempt(
                &attempt(AttemptResult::Status(429)),
                1,
                &schedule,
                Some(MAX_RETRY_AFTER_MS + 1)
            ),
            AfterAttempt::RetryAt(at.plus_millis(5_000))
        );
        // Retry-After does not add attempts beyond the schedule.
        assert_eq!(
            after_attempt(
                &attempt(AttemptResult::Status(429)),
                2,
                &schedule,
                Some(1_000)
            ),
            AfterAttempt::Failed
        );
    }
}
