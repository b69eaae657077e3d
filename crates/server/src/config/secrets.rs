//! What is never shown: the settings whose values are secret ([`SECRETS`]), the admin key that
//! no `Debug` prints, and the check of a MongoDB connection string whose error leaves the value
//! out (the parsing itself is the adapter's, `infra_mongo::uri`).

use std::fmt;

use super::error::ConfigError;

/// Settings whose values are never shown: not in errors, not in `Debug`.
pub const SECRETS: &[&str] = &["MONGO_URI", "DB_URI", "ADMIN_KEY"];

/// The `ADMIN_KEY`: shown by nothing (`Debug` hides it).
#[derive(Clone)]
pub struct AdminKey(pub(super) String);

impl AdminKey {
    /// The shortest admin key accepted.
    pub const MIN_LEN: usize = 32;

    /// The key itself, for the one place that needs it (the authentication's hash of it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminKey(<hidden>)")
    }
}

/// Checks a MongoDB connection string with the driver's own parser (no network). The error
/// says what is wrong without the value: a connection string may hold a password.
pub(super) fn mongo_uri(key: &str, uri: &str) -> Result<String, ConfigError> {
    infra_mongo::uri::check(uri)
        .map(|()| uri.to_owned())
        .map_err(|reason| {
            ConfigError(format!(
                "{key} is not a MongoDB connection string (mongodb://[user:password@]host[:port][/database][?options]): {reason} (value not shown: it may hold a password)"
            ))
        })
}
