//! Why a verifier cannot start, and why a token is refused.

/// Why [`crate::JwtVerifier::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The `[auth.jwt]` settings cannot work.
    #[error("invalid [auth.jwt] settings: {0}")]
    Settings(String),
    /// The HTTP client for `jwks_url` could not be built.
    #[error("cannot build the JWKS client: {0}")]
    Client(String),
    /// The JWKS could not be read, or is not a JWKS document.
    #[error("cannot load the JWKS from {source_name}: {reason}")]
    Load {
        /// The file or URL.
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// The JWKS was read but holds no key this verifier can use (an
    /// asymmetric signing key of a supported type and curve).
    #[error("the JWKS from {0} holds no usable signing key")]
    NoUsableKey(String),
}

/// Why a token was refused. The messages say nothing about the keys or the
/// settings beyond what the token itself shows, so they may be shown to the
/// caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    /// Not a JWS compact token, or its header or claims are not JSON objects.
    #[error("malformed token")]
    Malformed,
    /// No key of the current key set matches the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the token's key.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` lies ahead (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not name the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent (or empty, for the tenant).
    #[error("missing claim `{0}`")]
    MissingClaim(String),
    /// A claim is present but of the wrong type.
    #[error("invalid claim `{0}`")]
    InvalidClaim(String),
    /// The header's `alg` is not an asymmetric signature algorithm, or not
    /// one the token's key is for.
    #[error("signature algorithm not allowed")]
    DisallowedAlgorithm,
}
