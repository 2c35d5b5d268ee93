//! Where the server is and how to reach it: the address, TLS (a private CA,
//! a client certificate for mTLS), timeouts and HTTP/2 keepalive.

use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::{Credentials, RetryPolicy};

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `host:port`, `http://host:port` or `https://host:port`. Without a
    /// scheme it is `https` when TLS files are given, `http` otherwise.
    pub addr: String,
    /// What the client presents.
    pub credentials: Credentials,
    /// TLS files; `https` addresses without them trust the system's roots.
    pub tls: TlsFiles,
    /// How calls are retried.
    pub retry: RetryPolicy,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long a unary call may take (its gRPC deadline, set per call so
    /// that streams have none).
    pub timeout: Option<Duration>,
    /// The largest message sent or accepted.
    pub max_message_bytes: usize,
}

impl ConnectOptions {
    /// The defaults for `addr`, with `credentials`.
    pub fn new(addr: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            addr: addr.into(),
            credentials,
            tls: TlsFiles::default(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Some(Duration::from_secs(30)),
            max_message_bytes: 8 * 1024 * 1024,
        }
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// CA certificates the server's certificate must chain to (instead of
    /// the system's roots).
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain, for servers that require mTLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The address is not a URI.
    #[error("invalid address {addr:?}: {message}")]
    Address {
        /// The address given.
        addr: String,
        /// What is wrong.
        message: String,
    },
    /// A TLS file could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The credentials could not be read or sent.
    #[error("credentials: {0}")]
    Credentials(String),
}

/// A lazily connecting channel.
pub(crate) fn channel(options: &ConnectOptions) -> Result<Channel, ConnectError> {
    let addr = if options.addr.contains("://") {
        options.addr.clone()
    } else if options.tls.any() {
        format!("https://{}", options.addr)
    } else {
        format!("http://{}", options.addr)
    };
    let invalid = |message: String| ConnectError::Address { addr: options.addr.clone(), message };
    let endpoint = Endpoint::from_shared(addr.clone())
        .map_err(|err| invalid(err.to_string()))?
        .connect_timeout(options.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    let endpoint = if addr.starts_with("https://") {
        endpoint.tls_config(tls_config(&options.tls)?).map_err(|err| ConnectError::Tls(err.to_string()))?
    } else if options.tls.any() {
        return Err(invalid("TLS files were given for an http:// address".to_owned()));
    } else {
        endpoint
    };
    Ok(endpoint.connect_lazy())
}

fn tls_config(files: &TlsFiles) -> Result<ClientTlsConfig, ConnectError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|err| ConnectError::Tls(format!("{}: {err}", path.display())))
    };
    let mut config = ClientTlsConfig::new();
    config = match &files.ca_file {
        Some(ca) => config.ca_certificate(Certificate::from_pem(read(ca)?)),
        None => config.with_native_roots(),
    };
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => Ok(config.identity(Identity::from_pem(read(cert)?, read(key)?))),
        (None, None) => Ok(config),
        _ => {
            Err(ConnectError::Tls("a client certificate needs its key, and a key its certificate".to_owned()))
        }
    }
}
