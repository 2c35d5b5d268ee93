//! JWT bearer tokens, as an alternative to API keys, checked against the
//! keys an identity provider publishes as a JWKS (`[auth.jwt]`).
//!
//! # What is accepted
//!
//! A compact JWS whose header `alg` is an asymmetric signature algorithm
//! (RS256/384/512, PS256/384/512, ES256/384, EdDSA with Ed25519). `none` and
//! the HMACs are refused before any key is looked at, and so is a token
//! whose header carries `crit`. The key is the JWKS entry with the token's
//! `kid`; a token without `kid` is accepted only while the set has exactly
//! one usable key. The header's `alg` must fit that key's type and curve and,
//! when the JWK states an `alg`, be exactly that one. Keys embedded in or
//! pointed to by the token's header (`jwk`, `jku`, `x5u`, `x5c`) are never
//! used. JWKS entries that are symmetric, meant for encryption, of an
//! unsupported curve or size, or malformed are skipped.
//!
//! The claims: `exp` required; `nbf` honoured when present; both with a
//! leeway of [`LEEWAY_SECONDS`] (30 s) for clock skew. `iss` must be the
//! configured issuer, one string compared exactly; `aud` (a string or an
//! array) must hold the configured audience. The tenant comes from
//! `tenant_claim` (a non-empty string, required); the scopes from
//! `scopes_claim`, a space-separated string as in OAuth 2.0 or an array of
//! strings, none when absent. Claim names are top-level names. Tokens
//! longer than 16 KiB are refused unread.
//!
//! # Key rotation without a restart
//!
//! - Every `refresh_seconds` (60 by default) the JWKS is read again: a file
//!   is parsed again when its contents changed, a URL is fetched again.
//! - A token naming a `kid` the current set lacks causes one immediate
//!   re-read, at most once every 10 s, so a key published just before its
//!   first token works at once, while a flood of made-up `kid`s costs at
//!   most one read per 10 s.
//! - A re-read that fails (unreadable, not a JWKS, no usable key) keeps the
//!   last good key set and logs a warning.
//! - A key removed from the JWKS is still accepted until the next periodic
//!   re-read, so for up to `refresh_seconds`.

mod error;
mod jwks;
mod keys;
mod settings;
mod source;
mod token;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Validation;

pub use error::{JwtError, JwtRejection};
pub use settings::JwtSettings;
pub use verify::{LEEWAY_SECONDS, VerifiedToken};

use jwks::{Jwks, RefreshTask};
use keys::{Lookup, UsableKey};
use token::TokenHeader;

/// Verifies tokens against the current JWKS. Clones share one key set and
/// one refresh task, which stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: JwtSettings,
    validation: Validation,
    jwks: Arc<Jwks>,
    _refresh: RefreshTask,
}

impl JwtVerifier {
    /// Loads the JWKS once (an error if the settings are invalid, or the
    /// JWKS cannot be read or holds no usable key) and starts a task that
    /// re-reads it every `refresh_seconds`. Must be called within a Tokio
    /// runtime, which the refresh task runs on.
    pub async fn start(settings: JwtSettings) -> Result<Self, JwtError> {
        settings.validate().map_err(JwtError::Settings)?;
        let source = source::Source::from_settings(&settings)?;
        let jwks = Jwks::load(source).await?;
        let refresh = jwks::spawn_refresh(&jwks, Duration::from_secs(settings.refresh_seconds));
        Ok(Self {
            inner: Arc::new(Inner {
                validation: verify::validation(&settings),
                settings,
                jwks,
                _refresh: refresh,
            }),
        })
    }

    /// Whether `token` has a JWT's shape: three base64url segments, the
    /// first decoding to a JSON object with `alg`. Cheap, no cryptography:
    /// for routing a bearer credential to JWT checks rather than API-key
    /// checks (an API key has one dot, not two).
    pub fn looks_like_jwt(token: &str) -> bool {
        token::looks_like_jwt(token)
    }

    /// The verified token, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, JwtRejection> {
        let header = token::read_header(token)?;
        let key = self.key_for(&header).await?;
        verify::check(token, &key, header.alg, &self.inner.validation, &self.inner.settings)
    }

    /// The key for a token with `header`, after one re-read of the JWKS if
    /// the token names a key the current set lacks.
    async fn key_for(&self, header: &TokenHeader) -> Result<Arc<UsableKey>, JwtRejection> {
        let kid = header.kid.as_deref();
        match self.inner.jwks.current().lookup(kid, header.alg) {
            Lookup::Found(key) => return Ok(key),
            Lookup::WrongAlgorithm => return Err(JwtRejection::DisallowedAlgorithm),
            // Only a named key can have been published since the last read.
            Lookup::Unknown if kid.is_none() => return Err(JwtRejection::UnknownKey),
            Lookup::Unknown => {}
        }
        // Look again even if this call did not re-read: another token's
        // re-read may just have brought the key.
        self.inner.jwks.reread_for_unknown_kid().await;
        match self.inner.jwks.current().lookup(kid, header.alg) {
            Lookup::Found(key) => Ok(key),
            Lookup::WrongAlgorithm => Err(JwtRejection::DisallowedAlgorithm),
            Lookup::Unknown => Err(JwtRejection::UnknownKey),
        }
    }
}
