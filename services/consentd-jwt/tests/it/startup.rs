//! What keeps a verifier from starting.

use consentd_jwt::{JwtError, JwtSettings, JwtVerifier};
use serde_json::json;

use crate::support::{AUDIENCE, ISSUER, KeyFile, Signer, jwks};

#[tokio::test]
async fn invalid_settings_are_refused() {
    let file = KeyFile::new(&jwks(&[&Signer::ed25519("k")]));
    let mut settings = file.settings(60);
    settings.jwks_url = Some("https://idp.test/jwks".to_owned());
    let err = JwtVerifier::start(settings).await.unwrap_err();
    assert!(matches!(err, JwtError::Settings(_)), "{err}");
}

#[tokio::test]
async fn an_unreadable_jwks_is_refused() {
    let missing = JwtSettings::with_file(ISSUER, AUDIENCE, "/nonexistent/jwks.json");
    let err = JwtVerifier::start(missing).await.unwrap_err();
    assert!(matches!(err, JwtError::Load { .. }), "{err}");

    let file = KeyFile::new("<html>not json</html>");
    let err = JwtVerifier::start(file.settings(60)).await.unwrap_err();
    assert!(matches!(err, JwtError::Load { .. }), "{err}");
}

#[tokio::test]
async fn a_jwks_without_usable_keys_is_refused() {
    let file = KeyFile::new(
        &json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0IHNlY3JldA", "kid": "hmac"},
            {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"},
        ]})
        .to_string(),
    );
    let err = JwtVerifier::start(file.settings(60)).await.unwrap_err();
    assert!(matches!(err, JwtError::NoUsableKey(_)), "{err}");
    let empty = KeyFile::new(r#"{"keys": []}"#);
    let err = JwtVerifier::start(empty.settings(60)).await.unwrap_err();
    assert!(matches!(err, JwtError::NoUsableKey(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_url_is_refused() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    let err = JwtVerifier::start(JwtSettings::with_url(ISSUER, AUDIENCE, &url)).await.unwrap_err();
    assert!(matches!(err, JwtError::Load { .. }), "{err}");
}
