//! The file and the environment as one layered source (figment): the TOML
//! file, then every `CONSENTD_<TABLE>__<KEY>` variable over it
//! (`CONSENTD_LIMITS__RATE_PER_KEY=500` sets `[limits] rate_per_key`;
//! deeper tables nest the same way, `CONSENTD_EVIDENCE__RETENTION__DAYS`).
//! Variables without `__` are the flags' own (`CONSENTD_DATABASE_URL`),
//! read by clap, which sits over both.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Serialized};

use super::ConfigError;
use super::file::FileConfig;

/// The prefix of every configuration variable.
const PREFIX: &str = "CONSENTD_";
/// What separates a variable's table names and its key.
const NESTING: &str = "__";

/// The file (if any) with the environment over it.
pub(super) fn file_and_environment(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
    let mut layers = Figment::new();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        // Parsed here rather than by figment, so that a syntax error names
        // the line as before.
        let table: toml::Table = toml::from_str(&text)
            .map_err(|err| ConfigError::Parse { path: path.to_owned(), message: err.to_string() })?;
        layers = layers.merge(Serialized::defaults(table));
    }
    layers = layers.merge(Env::prefixed(PREFIX).filter(|key| key.as_str().contains(NESTING)).split(NESTING));
    layers.extract().map_err(|err| layer_error(err, path))
}

/// Names the variable, or the file, a bad value came from.
fn layer_error(err: figment::Error, path: Option<&Path>) -> ConfigError {
    let key = err.path.join(".");
    let message = if key.is_empty() { err.kind.to_string() } else { format!("{key}: {}", err.kind) };
    let from_environment = err.metadata.as_ref().is_some_and(|source| source.name.contains("environment"));
    match path {
        Some(path) if !from_environment => ConfigError::Parse { path: path.to_owned(), message },
        _ => ConfigError::Environment {
            variable: format!("{PREFIX}{}", err.path.join(NESTING).to_uppercase()),
            message,
        },
    }
}
