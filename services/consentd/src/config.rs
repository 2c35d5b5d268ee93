//! Configuration, layered once at start: defaults, then the TOML file, then
//! environment (`CONSENTD_*`), then flags; validated; logged with secrets
//! redacted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use consent_store::StoreOptions;

use crate::auth::Limits;
use crate::feed::FeedSettings;
use crate::telemetry::LogFormat;
use crate::tls::TlsFiles;
use crate::webhooks::WebhookSettings;
use serde::{Deserialize, Serialize};

/// Default database: an embedded SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://consentd.db?mode=rwc";
const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:50051";
const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 20_000;

/// Whether calls must present an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every call needs a valid key.
    Required,
    /// Every call acts for tenant `default` (local development only).
    Disabled,
}

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
    /// The database URL and key secret: flags and environment, then the
    /// file, then the defaults.
    pub fn resolve(&self) -> Result<(String, Option<String>), ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let url = self
            .database
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        validate_database_url(&url)?;
        let key_secret = self.key_secret.key_secret.clone().or(file.key_secret);
        validate_key_secret(key_secret.as_deref())?;
        Ok((url, key_secret))
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
}

/// The TOML file: the same settings as the flags, in snake case. (Plain
/// values come before tables, as TOML writes them.)
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    read_database_urls: Option<Vec<String>>,
    grpc_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    health_listen: Option<SocketAddr>,
    auth: Option<AuthMode>,
    key_secret: Option<String>,
    migrate_on_start: Option<bool>,
    log_format: Option<LogFormat>,
    shutdown_grace_ms: Option<u64>,
    #[serde(default)]
    store: FileStoreConfig,
    #[serde(default)]
    limits: FileLimitsConfig,
    #[serde(default)]
    subscribe: FileSubscribeConfig,
    tls: Option<FileTlsConfig>,
    #[serde(default)]
    gateway: FileGatewayConfig,
    #[serde(default)]
    webhooks: FileWebhooksConfig,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileWebhooksConfig {
    allowed_urls: Option<Vec<String>>,
    allowed_networks: Option<Vec<String>>,
    connect_timeout_ms: Option<u64>,
    response_timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    retry_initial_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    lease_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
    log_retention_hours: Option<u64>,
    max_per_tenant: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileGatewayConfig {
    adapters: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    trusted_proxies: Option<Vec<std::net::IpAddr>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileTlsConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileLimitsConfig {
    max_message_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
    max_deadline_ms: Option<u64>,
    rate_per_key: Option<u32>,
    burst_per_key: Option<u32>,
    max_in_flight: Option<usize>,
    concurrency_per_connection: Option<usize>,
    max_concurrent_streams: Option<u32>,
    keepalive_interval_ms: Option<u64>,
    keepalive_timeout_ms: Option<u64>,
    max_pending_resets: Option<usize>,
    max_error_resets: Option<usize>,
    http_header_timeout_ms: Option<u64>,
    http_body_timeout_ms: Option<u64>,
    max_http_connections: Option<usize>,
    key_lookups_per_address: Option<u32>,
    key_lookup_burst_per_address: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileSubscribeConfig {
    heartbeat_interval_ms: Option<u64>,
    buffer: Option<usize>,
    buffer_kib: Option<usize>,
    total_buffer_mib: Option<usize>,
    tail_mib: Option<usize>,
    send_timeout_ms: Option<u64>,
    max_streams: Option<usize>,
    max_streams_per_tenant: Option<usize>,
    poll_interval_ms: Option<u64>,
    tail_linger_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct FileStoreConfig {
    max_connections: Option<u32>,
    acquire_timeout_ms: Option<u64>,
    max_batch: Option<usize>,
    cache_max_mib: Option<u64>,
    notice_heartbeat_ms: Option<u64>,
    notice_max_staleness_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    standby_max_lag_ms: Option<u64>,
    standby_wait_ms: Option<u64>,
}

/// The effective configuration of `serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Store connection and group-commit settings.
    pub store: StoreOptions,
    /// gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Authentication mode.
    pub auth: AuthMode,
    /// Apply pending migrations on start.
    pub migrate_on_start: bool,
    /// Log format; `None` picks by terminal.
    pub log_format: Option<LogFormat>,
    /// How often readiness is re-checked for the health service.
    pub health_interval: Duration,
    /// Change-feed tuning.
    pub feed: FeedSettings,
    /// The API-key HMAC secret; `None`: generated and kept in the database.
    pub key_secret: Option<String>,
    /// Limits on what clients can spend.
    pub limits: ServerLimits,
    /// TLS for the gRPC and HTTP listeners; `None`: plaintext.
    pub tls: Option<TlsFiles>,
    /// A plain-HTTP health-only listener.
    pub health_listen: Option<SocketAddr>,
    /// The vendor HTTP gateway.
    pub gateway: GatewaySettings,
    /// Webhook subscriptions and their delivery.
    pub webhooks: WebhookSettings,
    /// How long in-flight calls may take to finish once shutdown began.
    pub shutdown_grace: Duration,
}

/// The vendor HTTP gateway's settings (`[gateway]` in the config file).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Enabled adapters by name [default: every adapter this build has].
    pub adapters: Vec<String>,
    /// Largest request body (bytes).
    pub max_body_bytes: usize,
    /// Peers whose `X-Forwarded-For` header is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            adapters: crate::gateway::known_adapters().into_iter().map(str::to_owned).collect(),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Limits on what one client or connection can spend. Every one has a safe
/// default; all are in the `[limits]` table of the config file.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest request message (bytes); larger ones are refused OUT_OF_RANGE.
    pub max_message_bytes: usize,
    /// About the most a page of records may weigh in a response (bytes): a
    /// page ends early, with a next page token, before it would pass it.
    /// Clients accept 4 MiB messages by default.
    pub max_response_bytes: usize,
    /// Per-key rate, burst, calls in flight and the deadline cap.
    pub calls: Limits,
    /// Calls one connection may have in flight; more are refused at once
    /// with RESOURCE_EXHAUSTED. Below `max_concurrent_streams`.
    pub concurrency_per_connection: usize,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (tonic leaves it unlimited).
    pub max_concurrent_streams: u32,
    /// HTTP/2 PING interval to detect dead peers.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// Reset streams a connection may have pending before it is closed (the
    /// HTTP/2 rapid-reset defence).
    pub max_pending_resets: usize,
    /// Streams the server itself may reset on one connection for the
    /// client's protocol errors before it closes the connection with GOAWAY
    /// (the "MadeYouReset" defence; both ports).
    pub max_error_resets: usize,
    /// How long an HTTP client may take to send its request headers (the
    /// slow-header defence; also closes idle keep-alive connections).
    pub http_header_timeout: Duration,
    /// How long an HTTP client may take to send a request's body once its
    /// headers arrived (the slow-body defence).
    pub http_body_timeout: Duration,
    /// Connections one HTTP listener holds open at once; further clients
    /// wait in the kernel's accept queue until one closes.
    pub max_http_connections: usize,
    /// API key lookups (database round trips) one client address may make;
    /// lookups of keys that exist are given back.
    pub key_lookups: crate::auth::LookupBudget,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_response_bytes: crate::grpc::DEFAULT_MAX_RESPONSE_BYTES,
            calls: Limits::default(),
            concurrency_per_connection: 128,
            max_concurrent_streams: 256,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_pending_resets: 20,
            max_error_resets: 1024,
            http_header_timeout: Duration::from_secs(10),
            http_body_timeout: Duration::from_secs(10),
            max_http_connections: 10_000,
            key_lookups: crate::auth::LookupBudget::default(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this service.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A setting has an unusable value.
    #[error("invalid setting {setting}: {message}")]
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Layers flags and environment (already merged by clap) over the file
    /// over the defaults, then validates.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let database_url = args
            .database
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let mut store = StoreOptions::new(database_url);
        if let Some(max) = file.store.max_connections {
            store.max_connections = max;
        }
        if let Some(ms) = file.store.acquire_timeout_ms {
            store.acquire_timeout = Duration::from_millis(ms);
        }
        if let Some(max) = file.store.max_batch {
            store.max_batch = max;
        }
        if let Some(mib) = file.store.cache_max_mib {
            store.cache_max_bytes = mib.saturating_mul(1024 * 1024);
        }
        if let Some(ms) = file.store.notice_heartbeat_ms {
            store.notice_heartbeat = Duration::from_millis(ms);
        }
        if let Some(ms) = file.store.notice_max_staleness_ms {
            store.notice_max_staleness = Duration::from_millis(ms);
        }
        if let Some(ms) = file.store.statement_timeout_ms {
            store.statement_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.store.standby_max_lag_ms {
            store.standby_max_lag = Duration::from_millis(ms);
        }
        if let Some(ms) = file.store.standby_wait_ms {
            store.standby_wait = Duration::from_millis(ms);
        }
        store.read_database_urls = if args.read_databases.read_database_urls.is_empty() {
            file.read_database_urls.unwrap_or_default()
        } else {
            args.read_databases.read_database_urls.clone()
        };
        let config = Self {
            store,
            grpc_listen: args
                .grpc_listen
                .or(file.grpc_listen)
                .unwrap_or_else(|| parse_default(DEFAULT_GRPC_LISTEN)),
            http_listen: args
                .http_listen
                .or(file.http_listen)
                .unwrap_or_else(|| parse_default(DEFAULT_HTTP_LISTEN)),
            auth: args.auth.or(file.auth).unwrap_or(AuthMode::Required),
            migrate_on_start: if args.no_migrate { false } else { file.migrate_on_start.unwrap_or(true) },
            log_format: args.log_format.or(file.log_format),
            health_interval: Duration::from_secs(5),
            feed: feed_settings(&file.subscribe),
            key_secret: args.key_secret.key_secret.clone().or(file.key_secret),
            limits: server_limits(&file.limits),
            tls: tls_files(args, file.tls)?,
            health_listen: args.health_listen.or(file.health_listen),
            gateway: gateway_settings(file.gateway),
            webhooks: webhook_settings(file.webhooks)?,
            shutdown_grace: Duration::from_millis(
                args.shutdown_grace_ms.or(file.shutdown_grace_ms).unwrap_or(DEFAULT_SHUTDOWN_GRACE_MS),
            ),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_database_url(&self.store.database_url)?;
        for url in &self.store.read_database_urls {
            validate_read_database_url(&self.store.database_url, url)?;
        }
        if self.store.statement_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "store.statement_timeout_ms",
                message: "must be at least 1".to_owned(),
            });
        }
        validate_key_secret(self.key_secret.as_deref())?;
        if self.store.max_connections == 0 {
            return Err(ConfigError::Invalid {
                setting: "store.max_connections",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.limits.concurrency_per_connection >= self.limits.max_concurrent_streams as usize {
            return Err(ConfigError::Invalid {
                setting: "limits.concurrency_per_connection",
                message: format!(
                    "must be below limits.max_concurrent_streams ({}): else clients queue for streams \
                     instead of being refused",
                    self.limits.max_concurrent_streams
                ),
            });
        }
        for (setting, value) in [
            ("subscribe.buffer", self.feed.buffer),
            ("subscribe.buffer_kib", self.feed.buffer_bytes),
            ("subscribe.total_buffer_mib", self.feed.total_buffer_bytes),
            ("subscribe.tail_mib", self.feed.tail_bytes),
            ("subscribe.max_streams", self.feed.max_streams),
            ("subscribe.max_streams_per_tenant", self.feed.max_streams_per_tenant),
            ("limits.max_message_bytes", self.limits.max_message_bytes),
            ("limits.max_response_bytes", self.limits.max_response_bytes),
            ("gateway.max_body_bytes", self.gateway.max_body_bytes),
            ("limits.max_in_flight", self.limits.calls.max_in_flight),
            ("limits.concurrency_per_connection", self.limits.concurrency_per_connection),
            ("limits.rate_per_key", self.limits.calls.rate_per_key as usize),
            ("limits.burst_per_key", self.limits.calls.burst_per_key as usize),
            ("limits.max_concurrent_streams", self.limits.max_concurrent_streams as usize),
            ("limits.max_error_resets", self.limits.max_error_resets),
            ("limits.key_lookups_per_address", self.limits.key_lookups.rate as usize),
            ("limits.key_lookup_burst_per_address", self.limits.key_lookups.burst as usize),
            ("limits.max_deadline_ms", millis(self.limits.calls.max_deadline)),
            ("limits.http_header_timeout_ms", millis(self.limits.http_header_timeout)),
            ("limits.http_body_timeout_ms", millis(self.limits.http_body_timeout)),
            ("limits.max_http_connections", self.limits.max_http_connections),
            ("subscribe.heartbeat_interval_ms", millis(self.feed.heartbeat_interval)),
            ("subscribe.poll_interval_ms", millis(self.feed.poll_interval)),
            ("shutdown_grace_ms", millis(self.shutdown_grace)),
            ("webhooks.connect_timeout_ms", millis(self.webhooks.connect_timeout)),
            ("webhooks.response_timeout_ms", millis(self.webhooks.response_timeout)),
            ("webhooks.max_attempts", self.webhooks.max_attempts as usize),
            ("webhooks.retry_initial_ms", millis(self.webhooks.retry_initial)),
            ("webhooks.poll_interval_ms", millis(self.webhooks.poll_interval)),
            ("webhooks.max_per_tenant", usize::try_from(self.webhooks.max_per_tenant).unwrap_or(usize::MAX)),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid { setting, message: "must be at least 1".to_owned() });
            }
        }
        let known = crate::gateway::known_adapters();
        if let Some(unknown) = self.gateway.adapters.iter().find(|name| !known.contains(&name.as_str())) {
            return Err(ConfigError::Invalid {
                setting: "gateway.adapters",
                message: format!("unknown adapter {unknown}; known: {}", known.join(", ")),
            });
        }
        let webhooks = &self.webhooks;
        if webhooks.retry_max < webhooks.retry_initial {
            return Err(ConfigError::Invalid {
                setting: "webhooks.retry_max_ms",
                message: "must be at least webhooks.retry_initial_ms".to_owned(),
            });
        }
        // A lease must outlast a whole attempt twice over: it is renewed at
        // half its life, and an attempt starts only while it has room.
        let attempt = webhooks.connect_timeout + webhooks.response_timeout + Duration::from_secs(2);
        if webhooks.lease < attempt * 2 {
            return Err(ConfigError::Invalid {
                setting: "webhooks.lease_ms",
                message: format!(
                    "must be at least twice (connect + response timeouts + 2 s) = {} ms",
                    millis(attempt * 2)
                ),
            });
        }
        if !(1..=consent_store::MAX_BATCH).contains(&self.store.max_batch) {
            return Err(ConfigError::Invalid {
                setting: "store.max_batch",
                message: format!("must be between 1 and {}", consent_store::MAX_BATCH),
            });
        }
        // A marker must be able to come back twice within the bound, or the
        // cache would flap offline on an ordinary late heartbeat.
        if self.store.notice_heartbeat.is_zero()
            || self.store.notice_max_staleness < self.store.notice_heartbeat * 2
        {
            return Err(ConfigError::Invalid {
                setting: "store.notice_max_staleness_ms",
                message: "must be at least twice store.notice_heartbeat_ms (which must be at least 1)"
                    .to_owned(),
            });
        }
        if self.store.acquire_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "store.acquire_timeout_ms",
                message: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

impl Config {
    /// The effective configuration as a TOML file (every setting, secrets
    /// redacted): what `consentd config print` shows and `serve` logs.
    pub fn to_toml(&self) -> String {
        let ms = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let limits = &self.limits;
        let webhooks = &self.webhooks;
        let file = FileConfig {
            database_url: Some(redact_url(&self.store.database_url)),
            read_database_urls: Some(
                self.store.read_database_urls.iter().map(|url| redact_url(url)).collect(),
            ),
            grpc_listen: Some(self.grpc_listen),
            http_listen: Some(self.http_listen),
            health_listen: self.health_listen,
            auth: Some(self.auth),
            key_secret: self.key_secret.as_ref().map(|_| REDACTED.to_owned()),
            migrate_on_start: Some(self.migrate_on_start),
            log_format: self.log_format,
            shutdown_grace_ms: Some(ms(self.shutdown_grace)),
            store: FileStoreConfig {
                max_connections: Some(self.store.max_connections),
                acquire_timeout_ms: Some(ms(self.store.acquire_timeout)),
                max_batch: Some(self.store.max_batch),
                cache_max_mib: Some(self.store.cache_max_bytes / (1024 * 1024)),
                notice_heartbeat_ms: Some(ms(self.store.notice_heartbeat)),
                notice_max_staleness_ms: Some(ms(self.store.notice_max_staleness)),
                statement_timeout_ms: Some(ms(self.store.statement_timeout)),
                standby_max_lag_ms: Some(ms(self.store.standby_max_lag)),
                standby_wait_ms: Some(ms(self.store.standby_wait)),
            },
            limits: FileLimitsConfig {
                max_message_bytes: Some(limits.max_message_bytes),
                max_response_bytes: Some(limits.max_response_bytes),
                max_deadline_ms: Some(ms(limits.calls.max_deadline)),
                rate_per_key: Some(limits.calls.rate_per_key),
                burst_per_key: Some(limits.calls.burst_per_key),
                max_in_flight: Some(limits.calls.max_in_flight),
                concurrency_per_connection: Some(limits.concurrency_per_connection),
                max_concurrent_streams: Some(limits.max_concurrent_streams),
                keepalive_interval_ms: Some(ms(limits.keepalive_interval)),
                keepalive_timeout_ms: Some(ms(limits.keepalive_timeout)),
                max_pending_resets: Some(limits.max_pending_resets),
                max_error_resets: Some(limits.max_error_resets),
                http_header_timeout_ms: Some(ms(limits.http_header_timeout)),
                http_body_timeout_ms: Some(ms(limits.http_body_timeout)),
                max_http_connections: Some(limits.max_http_connections),
                key_lookups_per_address: Some(limits.key_lookups.rate),
                key_lookup_burst_per_address: Some(limits.key_lookups.burst),
            },
            subscribe: FileSubscribeConfig {
                heartbeat_interval_ms: Some(ms(self.feed.heartbeat_interval)),
                buffer: Some(self.feed.buffer),
                buffer_kib: Some(self.feed.buffer_bytes / 1024),
                total_buffer_mib: Some(self.feed.total_buffer_bytes / (1024 * 1024)),
                tail_mib: Some(self.feed.tail_bytes / (1024 * 1024)),
                send_timeout_ms: Some(ms(self.feed.send_timeout)),
                max_streams: Some(self.feed.max_streams),
                max_streams_per_tenant: Some(self.feed.max_streams_per_tenant),
                poll_interval_ms: Some(ms(self.feed.poll_interval)),
                tail_linger_ms: Some(ms(self.feed.tail_linger)),
            },
            tls: self.tls.as_ref().map(|tls| FileTlsConfig {
                cert_file: tls.cert.clone(),
                key_file: tls.key.clone(),
                client_ca_file: tls.client_ca.clone(),
            }),
            gateway: FileGatewayConfig {
                adapters: Some(self.gateway.adapters.clone()),
                max_body_bytes: Some(self.gateway.max_body_bytes),
                trusted_proxies: Some(self.gateway.trusted_proxies.clone()),
            },
            webhooks: FileWebhooksConfig {
                allowed_urls: Some(webhooks.allowed_urls.iter().map(ToString::to_string).collect()),
                allowed_networks: Some(webhooks.allowed_networks.iter().map(ToString::to_string).collect()),
                connect_timeout_ms: Some(ms(webhooks.connect_timeout)),
                response_timeout_ms: Some(ms(webhooks.response_timeout)),
                max_attempts: Some(webhooks.max_attempts),
                retry_initial_ms: Some(ms(webhooks.retry_initial)),
                retry_max_ms: Some(ms(webhooks.retry_max)),
                lease_ms: Some(ms(webhooks.lease)),
                poll_interval_ms: Some(ms(webhooks.poll_interval)),
                log_retention_hours: Some(webhooks.log_retention.as_secs() / 3600),
                max_per_tenant: Some(webhooks.max_per_tenant),
            },
        };
        toml::to_string(&file).unwrap_or_else(|err| format!("# cannot print the configuration: {err}\n"))
    }
}

/// Flags and environment name the files together or not at all; else the file.
fn tls_files(args: &ServeArgs, file: Option<FileTlsConfig>) -> Result<Option<TlsFiles>, ConfigError> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return Ok(Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone().or_else(|| file.and_then(|f| f.client_ca_file)),
        }));
    }
    match file {
        Some(f) => Ok(Some(TlsFiles {
            cert: f.cert_file,
            key: f.key_file,
            client_ca: args.tls_client_ca.clone().or(f.client_ca_file),
        })),
        None if args.tls_client_ca.is_some() => Err(ConfigError::Invalid {
            setting: "tls_client_ca",
            message: "needs a server certificate and key as well".to_owned(),
        }),
        None => Ok(None),
    }
}

fn gateway_settings(file: FileGatewayConfig) -> GatewaySettings {
    let defaults = GatewaySettings::default();
    GatewaySettings {
        adapters: file.adapters.unwrap_or(defaults.adapters),
        max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        trusted_proxies: file.trusted_proxies.unwrap_or_default(),
    }
}

fn webhook_settings(file: FileWebhooksConfig) -> Result<WebhookSettings, ConfigError> {
    let defaults = WebhookSettings::default();
    let allowed_urls = file
        .allowed_urls
        .unwrap_or_default()
        .iter()
        .map(|pattern| pattern.parse())
        .collect::<Result<_, String>>()
        .map_err(|message| ConfigError::Invalid { setting: "webhooks.allowed_urls", message })?;
    let allowed_networks = file
        .allowed_networks
        .unwrap_or_default()
        .iter()
        .map(|net| {
            net.parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{net:?} is not a network (10.0.0.0/8) or an address"))
        })
        .collect::<Result<_, String>>()
        .map_err(|message| ConfigError::Invalid { setting: "webhooks.allowed_networks", message })?;
    let ms = |value: Option<u64>, default: Duration| value.map_or(default, Duration::from_millis);
    Ok(WebhookSettings {
        allowed_urls,
        allowed_networks,
        connect_timeout: ms(file.connect_timeout_ms, defaults.connect_timeout),
        response_timeout: ms(file.response_timeout_ms, defaults.response_timeout),
        max_attempts: file.max_attempts.unwrap_or(defaults.max_attempts),
        retry_initial: ms(file.retry_initial_ms, defaults.retry_initial),
        retry_max: ms(file.retry_max_ms, defaults.retry_max),
        lease: ms(file.lease_ms, defaults.lease),
        poll_interval: ms(file.poll_interval_ms, defaults.poll_interval),
        log_retention: file
            .log_retention_hours
            .map_or(defaults.log_retention, |hours| Duration::from_secs(hours.saturating_mul(3600))),
        max_per_tenant: file.max_per_tenant.unwrap_or(defaults.max_per_tenant),
    })
}

fn server_limits(file: &FileLimitsConfig) -> ServerLimits {
    let defaults = ServerLimits::default();
    let calls = Limits {
        rate_per_key: file.rate_per_key.unwrap_or(defaults.calls.rate_per_key),
        burst_per_key: file.burst_per_key.unwrap_or(defaults.calls.burst_per_key),
        max_in_flight: file.max_in_flight.unwrap_or(defaults.calls.max_in_flight),
        max_deadline: file.max_deadline_ms.map_or(defaults.calls.max_deadline, Duration::from_millis),
    };
    ServerLimits {
        max_message_bytes: file.max_message_bytes.unwrap_or(defaults.max_message_bytes),
        max_response_bytes: file.max_response_bytes.unwrap_or(defaults.max_response_bytes),
        calls,
        concurrency_per_connection: file
            .concurrency_per_connection
            .unwrap_or(defaults.concurrency_per_connection),
        max_concurrent_streams: file.max_concurrent_streams.unwrap_or(defaults.max_concurrent_streams),
        keepalive_interval: file
            .keepalive_interval_ms
            .map_or(defaults.keepalive_interval, Duration::from_millis),
        keepalive_timeout: file
            .keepalive_timeout_ms
            .map_or(defaults.keepalive_timeout, Duration::from_millis),
        max_pending_resets: file.max_pending_resets.unwrap_or(defaults.max_pending_resets),
        max_error_resets: file.max_error_resets.unwrap_or(defaults.max_error_resets),
        http_header_timeout: file
            .http_header_timeout_ms
            .map_or(defaults.http_header_timeout, Duration::from_millis),
        http_body_timeout: file
            .http_body_timeout_ms
            .map_or(defaults.http_body_timeout, Duration::from_millis),
        max_http_connections: file.max_http_connections.unwrap_or(defaults.max_http_connections),
        key_lookups: crate::auth::LookupBudget {
            rate: file.key_lookups_per_address.unwrap_or(defaults.key_lookups.rate),
            burst: file.key_lookup_burst_per_address.unwrap_or(defaults.key_lookups.burst),
        },
    }
}

fn feed_settings(file: &FileSubscribeConfig) -> FeedSettings {
    let defaults = FeedSettings::default();
    FeedSettings {
        heartbeat_interval: file
            .heartbeat_interval_ms
            .map_or(defaults.heartbeat_interval, Duration::from_millis),
        buffer: file.buffer.unwrap_or(defaults.buffer),
        buffer_bytes: file.buffer_kib.map_or(defaults.buffer_bytes, |kib| kib.saturating_mul(1024)),
        total_buffer_bytes: file
            .total_buffer_mib
            .map_or(defaults.total_buffer_bytes, |mib| mib.saturating_mul(1024 * 1024)),
        tail_bytes: file.tail_mib.map_or(defaults.tail_bytes, |mib| mib.saturating_mul(1024 * 1024)),
        send_timeout: file.send_timeout_ms.map_or(defaults.send_timeout, Duration::from_millis),
        max_streams: file.max_streams.unwrap_or(defaults.max_streams),
        max_streams_per_tenant: file.max_streams_per_tenant.unwrap_or(defaults.max_streams_per_tenant),
        poll_interval: file.poll_interval_ms.map_or(defaults.poll_interval, Duration::from_millis),
        page_size: defaults.page_size,
        tail_linger: file.tail_linger_ms.map_or(defaults.tail_linger, Duration::from_millis),
    }
}

fn millis(duration: Duration) -> usize {
    usize::try_from(duration.as_millis()).unwrap_or(usize::MAX)
}

/// Checks that a database URL names a supported backend.
pub fn validate_database_url(url: &str) -> Result<(), ConfigError> {
    let pasted_back = url::Url::parse(url).is_ok_and(|parsed| {
        parsed.password().is_some_and(is_placeholder)
            || parsed
                .query_pairs()
                .any(|(key, value)| PASSWORD_PARAMETERS.contains(&key.as_ref()) && is_placeholder(&value))
    });
    if pasted_back {
        return Err(ConfigError::Invalid {
            setting: "database_url",
            message: "holds the password placeholder `config print` shows, not the password".to_owned(),
        });
    }
    if ["sqlite:", "postgres://", "postgresql://"].iter().any(|scheme| url.starts_with(scheme)) {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            setting: "database_url",
            message: "must start with sqlite:, postgres:// or postgresql://".to_owned(),
        })
    }
}

/// Checks a read standby's URL: PostgreSQL, beside a PostgreSQL primary.
fn validate_read_database_url(primary: &str, url: &str) -> Result<(), ConfigError> {
    let invalid =
        |message: &str| ConfigError::Invalid { setting: "read_database_url", message: message.to_owned() };
    validate_database_url(url).map_err(|_| invalid("must be a postgres:// URL"))?;
    if !url.starts_with("postgres") {
        return Err(invalid("must be a postgres:// URL"));
    }
    if !primary.starts_with("postgres") {
        return Err(invalid("read standbys need a PostgreSQL database_url"));
    }
    Ok(())
}

/// What [`redact_url`] puts where a password was, and `config print` where
/// the key secret is; refused when read back as a setting.
const REDACTED: &str = "<redacted>";

/// Query parameters the database drivers read a password from.
const PASSWORD_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// The URL with any password (in the user info or the query) replaced, for
/// logs and `config print`. A URL that does not parse is hidden whole.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return REDACTED.to_owned();
    };
    if url.password().is_some() && url.set_password(Some(REDACTED)).is_err() {
        return REDACTED.to_owned();
    }
    if url.query_pairs().any(|(key, _)| PASSWORD_PARAMETERS.contains(&key.as_ref())) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if PASSWORD_PARAMETERS.contains(&key.as_ref()) { REDACTED.into() } else { value };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Whether a value is a redaction placeholder pasted back from `config
/// print` (as itself or percent-encoded in a URL).
fn is_placeholder(value: &str) -> bool {
    value == REDACTED || value == "%3Credacted%3E"
}

/// A key secret copied from `config print` would become the real secret and
/// invalidate every key: refused.
fn validate_key_secret(secret: Option<&str>) -> Result<(), ConfigError> {
    if secret.is_some_and(is_placeholder) {
        return Err(ConfigError::Invalid {
            setting: "key_secret",
            message: "is the placeholder `config print` shows, not the secret".to_owned(),
        });
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text)
        .map_err(|err| ConfigError::Parse { path: path.to_owned(), message: err.to_string() })
}

fn parse_default(addr: &str) -> SocketAddr {
    addr.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let redacted = |url: &str| redact_url(url).replace("%3Credacted%3E", "<redacted>");
        assert_eq!(
            redacted("postgres://app:s3cret@db:5432/consent"),
            "postgres://app:<redacted>@db:5432/consent"
        );
        assert_eq!(redact_url("postgres://app@db/consent"), "postgres://app@db/consent");
        assert_eq!(redact_url(DEFAULT_DATABASE_URL), DEFAULT_DATABASE_URL);
        // An unencoded '@' in the password: the user info ends at the last one.
        assert_eq!(redacted("postgres://app:p@ss@db/consent"), "postgres://app:<redacted>@db/consent");
        // Passwords in the query, where the drivers also read them.
        let query =
            redacted("postgres://db/consent?user=app&password=s3cret&sslpassword=k3y&sslmode=disable");
        assert_eq!(
            query,
            "postgres://db/consent?user=app&password=<redacted>&sslpassword=<redacted>&sslmode=disable"
        );
        assert!(!redact_url("not a url with s3cret@").contains("s3cret"));
    }

    #[test]
    fn placeholders_pasted_back_from_config_print_are_refused() {
        for url in
            [redact_url("postgres://app:s3cret@db/consent"), redact_url("postgres://db/c?password=s3cret")]
        {
            let err = validate_database_url(&url).unwrap_err();
            assert!(err.to_string().contains("database_url"), "{err}");
        }
        assert!(validate_key_secret(Some(REDACTED)).is_err());
        assert!(validate_key_secret(Some("a real secret")).is_ok());
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consentd.toml");
        std::fs::write(&path, "grpc_listen = \"127.0.0.1:6000\"\nhttp_listen = \"127.0.0.1:6001\"\n")
            .unwrap();
        let args = ServeArgs {
            config: Some(path),
            http_listen: Some("127.0.0.1:7001".parse().unwrap()),
            ..ServeArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.grpc_listen, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(config.http_listen, "127.0.0.1:7001".parse().unwrap());
        assert_eq!(config.store.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.auth, AuthMode::Required);
    }

    #[test]
    fn read_standbys_come_from_flags_or_the_file_and_print_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consentd.toml");
        std::fs::write(
            &path,
            "database_url = \"postgres://app@db/consent\"\nread_database_urls = [\"postgres://app:pw@standby-0/consent\"]\n\
             [store]\nstandby_max_lag_ms = 2500\n",
        )
        .unwrap();
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.store.read_database_urls, ["postgres://app:pw@standby-0/consent"]);
        assert_eq!(config.store.standby_max_lag, Duration::from_millis(2500));
        let printed = config.to_toml();
        assert!(printed.contains("standby-0") && !printed.contains(":pw@"), "{printed}");

        let args = ServeArgs {
            config: Some(path),
            read_databases: ReadDatabaseArgs {
                read_database_urls: vec![
                    "postgres://app@standby-1/consent".into(),
                    "postgres://app@standby-2/consent".into(),
                ],
            },
            ..ServeArgs::default()
        };
        let config = Config::load(&args).unwrap();
        assert_eq!(config.store.read_database_urls.len(), 2, "flags replace the file's list");
    }

    #[test]
    fn unknown_file_keys_and_bad_urls_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consentd.toml");
        std::fs::write(&path, "grpc_lisen = \"127.0.0.1:6000\"\n").unwrap();
        let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
        assert!(matches!(Config::load(&args), Err(ConfigError::Parse { .. })));
        let args = ServeArgs {
            database: DatabaseArgs { database_url: Some("mysql://x".into()) },
            ..ServeArgs::default()
        };
        assert!(matches!(Config::load(&args), Err(ConfigError::Invalid { .. })));

        for bad in [
            "[store]\nmax_batch = 0\n",
            "[store]\nmax_batch = 1000000\n",
            "[store]\nacquire_timeout_ms = 0\n",
            "[subscribe]\nbuffer = 0\n",
            "[store]\nstatement_timeout_ms = 0\n",
            // Standbys of a SQLite file, or not PostgreSQL.
            "read_database_urls = [\"postgres://standby/consent\"]\n",
            "database_url = \"postgres://db/consent\"\nread_database_urls = [\"sqlite://x.db\"]\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            let args = ServeArgs { config: Some(path.clone()), ..ServeArgs::default() };
            assert!(matches!(Config::load(&args), Err(ConfigError::Invalid { .. })), "{bad}");
        }
    }
}
