//! Opaque pagination cursors: a position in one session's walk in one order, signed with
//! HMAC-SHA256 so that a tampered, truncated or foreign cursor is refused.
//!
//! Layout before base64url: version (1) | order (1) | seq (8, big endian) | MAC (16).
//! The MAC covers the session id too, so a cursor works only for the session that issued it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Order, SessionId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::problem::{ApiError, ErrorCode};

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = 1 + 1 + 8 + MAC_LEN;

/// What every cursor looks like: `RAW_LEN` bytes in unpadded base64url (35 characters).
pub const PATTERN: &str = "^[A-Za-z0-9_-]{35}$";

#[derive(Clone)]
pub struct CursorCodec {
    key: Hmac<Sha256>,
}

impl CursorCodec {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self, session: &SessionId, head: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(session.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(head);
        mac
    }

    pub fn encode(&self, session: &SessionId, order: Order, seq: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1] = order_byte(order);
        raw[2..10].copy_from_slice(&seq.to_be_bytes());
        let tag = self.mac(session, &raw[..10]).finalize().into_bytes();
        raw[10..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The position a cursor stands for, when it was issued for this session and order.
    pub fn decode(&self, session: &SessionId, order: Order, cursor: &str) -> Result<u64, ApiError> {
        let invalid = || {
            ApiError::new(
                ErrorCode::InvalidCursor,
                "the cursor is malformed, altered, or was issued for another session or order",
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if raw.len() != RAW_LEN || raw[0] != VERSION {
            return Err(invalid());
        }
        self.mac(session, &raw[..10])
            .verify_truncated_left(&raw[10..])
            .map_err(|_| invalid())?;
        if raw[1] != order_byte(order) {
            return Err(invalid());
        }
        let seq = u64::from_be_bytes(raw[2..10].try_into().expect("8 bytes"));
        Ok(seq)
    }
}

fn order_byte(order: Order) -> u8 {
    match order {
        Order::Asc => 0,
        Order::Desc => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    #[test]
    fn cursors_match_the_documented_pattern() {
        let c = CursorCodec::new(b"secret").encode(&sid("s1"), Order::Asc, 7);
        assert_eq!(
            PATTERN,
            format!("^[A-Za-z0-9_-]{{{}}}$", RAW_LEN.div_ceil(3) * 4 - 1)
        );
        assert_eq!(c.len(), 35);
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
    }

    #[test]
    fn round_trips() {
        let codec = CursorCodec::new(b"secret");
        for seq in [0, 1, 42, u64::MAX] {
            for order in [Order::Asc, Order::Desc] {
                let c = codec.encode(&sid("s1"), order, seq);
                assert_eq!(codec.decode(&sid("s1"), order, &c).unwrap(), seq);
            }
        }
    }

    #[test]
    fn refuses_tampered_foreign_and_malformed() {
        let codec = CursorCodec::new(b"secret");
        let c = codec.encode(&sid("s1"), Order::Asc, 7);
        let refused = |session: &str, order: Order, cursor: &str| {
            codec.decode(&sid(session), order, cursor).unwrap_err().code == ErrorCode::InvalidCursor
        };
        assert!(refused("s2", Order::Asc, &c), "foreign session");
        assert!(refused("s1", Order::Desc, &c), "other order");
        assert!(refused("s1", Order::Asc, &c[..c.len() - 1]), "truncated");
        assert!(refused("s1", Order::Asc, "not a cursor!"), "garbage");
        assert!(refused("s1", Order::Asc, ""), "empty");
        // flip each character in turn
        for i in 0..c.len() {
            let mut bytes = c.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != c {
                assert!(refused("s1", Order::Asc, &tampered), "tampered at {i}");
            }
        }
        let other_key = CursorCodec::new(b"other").encode(&sid("s1"), Order::Asc, 7);
        assert!(refused("s1", Order::Asc, &other_key), "other secret");
    }
}
