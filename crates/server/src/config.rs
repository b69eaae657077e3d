//! Layered configuration: built-in defaults < optional config file < environment variables <
//! a `.env` file in the working directory. Every setting is read as text and parsed here, so a
//! bad value stops start-up with one line naming the setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use infra_sqlite::Synchronous;

/// Every setting: environment name and default (empty: no default).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("HOST", "127.0.0.1", "address to listen on"),
    ("PORT", "3000", "port to listen on (0: any free port)"),
    ("WORKERS", "", "HTTP worker threads (default: one per core)"),
    (
        "DATA_DIR",
        "./data",
        "folder of the embedded store (sessions.db)",
    ),
    (
        "MONGO_URI",
        "",
        "MongoDB connection string; when set, MongoDB is the store",
    ),
    ("DB_URI", "", "alias of MONGO_URI"),
    ("MONGO_DB", "conversations", "MongoDB database name"),
    (
        "MONGO_WRITE_CONCERN",
        "majority",
        "majority, or a number of nodes that must acknowledge a write",
    ),
    (
        "SQLITE_SYNCHRONOUS",
        "full",
        "full (durable across power loss) or normal (across process crashes)",
    ),
    (
        "SQLITE_MAX_SIZE_MB",
        "",
        "largest size of the embedded database; writes beyond it answer 503 (default: the disk's)",
    ),
    (
        "STORAGE_TIMEOUT_MS",
        "5000",
        "a storage call taking longer answers 503",
    ),
    ("BODY_LIMIT_BYTES", "131072", "largest request body"),
    (
        "PAYLOAD_LIMIT_BYTES",
        "65536",
        "largest event payload, serialized",
    ),
    (
        "METADATA_LIMIT_BYTES",
        "16384",
        "largest session metadata, serialized",
    ),
    (
        "PAGE_DEFAULT_LIMIT",
        "50",
        "page size when no limit is given",
    ),
    (
        "PAGE_MAX_LIMIT",
        "500",
        "largest page size a client may ask for",
    ),
    (
        "REQUEST_HEADER_TIMEOUT_MS",
        "5000",
        "a request head must arrive within this time (408)",
    ),
    (
        "REQUEST_BODY_TIMEOUT_MS",
        "10000",
        "a request body must arrive within this time (408)",
    ),
    (
        "KEEP_ALIVE_SECONDS",
        "5",
        "idle keep-alive connections are closed after this time",
    ),
    (
        "SHUTDOWN_GRACE_SECONDS",
        "30",
        "time in-flight requests get to finish on SIGTERM",
    ),
    ("LOG_FORMAT", "pretty", "pretty or json"),
    (
        "RUST_LOG",
        "info",
        "log filter, e.g. info or api=debug,info",
    ),
    (
        "CONFIG_FILE",
        "",
        "a TOML file with any of these keys (default: service.toml if present)",
    ),
];

/// Where the data lives.
#[derive(Debug, Clone)]
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
}

/// A setting with a bad value.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
        let env: Vec<(String, String)> = env.into_iter().collect();
        let dotenv = read_dotenv(&dir.join(".env"))?;
        let lookup = |key: &str| {
            dotenv
                .iter()
                .chain(env.iter())
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let (file, required) = match lookup("CONFIG_FILE").filter(|v| !v.is_empty()) {
            Some(path) => (dir.join(path), true),
            None => (dir.join("service.toml"), false),
        };

        let mut builder = Config::builder();
        for (key, default, _) in SETTINGS {
            builder = builder
                .set_default(key.to_ascii_lowercase(), *default)
                .expect("defaults are strings");
        }
        builder = builder
            .add_source(
                File::from(file.clone())
                    .format(FileFormat::Toml)
                    .required(required),
            )
            .add_source(Environment::default().source(Some(env.iter().cloned().collect())));
        for (key, value) in &dotenv {
            builder = builder
                .set_override(key.to_ascii_lowercase(), value.clone())
                .expect("overrides are strings");
        }
        let layered = builder
            .build()
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", file.display())))?;
        let get = |key: &str| -> Result<String, ConfigError> {
            layered
                .get_string(&key.to_ascii_lowercase())
                .map_err(|e| ConfigError(format!("{key}: {e}")))
        };
        Self::parse(&get)
    }

    fn parse(get: &dyn Fn(&str) -> Result<String, ConfigError>) -> Result<Self, ConfigError> {
        let number = |key: &str, min: u64, max: u64| -> Result<u64, ConfigError> {
            let raw = get(key)?;
            raw.trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{key}={raw:?} must be an integer from {min} to {max}"
                    ))
                })
        };
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);

        let mongo_uri = [get("MONGO_URI")?, get("DB_URI")?]
            .into_iter()
            .find(|v| !v.trim().is_empty());
        let storage = match mongo_uri {
            Some(uri) => StorageSettings::Mongo {
                uri,
                database: non_empty("MONGO_DB", get("MONGO_DB")?)?,
                write_concern: match get("MONGO_WRITE_CONCERN")?.trim() {
                    "majority" => WriteConcern::Majority,
                    _ => WriteConcern::Nodes(number("MONGO_WRITE_CONCERN", 1, 50)? as u32),
                },
            },
            None => {
                let raw = get("SQLITE_SYNCHRONOUS")?;
                StorageSettings::Sqlite {
                    path: PathBuf::from(non_empty("DATA_DIR", get("DATA_DIR")?)?)
                        .join("sessions.db"),
                    synchronous: Synchronous::parse(&raw).ok_or_else(|| {
                        ConfigError(format!("SQLITE_SYNCHRONOUS={raw:?} must be full or normal"))
                    })?,
                    max_size_bytes: match get("SQLITE_MAX_SIZE_MB")?.trim() {
                        "" => None,
                        _ => Some(number("SQLITE_MAX_SIZE_MB", 1, 1 << 30)? << 20),
                    },
                }
            }
        };
        let payload_bytes = as_usize(number("PAYLOAD_LIMIT_BYTES", 2, 16 << 20)?);
        let metadata_bytes = as_usize(number("METADATA_LIMIT_BYTES", 2, 16 << 20)?);
        let body_bytes = as_usize(number("BODY_LIMIT_BYTES", 64, 64 << 20)?);
        if body_bytes <= payload_bytes.max(metadata_bytes) {
            return Err(ConfigError(format!(
                "BODY_LIMIT_BYTES={body_bytes} must exceed PAYLOAD_LIMIT_BYTES and METADATA_LIMIT_BYTES"
            )));
        }
        let page_max = number("PAGE_MAX_LIMIT", 1, 10_000)? as u32;
        let page_default = number("PAGE_DEFAULT_LIMIT", 1, u64::from(page_max))? as u32;
        let workers = match get("WORKERS")?.trim() {
            "" => None,
            _ => Some(as_usize(number("WORKERS", 1, 1024)?)),
        };
        let log_format = match get("LOG_FORMAT")?.trim().to_ascii_lowercase().as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError(format!(
                    "LOG_FORMAT={other:?} must be pretty or json"
                )));
            }
        };
        Ok(Self {
            host: non_empty("HOST", get("HOST")?)?,
            port: number("PORT", 0, 65_535)? as u16,
            workers,
            storage,
            storage_timeout: Duration::from_millis(number("STORAGE_TIMEOUT_MS", 1, 600_000)?),
            limits: api::Limits {
                body_bytes,
                payload_bytes,
                metadata_bytes,
                page_default,
                page_max,
                body_timeout: Duration::from_millis(number(
                    "REQUEST_BODY_TIMEOUT_MS",
                    1,
                    3_600_000,
                )?),
            },
            header_timeout: Duration::from_millis(number(
                "REQUEST_HEADER_TIMEOUT_MS",
                1,
                3_600_000,
            )?),
            keep_alive: Duration::from_secs(number("KEEP_ALIVE_SECONDS", 0, 3_600)?),
            shutdown_grace: Duration::from_secs(number("SHUTDOWN_GRACE_SECONDS", 0, 3_600)?),
            log_format,
            log_filter: get("RUST_LOG")?,
        })
    }
}

fn non_empty(key: &str, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError(format!("{key} must not be empty")))
    } else {
        Ok(value)
    }
}

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    dotenvy::from_path_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))
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
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("service.toml"),
            "port = 4000\nhost = \"0.0.0.0\"\nworkers = 3\n",
        )
        .unwrap();
        let s = load(&[], dir.path()).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.workers),
            ("0.0.0.0", 4000, Some(3))
        );
        let s = load(&[("PORT", "5000")], dir.path()).unwrap();
        assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 5000));
        std::fs::write(dir.path().join(".env"), "PORT=6000\n").unwrap();
        let s = load(&[("PORT", "5000")], dir.path()).unwrap();
        assert_eq!(s.port, 6000);
    }

    #[test]
    fn mongo_uri_or_db_uri_selects_mongo() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["MONGO_URI", "DB_URI"] {
            let s = load(&[(key, "mongodb://h/"), ("MONGO_DB", "x")], dir.path()).unwrap();
            assert!(
                matches!(s.storage, StorageSettings::Mongo { ref database, .. } if database == "x")
            );
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
}

#[cfg(test)]
mod docs_tests {
    /// Rows of the README's short table must agree with the code too.
    #[test]
    fn the_readme_table_states_the_real_defaults() {
        let readme = include_str!("../../../README.md");
        for (key, default, _) in super::SETTINGS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{key}`")));
            if let Some(row) = row
                && !default.is_empty()
            {
                assert!(row.contains(&format!("`{default}`")), "{key}: {row}");
            }
        }
    }

    #[test]
    fn every_setting_is_documented_in_operations_md() {
        let doc = include_str!("../../../docs/operations.md");
        for (key, default, _) in super::SETTINGS {
            let row = doc
                .lines()
                .find(|l| l.starts_with("| `") && l.contains(&format!("`{key}`")))
                .unwrap_or_else(|| panic!("{key} is missing from docs/operations.md"));
            if !default.is_empty() {
                assert!(
                    row.contains(&format!("`{default}`")),
                    "{key}: default {default} in {row}"
                );
            }
        }
    }
}
