//! Checking a token against its key and reading the claims consentd uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::keys::UsableKey;
use crate::{JwtRejection, JwtSettings};

/// The clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// A token that verified: who issued it, for whom, and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The token's `iss`, which is the configured issuer.
    pub issuer: String,
    /// The token's `sub`; empty when it has none.
    pub subject: String,
    /// The value of the configured tenant claim, never empty.
    pub tenant: String,
    /// The scopes the configured scopes claim grants, in the token's order.
    pub scopes: Vec<String>,
    /// When the token expires (`exp`, without the leeway).
    pub expires_at: SystemTime,
}

/// The checks every token gets: `exp`, `iss` and `aud` required, `nbf`
/// honoured when present, all with [`LEEWAY_SECONDS`] of leeway. The
/// algorithm is set per token, from its (already vetted) header.
pub(crate) fn validation(settings: &JwtSettings) -> Validation {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation
}

/// Verifies `token`'s signature with `key` under `alg` and its claims under
/// `validation`, then reads the claims consentd needs.
pub(crate) fn check(
    token: &str,
    key: &UsableKey,
    alg: Algorithm,
    validation: &Validation,
    settings: &JwtSettings,
) -> Result<VerifiedToken, JwtRejection> {
    let mut validation = validation.clone();
    // Exactly the header's algorithm, which the key has been found to serve.
    validation.algorithms = vec![alg];
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation).map_err(rejection)?;
    read_claims(&data.claims, settings)
}

fn rejection(err: Error) -> JwtRejection {
    match err.into_kind() {
        ErrorKind::InvalidSignature
        | ErrorKind::Crypto(_)
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => JwtRejection::BadSignature,
        ErrorKind::ExpiredSignature => JwtRejection::Expired,
        ErrorKind::ImmatureSignature => JwtRejection::NotYetValid,
        ErrorKind::InvalidIssuer => JwtRejection::WrongIssuer,
        ErrorKind::InvalidAudience => JwtRejection::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => JwtRejection::MissingClaim(claim),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
            JwtRejection::DisallowedAlgorithm
        }
        ErrorKind::InvalidToken
        | ErrorKind::InvalidSubject
        | ErrorKind::RsaFailedSigning
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => JwtRejection::Malformed,
        // The kind is non-exhaustive: whatever a later version adds is a
        // refusal too.
        _ => JwtRejection::Malformed,
    }
}

/// The claims of a token whose signature and standard claims have been
/// checked.
fn read_claims(claims: &Map<String, Value>, settings: &JwtSettings) -> Result<VerifiedToken, JwtRejection> {
    // The validation accepts an array `iss` that contains the issuer; an
    // issuer is one string (RFC 7519 §4.1.1), so ask for exactly that.
    let issuer = match claims.get("iss") {
        Some(Value::String(iss)) if *iss == settings.issuer => iss.clone(),
        _ => return Err(JwtRejection::WrongIssuer),
    };
    let subject = match claims.get("sub") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(sub)) => sub.clone(),
        Some(_) => return Err(JwtRejection::InvalidClaim("sub".to_owned())),
    };
    // The validation skips an `nbf` it cannot read as a time; refuse it
    // instead, as the token then says nothing usable about when it starts.
    if claims.get("nbf").is_some_and(|nbf| !nbf.is_null() && !nbf.is_number()) {
        return Err(JwtRejection::InvalidClaim("nbf".to_owned()));
    }
    let tenant = match claims.get(&settings.tenant_claim) {
        Some(Value::String(tenant)) if !tenant.is_empty() => tenant.clone(),
        None | Some(Value::Null | Value::String(_)) => {
            return Err(JwtRejection::MissingClaim(settings.tenant_claim.clone()));
        }
        Some(_) => return Err(JwtRejection::InvalidClaim(settings.tenant_claim.clone())),
    };
    Ok(VerifiedToken {
        issuer,
        subject,
        tenant,
        scopes: scopes(claims.get(&settings.scopes_claim), &settings.scopes_claim)?,
        expires_at: expiry(claims.get("exp"))?,
    })
}

/// A space-separated string (RFC 8693 §4.2, as OAuth 2.0 writes scopes) or
/// an array of strings; absent means none.
fn scopes(claim: Option<&Value>, name: &str) -> Result<Vec<String>, JwtRejection> {
    let invalid = || JwtRejection::InvalidClaim(name.to_owned());
    match claim {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(scopes)) => Ok(scopes.split_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .filter(|item| item.as_str().is_none_or(|scope| !scope.is_empty()))
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(invalid))
            .collect(),
        Some(Value::Bool(_) | Value::Number(_) | Value::Object(_)) => Err(invalid()),
    }
}

/// `exp` as a time, read as the validation reads it (whole seconds, a
/// fraction rounded).
fn expiry(exp: Option<&Value>) -> Result<SystemTime, JwtRejection> {
    let seconds = exp
        .and_then(|exp| {
            exp.as_u64().or_else(|| {
                exp.as_f64()
                    .and_then(|secs| Duration::try_from_secs_f64(secs.round()).ok())
                    .map(|exp| exp.as_secs())
            })
        })
        .ok_or_else(|| JwtRejection::MissingClaim("exp".to_owned()))?;
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .ok_or_else(|| JwtRejection::InvalidClaim("exp".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
                panic!("not an object")
            }
        }
    }

    fn settings() -> JwtSettings {
        JwtSettings::with_file("https://idp.example", "consentd", "k.json")
    }

    #[test]
    fn reads_tenant_subject_scopes_and_expiry() {
        let token = read_claims(
            &claims(json!({
                "iss": "https://idp.example", "sub": "svc-1", "exp": 2_000_000_000u64,
                "tenant": "acme", "scope": " consent:read  consent:write "
            })),
            &settings(),
        )
        .unwrap();
        assert_eq!(token.subject, "svc-1");
        assert_eq!(token.tenant, "acme");
        assert_eq!(token.scopes, ["consent:read", "consent:write"]);
        assert_eq!(token.expires_at, UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    }

    #[test]
    fn scopes_may_be_an_array_or_absent() {
        assert_eq!(scopes(Some(&json!(["a", "", "b"])), "scope").unwrap(), ["a", "b"]);
        assert!(scopes(None, "scope").unwrap().is_empty());
        assert_eq!(
            scopes(Some(&json!(["a", 1])), "scope"),
            Err(JwtRejection::InvalidClaim("scope".to_owned()))
        );
        assert_eq!(scopes(Some(&json!(7)), "scope"), Err(JwtRejection::InvalidClaim("scope".to_owned())));
    }

    #[test]
    fn tenant_must_be_a_non_empty_string() {
        let base = json!({"iss": "https://idp.example", "exp": 2_000_000_000u64});
        for (tenant, expected) in [
            (json!(""), JwtRejection::MissingClaim("tenant".to_owned())),
            (json!(null), JwtRejection::MissingClaim("tenant".to_owned())),
            (json!(42), JwtRejection::InvalidClaim("tenant".to_owned())),
        ] {
            let mut map = claims(base.clone());
            map.insert("tenant".to_owned(), tenant);
            assert_eq!(read_claims(&map, &settings()), Err(expected));
        }
    }

    #[test]
    fn issuer_must_be_one_string() {
        let map = claims(json!({
            "iss": ["https://idp.example"], "exp": 2_000_000_000u64, "tenant": "acme"
        }));
        assert_eq!(read_claims(&map, &settings()), Err(JwtRejection::WrongIssuer));
    }

    #[test]
    fn fractional_expiry_is_rounded() {
        assert_eq!(expiry(Some(&json!(1.6))).unwrap(), UNIX_EPOCH + Duration::from_secs(2));
        assert!(expiry(Some(&json!("soon"))).is_err());
        assert!(expiry(Some(&json!(-1.0))).is_err());
        assert!(expiry(Some(&json!(1e300))).is_err());
    }
}
