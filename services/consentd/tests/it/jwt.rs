//! JWT bearer tokens instead of keys (`[auth.jwt]`): the tenant and scopes
//! from the token's claims, on gRPC and on vendor routes; expired tokens and
//! other issuers refused; a key added to the JWKS file works without a
//! restart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_proto::v1 as pb;
use consentd::config::AuthMode;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::json;
use tonic::Code;

use crate::auth::keyed_client;
use crate::cors::INTEMPT_PATH;
use crate::http_client::{fixture, send};
use crate::support::{TestServer, identity, record_request};
use crate::vendors::bind;

const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "consentd";

/// An ES256 signing key and its JWK.
struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn new(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        Self { kid: kid.to_owned(), pair }
    }

    fn jwk(&self) -> serde_json::Value {
        // An uncompressed P-256 point: 0x04, then x and y.
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    fn token(&self, claims: &serde_json::Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn claims(issuer: &str, tenant: &str, scope: &str, expires_in: i64) -> serde_json::Value {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    json!({"iss": issuer, "aud": AUDIENCE, "sub": "svc-orders", "tenant": tenant, "scope": scope, "exp": now + expires_in})
}

fn write_jwks(path: &std::path::Path, keys: &[&SigningKey]) {
    let jwks = json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()});
    std::fs::write(path, jwks.to_string()).unwrap();
}

async fn setup(dir: &tempfile::TempDir, key: &SigningKey) -> TestServer {
    let jwks = dir.path().join("jwks.json");
    write_jwks(&jwks, &[key]);
    let mut settings = consentd_jwt::JwtSettings::with_file(ISSUER, AUDIENCE, &jwks);
    settings.refresh_seconds = 1;
    TestServer::start_with(|config| {
        config.auth = AuthMode::Required;
        config.jwt = Some(settings);
    })
    .await
}

#[tokio::test]
async fn a_token_names_the_tenant_and_scopes_on_grpc_and_vendor_routes() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::new("k1");
    let server = setup(&dir, &key).await;
    bind(&server, "acme", "intempt", "demo-organization/demo-project");
    let token = key.token(&claims(ISSUER, "acme", "consent:write consent:read", 300));

    let mut client = keyed_client(&server.url(), &token).await;
    let request = record_request(identity("user_id", "u-jwt"), "marketing", "", pb::Decision::Granted);
    client.record_consent(request).await.expect("a valid token writes");
    let history = pb::QueryConsentsRequest { history: true, ..Default::default() };
    assert_eq!(client.query_consents(history.clone()).await.unwrap().into_inner().records.len(), 1);
    // The scopes are the token's: no subscribe scope, no stream.
    let subscribe = pb::SubscribeRequest::default();
    assert_eq!(client.subscribe(subscribe).await.unwrap_err().code(), Code::PermissionDenied);

    let body = fixture("intempt", "consent-accept-analytics-desktop.json");
    let bearer = format!("Bearer {token}");
    let headers = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let path = format!("/v1{INTEMPT_PATH}");
    let response = send(server.running().http_addr, "POST", &path, &headers, &body).await;
    assert_eq!(response.status, 200, "{response:?}");

    // Another tenant's token sees nothing of acme's.
    let other = key.token(&claims(ISSUER, "globex", "consent:read", 300));
    let mut client = keyed_client(&server.url(), &other).await;
    assert!(client.query_consents(history).await.unwrap().into_inner().records.is_empty());
}

#[tokio::test]
async fn expired_foreign_and_unsigned_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::new("k1");
    let server = setup(&dir, &key).await;
    let stranger = SigningKey::new("k1");
    let refused = [
        key.token(&claims(ISSUER, "acme", "consent:read", -120)),
        key.token(&claims("https://other-issuer.example", "acme", "consent:read", 300)),
        stranger.token(&claims(ISSUER, "acme", "consent:read", 300)),
    ];
    for token in refused {
        let mut client = keyed_client(&server.url(), &token).await;
        let request = pb::QueryConsentsRequest::default();
        assert_eq!(client.query_consents(request).await.unwrap_err().code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn a_key_added_to_the_jwks_file_works_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (SigningKey::new("k1"), SigningKey::new("k2"));
    let server = setup(&dir, &old).await;
    let token = new.token(&claims(ISSUER, "acme", "consent:read", 300));
    let mut client = keyed_client(&server.url(), &token).await;
    assert_eq!(
        client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // Rotation: the new key published, the old one withdrawn.
    write_jwks(&dir.path().join("jwks.json"), &[&new]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while client.query_consents(pb::QueryConsentsRequest::default()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the new key never worked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let old_token = old.token(&claims(ISSUER, "acme", "consent:read", 300));
    let mut client = keyed_client(&server.url(), &old_token).await;
    assert_eq!(
        client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap_err().code(),
        Code::Unauthenticated,
        "a withdrawn key is refused"
    );
}
