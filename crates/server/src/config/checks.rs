//! From [`Values`] to [`Settings`], what start-up needs: the ranges of each setting and the
//! rules between settings (which store, limits that must fit in each other, keys or open mode).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use infra_sqlite::Synchronous;

use super::error::ConfigError;
use super::secrets::{AdminKey, mongo_uri};
use super::settings::Values;
use super::words::{LogFormat, WriteConcern};

/// Where the data lives.
#[derive(Clone)]
pub enum StorageSettings {
    Sqlite {
        path: PathBuf,
        synchronous: Synchronous,
        max_size_bytes: Option<u64>,
    },
    Mongo {
        uri: String,
        database: String,
        write_concern: WriteConcern,
    },
}

impl fmt::Debug for StorageSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite {
                path,
                synchronous,
                max_size_bytes,
            } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("synchronous", synchronous)
                .field("max_size_bytes", max_size_bytes)
                .finish(),
            // The connection string may hold a password.
            Self::Mongo {
                database,
                write_concern,
                ..
            } => f
                .debug_struct("Mongo")
                .field("uri", &"<hidden>")
                .field("database", database)
                .field("write_concern", write_concern)
                .finish(),
        }
    }
}

/// Whether `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What start-up needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub workers: Option<usize>,
    pub storage: StorageSettings,
    pub storage_timeout: Duration,
    pub limits: api::Limits,
    pub shutdown_grace: Duration,
    pub header_timeout: Duration,
    pub keep_alive: Duration,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// `RETENTION`, `RETENTION_SWEEP_INTERVAL`, `TOMBSTONE_RETENTION`.
    pub retention: app::Retention,
    /// Keys mode when set; open mode (no credentials, project `default`) when not.
    pub admin_key: Option<AdminKey>,
    /// `WEBHOOK_ALLOW_PRIVATE`: which destinations webhook endpoints may name.
    pub webhook_destinations: domain::Destinations,
    /// `WEBHOOK_TIMEOUT`: one attempt, reply included.
    pub webhook_timeout: Duration,
    /// `WEBHOOK_RETRY_SCHEDULE`.
    pub webhook_schedule: domain::webhook::RetrySchedule,
    /// `WEBHOOK_DISABLE_AFTER`: an endpoint failing every attempt this long is disabled.
    pub webhook_disable_after: Duration,
}

impl Settings {
    /// Applies the ranges and the rules between settings.
    pub fn check(v: Values) -> Result<Self, ConfigError> {
        let storage = match [&v.mongo_uri, &v.db_uri]
            .into_iter()
            .zip(["MONGO_URI", "DB_URI"])
            .find_map(|(uri, key)| Some((uri.as_deref().filter(|u| !u.trim().is_empty())?, key)))
        {
            Some((uri, key)) => StorageSettings::Mongo {
                uri: mongo_uri(key, uri)?,
                database: non_empty("MONGO_DB", &v.mongo_db)?,
                write_concern: v.mongo_write_concern,
            },
            None => StorageSettings::Sqlite {
                path: PathBuf::from(non_empty("DATA_DIR", &v.data_dir.to_string_lossy())?)
                    .join("sessions.db"),
                synchronous: v.sqlite_synchronous,
                max_size_bytes: v
                    .sqlite_max_size_mb
                    .map(|mb| within("SQLITE_MAX_SIZE_MB", mb, 1, 1 << 30).map(|mb| mb << 20))
                    .transpose()?,
            },
        };
        let payload_bytes = within("PAYLOAD_LIMIT_BYTES", v.payload_limit_bytes, 2, 16 << 20)?;
        let metadata_bytes = within("METADATA_LIMIT_BYTES", v.metadata_limit_bytes, 2, 16 << 20)?;
        let body_bytes = within("BODY_LIMIT_BYTES", v.body_limit_bytes, 64, 64 << 20)?;
        if body_bytes <= payload_bytes.max(metadata_bytes) {
            return Err(ConfigError(format!(
                "BODY_LIMIT_BYTES ({body_bytes}) must exceed PAYLOAD_LIMIT_BYTES ({payload_bytes}) and METADATA_LIMIT_BYTES ({metadata_bytes})"
            )));
        }
        let batch_body_bytes = within(
            "BATCH_BODY_LIMIT_BYTES",
            v.batch_body_limit_bytes,
            64,
            256 << 20,
        )?;
        if batch_body_bytes < body_bytes {
            return Err(ConfigError(format!(
                "BATCH_BODY_LIMIT_BYTES ({batch_body_bytes}) must be at least BODY_LIMIT_BYTES ({body_bytes})"
            )));
        }
        let page_max = within("PAGE_MAX_LIMIT", v.page_max_limit, 1, 10_000)?;
        let page_default = within("PAGE_DEFAULT_LIMIT", v.page_default_limit, 1, page_max)?;
        let host = non_empty("HOST", &v.host)?;
        let admin_key = match v.admin_key {
            Some(key) if key.chars().count() < AdminKey::MIN_LEN => {
                return Err(ConfigError(format!(
                    "ADMIN_KEY must be at least {} characters",
                    AdminKey::MIN_LEN
                )));
            }
            key => key.map(AdminKey),
        };
        if admin_key.is_none() && !v.allow_open && !is_loopback(&host) {
            return Err(ConfigError(format!(
                "HOST={host} is not a loopback address and ADMIN_KEY is not set: set ADMIN_KEY \
                 (at least {} characters) to require API keys, or ALLOW_OPEN=true to serve \
                 without credentials",
                AdminKey::MIN_LEN
            )));
        }
        let millis = |key, value, max| within(key, value, 1, max).map(Duration::from_millis);
        let seconds = |key, value| within(key, value, 0, 3_600).map(Duration::from_secs);
        Ok(Self {
            host,
            port: within("PORT", v.port, 0, 65_535)? as u16,
            workers: v
                .workers
                .map(|n| within("WORKERS", n, 1, 1024).map(as_usize))
                .transpose()?,
            storage,
            storage_timeout: millis("STORAGE_TIMEOUT_MS", v.storage_timeout_ms, 600_000)?,
            limits: api::Limits {
                body_bytes: as_usize(body_bytes),
                batch_body_bytes: as_usize(batch_body_bytes),
                payload_bytes: as_usize(payload_bytes),
                metadata_bytes: as_usize(metadata_bytes),
                page_default: page_default as u32,
                page_max: page_max as u32,
                body_timeout: millis(
                    "REQUEST_BODY_TIMEOUT_MS",
                    v.request_body_timeout_ms,
                    3_600_000,
                )?,
                stream_max: as_usize(within("STREAM_MAX", v.stream_max, 0, 1_000_000)?),
                stream_max_per_project: as_usize(within(
                    "STREAM_MAX_PER_PROJECT",
                    v.stream_max_per_project,
                    0,
                    1_000_000,
                )?),
                stream_keep_alive: within(
                    "STREAM_KEEPALIVE_SECONDS",
                    v.stream_keepalive_seconds,
                    1,
                    3_600,
                )
                .map(Duration::from_secs)?,
                stream_poll: millis("STREAM_POLL_MS", v.stream_poll_ms, 1_000)?,
                rate_per_key: v
                    .rate_limit_per_key
                    .map(|n| within("RATE_LIMIT_PER_KEY", n, 1, 1_000_000).map(|n| n as u32))
                    .transpose()?,
            },
            header_timeout: millis(
                "REQUEST_HEADER_TIMEOUT_MS",
                v.request_header_timeout_ms,
                3_600_000,
            )?,
            keep_alive: seconds("KEEP_ALIVE_SECONDS", v.keep_alive_seconds)?,
            shutdown_grace: seconds("SHUTDOWN_GRACE_SECONDS", v.shutdown_grace_seconds)?,
            log_format: v.log_format,
            log_filter: v.rust_log,
            retention: app::Retention {
                sessions: v
                    .retention
                    .as_deref()
                    .map(|text| duration("RETENTION", text))
                    .transpose()?,
                tombstones: duration("TOMBSTONE_RETENTION", &v.tombstone_retention)?,
                every: duration("RETENTION_SWEEP_INTERVAL", &v.retention_sweep_interval)?,
            },
            admin_key,
            webhook_destinations: if v.webhook_allow_private {
                domain::Destinations::AllowPrivate
            } else {
                domain::Destinations::PublicOnly
            },
            webhook_timeout: match duration("WEBHOOK_TIMEOUT", &v.webhook_timeout)? {
                t if t <= Duration::from_secs(300) => t,
                _ => return Err(ConfigError("WEBHOOK_TIMEOUT must be at most 5m".into())),
            },
            webhook_schedule: domain::webhook::RetrySchedule::parse(&v.webhook_retry_schedule)
                .map_err(|e| ConfigError(format!("WEBHOOK_RETRY_SCHEDULE: each wait {}", e.0)))?,
            webhook_disable_after: duration("WEBHOOK_DISABLE_AFTER", &v.webhook_disable_after)?,
        })
    }
}

fn within(key: &str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError(format!(
            "{key} must be an integer from {min} to {max}, not {value}"
        )))
    }
}

/// A duration written as a positive whole number and a unit: `500ms`, `30s`, `15m`, `12h`, `90d`
/// (the domain's rule, [`domain::time::parse_duration_ms`]).
fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    domain::time::parse_duration_ms(text)
        .map(Duration::from_millis)
        .map_err(|e| ConfigError(format!("{key} {}", e.0)))
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn non_empty(key: &str, value: &str) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError(format!("{key} must not be empty")))
    } else {
        Ok(value.to_owned())
    }
}
