//! Which signatures are accepted, with which keys.

use consentd_jwt::JwtRejection;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::support::{KeyFile, Signer, b64, claims, claims_with, craft, jwks};

#[tokio::test]
async fn unsigned_tokens_are_refused() {
    let signer = Signer::ed25519("ed-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let verifier = file.verifier(60).await;
    for alg in ["none", "None", "NONE"] {
        let token = craft(&json!({"alg": alg, "kid": "ed-1"}), &claims(), b"");
        assert_eq!(verifier.verify(&token).await, Err(JwtRejection::DisallowedAlgorithm), "{alg}");
    }
}

#[tokio::test]
async fn hmac_tokens_are_refused_even_keyed_with_the_public_key() {
    let signer = Signer::ed25519("ed-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let verifier = file.verifier(60).await;
    // The classic confusion: the public key used as an HMAC secret.
    let public = signer.jwk()["x"].as_str().unwrap().to_owned();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let mut header = Header::new(alg);
        header.kid = Some("ed-1".to_owned());
        let token =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(public.as_bytes())).unwrap();
        assert_eq!(verifier.verify(&token).await, Err(JwtRejection::DisallowedAlgorithm), "{alg:?}");
    }
}

#[tokio::test]
async fn the_algorithm_must_fit_the_key() {
    let ed = Signer::ed25519("shared");
    // RS256 stated in the JWK: a PS256 signature by the same key is refused.
    let rs = Signer::rsa("rsa-1", Algorithm::RS256, Some("RS256"));
    let ps = Signer::rsa("rsa-1", Algorithm::PS256, None);
    let file = KeyFile::new(&jwks(&[&ed, &rs]));
    let verifier = file.verifier(60).await;
    assert!(verifier.verify(&rs.sign(&claims())).await.is_ok());
    assert_eq!(verifier.verify(&ps.sign(&claims())).await, Err(JwtRejection::DisallowedAlgorithm));
    // An ES256 token naming the Ed25519 key.
    let es = Signer::es256("shared");
    assert_eq!(verifier.verify(&es.sign(&claims())).await, Err(JwtRejection::DisallowedAlgorithm));
}

#[tokio::test]
async fn tampering_breaks_the_signature() {
    let signer = Signer::es256("ec-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let verifier = file.verifier(60).await;
    let token = signer.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();

    let forged = b64(claims_with(json!({"tenant": "globex"})).to_string().as_bytes());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(verifier.verify(&tampered).await, Err(JwtRejection::BadSignature));

    // Signed by another key of the same type that claims this key's kid.
    let impostor = Signer::es256("ec-1").sign(&claims());
    assert_eq!(verifier.verify(&impostor).await, Err(JwtRejection::BadSignature));

    // This token's claims under the impostor's signature.
    let signature = impostor.rsplit('.').next().unwrap();
    let swapped = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert_eq!(verifier.verify(&swapped).await, Err(JwtRejection::BadSignature));
}

#[tokio::test]
async fn the_key_is_chosen_by_kid() {
    let one = Signer::ed25519("one");
    let file = KeyFile::new(&jwks(&[&one]));
    let verifier = file.verifier(60).await;
    let unknown = one.renamed("nobody").sign(&claims());
    assert_eq!(verifier.verify(&unknown).await, Err(JwtRejection::UnknownKey));
    // No kid, one key: that key.
    assert!(verifier.verify(&one.sign_without_kid(&claims())).await.is_ok());

    let two = Signer::ed25519("two");
    file.write(&jwks(&[&one, &two]));
    let verifier = file.verifier(60).await;
    assert!(verifier.verify(&two.sign(&claims())).await.is_ok());
    // No kid, two keys: no guessing.
    assert_eq!(verifier.verify(&one.sign_without_kid(&claims())).await, Err(JwtRejection::UnknownKey));
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let signer = Signer::ed25519("ed-1");
    let file = KeyFile::new(&jwks(&[&signer]));
    let verifier = file.verifier(60).await;
    let token = signer.sign(&claims());
    let (head, _) = token.split_once('.').unwrap();
    for bad in [
        String::new(),
        "a.b.c".to_owned(),
        "not a token".to_owned(),
        format!("{head}.!!!.sig"),
        format!("{token}.extra"),
        // Well signed, but the claims are not an object.
        signer.sign(&json!(["tenant", "acme"])),
    ] {
        assert_eq!(verifier.verify(&bad).await, Err(JwtRejection::Malformed), "{bad}");
    }
}
