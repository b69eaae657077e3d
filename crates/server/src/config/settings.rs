//! The settings: what each one means ([`SETTINGS`], in the order of `docs/operations.md`) and
//! [`Values`], every setting typed with its default, as the layers give it.

use std::fmt;
use std::path::PathBuf;

use infra_sqlite::Synchronous;
use serde::{Deserialize, Serialize};

use super::words::{LogFormat, WriteConcern, text};

/// What each setting means, in the order of `docs/operations.md`; its type and default are the
/// field of [`Values`] with the same name in lower case (a test keeps the three in step).
pub const SETTINGS: &[(&str, &str)] = &[
    ("HOST", "address to listen on"),
    ("PORT", "port to listen on (0: any free port)"),
    ("WORKERS", "HTTP worker threads (default: one per core)"),
    ("DATA_DIR", "folder of the embedded store (sessions.db)"),
    (
        "MONGO_URI",
        "MongoDB connection string; when set, MongoDB is the store",
    ),
    ("DB_URI", "alias of MONGO_URI"),
    ("MONGO_DB", "MongoDB database name"),
    (
        "MONGO_WRITE_CONCERN",
        "majority, or a number of nodes that must acknowledge a write",
    ),
    (
        "SQLITE_SYNCHRONOUS",
        "full (durable across power loss) or normal (across process crashes)",
    ),
    (
        "SQLITE_MAX_SIZE_MB",
        "largest size of the embedded database; writes beyond it answer 503 (default: the disk's)",
    ),
    (
        "STORAGE_TIMEOUT_MS",
        "a storage call taking longer answers 503",
    ),
    ("BODY_LIMIT_BYTES", "largest request body"),
    (
        "BATCH_BODY_LIMIT_BYTES",
        "largest request body of a batch append (events:batch)",
    ),
    ("PAYLOAD_LIMIT_BYTES", "largest event payload, serialized"),
    (
        "METADATA_LIMIT_BYTES",
        "largest session metadata, serialized",
    ),
    ("PAGE_DEFAULT_LIMIT", "page size when no limit is given"),
    ("PAGE_MAX_LIMIT", "largest page size a client may ask for"),
    (
        "REQUEST_HEADER_TIMEOUT_MS",
        "a request head must arrive within this time (408)",
    ),
    (
        "REQUEST_BODY_TIMEOUT_MS",
        "a request body must arrive within this time (408)",
    ),
    (
        "KEEP_ALIVE_SECONDS",
        "idle keep-alive connections are closed after this time",
    ),
    (
        "SHUTDOWN_GRACE_SECONDS",
        "time in-flight requests get to finish on SIGTERM",
    ),
    (
        "STREAM_MAX",
        "most live event streams (SSE) and NDJSON exports open at once on this instance; beyond: 503",
    ),
    (
        "STREAM_MAX_PER_PROJECT",
        "most live event streams and exports one project may hold open on this instance; beyond: 503",
    ),
    (
        "STREAM_KEEPALIVE_SECONDS",
        "a live stream sends a keep-alive comment after this much silence",
    ),
    (
        "STREAM_POLL_MS",
        "how often an instance asks the store which streamed sessions changed elsewhere",
    ),
    (
        "RATE_LIMIT_PER_KEY",
        "requests per second each API key may send, with a burst of as many; beyond: 429 (default: no limit)",
    ),
    (
        "RETENTION",
        "sessions that ended (or were last updated) longer ago are erased, e.g. 90d, 12h, 30s (default: kept forever)",
    ),
    (
        "RETENTION_SWEEP_INTERVAL",
        "how often each instance sweeps expired sessions and tombstones",
    ),
    (
        "TOMBSTONE_RETENTION",
        "how long an erased session's tombstone (id and erasedAt) remains",
    ),
    ("LOG_FORMAT", "pretty or json"),
    ("RUST_LOG", "log filter, e.g. info or api=debug,info"),
    (
        "ADMIN_KEY",
        "the key of /admin/… (at least 32 characters); when set, every /sessions… request needs an API key (keys mode); unset: open mode",
    ),
    (
        "ALLOW_OPEN",
        "true: allow open mode (no ADMIN_KEY) on a HOST that is not a loopback address",
    ),
    (
        "WEBHOOK_ALLOW_PRIVATE",
        "true: webhook endpoints may use http and loopback, private or other internal addresses (tests, local development)",
    ),
    (
        "WEBHOOK_TIMEOUT",
        "how long a webhook attempt may take, reply included (a duration such as 15s)",
    ),
    (
        "WEBHOOK_RETRY_SCHEDULE",
        "the waits before each webhook attempt after the first, comma-separated (empty: no retry)",
    ),
    (
        "WEBHOOK_DISABLE_AFTER",
        "a webhook endpoint failing every attempt for this long is disabled (a duration such as 5d)",
    ),
    (
        "CONFIG_FILE",
        "a TOML file with any of these keys (default: service.toml if present)",
    ),
];

/// Every setting as the layers give it: one typed field per variable (the variable's name in
/// lower case, which is also its key in the TOML file), with its default. `None`: unset. A key
/// of the file that is no setting is refused (a misspelt setting would be ignored silently).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Values {
    pub host: String,
    pub port: u64,
    pub workers: Option<u64>,
    pub data_dir: PathBuf,
    pub mongo_uri: Option<String>,
    pub db_uri: Option<String>,
    pub mongo_db: String,
    #[serde(with = "text")]
    pub mongo_write_concern: WriteConcern,
    #[serde(with = "text")]
    pub sqlite_synchronous: Synchronous,
    pub sqlite_max_size_mb: Option<u64>,
    pub storage_timeout_ms: u64,
    pub body_limit_bytes: u64,
    pub batch_body_limit_bytes: u64,
    pub payload_limit_bytes: u64,
    pub metadata_limit_bytes: u64,
    pub page_default_limit: u64,
    pub page_max_limit: u64,
    pub request_header_timeout_ms: u64,
    pub request_body_timeout_ms: u64,
    pub keep_alive_seconds: u64,
    pub shutdown_grace_seconds: u64,
    pub stream_max: u64,
    pub stream_max_per_project: u64,
    pub stream_keepalive_seconds: u64,
    pub stream_poll_ms: u64,
    pub rate_limit_per_key: Option<u64>,
    pub retention: Option<String>,
    pub retention_sweep_interval: String,
    pub tombstone_retention: String,
    #[serde(with = "text")]
    pub log_format: LogFormat,
    pub rust_log: String,
    pub admin_key: Option<String>,
    pub allow_open: bool,
    pub webhook_allow_private: bool,
    pub webhook_timeout: String,
    pub webhook_retry_schedule: String,
    pub webhook_disable_after: String,
    pub config_file: Option<PathBuf>,
}

impl Default for Values {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            workers: None,
            data_dir: PathBuf::from("./data"),
            mongo_uri: None,
            db_uri: None,
            mongo_db: "conversations".into(),
            mongo_write_concern: WriteConcern::Majority,
            sqlite_synchronous: Synchronous::Full,
            sqlite_max_size_mb: None,
            storage_timeout_ms: 5000,
            body_limit_bytes: 128 << 10,
            batch_body_limit_bytes: 4 << 20,
            payload_limit_bytes: 64 << 10,
            metadata_limit_bytes: 16 << 10,
            page_default_limit: 50,
            page_max_limit: 500,
            request_header_timeout_ms: 5000,
            request_body_timeout_ms: 10_000,
            keep_alive_seconds: 5,
            shutdown_grace_seconds: 30,
            stream_max: 1000,
            stream_max_per_project: 250,
            stream_keepalive_seconds: 15,
            stream_poll_ms: 250,
            rate_limit_per_key: None,
            retention: None,
            retention_sweep_interval: "1h".into(),
            tombstone_retention: "30d".into(),
            log_format: LogFormat::Pretty,
            rust_log: "info".into(),
            admin_key: None,
            allow_open: false,
            webhook_allow_private: false,
            webhook_timeout: "15s".into(),
            webhook_retry_schedule: domain::webhook::RetrySchedule::DEFAULT.into(),
            webhook_disable_after: "5d".into(),
            config_file: None,
        }
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("mongo_uri", &self.mongo_uri.as_ref().map(|_| "<hidden>"))
            .field("db_uri", &self.db_uri.as_ref().map(|_| "<hidden>"))
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod docs_tests {
    use super::*;

    /// `(VARIABLE, default)` for every field of [`Values`], the default as the docs write it
    /// (`None` when unset by default).
    fn defaults() -> Vec<(String, Option<String>)> {
        let values = serde_json::to_value(Values::default()).unwrap();
        values
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| {
                let default = match value {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (key.to_ascii_uppercase(), default)
            })
            .collect()
    }

    #[test]
    fn every_field_has_a_meaning_and_every_meaning_a_field() {
        let fields: Vec<String> = defaults().into_iter().map(|(key, _)| key).collect();
        let documented: Vec<String> = SETTINGS.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(fields, documented);
    }

    /// Rows of the README's short table must agree with the code too.
    #[test]
    fn the_readme_table_states_the_real_defaults() {
        let readme = include_str!("../../../../README.md");
        for (key, default) in defaults() {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{key}`")));
            if let (Some(row), Some(default)) = (row, default) {
                assert!(row.contains(&format!("`{default}`")), "{key}: {row}");
            }
        }
    }

    #[test]
    fn every_setting_is_documented_in_operations_md() {
        let doc = include_str!("../../../../docs/operations.md");
        for (key, default) in defaults() {
            let row = doc
                .lines()
                .find(|l| l.starts_with("| `") && l.contains(&format!("`{key}`")))
                .unwrap_or_else(|| panic!("{key} is missing from docs/operations.md"));
            if let Some(default) = default {
                assert!(
                    row.contains(&format!("`{default}`")),
                    "{key}: default {default} in {row}"
                );
            }
        }
    }
}
