//! The command line: `serve`'s flags and those the admin commands share,
//! each with its environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::urls::{validate_database_url, validate_key_secret};
use super::{AuthMode, ConfigError};
use consent_store::StoreOptions;
use consentd_telemetry::LogFormat;

/// Default database: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://consentd.db?mode=rwc";
pub(super) const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:50051";
pub(super) const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";
pub(super) const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 20_000;

/// `--database-url`, shared by every command that opens the store.
#[derive(Debug, Clone, Default, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`
    /// [default: sqlite://consentd.db?mode=rwc]
    #[arg(long, env = "CONSENTD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// `--read-database-url`: PostgreSQL hot standbys that serve reads.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadDatabaseArgs {
    /// A PostgreSQL hot standby of the database (streaming replication) that
    /// serves reads; repeatable. In the environment, comma-separated
    #[arg(
        long = "read-database-url",
        env = "CONSENTD_READ_DATABASE_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub read_database_urls: Vec<String>,
}

/// Flags of `consentd serve`. Every flag is optional so that the file and the
/// defaults can fill what flags and environment leave unset.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub read_databases: ReadDatabaseArgs,
    /// gRPC listen address [default: 0.0.0.0:50051]
    #[arg(long, env = "CONSENTD_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    /// HTTP listen address (health, readiness) [default: 0.0.0.0:8080]
    #[arg(long, env = "CONSENTD_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Authentication mode [default: required]
    #[arg(long, env = "CONSENTD_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// TOML configuration file; flags and environment override it
    #[arg(long, env = "CONSENTD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Do not apply pending migrations on start (run `consentd migrate` instead)
    #[arg(long, env = "CONSENTD_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Log format [default: pretty on a terminal, json otherwise]
    #[arg(long, env = "CONSENTD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    pub key_secret: KeySecretArgs,
    /// TLS certificate chain (PEM) for the gRPC and HTTP listeners
    #[arg(long, env = "CONSENTD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, env = "CONSENTD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) client certificates must chain to; makes them
    /// mandatory (mTLS)
    #[arg(long, env = "CONSENTD_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// A plain-HTTP port serving only /healthz, /readyz and /metrics, for
    /// probes when the main listeners use TLS [default: none]
    #[arg(long, env = "CONSENTD_HEALTH_LISTEN")]
    pub health_listen: Option<SocketAddr>,
    /// How long in-flight calls may take to finish after SIGTERM/SIGINT, in
    /// milliseconds [default: 20000]
    #[arg(long, env = "CONSENTD_SHUTDOWN_GRACE_MS")]
    pub shutdown_grace_ms: Option<u64>,
}

/// The options of the commands that act on the store directly (`migrate`,
/// `keys`, `tenants`): the same database URL, key secret and config file as
/// `serve`, with the same precedence.
#[derive(Debug, Clone, Default, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub key_secret: KeySecretArgs,
    /// TOML configuration file (its database_url and key_secret are used)
    #[arg(long, env = "CONSENTD_CONFIG")]
    pub config: Option<PathBuf>,
}

impl AdminArgs {
    /// The store's options and the key secret: flags and environment, then the
    /// file, then the defaults.
    pub fn resolve(&self) -> Result<(StoreOptions, Option<String>), ConfigError> {
        let file = super::layers::file_and_environment(self.config.as_deref())?;
        let url = self
            .database
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        validate_database_url(&url)?;
        let key_secret = self.key_secret.key_secret.clone().or(file.key_secret);
        validate_key_secret(key_secret.as_deref())?;
        let mut store = StoreOptions::new(url);
        store.master_key = self.key_secret.master_key(file.evidence.as_ref())?;
        Ok((store, key_secret))
    }
}

/// `--key-secret`, shared by `serve` and the key commands (they must agree).
#[derive(Debug, Clone, Default, Args)]
pub struct KeySecretArgs {
    /// Server secret keying the API-key hashes (HMAC-SHA256). Give `serve`
    /// and `keys` the same one. Unset: a secret generated once and kept in
    /// the database
    #[arg(long, env = "CONSENTD_KEY_SECRET", hide_env_values = true)]
    pub key_secret: Option<String>,
    /// File holding the master key the subjects' data keys are wrapped
    /// under (32 bytes as hex or base64; `openssl rand -hex 32`). Give
    /// `serve` and the admin commands the same one. Unset: `[evidence]
    /// master_key_file`, else a key generated once and kept in the database
    #[arg(long, env = "CONSENTD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

impl KeySecretArgs {
    /// The master key the flag or `[evidence] master_key_file` names, read.
    pub fn master_key(
        &self,
        file: Option<&super::EvidenceSettings>,
    ) -> Result<Option<consent_vault::MasterKey>, ConfigError> {
        let path = self.master_key_file.clone().or_else(|| file.and_then(|e| e.master_key_file.clone()));
        let Some(path) = path else { return Ok(None) };
        let invalid = |message: String| ConfigError::Invalid { setting: "evidence.master_key_file", message };
        let text =
            std::fs::read_to_string(&path).map_err(|err| invalid(format!("{}: {err}", path.display())))?;
        consent_vault::MasterKey::parse(&text)
            .map(Some)
            .map_err(|err| invalid(format!("{}: {err}", path.display())))
    }
}

/// A listen address from its default text (which always parses).
pub(super) fn parse_default(addr: &str) -> SocketAddr {
    addr.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}
