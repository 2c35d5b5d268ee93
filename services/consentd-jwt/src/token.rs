//! A token's shape and header, read without any cryptography.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::JwtRejection;

/// The longest token looked at. Real tokens are a few hundred bytes to a few
/// kilobytes; the cap keeps a hostile one from costing more than that.
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// What the header says about how the token was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenHeader {
    /// An asymmetric algorithm: anything else is refused before this exists.
    pub(crate) alg: Algorithm,
    /// The key the token names, if it names one.
    pub(crate) kid: Option<String>,
}

/// Whether `token` has a JWT's shape; see [`crate::JwtVerifier::looks_like_jwt`].
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN
        && segments(token)
            .and_then(|[header, _, _]| header_object(header))
            .is_some_and(|header| header.get("alg").is_some_and(Value::is_string))
}

/// The header of `token`, or why the token is refused before any key is
/// looked up: not a JWT at all, or signed (or not) with an algorithm that
/// is never accepted, such as `none` or an HMAC.
pub(crate) fn read_header(token: &str) -> Result<TokenHeader, JwtRejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtRejection::Malformed);
    }
    let [header, _, _] = segments(token).ok_or(JwtRejection::Malformed)?;
    let header = header_object(header).ok_or(JwtRejection::Malformed)?;
    let alg = header.get("alg").and_then(Value::as_str).ok_or(JwtRejection::Malformed)?;
    let alg = asymmetric_algorithm(alg).ok_or(JwtRejection::DisallowedAlgorithm)?;
    // RFC 7515 §4.1.11: extensions marked critical must be understood, and
    // none are.
    if header.contains_key("crit") {
        return Err(JwtRejection::Malformed);
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtRejection::Malformed),
    };
    Ok(TokenHeader { alg, kid })
}

/// The algorithm named `name` if it is an asymmetric signature algorithm
/// this crate verifies; `none` and the HMACs are not.
pub(crate) fn asymmetric_algorithm(name: &str) -> Option<Algorithm> {
    let alg = match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    };
    Some(alg)
}

/// The three dot-separated segments of a compact JWS, if that is what
/// `token` is: base64url without padding, header and payload non-empty
/// (the signature may be empty, as in an unsecured token, so that such a
/// token is routed here and refused for its algorithm).
fn segments(token: &str) -> Option<[&str; 3]> {
    let mut parts = token.split('.');
    let segments = [parts.next()?, parts.next()?, parts.next()?];
    if parts.next().is_some() || segments[0].is_empty() || segments[1].is_empty() {
        return None;
    }
    let base64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    segments.iter().all(|s| base64url(s)).then_some(segments)
}

/// The header segment decoded, if it is a JSON object.
fn header_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(header) => Some(header),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn reads_alg_and_kid() {
        let token = format!("{}.{}.sig", b64(r#"{"alg":"ES256","kid":"k1"}"#), b64("{}"));
        assert_eq!(
            read_header(&token),
            Ok(TokenHeader { alg: Algorithm::ES256, kid: Some("k1".to_owned()) })
        );
    }

    #[test]
    fn refuses_symmetric_and_unsigned() {
        for alg in ["none", "HS256", "HS512", "ES512", "nOnE"] {
            let token = format!("{}.{}.", b64(&format!(r#"{{"alg":"{alg}"}}"#)), b64("{}"));
            assert_eq!(read_header(&token), Err(JwtRejection::DisallowedAlgorithm), "{alg}");
        }
    }

    #[test]
    fn refuses_odd_headers() {
        let payload = b64("{}");
        for header in [
            r#"{"kid":"k"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":"ES256","kid":7}"#,
            r#"{"alg":"ES256","crit":["exp"]}"#,
            r#"["alg"]"#,
        ] {
            let token = format!("{}.{payload}.sig", b64(header));
            assert_eq!(read_header(&token), Err(JwtRejection::Malformed), "{header}");
        }
        let long = format!("{}.{}.sig", b64(r#"{"alg":"ES256"}"#), "a".repeat(MAX_TOKEN_LEN));
        assert_eq!(read_header(&long), Err(JwtRejection::Malformed));
    }

    #[test]
    fn shape_needs_three_base64url_segments() {
        let header = b64(r#"{"alg":"RS256"}"#);
        assert!(looks_like_jwt(&format!("{header}.e30.c2ln")));
        assert!(looks_like_jwt(&format!("{header}.e30.")));
        assert!(!looks_like_jwt(&format!("{header}.e30")));
        assert!(!looks_like_jwt(&format!("{header}.e30.c2ln.x")));
        assert!(!looks_like_jwt(&format!("{header}..c2ln")));
        assert!(!looks_like_jwt(&format!("{header}=.e30.c2ln")));
        assert!(!looks_like_jwt("e30.e30.c2ln"));
    }
}
