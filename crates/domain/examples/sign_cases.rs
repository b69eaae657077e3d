//! Prints webhook signature cases, one JSON object per line, for an independent implementation
//! to verify (`scripts/webhook-signatures` checks them with the `standardwebhooks` package):
//! secrets of 24 to 64 bytes, message ids, bodies with any characters, the current time, and
//! `webhook-signature` headers signed by one secret or two (a rotation's overlap).
//!
//! `cargo run -q -p domain --example sign_cases [COUNT]`

use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

use domain::webhook::{MAX_SECRET_BYTES, MIN_SECRET_BYTES};
use domain::{WebhookSecret, signature_header};

/// Bytes from the standard library's randomly seeded hasher (the cases need variety, not secrecy).
struct Bytes(RandomState, u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.1 += 1;
        self.0.hash_one(self.1)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("COUNT is a number"))
        .unwrap_or(200);
    let mut rng = Bytes(RandomState::new(), 0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let alphabet: Vec<char> = "azAZ09 {}[]\":,.\\/\n\t€é😀\u{0}".chars().collect();
    for i in 0..count {
        let secrets: Vec<WebhookSecret> = (0..1 + i % 2)
            .map(|_| {
                let len = MIN_SECRET_BYTES + rng.below(MAX_SECRET_BYTES - MIN_SECRET_BYTES + 1);
                WebhookSecret::from_bytes(rng.take(len)).expect("24 to 64 bytes")
            })
            .collect();
        let id = format!("msg_{}", hex(&rng.take(12)));
        let body: String = (0..rng.below(300))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        let refs: Vec<&WebhookSecret> = secrets.iter().collect();
        let line = serde_json::json!({
            "secrets": secrets.iter().map(WebhookSecret::text).collect::<Vec<_>>(),
            "id": id,
            "timestamp": now,
            "body": body,
            "signature": signature_header(&refs, &id, now, body.as_bytes()),
        });
        println!("{line}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
