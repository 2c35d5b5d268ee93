//! The claims a token must carry, and what is read from them.

use std::time::{Duration, UNIX_EPOCH};

use consentd_jwt::{JwtRejection, JwtVerifier};
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::support::{AUDIENCE, ISSUER, KeyFile, Signer, claims, claims_with, jwks, now};

async fn setup() -> (Signer, KeyFile, JwtVerifier) {
    let signer = Signer::ed25519("ed-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let verifier = file.verifier(60).await;
    (signer, file, verifier)
}

fn missing(claim: &str) -> Result<consentd_jwt::VerifiedToken, JwtRejection> {
    Err(JwtRejection::MissingClaim(claim.to_owned()))
}

#[tokio::test]
async fn a_valid_token_gives_tenant_scopes_and_subject() {
    let (signer, _file, verifier) = setup().await;
    let exp = now() + 300;
    let token = signer.sign(&claims_with(json!({"exp": exp})));
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.issuer, ISSUER);
    assert_eq!(verified.subject, "svc-reporting");
    assert_eq!(verified.tenant, "acme");
    assert_eq!(verified.scopes, ["consent:read", "consent:write"]);
    assert_eq!(verified.expires_at, UNIX_EPOCH + Duration::from_secs(exp));
}

#[tokio::test]
async fn ecdsa_and_rsa_tokens_verify() {
    let es = Signer::es256("ec-1");
    let rs = Signer::rsa("rsa-1", Algorithm::RS256, None);
    // The same RSA key, its JWK stating no alg, serves PS256 too.
    let ps = Signer::rsa("rsa-1", Algorithm::PS512, None);
    let file = KeyFile::new(&jwks(&[&es, &rs]));
    let verifier = file.verifier(60).await;
    for signer in [&es, &rs, &ps] {
        let verified = verifier.verify(&signer.sign(&claims())).await;
        assert_eq!(verified.unwrap().tenant, "acme", "{:?}", signer.alg);
    }
}

#[tokio::test]
async fn subject_and_scopes_may_be_absent() {
    let (signer, _file, verifier) = setup().await;
    let token = signer.sign(&claims_with(json!({"sub": null, "scope": null})));
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.subject, "");
    assert!(verified.scopes.is_empty());
}

#[tokio::test]
async fn expiry_is_required_and_enforced_with_leeway() {
    let (signer, _file, verifier) = setup().await;
    let expired = signer.sign(&claims_with(json!({"exp": now() - 120})));
    assert_eq!(verifier.verify(&expired).await, Err(JwtRejection::Expired));
    // Within the 30 s leeway.
    let just_expired = signer.sign(&claims_with(json!({"exp": now() - 5})));
    assert!(verifier.verify(&just_expired).await.is_ok());
    let no_exp = signer.sign(&claims_with(json!({"exp": null})));
    assert_eq!(verifier.verify(&no_exp).await, missing("exp"));
    let odd_exp = signer.sign(&claims_with(json!({"exp": "tomorrow"})));
    assert_eq!(verifier.verify(&odd_exp).await, missing("exp"));
}

#[tokio::test]
async fn not_before_is_honoured_with_leeway() {
    let (signer, _file, verifier) = setup().await;
    let early = signer.sign(&claims_with(json!({"nbf": now() + 300})));
    assert_eq!(verifier.verify(&early).await, Err(JwtRejection::NotYetValid));
    let nearly = signer.sign(&claims_with(json!({"nbf": now() + 5})));
    assert!(verifier.verify(&nearly).await.is_ok());
    let unreadable = signer.sign(&claims_with(json!({"nbf": "now"})));
    assert_eq!(verifier.verify(&unreadable).await, Err(JwtRejection::InvalidClaim("nbf".to_owned())));
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let (signer, _file, verifier) = setup().await;
    for iss in [json!("https://other.test"), json!("https://idp.test/"), json!([ISSUER])] {
        let token = signer.sign(&claims_with(json!({ "iss": iss })));
        assert_eq!(verifier.verify(&token).await, Err(JwtRejection::WrongIssuer), "{iss}");
    }
    let no_iss = signer.sign(&claims_with(json!({"iss": null})));
    assert_eq!(verifier.verify(&no_iss).await, missing("iss"));
}

#[tokio::test]
async fn audience_must_name_consentd() {
    let (signer, _file, verifier) = setup().await;
    let other = signer.sign(&claims_with(json!({"aud": "billing"})));
    assert_eq!(verifier.verify(&other).await, Err(JwtRejection::WrongAudience));
    let others = signer.sign(&claims_with(json!({"aud": ["billing", "crm"]})));
    assert_eq!(verifier.verify(&others).await, Err(JwtRejection::WrongAudience));
    let among = signer.sign(&claims_with(json!({"aud": ["billing", AUDIENCE]})));
    assert!(verifier.verify(&among).await.is_ok());
    let no_aud = signer.sign(&claims_with(json!({"aud": null})));
    assert_eq!(verifier.verify(&no_aud).await, missing("aud"));
}

#[tokio::test]
async fn tenant_is_required() {
    let (signer, _file, verifier) = setup().await;
    let absent = signer.sign(&claims_with(json!({"tenant": null})));
    assert_eq!(verifier.verify(&absent).await, missing("tenant"));
    let empty = signer.sign(&claims_with(json!({"tenant": ""})));
    assert_eq!(verifier.verify(&empty).await, missing("tenant"));
    let number = signer.sign(&claims_with(json!({"tenant": 7})));
    assert_eq!(verifier.verify(&number).await, Err(JwtRejection::InvalidClaim("tenant".to_owned())));
}

#[tokio::test]
async fn claim_names_are_configurable() {
    let signer = Signer::es256("ec-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let mut settings = file.settings(60);
    settings.tenant_claim = "org_id".to_owned();
    settings.scopes_claim = "scp".to_owned();
    let verifier = JwtVerifier::start(settings).await.unwrap();
    let token = signer.sign(&claims_with(json!({
        "org_id": "globex", "scp": ["consent:read", "admin"], "tenant": null,
    })));
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.tenant, "globex");
    assert_eq!(verified.scopes, ["consent:read", "admin"]);
    let without = signer.sign(&claims());
    assert_eq!(verifier.verify(&without).await, missing("org_id"));
}
