//! Merging the layers: defaults < TOML file < `.env` < the process environment, into
//! [`Values`]; a bad value named in one line.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};

use super::checks::Settings;
use super::error::ConfigError;
use super::secrets::SECRETS;
use super::settings::{SETTINGS, Values};

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

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    dotenvy::from_path_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError(format!("cannot read {}: {}", path.display(), one_line(&e))))
}
