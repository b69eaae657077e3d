//! API keys: what a key is, how its text is shaped, how it is checked.
//!
//! A key's text is `ak_<16 hex>.<64 hex>`: the public [`KeyId`] (`ak_` + 64 random bits) that
//! the server looks the key up by, a dot, and the secret (256 random bits). Only the SHA-256 of
//! the secret ([`SecretHash`]) is stored; a presented secret is hashed and compared with it in
//! constant time. Randomness is IO, so the caller draws the bytes and [`NewApiKey::issue`] makes
//! the key and its text from them.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Scope, Scopes};
use crate::ids::{InvalidValue, ProjectId, bounded_text};
use crate::time::Timestamp;

/// Random bytes of a key id.
pub const ID_BYTES: usize = 8;
/// Random bytes of a key's secret (256 bits).
pub const SECRET_BYTES: usize = 32;

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

pub(crate) fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `value` if it is `prefix` and `2 * bytes` lowercase hex digits (the public ids drawn at
/// random: keys', webhook endpoints'); else a refusal naming `what` and its `pattern`.
pub(crate) fn random_id(
    value: String,
    prefix: &str,
    bytes: usize,
    what: &str,
    pattern: &str,
) -> Result<String, InvalidValue> {
    match value.strip_prefix(prefix) {
        Some(digits) if is_lower_hex(digits, 2 * bytes) => Ok(value),
        _ => Err(InvalidValue(format!("{what} must match {pattern}"))),
    }
}

/// The public id of a key: `ak_` and 16 lowercase hex digits. Safe to log and to show.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub const PREFIX: &'static str = "ak_";
    /// The rule [`KeyId::parse`] enforces, as a regular expression.
    pub const PATTERN: &'static str = "^ak_[0-9a-f]{16}$";

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        random_id(
            value.into(),
            Self::PREFIX,
            ID_BYTES,
            "key id",
            Self::PATTERN,
        )
        .map(Self)
    }

    fn from_random(bytes: &[u8; ID_BYTES]) -> Self {
        Self(format!("{}{}", Self::PREFIX, hex(bytes)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 of a key's secret: all the store keeps of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The hash of a presented secret (or of any credential text, e.g. the admin key).
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Wraps the 32 stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidValue> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| InvalidValue("a secret hash has 32 bytes".into()))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Equal, compared in constant time (the time taken says nothing of where they differ).
    pub fn matches(&self, other: &SecretHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Never shows the hash: it is not a secret, but nothing about a secret belongs in a log.
impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// The whole text of a key, as handed to its owner once. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyText(String);

impl KeyText {
    /// Splits a presented credential into the key id and the secret, when it has a key's shape.
    pub fn split(text: &str) -> Option<(KeyId, &str)> {
        let (id, secret) = text.split_once('.')?;
        let id = KeyId::parse(id).ok()?;
        is_lower_hex(secret, 2 * SECRET_BYTES).then_some((id, secret))
    }

    /// The text to hand out (once: it is stored nowhere).
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyText(..)")
    }
}

/// A key's optional label for people: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidValue> {
        bounded_text("name", value.into(), Self::MAX_LEN).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scopes of a key, from their names: at least one, each `read`, `write` or `delete`.
pub fn parse_scopes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Scopes, InvalidValue> {
    let mut scopes = Vec::new();
    for name in names {
        let scope = Scope::parse(name).ok_or_else(|| {
            InvalidValue(format!("{name:?} is not a scope (read, write, delete)"))
        })?;
        scopes.push(scope);
    }
    let scopes: Scopes = scopes.into_iter().collect();
    if scopes.is_empty() {
        return Err(InvalidValue(
            "scopes must name at least one of read, write, delete".into(),
        ));
    }
    Ok(scopes)
}

/// A stored API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: KeyId,
    pub project: ProjectId,
    pub scopes: Scopes,
    pub name: Option<KeyName>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// When it was revoked; a revoked key is refused from then on.
    pub revoked_at: Option<Timestamp>,
    pub secret_hash: SecretHash,
}

impl ApiKey {
    /// Not revoked and not expired at `now`.
    pub fn usable_at(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|end| now < end)
    }

    /// Whether `secret` is this key's secret (compared in constant time).
    pub fn verifies(&self, secret: &str) -> bool {
        SecretHash::of(secret).matches(&self.secret_hash)
    }
}

/// What a client asks for when it creates a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub project: ProjectId,
    pub scopes: Scopes,
    pub name: Option<KeyName>,
    pub expires_at: Option<Timestamp>,
}

impl NewApiKey {
    /// Checks the rules of a new key at `now`: at least one scope, an expiry in the future.
    pub fn new(
        project: ProjectId,
        scopes: Scopes,
        name: Option<KeyName>,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Self, InvalidValue> {
        if scopes.is_empty() {
            return Err(InvalidValue(
                "scopes must name at least one of read, write, delete".into(),
            ));
        }
        if expires_at.is_some_and(|end| end <= now) {
            return Err(InvalidValue("expiresAt must lie in the future".into()));
        }
        Ok(Self {
            project,
            scopes,
            name,
            expires_at,
        })
    }

    /// The key (to store) and its text (to hand out once), from random bytes drawn by the
    /// caller: `id` becomes the public id, `secret` the 256-bit secret.
    pub fn issue(
        self,
        id: &[u8; ID_BYTES],
        secret: &[u8; SECRET_BYTES],
        now: Timestamp,
    ) -> (ApiKey, KeyText) {
        let id = KeyId::from_random(id);
        let secret = hex(secret);
        let text = KeyText(format!("{id}.{secret}"));
        let key = ApiKey {
            id,
            project: self.project,
            scopes: self.scopes,
            name: self.name,
            created_at: now,
            expires_at: self.expires_at,
            revoked_at: None,
            secret_hash: SecretHash::of(&secret),
        };
        (key, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key() -> NewApiKey {
        NewApiKey::new(
            ProjectId::parse("acme").unwrap(),
            Scopes::all(),
            None,
            None,
            Timestamp::from_millis(1_000).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn an_issued_key_verifies_its_own_text_only() {
        let now = Timestamp::from_millis(1_000).unwrap();
        let (key, text) = new_key().issue(&[0xab; ID_BYTES], &[7; SECRET_BYTES], now);
        assert_eq!(key.id.as_str(), "ak_abababababababab");
        let (id, secret) = KeyText::split(text.reveal()).unwrap();
        assert_eq!(id, key.id);
        assert!(key.verifies(secret));
        assert!(text.reveal().starts_with(key.id.as_str()));
        let other = "0".repeat(64);
        assert!(!key.verifies(&other));
        assert!(
            !format!("{key:?}{text:?}").contains(secret),
            "Debug hides the secret"
        );
        assert_eq!(key.created_at, now);
    }

    #[test]
    fn key_text_has_one_shape() {
        let secret = "a".repeat(64);
        assert!(KeyText::split(&format!("ak_0123456789abcdef.{secret}")).is_some());
        for bad in [
            String::new(),
            "ak_0123456789abcdef".into(),
            format!("ak_0123456789abcdef.{}", "a".repeat(63)),
            format!("ak_0123456789ABCDEF.{secret}"),
            format!("ak_0123456789abcde.{secret}"),
            format!("xx_0123456789abcdef.{secret}"),
            format!("ak_0123456789abcdef.{}", "A".repeat(64)),
            format!("ak_0123456789abcdef.{secret}.x"),
        ] {
            assert!(KeyText::split(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn usable_until_revoked_or_expired() {
        let t = |ms| Timestamp::from_millis(ms).unwrap();
        let (mut key, _) = new_key().issue(&[1; ID_BYTES], &[2; SECRET_BYTES], t(1_000));
        assert!(key.usable_at(t(5_000)));
        key.expires_at = Some(t(2_000));
        assert!(key.usable_at(t(1_999)));
        assert!(!key.usable_at(t(2_000)));
        key.expires_at = None;
        key.revoked_at = Some(t(3_000));
        assert!(!key.usable_at(t(1_500)));
    }

    #[test]
    fn new_keys_need_a_scope_and_a_future_expiry() {
        let project = ProjectId::parse("acme").unwrap();
        let now = Timestamp::from_millis(10_000).unwrap();
        let past = Timestamp::from_millis(9_999).unwrap();
        assert!(NewApiKey::new(project.clone(), Scopes::default(), None, None, now).is_err());
        assert!(NewApiKey::new(project.clone(), Scopes::all(), None, Some(past), now).is_err());
        assert!(NewApiKey::new(project.clone(), Scopes::all(), None, Some(now), now).is_err());
        assert!(NewApiKey::new(project, Scopes::all(), None, None, now).is_ok());
    }

    #[test]
    fn scopes_and_names_follow_their_rules() {
        let scopes = parse_scopes(["read", "delete", "read"]).unwrap();
        assert_eq!(
            scopes.iter().collect::<Vec<_>>(),
            [Scope::Read, Scope::Delete]
        );
        assert!(parse_scopes(["admin"]).is_err());
        assert!(parse_scopes([]).is_err());
        assert!(KeyName::parse("ci deploy key").is_ok());
        assert!(KeyName::parse("").is_err());
        assert!(KeyName::parse("a\nb").is_err());
        assert!(KeyName::parse("x".repeat(101)).is_err());
        assert!(KeyId::parse("ak_0123456789abcdef").is_ok());
        assert!(KeyId::parse("ak_0123456789abcdeg").is_err());
    }

    #[test]
    fn hashes_compare_by_value() {
        assert!(SecretHash::of("x").matches(&SecretHash::of("x")));
        assert!(!SecretHash::of("x").matches(&SecretHash::of("y")));
        let stored = SecretHash::of("x");
        assert_eq!(SecretHash::from_bytes(stored.as_bytes()).unwrap(), stored);
        assert!(SecretHash::from_bytes(&[0; 31]).is_err());
    }
}
