//! Webhooks (SPEC "Webhooks"): the types of message a project's endpoint subscribes to, the
//! endpoint's URL and which destinations it may name, its signing secret, and how a message is
//! signed (Standard Webhooks, `v1`: HMAC-SHA256 of `{id}.{timestamp}.{body}`).
//!
//! Pure like the rest of the domain: the caller draws the secret's random bytes, resolves host
//! names (and checks each address with [`is_internal`] before connecting) and sends.

pub mod delivery;
mod destination;
pub mod endpoint;
mod events;
mod secret;

pub use delivery::{
    AfterAttempt, Attempt, AttemptResult, ClaimedDelivery, DeliveryQuery, DeliveryRecord,
    DeliveryStatus, Lease, MessageId, OutgoingWebhook, Resend, RetrySchedule, WebhookMessage,
    WebhookReply, after_attempt,
};
pub use destination::{Destinations, MAX_URL_LEN, WebhookUrl, is_internal};
pub use endpoint::{
    AttemptOutcome, ROTATION_OVERLAP_MS, RetiredSecret, WebhookChange, WebhookDescription,
    WebhookEndpoint, WebhookId, WebhookPatch,
};
pub use events::{WebhookEventType, WebhookEvents};
pub use secret::{
    MAX_SECRET_BYTES, MIN_SECRET_BYTES, SECRET_BYTES, WebhookSecret, signature_header,
};
