//! A JWKS document turned into the keys tokens may be verified with.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One verification key and the algorithms it may verify.
pub(crate) struct UsableKey {
    pub(crate) kid: Option<String>,
    /// Narrowed to the JWK's own `alg` when it states one, and to what the
    /// key's type and curve allow in any case.
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl fmt::Debug for UsableKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsableKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The usable keys of one JWKS document.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<UsableKey>>,
}

/// The key a token's header leads to.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Arc<UsableKey>),
    /// No key has the token's `kid` (or the token has none and the set has
    /// more than one key).
    Unknown,
    /// The key exists but is not for the token's algorithm.
    WrongAlgorithm,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The usable keys of a JWKS document, and a note for each key that was
    /// skipped. A key that cannot be used (symmetric, for encryption, of an
    /// unsupported curve, or simply malformed) is skipped rather than
    /// failing the whole set, so one odd entry published by an identity
    /// provider does not lock everyone out.
    pub(crate) fn parse(document: &[u8]) -> Result<(Self, Vec<String>), String> {
        let document: Document =
            serde_json::from_slice(document).map_err(|err| format!("not a JWKS document: {err}"))?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, raw) in document.keys.into_iter().enumerate() {
            match serde_json::from_value::<Jwk>(raw)
                .map_err(|err| err.to_string())
                .and_then(|jwk| usable(&jwk))
            {
                Ok(key) => keys.push(Arc::new(key)),
                Err(reason) => skipped.push(format!("key {index}: {reason}")),
            }
        }
        Ok((Self { keys }, skipped))
    }

    /// How many usable keys the set holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token with this `kid` and `alg`. A token without a
    /// `kid` is accepted only when there is no choice to make.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        let mut candidates: Vec<&Arc<UsableKey>> = match kid {
            Some(kid) => self.keys.iter().filter(|key| key.kid.as_deref() == Some(kid)).collect(),
            None if self.keys.len() == 1 => self.keys.iter().collect(),
            None => Vec::new(),
        };
        if candidates.is_empty() {
            return Lookup::Unknown;
        }
        // A kid may be shared by keys for different algorithms.
        candidates.retain(|key| key.algorithms.contains(&alg));
        candidates.first().map_or(Lookup::WrongAlgorithm, |key| Lookup::Found(Arc::clone(key)))
    }
}

/// The key `jwk` describes, if it is a signature verification key this
/// crate can use.
fn usable(jwk: &Jwk) -> Result<UsableKey, String> {
    let common = &jwk.common;
    if let Some(key_use) = &common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err("not a signing key (use)".to_owned());
    }
    if let Some(ops) = &common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("not a verification key (key_ops)".to_owned());
    }
    let by_type = algorithms_for(&jwk.algorithm)?;
    let algorithms = match common.key_algorithm {
        None => by_type,
        Some(stated) => {
            let stated = stated_algorithm(stated)?;
            if !by_type.contains(&stated) {
                return Err(format!("alg {stated:?} does not fit the key type"));
            }
            vec![stated]
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|err| err.to_string())?;
    Ok(UsableKey { kid: common.key_id.clone(), algorithms, key })
}

/// The algorithms a key of this type and curve can verify, after checking
/// that its parameters have the right sizes (ring would otherwise refuse
/// every signature, and a set of only such keys should fail to load).
fn algorithms_for(params: &AlgorithmParameters) -> Result<Vec<Algorithm>, String> {
    match params {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = decoded(&rsa.n)?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            if !(2048..=8192).contains(&bits) || decoded(&rsa.e)?.is_empty() {
                return Err("RSA key outside 2048..8192 bits".to_owned());
            }
            Ok(RSA_ALGORITHMS.to_vec())
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (alg, size) = match ec.curve {
                EllipticCurve::P256 => (Algorithm::ES256, 32),
                EllipticCurve::P384 => (Algorithm::ES384, 48),
                EllipticCurve::P521 | EllipticCurve::Ed25519 => {
                    return Err(format!("unsupported EC curve {:?}", ec.curve));
                }
            };
            if decoded(&ec.x)?.len() != size || decoded(&ec.y)?.len() != size {
                return Err("EC coordinates of the wrong size".to_owned());
            }
            Ok(vec![alg])
        }
        AlgorithmParameters::OctetKeyPair(okp) => {
            if okp.curve != EllipticCurve::Ed25519 || decoded(&okp.x)?.len() != 32 {
                return Err("only Ed25519 octet key pairs are supported".to_owned());
            }
            Ok(vec![Algorithm::EdDSA])
        }
        AlgorithmParameters::OctetKey(_) => Err("symmetric keys are never accepted".to_owned()),
    }
}

/// The JWK's own `alg`, if it is an asymmetric signature algorithm.
fn stated_algorithm(stated: KeyAlgorithm) -> Result<Algorithm, String> {
    crate::token::asymmetric_algorithm(&stated.to_string())
        .ok_or_else(|| format!("alg {stated} is not an asymmetric signature algorithm"))
}

fn decoded(value: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).map_err(|err| format!("bad base64url: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn set(keys: &str) -> (KeySet, Vec<String>) {
        KeySet::parse(format!(r#"{{"keys":[{keys}]}}"#).as_bytes()).unwrap()
    }

    #[test]
    fn keeps_usable_keys_and_skips_the_rest() {
        let (keys, skipped) = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"ed"}},
               {{"kty":"oct","k":"c2VjcmV0","kid":"hmac"}},
               {{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"enc","use":"enc"}},
               {{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"hs","alg":"HS256"}},
               {{"kty":"EC","crv":"P-256","x":"{X}","y":"short","kid":"ec"}},
               {{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}},
               {{"kty":"whatever"}}"#
        ));
        assert_eq!(keys.len(), 1);
        assert_eq!(skipped.len(), 6, "{skipped:?}");
        assert!(matches!(keys.lookup(Some("ed"), Algorithm::EdDSA), Lookup::Found(_)));
        assert!(matches!(keys.lookup(Some("ed"), Algorithm::ES256), Lookup::WrongAlgorithm));
        assert!(matches!(keys.lookup(Some("hmac"), Algorithm::EdDSA), Lookup::Unknown));
        // The only key serves a token without a kid.
        assert!(matches!(keys.lookup(None, Algorithm::EdDSA), Lookup::Found(_)));
    }

    #[test]
    fn no_kid_is_ambiguous_with_two_keys() {
        let (keys, _) = set(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"a"}},
               {{"kty":"OKP","crv":"Ed25519","x":"{X}","kid":"b"}}"#
        ));
        assert!(matches!(keys.lookup(None, Algorithm::EdDSA), Lookup::Unknown));
    }

    #[test]
    fn not_a_jwks_is_an_error() {
        assert!(KeySet::parse(b"[]").is_err());
        assert!(KeySet::parse(b"{\"keys\":{}}").is_err());
        assert!(KeySet::parse(b"not json").is_err());
    }
}
