//! The caller's credentials, sent as `authorization: Bearer …` on every
//! call: an API key, a fixed JWT, or a JWT in a file that is rotated (a
//! Kubernetes projected token), re-read when it changes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use crate::connect::ConnectError;

/// What the client presents.
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// Nothing (a server with `auth = disabled`).
    #[default]
    None,
    /// An API key (`consentd keys create`).
    ApiKey(String),
    /// A JWT bearer token.
    Jwt(String),
    /// A file holding a JWT, re-read whenever its modification time changes.
    JwtFile(PathBuf),
}

/// The interceptor that adds the credentials to each call.
#[derive(Debug, Clone)]
pub struct Bearer {
    source: Source,
}

/// A token file's header value, with the modification time it was read at.
type Cached = Arc<Mutex<Option<(SystemTime, MetadataValue<Ascii>)>>>;

#[derive(Debug, Clone)]
enum Source {
    None,
    Fixed(MetadataValue<Ascii>),
    File { path: PathBuf, cached: Cached },
}

impl Bearer {
    /// Checks the credentials once, so a malformed key fails at connect
    /// rather than on every call.
    pub(crate) fn new(credentials: Credentials) -> Result<Self, ConnectError> {
        let source = match credentials {
            Credentials::None => Source::None,
            Credentials::ApiKey(token) | Credentials::Jwt(token) => Source::Fixed(header(&token)?),
            Credentials::JwtFile(path) => {
                let bearer = Self { source: Source::File { path, cached: Arc::default() } };
                bearer.current()?;
                return Ok(bearer);
            }
        };
        Ok(Self { source })
    }

    /// The header value now.
    fn current(&self) -> Result<Option<MetadataValue<Ascii>>, ConnectError> {
        match &self.source {
            Source::None => Ok(None),
            Source::Fixed(value) => Ok(Some(value.clone())),
            Source::File { path, cached } => {
                let read_error = |source| ConnectError::Credentials(format!("{}: {source}", path.display()));
                let modified = std::fs::metadata(path).and_then(|m| m.modified()).map_err(read_error)?;
                let mut cached = cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some((at, value)) = cached.as_ref()
                    && *at == modified
                {
                    return Ok(Some(value.clone()));
                }
                let token = std::fs::read_to_string(path).map_err(read_error)?;
                let value = header(token.trim())?;
                *cached = Some((modified, value.clone()));
                Ok(Some(value))
            }
        }
    }
}

fn header(token: &str) -> Result<MetadataValue<Ascii>, ConnectError> {
    format!("Bearer {token}").parse().map_err(|_| {
        ConnectError::Credentials("the key or token holds characters a header cannot".to_owned())
    })
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        match self.current() {
            Ok(Some(value)) => {
                request.metadata_mut().insert("authorization", value);
                Ok(request)
            }
            Ok(None) => Ok(request),
            Err(err) => Err(tonic::Status::unauthenticated(err.to_string())),
        }
    }
}
