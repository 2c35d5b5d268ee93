//! Where consentd is and who is calling: flags, then the environment, then a
//! profile file, then the defaults.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use consent_client::{Client, ConnectOptions, Credentials, RetryPolicy, TlsFiles};
use serde::Deserialize;

use crate::Failure;

/// The address when nothing names one: a consentd on this machine.
const DEFAULT_ADDR: &str = "http://127.0.0.1:50051";

/// The connection flags every command shares.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ConnectionArgs {
    /// consentd's gRPC address: host:port, http://… or https://…
    /// [default: http://127.0.0.1:50051]
    #[arg(long, env = "CONSENTD_ADDR", global = true)]
    addr: Option<String>,
    /// An API key (`consentd keys create`)
    #[arg(long, env = "CONSENTD_KEY", hide_env_values = true, global = true, conflicts_with = "jwt_file")]
    key: Option<String>,
    /// A file holding a JWT bearer token, re-read when it changes (instead
    /// of --key)
    #[arg(long, env = "CONSENTCTL_JWT_FILE", global = true)]
    jwt_file: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate must chain to
    /// [default: the system's roots, for https://]
    #[arg(long, env = "CONSENTCTL_TLS_CA", global = true)]
    tls_ca: Option<PathBuf>,
    /// A client certificate (PEM), for servers that require mTLS
    #[arg(long, env = "CONSENTCTL_TLS_CERT", global = true, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, env = "CONSENTCTL_TLS_KEY", global = true, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A TOML profile with any of: addr, key, jwt_file, tls_ca, tls_cert,
    /// tls_key, timeout_ms, retries (flags and environment win)
    #[arg(long, env = "CONSENTCTL_PROFILE", global = true)]
    profile: Option<PathBuf>,
    /// Each call's deadline, in milliseconds [default: 30000]
    #[arg(long, global = true)]
    timeout_ms: Option<u64>,
    /// Retries of a call that failed for a transient reason (the server was
    /// unavailable or overloaded) [default: 5]
    #[arg(long, global = true)]
    retries: Option<usize>,
}

/// A profile file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    addr: Option<String>,
    key: Option<String>,
    jwt_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    timeout_ms: Option<u64>,
    retries: Option<usize>,
}

impl ConnectionArgs {
    /// The client these settings describe.
    pub(crate) fn client(&self) -> Result<Client, Failure> {
        let profile = match &self.profile {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| Failure::new(format!("cannot read profile {}: {err}", path.display())))?;
                toml::from_str(&text)
                    .map_err(|err| Failure::new(format!("invalid profile {}: {err}", path.display())))?
            }
            None => Profile::default(),
        };
        let key = self.key.clone().or(profile.key);
        let jwt_file = self.jwt_file.clone().or(profile.jwt_file);
        let credentials = match (key, jwt_file) {
            (Some(key), None) => Credentials::ApiKey(key),
            (None, Some(file)) => Credentials::JwtFile(file),
            (None, None) => Credentials::None,
            (Some(_), Some(_)) => {
                return Err(Failure::new("give a key or a JWT file, not both".to_owned()));
            }
        };
        let mut options = ConnectOptions::new(
            self.addr.clone().or(profile.addr).unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            credentials,
        );
        options.tls = TlsFiles {
            ca_file: self.tls_ca.clone().or(profile.tls_ca),
            cert_file: self.tls_cert.clone().or(profile.tls_cert),
            key_file: self.tls_key.clone().or(profile.tls_key),
        };
        if let Some(ms) = self.timeout_ms.or(profile.timeout_ms) {
            options.timeout = Some(Duration::from_millis(ms));
        }
        if let Some(retries) = self.retries.or(profile.retries) {
            options.retry = RetryPolicy { max_retries: retries, ..RetryPolicy::default() };
        }
        Client::connect(&options).map_err(|err| Failure::new(err.to_string()))
    }
}
