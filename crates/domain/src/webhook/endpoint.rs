//! A project's webhook endpoint as stored, and the changes the admin API makes to it (SPEC
//! "Webhooks": patch, rotate the secret with a 24-hour overlap). Adapters store what
//! [`WebhookEndpoint::changed`] returns; they decide nothing.

use super::destination::WebhookUrl;
use super::events::WebhookEvents;
use super::secret::WebhookSecret;
use crate::ids::{InvalidValue, ProjectId, bounded_text};
use crate::keys::{hex, random_id};
use crate::time::Timestamp;

/// How long a rotated-out secret keeps signing beside the new one (SPEC: 24 hours).
pub const ROTATION_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// Random bytes of an endpoint id.
pub const ID_BYTES: usize = 8;

/// The public id of an endpoint: `wh_` and 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(String);

impl WebhookId {
    pub const PREFIX: &'static str = "wh_";
    /// The rule [`WebhookId::parse`] enforces, as a regular expression.
    pub const PATTERN: &'static str = "^wh_[0-9a-f]{16}$";

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        random_id(
            value.into(),
            Self::PREFIX,
            ID_BYTES,
            "webhook id",
            Self::PATTERN,
        )
        .map(Self)
    }

    /// A new id from random bytes the caller drew.
    pub fn issue(random: &[u8; ID_BYTES]) -> Self {
        Self(format!("{}{}", Self::PREFIX, hex(random)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an endpoint is for, in the project's words: 1 to 256 characters, no control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDescription(String);

impl WebhookDescription {
    pub const MAX_LEN: usize = 256;

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        bounded_text("description", value.into(), Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A secret rotated out: it signs beside the current one until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredSecret {
    pub secret: WebhookSecret,
    pub until: Timestamp,
}

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub project: ProjectId,
    pub url: WebhookUrl,
    pub events: WebhookEvents,
    pub description: Option<WebhookDescription>,
    /// Messages are recorded and sent only while enabled (a 410 reply, `WEBHOOK_DISABLE_AFTER`
    /// or the admin API disable it).
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub secret: WebhookSecret,
    /// The secret rotated out last, while it still signs (and after: [`Self::signing_secrets`]
    /// drops it once its time is over).
    pub retired: Option<RetiredSecret>,
    /// The first failed attempt since the last delivered one: failing every attempt from then
    /// for `WEBHOOK_DISABLE_AFTER` disables the endpoint. Enabling it again starts afresh.
    pub failing_since: Option<Timestamp>,
}

/// The fields `PATCH` may set; `None` leaves a field as it is. `description: Some(None)` removes
/// the description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    pub url: Option<WebhookUrl>,
    pub events: Option<WebhookEvents>,
    pub enabled: Option<bool>,
    pub description: Option<Option<WebhookDescription>>,
}

/// A change to a stored endpoint: the admin API's, or an attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookChange {
    Patch(WebhookPatch),
    /// A new secret, drawn by the caller; the current one signs beside it for
    /// [`ROTATION_OVERLAP_MS`].
    RotateSecret(WebhookSecret),
    Attempted(AttemptOutcome),
}

/// What an attempt's outcome makes of its endpoint (SPEC "Webhooks"): a delivery ends a failing
/// streak; a failure starts one, and disables the endpoint once the streak has lasted
/// `disable_after_ms` (`WEBHOOK_DISABLE_AFTER`); a `410 Gone` disables it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptOutcome {
    pub at: Timestamp,
    pub succeeded: bool,
    /// The receiver answered 410.
    pub gone: bool,
    pub disable_after_ms: i64,
}

impl WebhookEndpoint {
    /// A new, enabled endpoint.
    pub fn new(
        id: WebhookId,
        project: ProjectId,
        url: WebhookUrl,
        events: WebhookEvents,
        description: Option<WebhookDescription>,
        secret: WebhookSecret,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            project,
            url,
            events,
            description,
            enabled: true,
            created_at: now,
            updated_at: now,
            secret,
            retired: None,
            failing_since: None,
        }
    }

    /// The endpoint after `change` at `at`. A rotation retires the current secret until
    /// `at` + 24 h (a secret retired before is dropped: at most two sign at once); an empty patch
    /// changes nothing, not even `updated_at`.
    pub fn changed(&self, change: &WebhookChange, at: Timestamp) -> Self {
        let mut next = self.clone();
        match change {
            WebhookChange::Patch(patch) => {
                if *patch == WebhookPatch::default() {
                    return next;
                }
                if let Some(url) = &patch.url {
                    next.url = url.clone();
                }
                if let Some(events) = &patch.events {
                    next.events = events.clone();
                }
                if let Some(enabled) = patch.enabled {
                    next.enabled = enabled;
                    if enabled {
                        next.failing_since = None;
                    }
                }
                if let Some(description) = &patch.description {
                    next.description = description.clone();
                }
            }
            WebhookChange::RotateSecret(secret) => {
                next.retired = Some(RetiredSecret {
                    secret: std::mem::replace(&mut next.secret, secret.clone()),
                    until: at.plus_millis(ROTATION_OVERLAP_MS),
                });
            }
            WebhookChange::Attempted(outcome) => {
                if outcome.succeeded {
                    next.failing_since = None;
                } else {
                    let since = *next.failing_since.get_or_insert(outcome.at);
                    let streak = outcome.at.millis().saturating_sub(since.millis());
                    if outcome.gone || streak >= outcome.disable_after_ms {
                        next.enabled = false;
                    }
                }
                // Bookkeeping is not a change of the endpoint; disabling it is.
                if next.enabled == self.enabled {
                    return next;
                }
            }
        }
        next.updated_at = at.max(self.updated_at);
        next
    }

    /// Whether `outcome` changes what is stored of this endpoint (the dispatcher writes only
    /// then: once when a failing streak starts or ends, and when it disables).
    pub fn affected_by(&self, outcome: &AttemptOutcome) -> bool {
        self.changed(&WebhookChange::Attempted(*outcome), outcome.at) != *self
    }

    /// The secrets an attempt at `now` is signed with: the current one, then the retired one
    /// while its overlap lasts.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&WebhookSecret> {
        let retired = self.retired.as_ref().filter(|r| now < r.until);
        std::iter::once(&self.secret)
            .chain(retired.map(|r| &r.secret))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::destination::Destinations;
    use crate::webhook::events::WebhookEventType;
    use crate::webhook::secret::SECRET_BYTES;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint::new(
            WebhookId::issue(&[0x1f; ID_BYTES]),
            ProjectId::parse("acme").unwrap(),
            WebhookUrl::parse("https://hooks.example.com/in", Destinations::PublicOnly).unwrap(),
            WebhookEvents::parse(["session.completed"]).unwrap(),
            None,
            WebhookSecret::issue(&[1; SECRET_BYTES]),
            at(1_000),
        )
    }

    #[test]
    fn ids_are_wh_and_16_hex_digits() {
        let id = WebhookId::issue(&[0xab, 0xcd, 0, 1, 2, 3, 4, 0xff]);
        assert_eq!(id.as_str(), "wh_abcd0001020304ff");
        assert_eq!(WebhookId::parse(id.as_str()), Ok(id));
        for bad in [
            "wh_ABCD0001020304FF",
            "wh_abc",
            "ak_abcd0001020304ff",
            "",
            "wh_abcd0001020304ff0",
        ] {
            assert!(WebhookId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_description_is_1_to_256_characters_without_control_characters() {
        assert!(WebhookDescription::parse("CRM sync — post-call").is_ok());
        assert!(WebhookDescription::parse("é".repeat(256)).is_ok());
        for bad in [String::new(), "x".repeat(257), "line\nbreak".into()] {
            let err = WebhookDescription::parse(bad.clone()).unwrap_err();
            assert!(err.0.starts_with("description must"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_patch_sets_only_the_fields_it_names() {
        let before = endpoint();
        let unchanged = before.changed(&WebhookChange::Patch(WebhookPatch::default()), at(5_000));
        assert_eq!(unchanged, before, "an empty patch changes nothing");

        let patch = WebhookPatch {
            events: Some(WebhookEvents::parse(["event.appended", "session.erased"]).unwrap()),
            enabled: Some(false),
            description: Some(Some(WebhookDescription::parse("QA").unwrap())),
            ..WebhookPatch::default()
        };
        let after = before.changed(&WebhookChange::Patch(patch), at(5_000));
        assert!(!after.enabled);
        assert!(after.events.contains(WebhookEventType::SessionErased));
        assert!(!after.events.contains(WebhookEventType::SessionCompleted));
        assert_eq!(after.description.as_ref().unwrap().as_str(), "QA");
        assert_eq!(
            (after.url.clone(), after.secret.clone()),
            (before.url.clone(), before.secret.clone())
        );
        assert_eq!((after.created_at, after.updated_at), (at(1_000), at(5_000)));

        let removed = WebhookPatch {
            description: Some(None),
            ..WebhookPatch::default()
        };
        assert_eq!(
            after
                .changed(&WebhookChange::Patch(removed), at(6_000))
                .description,
            None
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_for_24_hours_then_with_the_new_one() {
        let before = endpoint();
        assert_eq!(before.signing_secrets(at(2_000)), [&before.secret]);
        let new = WebhookSecret::issue(&[2; SECRET_BYTES]);
        let rotated = before.changed(&WebhookChange::RotateSecret(new.clone()), at(10_000));
        assert_eq!(rotated.secret, new);
        let end = 10_000 + ROTATION_OVERLAP_MS;
        assert_eq!(rotated.signing_secrets(at(10_000)), [&new, &before.secret]);
        assert_eq!(rotated.signing_secrets(at(end - 1)), [&new, &before.secret]);
        assert_eq!(rotated.signing_secrets(at(end)), [&new]);

        // A second rotation within the overlap: the first secret stops signing at once.
        let newer = WebhookSecret::issue(&[3; SECRET_BYTES]);
        let twice = rotated.changed(&WebhookChange::RotateSecret(newer.clone()), at(20_000));
        assert_eq!(twice.signing_secrets(at(20_000)), [&newer, &new]);
    }

    #[test]
    fn failing_every_attempt_for_the_disable_after_period_disables() {
        let day = 86_400_000;
        let outcome = |ms: i64, succeeded: bool| AttemptOutcome {
            at: at(ms),
            succeeded,
            gone: false,
            disable_after_ms: 5 * day,
        };
        let fresh = endpoint();
        assert!(
            !fresh.affected_by(&outcome(2_000, true)),
            "a delivery writes nothing"
        );
        let failing = fresh.changed(&WebhookChange::Attempted(outcome(2_000, false)), at(2_000));
        assert_eq!(failing.failing_since, Some(at(2_000)));
        assert!(failing.enabled);
        assert_eq!(failing.updated_at, fresh.updated_at, "bookkeeping only");
        let later = outcome(2_000 + 5 * day - 1, false);
        assert!(
            !failing.affected_by(&later),
            "a streak going on writes nothing"
        );
        let recovered = failing.changed(&WebhookChange::Attempted(outcome(3_000, true)), at(3_000));
        assert_eq!(recovered.failing_since, None, "a delivery ends the streak");
        let off = outcome(2_000 + 5 * day, false);
        let disabled = failing.changed(&WebhookChange::Attempted(off), off.at);
        assert!(!disabled.enabled, "five days of failures disable");
        assert_eq!(disabled.updated_at, off.at);
        let gone = AttemptOutcome {
            gone: true,
            ..outcome(2_500, false)
        };
        assert!(
            !fresh
                .changed(&WebhookChange::Attempted(gone), gone.at)
                .enabled,
            "410"
        );
        let enable = WebhookChange::Patch(WebhookPatch {
            enabled: Some(true),
            ..WebhookPatch::default()
        });
        let again = disabled.changed(&enable, at(2_000 + 6 * day));
        assert!(again.enabled);
        assert_eq!(again.failing_since, None, "enabled again: a new streak");
    }
}
