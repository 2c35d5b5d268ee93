//! The certificate both listeners present, read once at start: the gRPC
//! port hands it to tonic, the HTTP port builds a rustls acceptor from it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the certificate files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; set, it
    /// makes client certificates mandatory (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// A certificate, its key and the client CA (for mutual TLS), as PEM.
#[derive(Clone)]
pub struct TlsPem {
    /// The certificate chain.
    pub cert: Vec<u8>,
    /// Its private key.
    pub key: Vec<u8>,
    /// Clients must present a certificate this CA signed, if given.
    pub client_ca: Option<Vec<u8>>,
}

impl TlsPem {
    /// Reads the files, naming the one that cannot be read.
    pub fn read(files: &TlsFiles) -> Result<Self, String> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()));
        Ok(Self {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            client_ca: files.client_ca.as_deref().map(read).transpose()?,
        })
    }
}

/// Never prints the private key, so a configuration dump or a panic message
/// cannot leak it.
impl fmt::Debug for TlsPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPem")
            .field("cert_bytes", &self.cert.len())
            .field("key", &"<redacted>")
            .field("client_ca_bytes", &self.client_ca.as_ref().map(Vec::len))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_holds_the_private_key() {
        let pem = TlsPem {
            cert: b"CERT".to_vec(),
            key: b"-----BEGIN PRIVATE KEY-----secret".to_vec(),
            client_ca: None,
        };
        let printed = format!("{pem:?}");
        assert!(!printed.contains("secret") && !printed.contains("PRIVATE"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            client_ca: None,
        };
        let err = TlsPem::read(&files).unwrap_err();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}
