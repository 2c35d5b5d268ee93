//! Telling a JWT from an API key without checking either.

use consentd_jwt::JwtVerifier;
use serde_json::json;

use crate::support::{Signer, b64, claims, craft};

#[test]
fn tokens_look_like_jwts() {
    assert!(JwtVerifier::looks_like_jwt(&Signer::ed25519("k").sign(&claims())));
    assert!(JwtVerifier::looks_like_jwt(&Signer::es256("k").sign_without_kid(&claims())));
    // Refused later, but routed to the JWT checks.
    assert!(JwtVerifier::looks_like_jwt(&craft(&json!({"alg": "none"}), &claims(), b"")));
}

#[test]
fn api_keys_and_other_strings_do_not() {
    let api_key = format!("ck_0123456789abcdef.{}", "A".repeat(43));
    assert!(!JwtVerifier::looks_like_jwt(&api_key));
    let header = b64(json!({"alg": "ES256"}).to_string().as_bytes());
    let no_alg = b64(json!({"typ": "JWT"}).to_string().as_bytes());
    for not_jwt in [
        String::new(),
        "..".to_owned(),
        "Bearer abc.def.ghi".to_owned(),
        format!("{header}.e30"),
        format!("{no_alg}.e30.c2ln"),
        format!("{}.e30.c2ln", b64(b"not json")),
        format!("{header}.e30.c2ln=="),
        "ck_0123456789abcdef.x.y".to_owned(),
    ] {
        assert!(!JwtVerifier::looks_like_jwt(&not_jwt), "{not_jwt}");
    }
}
