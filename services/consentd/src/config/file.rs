//! The TOML file's shape (every key optional), reading it, turning its
//! tables into settings, and writing the effective configuration back as
//! TOML.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::urls::{REDACTED, redact_url};
use super::{AuthMode, Config, ConfigError, GatewaySettings, ServerLimits};
use consent_store::StoreOptions;
use consentd_feed::FeedSettings;
use consentd_pipeline::Limits;
use consentd_telemetry::LogFormat;
use consentd_webhooks::WebhookSettings;

/// The TOML file: the same settings as the flags, in snake case. (Plain
/// values come before tables, as TOML writes them.)
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) database_url: Option<String>,
    pub(super) read_database_urls: Option<Vec<String>>,
    pub(super) grpc_listen: Option<SocketAddr>,
    pub(super) http_listen: Option<SocketAddr>,
    pub(super) health_listen: Option<SocketAddr>,
    pub(super) key_secret: Option<String>,
    pub(super) migrate_on_start: Option<bool>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) shutdown_grace_ms: Option<u64>,
    pub(super) auth: Option<FileAuth>,
    #[serde(default)]
    pub(super) store: FileStoreConfig,
    #[serde(default)]
    pub(super) limits: FileLimitsConfig,
    #[serde(default)]
    pub(super) subscribe: FileSubscribeConfig,
    pub(super) tls: Option<FileTlsConfig>,
    #[serde(default)]
    pub(super) gateway: FileGatewayConfig,
    #[serde(default)]
    pub(super) webhooks: FileWebhooksConfig,
    #[serde(default)]
    pub(super) signals: FileSignalsConfig,
    pub(super) evidence: Option<super::EvidenceSettings>,
}

/// `[signals]`: every tenant's signal settings, and `[signals.tenants.NAME]`
/// a tenant's own — whole: keys a tenant's table leaves out take the
/// built-in defaults, not `[signals]`'s. Read by hand rather than with
/// `#[serde(flatten)]`, which reads TCF purpose ids (integer keys) as text.
#[derive(Debug, Default)]
pub(super) struct FileSignalsConfig {
    pub(super) default: consent_signals::SignalMapping,
    pub(super) tenants: std::collections::BTreeMap<String, consent_signals::SignalMapping>,
}

impl<'de> Deserialize<'de> for FileSignalsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(deserializer)?;
        let tenants = match table.remove("tenants") {
            Some(tenants) => {
                tenants.try_into().map_err(|err| D::Error::custom(format!("signals.tenants: {err}")))?
            }
            None => std::collections::BTreeMap::new(),
        };
        let default = toml::Value::Table(table).try_into().map_err(D::Error::custom)?;
        Ok(Self { default, tenants })
    }
}

impl Serialize for FileSignalsConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut table = toml::Table::try_from(&self.default).map_err(S::Error::custom)?;
        if !self.tenants.is_empty() {
            let tenants = toml::Value::try_from(&self.tenants).map_err(S::Error::custom)?;
            table.insert("tenants".to_owned(), tenants);
        }
        table.serialize(serializer)
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWebhooksConfig {
    pub(super) allowed_urls: Option<Vec<String>>,
    pub(super) allowed_networks: Option<Vec<String>>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) response_timeout_ms: Option<u64>,
    pub(super) max_attempts: Option<u32>,
    pub(super) retry_initial_ms: Option<u64>,
    pub(super) retry_max_ms: Option<u64>,
    pub(super) lease_ms: Option<u64>,
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) log_retention_hours: Option<u64>,
    pub(super) max_per_tenant: Option<u64>,
}

/// `auth = "required"` (the mode alone), or the `[auth]` table: `mode`,
/// and `[auth.jwt]` for JWT bearer tokens.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum FileAuth {
    Mode(AuthMode),
    Table(FileAuthTable),
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAuthTable {
    pub(super) mode: Option<AuthMode>,
    pub(super) jwt: Option<consentd_jwt::JwtSettings>,
}

impl FileAuth {
    /// The mode and the JWT settings, whichever way the file spelled them.
    pub(super) fn into_parts(self) -> (Option<AuthMode>, Option<consentd_jwt::JwtSettings>) {
        match self {
            Self::Mode(mode) => (Some(mode), None),
            Self::Table(table) => (table.mode, table.jwt),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileGatewayConfig {
    pub(super) adapters: Option<Vec<String>>,
    pub(super) max_body_bytes: Option<usize>,
    pub(super) trusted_proxies: Option<Vec<std::net::IpAddr>>,
    pub(super) cors_origins: Option<Vec<String>>,
    pub(super) max_list_records: Option<usize>,
    pub(super) max_whole_lists: Option<usize>,
    pub(super) mounts: Option<std::collections::BTreeMap<String, String>>,
    pub(super) location: Option<consentd_geo::LocationSettings>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTlsConfig {
    pub(super) cert_file: PathBuf,
    pub(super) key_file: PathBuf,
    pub(super) client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimitsConfig {
    pub(super) max_message_bytes: Option<usize>,
    pub(super) max_response_bytes: Option<usize>,
    pub(super) max_deadline_ms: Option<u64>,
    pub(super) rate_per_key: Option<u32>,
    pub(super) burst_per_key: Option<u32>,
    pub(super) max_in_flight: Option<usize>,
    pub(super) concurrency_per_connection: Option<usize>,
    pub(super) max_concurrent_streams: Option<u32>,
    pub(super) keepalive_interval_ms: Option<u64>,
    pub(super) keepalive_timeout_ms: Option<u64>,
    pub(super) max_pending_resets: Option<usize>,
    pub(super) max_error_resets: Option<usize>,
    pub(super) http_header_timeout_ms: Option<u64>,
    pub(super) http_body_timeout_ms: Option<u64>,
    pub(super) max_http_connections: Option<usize>,
    pub(super) key_lookups_per_address: Option<u32>,
    pub(super) key_lookup_burst_per_address: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSubscribeConfig {
    pub(super) heartbeat_interval_ms: Option<u64>,
    pub(super) buffer: Option<usize>,
    pub(super) buffer_kib: Option<usize>,
    pub(super) total_buffer_mib: Option<usize>,
    pub(super) tail_mib: Option<usize>,
    pub(super) send_timeout_ms: Option<u64>,
    pub(super) max_streams: Option<usize>,
    pub(super) max_streams_per_tenant: Option<usize>,
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) tail_linger_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileStoreConfig {
    pub(super) max_connections: Option<u32>,
    pub(super) acquire_timeout_ms: Option<u64>,
    pub(super) max_batch: Option<usize>,
    pub(super) cache_max_mib: Option<u64>,
    pub(super) notice_heartbeat_ms: Option<u64>,
    pub(super) notice_max_staleness_ms: Option<u64>,
    pub(super) statement_timeout_ms: Option<u64>,
    pub(super) standby_max_lag_ms: Option<u64>,
    pub(super) standby_wait_ms: Option<u64>,
    pub(super) expiry_interval_ms: Option<u64>,
}

impl Config {
    /// The effective configuration as a TOML file (every setting, secrets
    /// redacted): what `consentd config print` shows and `serve` logs.
    pub fn to_toml(&self) -> String {
        let file = FileConfig {
            database_url: Some(redact_url(&self.store.database_url)),
            read_database_urls: Some(
                self.store.read_database_urls.iter().map(|url| redact_url(url)).collect(),
            ),
            grpc_listen: Some(self.grpc_listen),
            http_listen: Some(self.http_listen),
            health_listen: self.health_listen,
            auth: Some(FileAuth::Table(FileAuthTable { mode: Some(self.auth), jwt: self.jwt.clone() })),
            key_secret: self.key_secret.as_ref().map(|_| REDACTED.to_owned()),
            migrate_on_start: Some(self.migrate_on_start),
            log_format: self.log_format,
            shutdown_grace_ms: Some(ms(self.shutdown_grace)),
            store: file_store(&self.store),
            limits: file_limits(&self.limits),
            subscribe: file_subscribe(&self.feed),
            tls: self.tls.as_ref().map(|tls| FileTlsConfig {
                cert_file: tls.cert.clone(),
                key_file: tls.key.clone(),
                client_ca_file: tls.client_ca.clone(),
            }),
            gateway: FileGatewayConfig {
                adapters: Some(self.gateway.adapters.clone()),
                max_body_bytes: Some(self.gateway.max_body_bytes),
                trusted_proxies: Some(self.gateway.trusted_proxies.clone()),
                cors_origins: Some(self.gateway.cors_origins.clone()),
                max_list_records: Some(self.gateway.max_list_records),
                max_whole_lists: Some(self.gateway.max_whole_lists),
                mounts: Some(self.gateway.mounts.clone()),
                location: Some(self.gateway.location.clone()),
            },
            webhooks: file_webhooks(&self.webhooks),
            evidence: Some(self.evidence.clone()),
            signals: FileSignalsConfig {
                default: self.signals.default_settings().clone(),
                tenants: self.signals.tenant_settings().clone(),
            },
        };
        toml::to_string(&file).unwrap_or_else(|err| format!("# cannot print the configuration: {err}\n"))
    }
}

/// Milliseconds, as the file spells durations.
fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn file_store(store: &StoreOptions) -> FileStoreConfig {
    FileStoreConfig {
        max_connections: Some(store.max_connections),
        acquire_timeout_ms: Some(ms(store.acquire_timeout)),
        max_batch: Some(store.max_batch),
        cache_max_mib: Some(store.cache_max_bytes / (1024 * 1024)),
        notice_heartbeat_ms: Some(ms(store.notice_heartbeat)),
        notice_max_staleness_ms: Some(ms(store.notice_max_staleness)),
        statement_timeout_ms: Some(ms(store.statement_timeout)),
        standby_max_lag_ms: Some(ms(store.standby_max_lag)),
        standby_wait_ms: Some(ms(store.standby_wait)),
        expiry_interval_ms: Some(ms(store.expiry_interval)),
    }
}

fn file_limits(limits: &ServerLimits) -> FileLimitsConfig {
    FileLimitsConfig {
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
    }
}

fn file_subscribe(feed: &FeedSettings) -> FileSubscribeConfig {
    FileSubscribeConfig {
        heartbeat_interval_ms: Some(ms(feed.heartbeat_interval)),
        buffer: Some(feed.buffer),
        buffer_kib: Some(feed.buffer_bytes / 1024),
        total_buffer_mib: Some(feed.total_buffer_bytes / (1024 * 1024)),
        tail_mib: Some(feed.tail_bytes / (1024 * 1024)),
        send_timeout_ms: Some(ms(feed.send_timeout)),
        max_streams: Some(feed.max_streams),
        max_streams_per_tenant: Some(feed.max_streams_per_tenant),
        poll_interval_ms: Some(ms(feed.poll_interval)),
        tail_linger_ms: Some(ms(feed.tail_linger)),
    }
}

fn file_webhooks(webhooks: &WebhookSettings) -> FileWebhooksConfig {
    FileWebhooksConfig {
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
    }
}

pub(super) fn gateway_settings(file: FileGatewayConfig) -> Result<GatewaySettings, ConfigError> {
    let defaults = GatewaySettings::default();
    let cors_origins = file
        .cors_origins
        .unwrap_or_default()
        .iter()
        .map(|origin| consentd_auth::origin::normalize(origin))
        .collect::<Result<_, String>>()
        .map_err(|message| ConfigError::Invalid { setting: "gateway.cors_origins", message })?;
    Ok(GatewaySettings {
        adapters: file.adapters.unwrap_or(defaults.adapters),
        max_body_bytes: file.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        trusted_proxies: file.trusted_proxies.unwrap_or_default(),
        cors_origins,
        max_list_records: file.max_list_records.unwrap_or(defaults.max_list_records),
        max_whole_lists: file.max_whole_lists.unwrap_or(defaults.max_whole_lists),
        mounts: file.mounts.unwrap_or_default(),
        location: file.location.unwrap_or_default(),
    })
}

pub(super) fn webhook_settings(file: FileWebhooksConfig) -> Result<WebhookSettings, ConfigError> {
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

pub(super) fn server_limits(file: &FileLimitsConfig) -> ServerLimits {
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
        key_lookups: consentd_auth::LookupBudget {
            rate: file.key_lookups_per_address.unwrap_or(defaults.key_lookups.rate),
            burst: file.key_lookup_burst_per_address.unwrap_or(defaults.key_lookups.burst),
        },
    }
}

pub(super) fn feed_settings(file: &FileSubscribeConfig) -> FeedSettings {
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

pub(super) fn millis(duration: Duration) -> usize {
    usize::try_from(duration.as_millis()).unwrap_or(usize::MAX)
}
