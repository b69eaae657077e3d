//! Layered configuration, as SPEC "Configuration" orders it: built-in defaults < an optional
//! TOML file < a `.env` file in the working directory < the process environment (a variable set
//! in the real environment is never overridden by `.env`).
//!
//! Two steps, each in one place: the `config` crate merges the layers and deserializes them into
//! [`Values`] — one typed field per setting, named after its variable, with its default — and
//! [`Settings::check`] applies the ranges and the rules between settings and shapes what
//! start-up needs. A bad value stops start-up with one line naming the setting; the value of a
//! secret ([`SECRETS`]) is never shown.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use infra_sqlite::Synchronous;
use serde::{Deserialize, Serialize};

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
        "most live event streams (SSE) open at once on this instance; beyond: 503",
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
        "CONFIG_FILE",
        "a TOML file with any of these keys (default: service.toml if present)",
    ),
];

/// Settings whose values are never shown: not in errors, not in `Debug`.
pub const SECRETS: &[&str] = &["MONGO_URI", "DB_URI", "ADMIN_KEY"];

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
    pub stream_keepalive_seconds: u64,
    pub stream_poll_ms: u64,
    pub retention: Option<String>,
    pub retention_sweep_interval: String,
    pub tombstone_retention: String,
    #[serde(with = "text")]
    pub log_format: LogFormat,
    pub rust_log: String,
    pub admin_key: Option<String>,
    pub allow_open: bool,
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
            stream_keepalive_seconds: 15,
            stream_poll_ms: 250,
            retention: None,
            retention_sweep_interval: "1h".into(),
            tombstone_retention: "30d".into(),
            log_format: LogFormat::Pretty,
            rust_log: "info".into(),
            admin_key: None,
            allow_open: false,
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

/// How many MongoDB nodes must acknowledge a write before it is acknowledged to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteConcern {
    Majority,
    Nodes(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The `ADMIN_KEY`: shown by nothing (`Debug` hides it).
#[derive(Clone)]
pub struct AdminKey(String);

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
}

/// A setting with a bad value.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the layers from the process environment and the working directory.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::vars(), Path::new("."))
    }

    /// Reads the layers from `env` and the files in `dir` (tests pass their own).
    pub fn load_from(
        env: impl IntoIterator<Item = (String, String)>,
        dir: &Path,
    ) -> Result<Self, ConfigError> {
        Self::check(Values::load_from(env, dir)?)
    }

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
                stream_keep_alive: within(
                    "STREAM_KEEPALIVE_SECONDS",
                    v.stream_keepalive_seconds,
                    1,
                    3_600,
                )
                .map(Duration::from_secs)?,
                stream_poll: millis("STREAM_POLL_MS", v.stream_poll_ms, 1_000)?,
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
        })
    }
}

impl Values {
    /// Merges the layers: defaults < TOML file < `.env` in `dir` < `env`.
    pub fn load_from(
        env: impl IntoIterator<Item = (String, String)>,
        dir: &Path,
    ) -> Result<Self, ConfigError> {
        // `.env` first, then the real environment over it: the environment wins.
        let mut variables: HashMap<String, String> =
            read_dotenv(&dir.join(".env"))?.into_iter().collect();
        variables.extend(env);
        let variables = settings_only(variables)?;
        let (file, required) = match variables.get("config_file") {
            Some(path) => (dir.join(path), true),
            None => (dir.join("service.toml"), false),
        };
        Config::builder()
            .add_source(
                File::from(file.clone())
                    .format(FileFormat::Toml)
                    .required(required),
            )
            .add_source(Environment::default().source(Some(variables)))
            .build()
            .map_err(|e| ConfigError(format!("cannot read {}: {}", file.display(), one_line(&e))))?
            .try_deserialize()
            .map_err(|e| explain(&e))
    }
}

/// The variables that are settings, keyed as the `config` crate keys them (lower case), values
/// trimmed. An empty variable is an unset one, except for a setting that has a default: that
/// is refused (`HOST=` is a mistake, not a wish for `127.0.0.1`).
fn settings_only(
    variables: HashMap<String, String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut settings = HashMap::new();
    for (key, value) in variables {
        let Some(&(name, _)) = SETTINGS.iter().find(|(name, _)| *name == key) else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            if has_default(name) {
                return Err(ConfigError(format!("{name} must not be empty")));
            }
            continue;
        }
        settings.insert(name.to_ascii_lowercase(), value.to_owned());
    }
    Ok(settings)
}

/// Whether the setting `name` has a default (its field is not an `Option` left unset).
fn has_default(name: &str) -> bool {
    let defaults = Config::try_from(&Values::default()).expect("the defaults serialize");
    defaults
        .get::<config::Value>(&name.to_ascii_lowercase())
        .is_ok_and(|v| !matches!(v.kind, config::ValueKind::Nil))
}

/// One line naming the setting, from a deserialization error; a secret's value is left out.
fn explain(error: &config::ConfigError) -> ConfigError {
    use config::ConfigError as E;
    let name = |key: &Option<String>| key.as_deref().unwrap_or("?").to_ascii_uppercase();
    ConfigError(match error {
        E::Type {
            key,
            unexpected,
            expected,
            ..
        } => {
            let name = name(key);
            if SECRETS.contains(&name.as_str()) {
                format!("{name} must be {expected}")
            } else {
                format!("{name} must be {expected}, not {unexpected}")
            }
        }
        E::At { error, key, .. } => {
            let reason = one_line(error);
            let glue = if reason.starts_with("must ") {
                " "
            } else {
                ": "
            };
            format!("{}{glue}{reason}", name(key))
        }
        other => one_line(other),
    })
}

fn one_line(error: &impl fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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

/// A duration written as a positive whole number and a unit: `500ms`, `30s`, `15m`, `12h`, `90d`.
fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "{key} must be a duration such as 90d, 12h, 15m, 30s or 500ms, not {text:?}"
        ))
    };
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(millis_per) {
        // At most about a thousand years.
        Some(ms) if n > 0 && ms <= 1_000 * 365 * 86_400_000 => Ok(Duration::from_millis(ms)),
        _ => Err(bad()),
    }
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

/// Checks a MongoDB connection string with the driver's own parser (no network). The error
/// says what is wrong without the value: a connection string may hold a password.
fn mongo_uri(key: &str, uri: &str) -> Result<String, ConfigError> {
    match mongodb::options::ConnectionString::parse(uri) {
        Ok(_) => Ok(uri.to_owned()),
        Err(e) => {
            let reason = match &*e.kind {
                mongodb::error::ErrorKind::InvalidArgument { message, .. } => {
                    without_secrets(message, uri)
                }
                _ => "it cannot be parsed".to_owned(),
            };
            Err(ConfigError(format!(
                "{key} is not a MongoDB connection string (mongodb://[user:password@]host[:port][/database][?options]): {reason} (value not shown: it may hold a password)"
            )))
        }
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
    let mut message = one_line(&message);
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

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    dotenvy::from_path_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError(format!("cannot read {}: {}", path.display(), one_line(&e))))
}

/// A setting written as a word (or a number), e.g. `LOG_FORMAT=json`, `MONGO_WRITE_CONCERN=2`.
trait Word: Sized + Copy + PartialEq + 'static {
    /// Each word and its value; words are matched without regard to case.
    const WORDS: &'static [(&'static str, Self)];

    /// What is accepted, for the error message.
    fn expected() -> String {
        Self::WORDS
            .iter()
            .map(|(word, _)| *word)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    fn parse(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, value)| *value)
    }

    fn word(&self) -> String {
        Self::WORDS
            .iter()
            .find(|(_, value)| value == self)
            .map(|(word, _)| (*word).to_owned())
            .unwrap_or_default()
    }
}

impl Word for LogFormat {
    const WORDS: &'static [(&'static str, Self)] =
        &[("pretty", Self::Pretty), ("json", Self::Json)];
}

impl Word for Synchronous {
    const WORDS: &'static [(&'static str, Self)] =
        &[("full", Self::Full), ("normal", Self::Normal)];
}

impl Word for WriteConcern {
    const WORDS: &'static [(&'static str, Self)] = &[("majority", Self::Majority)];

    fn expected() -> String {
        "majority or a number of nodes from 1 to 50".into()
    }

    fn parse(word: &str) -> Option<Self> {
        match word.parse() {
            Ok(n) if (1..=50).contains(&n) => Some(Self::Nodes(n)),
            Ok(_) => None,
            Err(_) => (word.eq_ignore_ascii_case("majority")).then_some(Self::Majority),
        }
    }

    fn word(&self) -> String {
        match self {
            Self::Majority => "majority".into(),
            Self::Nodes(n) => n.to_string(),
        }
    }
}

/// Serde for [`Word`] settings: a string (or a TOML number) in, the word out.
mod text {
    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    use super::Word;

    pub fn serialize<T: Word, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.word())
    }

    pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        struct Text<T>(std::marker::PhantomData<T>);

        impl<T: Word> Visitor<'_> for Text<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&T::expected())
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
                T::parse(v.trim())
                    .ok_or_else(|| E::custom(format!("must be {}, not {v:?}", T::expected())))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(Text(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)], dir: &Path) -> Result<Settings, ConfigError> {
        Settings::load_from(env.iter().map(|(k, v)| (k.to_string(), v.to_string())), dir)
    }

    #[test]
    fn defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = load(&[], dir.path()).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 3000));
        assert!(matches!(
            s.storage,
            StorageSettings::Sqlite { ref path, synchronous: Synchronous::Full, max_size_bytes: None }
                if path == Path::new("./data/sessions.db")
        ));
        assert_eq!(s.limits.payload_bytes, 65_536);
        assert_eq!(s.limits.page_max, 500);
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn retention_durations() {
        let dir = tempfile::tempdir().unwrap();
        let s = load(&[], dir.path()).unwrap();
        assert_eq!(
            s.retention,
            app::Retention {
                sessions: None,
                tombstones: Duration::from_secs(30 * 86_400),
                every: Duration::from_secs(3_600),
            }
        );
        let s = load(
            &[
                ("RETENTION", "90d"),
                ("RETENTION_SWEEP_INTERVAL", "30s"),
                ("TOMBSTONE_RETENTION", "500ms"),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(s.retention.sessions, Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(s.retention.every, Duration::from_secs(30));
        assert_eq!(s.retention.tombstones, Duration::from_millis(500));
        for (key, bad) in [
            ("RETENTION", "90"),
            ("RETENTION", "0d"),
            ("RETENTION", "1w"),
            ("RETENTION", "-5s"),
            ("RETENTION_SWEEP_INTERVAL", "soon"),
            ("TOMBSTONE_RETENTION", "99999999999999d"),
        ] {
            let e = load(&[(key, bad)], dir.path()).unwrap_err().to_string();
            assert!(
                e.contains(key) && e.contains("duration"),
                "{key}={bad}: {e}"
            );
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("service.toml"),
            "port = 4000\nhost = \"0.0.0.0\"\nworkers = 3\nmongo_write_concern = 2\nallow_open = true\n",
        )
        .unwrap();
        let s = load(&[], dir.path()).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.workers),
            ("0.0.0.0", 4000, Some(3))
        );
        let s = load(&[("PORT", "5000")], dir.path()).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 5000));
        // `.env` beats the file ...
        std::fs::write(dir.path().join(".env"), "PORT=6000\nWORKERS=4\n").unwrap();
        let s = load(&[], dir.path()).unwrap();
        assert_eq!((s.port, s.workers), (6000, Some(4)));
        // ... and the process environment beats `.env` (SPEC "Configuration").
        let s = load(&[("PORT", "5000")], dir.path()).unwrap();
        assert_eq!((s.port, s.workers), (5000, Some(4)));
    }

    #[test]
    fn a_config_file_named_in_dotenv_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.toml"), "port = 4100\n").unwrap();
        std::fs::write(dir.path().join(".env"), "CONFIG_FILE=other.toml\n").unwrap();
        assert_eq!(load(&[], dir.path()).unwrap().port, 4100);
    }

    #[test]
    fn typed_values_from_each_layer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("service.toml"),
            "log_format = \"json\"\nsqlite_synchronous = \"normal\"\nsqlite_max_size_mb = 2\n",
        )
        .unwrap();
        let s = load(&[("KEEP_ALIVE_SECONDS", " 7 ")], dir.path()).unwrap();
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(matches!(
            s.storage,
            StorageSettings::Sqlite {
                synchronous: Synchronous::Normal,
                max_size_bytes: Some(2_097_152),
                ..
            }
        ));
        assert_eq!(s.keep_alive, Duration::from_secs(7));
        // An empty optional variable is an unset one.
        let s = load(&[("WORKERS", ""), ("MONGO_URI", "")], dir.path()).unwrap();
        assert_eq!(s.workers, None);
        assert!(matches!(s.storage, StorageSettings::Sqlite { .. }));
    }

    #[test]
    fn mongo_uri_or_db_uri_selects_mongo() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["MONGO_URI", "DB_URI"] {
            let s = load(
                &[
                    (key, "mongodb://h/"),
                    ("MONGO_DB", "x"),
                    ("MONGO_WRITE_CONCERN", "3"),
                ],
                dir.path(),
            )
            .unwrap();
            assert!(matches!(
                s.storage,
                StorageSettings::Mongo { ref database, write_concern: WriteConcern::Nodes(3), .. }
                    if database == "x"
            ));
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        for (key, value) in [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("PAYLOAD_LIMIT_BYTES", "-1"),
            ("LOG_FORMAT", "xml"),
            ("SQLITE_SYNCHRONOUS", "off"),
            ("PAGE_DEFAULT_LIMIT", "900"),
            ("BODY_LIMIT_BYTES", "100"),
            ("HOST", ""),
            ("STORAGE_TIMEOUT_MS", "0"),
            ("WORKERS", "0"),
            ("MONGO_WRITE_CONCERN", "most"),
        ] {
            let err = load(&[(key, value)], dir.path()).unwrap_err().to_string();
            assert!(err.contains(key), "{key}={value}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let err = load(
            &[
                ("MONGO_URI", "mongodb://h/"),
                ("MONGO_WRITE_CONCERN", "most"),
            ],
            dir.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("MONGO_WRITE_CONCERN"), "{err}");
        let err = load(&[("CONFIG_FILE", "missing.toml")], dir.path()).unwrap_err();
        assert!(err.to_string().contains("missing.toml"), "{err}");
    }

    /// A bad value in the file names its setting; a key that is no setting is refused by name.
    #[test]
    fn bad_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        for (file, named) in [("port = \"eighty\"\n", "PORT"), ("prot = 4000\n", "prot")] {
            std::fs::write(dir.path().join("service.toml"), file).unwrap();
            let err = load(&[], dir.path()).unwrap_err().to_string();
            assert!(err.contains(named), "{file}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn open_mode_is_refused_off_loopback_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        for host in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
            let s = load(&[("HOST", host)], dir.path()).unwrap();
            assert!(s.admin_key.is_none(), "{host}: open mode");
        }
        for host in ["0.0.0.0", "10.1.2.3", "::", "api.example"] {
            let err = load(&[("HOST", host)], dir.path()).unwrap_err().to_string();
            assert!(
                err.contains("ADMIN_KEY") && err.contains("ALLOW_OPEN") && !err.contains('\n'),
                "{host}: {err}"
            );
            assert!(load(&[("HOST", host), ("ALLOW_OPEN", "true")], dir.path()).is_ok());
            let key = "k".repeat(32);
            let s = load(&[("HOST", host), ("ADMIN_KEY", &key)], dir.path()).unwrap();
            assert_eq!(s.admin_key.unwrap().expose(), key);
        }
        let err = load(&[("ALLOW_OPEN", "perhaps")], dir.path()).unwrap_err();
        assert!(err.to_string().contains("ALLOW_OPEN"), "{err}");
    }

    #[test]
    fn the_admin_key_is_long_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let short = "hunter2-but-31-characters-long!";
        assert_eq!(short.len(), 31);
        let err = load(&[("ADMIN_KEY", short)], dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ADMIN_KEY") && err.contains("32"), "{err}");
        assert!(!err.contains("hunter"), "{err}");
        let long = "hunter2-and-then-some-more-characters";
        let s = load(&[("ADMIN_KEY", long)], dir.path()).unwrap();
        assert!(!format!("{s:?}").contains("hunter"), "{s:?}");
        let values = Values::load_from([("ADMIN_KEY".into(), long.into())], dir.path());
        assert!(!format!("{values:?}").contains("hunter"));
    }

    #[test]
    fn a_bad_mongo_uri_never_shows_its_password() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["MONGO_URI", "DB_URI"] {
            for uri in [
                "mongodb://app:hunter2@db.example:port/",
                "mongodb://app:hunter2@/conversations",
                "mongodb://app:hunter2@db.example:27017,db2:x/",
                "mongodb://app:hunter2@[::1/",
                "mongodb://app:hunter2@db.example/?maxPoolSize=banana",
                "mongodb://app:hunter2@db.example/?authSource=",
                "mongodb://app:hunter%32@db.example:0x/",
                "mongodb://app:hunter2@db:27017@other/",
                "mongodb://app:hunter2:more@db/",
                "mongodb://app:hunter2/conversations",
                "mongodb://db:27017,app:hunter2/",
                "postgres://app:hunter2@db.example/",
                "app:hunter2@db.example",
                "mongodb+srv://app:hunter2@db.example:27017/",
            ] {
                let err = load(&[(key, uri)], dir.path())
                    .map(|_| panic!("{uri} is refused"))
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(key), "{uri}: {err}");
                assert!(!err.contains("hunter"), "{uri} leaks: {err}");
                assert!(!err.contains('\n'), "one line: {err}");
                let debug = format!(
                    "{:?}",
                    Values::load_from([(key.into(), uri.into())], dir.path())
                );
                assert!(!debug.contains("hunter"), "{debug}");
            }
        }
        let s = load(
            &[("MONGO_URI", "mongodb://app:hunter2@db.example/")],
            dir.path(),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter"), "{s:?}");
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
        let readme = include_str!("../../../README.md");
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
        let doc = include_str!("../../../docs/operations.md");
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
