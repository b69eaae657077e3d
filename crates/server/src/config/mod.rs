//! Layered configuration, as SPEC "Configuration" orders it: built-in defaults < an optional
//! TOML file < a `.env` file in the working directory < the process environment (a variable set
//! in the real environment is never overridden by `.env`).
//!
//! Two steps, each in one place: the `config` crate merges the layers ([`load`](self::load))
//! and deserializes them into [`Values`] (`settings`) — one typed field per setting, named after
//! its variable, with its default — and [`Settings::check`] (`checks`) applies the ranges and the
//! rules between settings and shapes what start-up needs. A bad value stops start-up with one
//! line naming the setting ([`ConfigError`]); the value of a secret ([`SECRETS`], `secrets`) is
//! never shown. Settings written as a word (`LOG_FORMAT=json`) are read by `words`.

mod checks;
mod error;
mod load;
mod secrets;
mod settings;
mod words;

#[cfg(test)]
mod tests;

pub use checks::{Settings, StorageSettings};
pub use error::ConfigError;
pub use secrets::{AdminKey, SECRETS};
pub use settings::{SETTINGS, Values};
pub use words::{LogFormat, WriteConcern};
