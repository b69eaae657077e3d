//! An endpoint's signing secret and the Standard Webhooks `v1` signature of a message.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::InvalidValue;

/// Random bytes of a new secret (256 bits; the SPEC asks for at least [`MIN_SECRET_BYTES`]).
pub const SECRET_BYTES: usize = 32;
/// The fewest bytes a secret may have (SPEC: `whsec_` + base64 of ≥ 24 random bytes).
pub const MIN_SECRET_BYTES: usize = 24;
/// The most bytes a secret may have (Standard Webhooks: 24 to 64).
pub const MAX_SECRET_BYTES: usize = 64;

/// An endpoint's signing secret. Symmetric: the server keeps the bytes to sign with, so they are
/// stored as they are — and never shown after creation: `Debug` prints no byte of it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";

    /// A new secret from random bytes the caller drew.
    pub fn issue(random: &[u8; SECRET_BYTES]) -> Self {
        Self(random.to_vec())
    }

    /// A secret from its text (`whsec_` + standard base64 of 24 to 64 bytes), as
    /// [`WebhookSecret::text`] writes it.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let refused = || {
            InvalidValue(format!(
                "a webhook secret is {}<base64 of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes>",
                Self::PREFIX
            ))
        };
        let encoded = text.strip_prefix(Self::PREFIX).ok_or_else(refused)?;
        let bytes = BASE64.decode(encoded).map_err(|_| refused())?;
        Self::from_bytes(bytes).map_err(|_| refused())
    }

    /// A secret from its stored bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, InvalidValue> {
        if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(InvalidValue(format!(
                "a webhook secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
            )))
        }
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text shown once, at creation or rotation: `whsec_` + standard base64.
    pub fn text(&self) -> String {
        format!("{}{}", Self::PREFIX, BASE64.encode(&self.0))
    }

    /// One `v1` signature of a message: `v1,` + base64 of HMAC-SHA256(`{id}.{timestamp}.{body}`).
    pub fn sign(&self, message_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The `webhook-signature` header of an attempt: one `v1` signature per secret that signs
/// (two during a rotation's overlap), space-separated, in the order given.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    message_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(message_id, timestamp_secs, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published test vector.
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_standard_webhooks_reference_vector() {
        let secret = WebhookSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
        // One byte of the body, the id or the time changed: another signature.
        assert_ne!(
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, br#"{"test": 2432232315}"#),
            VECTOR_SIGNATURE
        );
        assert_ne!(
            secret.sign(VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
        assert_ne!(
            secret.sign("msg_other", VECTOR_TIMESTAMP, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_space_separated() {
        let old = WebhookSecret::parse(VECTOR_SECRET).unwrap();
        let new = WebhookSecret::issue(&[7; SECRET_BYTES]);
        let header = signature_header(&[&new, &old], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], new.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY));
        assert_eq!(parts[1], VECTOR_SIGNATURE);
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_24_to_64_bytes_and_never_debug_printed() {
        let secret = WebhookSecret::issue(&[0xab; SECRET_BYTES]);
        let text = secret.text();
        assert!(text.starts_with("whsec_"), "{text}");
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
        let b64 = |n: usize| format!("whsec_{}", BASE64.encode(vec![1u8; n]));
        assert!(WebhookSecret::parse(&b64(24)).is_ok());
        assert!(WebhookSecret::parse(&b64(64)).is_ok());
        for refused in [
            b64(23),
            b64(65),
            BASE64.encode([1u8; 32]), // no prefix
            "whsec_not base64!".to_string(),
            "whsec_".to_string(),
        ] {
            assert!(WebhookSecret::parse(&refused).is_err(), "{refused}");
        }
    }
}
