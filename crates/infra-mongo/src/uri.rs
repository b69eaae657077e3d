//! Checking a MongoDB connection string before connecting: the driver's own parser (no network),
//! and a reason that never quotes a credential, so that the configuration can name what is wrong
//! with the value without showing it.

use std::fmt;

use mongodb::error::ErrorKind;
use mongodb::options::ConnectionString;

/// Why a value is not a MongoDB connection string; its text holds no part of the value that
/// could be a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUri(String);

impl fmt::Display for InvalidUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidUri {}

/// Checks `uri` with the driver's parser (no network). The error says what is wrong without the
/// value: a connection string may hold a password.
pub fn check(uri: &str) -> Result<(), InvalidUri> {
    match ConnectionString::parse(uri) {
        Ok(_) => Ok(()),
        Err(e) => Err(InvalidUri(match &*e.kind {
            ErrorKind::InvalidArgument { message, .. } => without_secrets(message, uri),
            _ => "it cannot be parsed".to_owned(),
        })),
    }
}

/// `message` with every part of `uri` that could be a credential masked: the user-info
/// (`user:password`), the password alone, and both percent-decoded.
fn without_secrets(message: &str, uri: &str) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let mut secrets: Vec<String> = Vec::new();
    match authority.rsplit_once('@') {
        Some((user_info, _)) => {
            secrets.push(user_info.to_owned());
            secrets.extend(user_info.split_once(':').map(|(_, pw)| pw.to_owned()));
        }
        // No `@`: a forgotten one turns `user:password` into a host and a "port".
        None => secrets.extend(
            authority
                .split(',')
                .filter_map(|host| host.rsplit_once(':'))
                .map(|(_, port)| port.to_owned())
                .filter(|port| !port.bytes().all(|b| b.is_ascii_digit())),
        ),
    }
    let decoded: Vec<String> = secrets.iter().filter_map(|s| percent_decode(s)).collect();
    secrets.extend(decoded);
    // One line: the driver's message may span several.
    let mut message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        message = message.replace(secret.as_str(), "***");
    }
    // A message that still quotes the connection string quotes too much.
    if message.contains(uri) || message.contains(authority) && !authority.is_empty() {
        return "it cannot be parsed".to_owned();
    }
    message
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
