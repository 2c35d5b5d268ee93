//! Configuration, layered once at start: defaults, then the TOML file, then
//! environment (`CONSENTD_<TABLE>__<KEY>` for every key, `layers.rs`), then
//! flags (each with its own variable); validated; logged with secrets
//! redacted. The flags are in `args.rs`, the file's shape and its
//! conversions in `file.rs`, database URLs and secrets in `urls.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use consent_store::StoreOptions;

use consentd_feed::FeedSettings;
use consentd_pipeline::Limits;
use consentd_pipeline::TlsFiles;
use consentd_telemetry::LogFormat;
use consentd_webhooks::WebhookSettings;

mod args;
mod file;
mod layers;
mod urls;

pub use args::{AdminArgs, DEFAULT_DATABASE_URL, DatabaseArgs, KeySecretArgs, ReadDatabaseArgs, ServeArgs};
use args::{DEFAULT_GRPC_LISTEN, DEFAULT_HTTP_LISTEN, DEFAULT_SHUTDOWN_GRACE_MS, parse_default};
use file::{
    FileAuth, FileTlsConfig, feed_settings, gateway_settings, millis, server_limits, webhook_settings,
};
pub use urls::{redact_url, validate_database_url};
use urls::{validate_key_secret, validate_read_database_url};

/// Whether calls must present an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every call needs a valid key.
    Required,
    /// Every call acts for tenant `default` (local development only).
    Disabled,
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
    /// JWT bearer tokens accepted beside keys (`[auth.jwt]`); `None`: keys
    /// only.
    pub jwt: Option<consentd_jwt::JwtSettings>,
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
    /// Every tenant's consent-signal settings (`[signals]`).
    pub signals: consent_signals::SignalPolicies,
    /// The verifiable log (`[evidence]`).
    pub evidence: EvidenceSettings,
}

/// The vendor HTTP gateway's settings (`[gateway]` in the config file).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Enabled adapters by name [default: every adapter this build has].
    pub adapters: Vec<String>,
    /// Largest request body (bytes).
    pub max_body_bytes: usize,
    /// Peers whose `X-Forwarded-For` header (and edge location headers)
    /// are believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Browser origins allowed on every vendor account (CORS), as
    /// `scheme://host[:port]`.
    pub cors_origins: Vec<String>,
    /// The most records a vendor's list answered whole may hold.
    pub max_list_records: usize,
    /// Lists streamed whole at once (each holds two pages in memory until
    /// its client has read it).
    pub max_whole_lists: usize,
    /// Where each vendor's routes are served instead of its base path.
    pub mounts: std::collections::BTreeMap<String, String>,
    /// Where requests come from, for the records' evidence.
    pub location: consentd_geo::LocationSettings,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            adapters: consentd_gateway::known_adapters().into_iter().map(str::to_owned).collect(),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            max_list_records: 100_000,
            max_whole_lists: 8,
            mounts: std::collections::BTreeMap::new(),
            location: consentd_geo::LocationSettings::default(),
        }
    }
}

/// The verifiable log's settings (`[evidence]` in the config file;
/// docs/evidence.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceSettings {
    /// Whether the verifiable log is kept as records are written: each write
    /// hashes its records and every replica appends them behind the commits.
    /// Off, nothing of the log is done until an evidence call asks for it,
    /// and then from the records, slowly.
    pub log: bool,
    /// The log's name: the key's name and the checkpoints' origin prefix
    /// (`<name>/<tenant>`).
    pub name: String,
    /// A file holding the signing key (`PRIVATE+KEY+<name>+<id>+<base64>`,
    /// c2sp.org/signed-note); none: a key generated once and kept in the
    /// database.
    pub key_file: Option<std::path::PathBuf>,
    /// Public keys of earlier signing keys, still published so that the
    /// checkpoints and receipts they signed verify.
    pub previous_public_keys: Vec<String>,
    /// How often committed records are appended to the log.
    pub append_interval_ms: u64,
    /// How often a checkpoint is made of each log that grew.
    pub checkpoint_interval_ms: u64,
    /// A file holding the master key the subjects' data keys are wrapped
    /// under (docs/evidence.md#erasure); `--master-key-file` wins. None: a
    /// key generated once and kept in the database.
    pub master_key_file: Option<std::path::PathBuf>,
    /// What is kept of records that stopped being current.
    pub retention: RetentionSettings,
}

/// `[evidence.retention]` (docs/evidence.md#retention).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days a record's identifying values are kept after it stops being
    /// current; 0 keeps them for ever.
    pub days: u32,
    /// Days for the tenants named (0: for ever).
    pub tenants: std::collections::BTreeMap<String, u32>,
    /// How often each replica looks for values retention no longer keeps.
    pub interval_ms: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { days: 0, tenants: std::collections::BTreeMap::new(), interval_ms: 60_000 }
    }
}

impl RetentionSettings {
    /// The store's policy.
    pub fn policy(&self) -> consent_store::Retention {
        consent_store::Retention { days: self.days, tenants: self.tenants.clone() }
    }
}

impl Default for EvidenceSettings {
    fn default() -> Self {
        Self {
            log: true,
            name: "consentd".to_owned(),
            key_file: None,
            previous_public_keys: Vec::new(),
            append_interval_ms: 250,
            checkpoint_interval_ms: 60_000,
            master_key_file: None,
            retention: RetentionSettings::default(),
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
    pub key_lookups: consentd_auth::LookupBudget,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            max_response_bytes: consentd_grpc::DEFAULT_MAX_RESPONSE_BYTES,
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
            key_lookups: consentd_auth::LookupBudget::default(),
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
    /// A `CONSENTD_<TABLE>__<KEY>` variable does not fit its setting.
    #[error("invalid environment variable {variable}: {message}")]
    Environment {
        /// The variable.
        variable: String,
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
        let file = layers::file_and_environment(args.config.as_deref())?;
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
        if let Some(ms) = file.store.expiry_interval_ms {
            store.expiry_interval = Duration::from_millis(ms);
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
        store.master_key = args.key_secret.master_key(file.evidence.as_ref())?;
        store.leaf_hashes = file.evidence.as_ref().is_none_or(|evidence| evidence.log);
        let (file_auth, jwt) = file.auth.map(FileAuth::into_parts).unwrap_or_default();
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
            auth: args.auth.or(file_auth).unwrap_or(AuthMode::Required),
            jwt,
            migrate_on_start: if args.no_migrate { false } else { file.migrate_on_start.unwrap_or(true) },
            log_format: args.log_format.or(file.log_format),
            health_interval: Duration::from_secs(5),
            feed: feed_settings(&file.subscribe),
            key_secret: args.key_secret.key_secret.clone().or(file.key_secret),
            limits: server_limits(&file.limits),
            tls: tls_files(args, file.tls)?,
            health_listen: args.health_listen.or(file.health_listen),
            gateway: gateway_settings(file.gateway)?,
            webhooks: webhook_settings(file.webhooks)?,
            evidence: file.evidence.unwrap_or_default(),
            signals: consent_signals::SignalPolicies::new(file.signals.default, file.signals.tenants)
                .map_err(|message| ConfigError::Invalid { setting: "signals", message })?,
            shutdown_grace: Duration::from_millis(
                args.shutdown_grace_ms.or(file.shutdown_grace_ms).unwrap_or(DEFAULT_SHUTDOWN_GRACE_MS),
            ),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_store()?;
        validate_key_secret(self.key_secret.as_deref())?;
        self.validate_limits()?;
        self.validate_counts()?;
        self.validate_gateway()?;
        self.validate_webhooks()?;
        self.validate_evidence()
    }

    /// The `[evidence]` settings.
    fn validate_evidence(&self) -> Result<(), ConfigError> {
        let evidence = &self.evidence;
        if evidence.append_interval_ms == 0 || evidence.checkpoint_interval_ms == 0 {
            return Err(ConfigError::Invalid {
                setting: "evidence",
                message: "append_interval_ms and checkpoint_interval_ms must be positive".to_owned(),
            });
        }
        if evidence.retention.interval_ms == 0 {
            return Err(ConfigError::Invalid {
                setting: "evidence.retention.interval_ms",
                message: "must be positive".to_owned(),
            });
        }
        let max = consent_store::MAX_RETENTION_DAYS;
        if let Some(days) = std::iter::once(&evidence.retention.days)
            .chain(evidence.retention.tenants.values())
            .find(|d| **d > max)
        {
            return Err(ConfigError::Invalid {
                setting: "evidence.retention.days",
                message: format!("{days} is more than {max} (a hundred years; 0 keeps everything for ever)"),
            });
        }
        if let Some(key) =
            evidence.previous_public_keys.iter().find(|key| consent_evidence::PublicKey::parse(key).is_err())
        {
            return Err(ConfigError::Invalid {
                setting: "evidence.previous_public_keys",
                message: format!("{key:?} is not a signed-note public key (<name>+<id>+<base64>)"),
            });
        }
        Ok(())
    }

    /// The `[store]` settings.
    fn validate_store(&self) -> Result<(), ConfigError> {
        validate_database_url(&self.store.database_url)?;
        for url in &self.store.read_database_urls {
            validate_read_database_url(&self.store.database_url, url)?;
        }
        if self.store.expiry_interval.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "store.expiry_interval_ms",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.store.statement_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "store.statement_timeout_ms",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.store.max_connections == 0 {
            return Err(ConfigError::Invalid {
                setting: "store.max_connections",
                message: "must be at least 1".to_owned(),
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

    /// The `[limits]` settings that depend on each other.
    fn validate_limits(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// Every count and duration that must be at least 1.
    fn validate_counts(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }

    /// The `[gateway]` settings.
    fn validate_gateway(&self) -> Result<(), ConfigError> {
        let known = consentd_gateway::known_adapters();
        if let Some(unknown) = self.gateway.adapters.iter().find(|name| !known.contains(&name.as_str())) {
            return Err(ConfigError::Invalid {
                setting: "gateway.adapters",
                message: format!("unknown adapter {unknown}; known: {}", known.join(", ")),
            });
        }
        consentd_gateway::check_mounts(
            &consentd_gateway::registry(),
            &self.gateway.adapters,
            &self.gateway.mounts,
        )
        .map_err(|message| ConfigError::Invalid { setting: "gateway.mounts", message })?;
        if self.gateway.max_whole_lists == 0 {
            return Err(ConfigError::Invalid {
                setting: "gateway.max_whole_lists",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.gateway.max_list_records == 0 {
            return Err(ConfigError::Invalid {
                setting: "gateway.max_list_records",
                message: "must be at least 1".to_owned(),
            });
        }
        if let Some(jwt) = &self.jwt {
            jwt.validate().map_err(|message| ConfigError::Invalid { setting: "auth.jwt", message })?;
        }
        Ok(())
    }

    /// The `[webhooks]` settings that depend on each other.
    fn validate_webhooks(&self) -> Result<(), ConfigError> {
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
        Ok(())
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

#[cfg(test)]
mod tests;
