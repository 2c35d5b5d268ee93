//! A JWKS served over HTTP.

use std::time::Duration;

use consentd_jwt::{JwtRejection, JwtVerifier};

use crate::support::{JwksServer, Signer, claims, eventually, jwks};

#[tokio::test]
async fn keys_are_fetched_and_rotate() {
    let first = Signer::es256("k1");
    let server = JwksServer::start(&jwks(&[&first])).await;
    let verifier = JwtVerifier::start(server.settings(1)).await.unwrap();
    let first_token = first.sign(&claims());
    assert!(verifier.verify(&first_token).await.is_ok());

    // Published: usable at once.
    let second = Signer::ed25519("k2");
    server.set(200, &jwks(&[&first, &second]));
    assert!(verifier.verify(&second.sign(&claims())).await.is_ok());

    // Withdrawn: refused after the next periodic fetch.
    server.set(200, &jwks(&[&second]));
    eventually(Duration::from_secs(5), "the withdrawn key is refused", || async {
        verifier.verify(&first_token).await == Err(JwtRejection::UnknownKey)
    })
    .await;
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_one_fetch() {
    let key = Signer::ed25519("k1");
    let server = JwksServer::start(&jwks(&[&key])).await;
    let verifier = JwtVerifier::start(server.settings(3600)).await.unwrap();
    assert_eq!(server.hits(), 1);

    let mut refusals = Vec::new();
    for n in 0..50 {
        let verifier = verifier.clone();
        let token = key.renamed(&format!("bogus-{n}")).sign(&claims());
        refusals.push(tokio::spawn(async move { verifier.verify(&token).await }));
    }
    for refusal in refusals {
        assert_eq!(refusal.await.unwrap(), Err(JwtRejection::UnknownKey));
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_failing_endpoint_keeps_the_last_good_keys() {
    let key = Signer::ed25519("k1");
    let server = JwksServer::start(&jwks(&[&key])).await;
    let verifier = JwtVerifier::start(server.settings(3600)).await.unwrap();

    server.set(503, "unavailable");
    let bogus = key.renamed("bogus").sign(&claims());
    assert_eq!(verifier.verify(&bogus).await, Err(JwtRejection::UnknownKey));
    assert_eq!(server.hits(), 2);
    assert!(verifier.verify(&key.sign(&claims())).await.is_ok());
}
