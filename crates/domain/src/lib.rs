//! The domain of the Conversation Session Service.
//!
//! Sessions and the immutable events inside them, the newtypes that can only hold valid values,
//! the state rules, and the repository ports that storage adapters implement. This crate does no
//! IO: it knows nothing of HTTP, SQL or MongoDB.

pub mod access;
pub mod batch;
pub mod canonical;
pub mod decision;
pub mod event;
pub mod ids;
pub mod json;
pub mod keys;
pub mod listing;
pub mod page;
pub mod ports;
pub mod session;
pub mod time;
pub mod webhook;
pub mod written;

pub use access::{Scope, Scopes};
pub use batch::{AppendBatch, BatchError};
pub use decision::{AppendStep, BatchPlan, BatchStep, CompleteStep, Correction, ErasureFound};
pub use event::{AppendOutcome, Event, Fingerprint, NewEvent, Redaction};
pub use ids::{EventId, EventType, InvalidValue, ProjectId, SessionId};
pub use json::{JsonObject, ObjectTextError, TooLarge};
pub use keys::{ApiKey, KeyId, KeyName, KeyText, NewApiKey, SecretHash};
pub use listing::{
    Label, SessionFilter, SessionPage, SessionPosition, SessionQuery, creation_time,
};
pub use page::{EventPage, Order, PageRequest, View, Watch};
pub use ports::{
    Absent, AppendEventError, ChangeWebhookError, CompleteSessionError, CreateKeyError,
    CreateSessionError, CreateWebhookError, EraseSessionError, EventMissing, EventRepository,
    GetEventError, GetSessionError, KeyRepository, ListEventsError, RedactEventError, Repository,
    RevokeKeyError, SessionRepository, StorageError, StoreAdmin, SupersedeRefusal,
    WebhookDeliveries, WebhookRepository, WebhookSender,
};
pub use session::{
    CompleteRequest, CompletionDecision, EraseIf, Language, NewSession, Session, SessionState,
    SessionStatus,
};
pub use time::{CLIENT_TIME_AHEAD_MS, Timestamp};
pub use webhook::{
    Destinations, RetiredSecret, WebhookChange, WebhookDescription, WebhookEndpoint,
    WebhookEventType, WebhookEvents, WebhookId, WebhookPatch, WebhookSecret, WebhookUrl,
    is_internal, signature_header,
};
pub use written::Written;
