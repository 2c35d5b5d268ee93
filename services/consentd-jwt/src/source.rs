//! Where the JWKS document comes from: a file or a URL.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use crate::{JwtError, JwtSettings};

/// The largest JWKS document read. Real ones hold a handful of keys and
/// weigh a few kilobytes; the cap bounds what a broken or hostile endpoint
/// can make the service hold.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// How long one fetch of a `jwks_url` may take, connecting included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A place the JWKS document is read from.
#[derive(Debug)]
pub(crate) enum Source {
    File(PathBuf),
    Url { url: String, client: reqwest::Client },
}

impl Source {
    /// The source the settings name (which have been validated).
    pub(crate) fn from_settings(settings: &JwtSettings) -> Result<Self, JwtError> {
        match (&settings.jwks_file, &settings.jwks_url) {
            (Some(file), _) => Ok(Self::File(file.clone())),
            (None, Some(url)) => Ok(Self::Url { url: url.clone(), client: client()? }),
            (None, None) => Err(JwtError::Settings("no JWKS source".to_owned())),
        }
    }

    /// The file's path or the URL, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Url { url, .. } => url.clone(),
        }
    }

    /// The document's bytes, as they are now.
    pub(crate) async fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Self::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .map_err(|err| format!("reading task failed: {err}"))?
            }
            Self::Url { url, client } => fetch(client, url).await,
        }
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_DOCUMENT_BYTES + 1).read_to_end(&mut bytes).map_err(|err| err.to_string())?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    Ok(bytes)
}

/// A client for fetching the JWKS: bounded in time, with few redirects and
/// no proxy from the environment (the service's other outbound calls take
/// none either, so a stray variable cannot divert key fetches).
fn client() -> Result<reqwest::Client, JwtError> {
    // reqwest is built without a bundled crypto provider: use ring, as the
    // servers' TLS does. An error means one is installed already.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .no_proxy()
        .user_agent(concat!("consentd-jwt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| JwtError::Client(err.to_string()))
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|err| format!("request failed: {err}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    if response.content_length().is_some_and(|length| length > MAX_DOCUMENT_BYTES) {
        return Err(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    // Read chunk by chunk so a body without a length is bounded too.
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| format!("reading the body failed: {err}"))? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_DOCUMENT_BYTES {
            return Err(format!("larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
    }
    Ok(body)
}
