//! Keys rotating in a JWKS file while the verifier runs.

use std::time::Duration;

use consentd_jwt::JwtRejection;

use crate::support::{KeyFile, Signer, claims, eventually, jwks};

/// Longer than a one-second refresh needs, far shorter than the 10 s
/// between unknown-kid re-reads, so a success within it is the periodic
/// refresh's doing.
const WITHIN: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_new_key_works_at_once_through_the_unknown_kid_reread() {
    let old = Signer::ed25519("2025-01");
    let file = KeyFile::new(&jwks(&[&old]));
    // No periodic re-read during the test.
    let verifier = file.verifier(3600).await;

    let new = Signer::es256("2025-02");
    file.write(&jwks(&[&old, &new]));
    let verified = verifier.verify(&new.sign(&claims())).await;
    assert_eq!(verified.unwrap().tenant, "acme");
    assert!(verifier.verify(&old.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn unknown_kid_rereads_are_spaced() {
    let old = Signer::ed25519("2025-01");
    let file = KeyFile::new(&jwks(&[&old]));
    let verifier = file.verifier(3600).await;

    // This re-read finds nothing new...
    let bogus = old.renamed("made-up").sign(&claims());
    assert_eq!(verifier.verify(&bogus).await, Err(JwtRejection::UnknownKey));
    // ...and the next one is more than 10 s away, so a key published now
    // is not seen yet.
    let new = Signer::ed25519("2025-02");
    file.write(&jwks(&[&old, &new]));
    assert_eq!(verifier.verify(&new.sign(&claims())).await, Err(JwtRejection::UnknownKey));
}

#[tokio::test]
async fn the_periodic_refresh_brings_new_keys() {
    let old = Signer::ed25519("2025-01");
    let file = KeyFile::new(&jwks(&[&old]));
    let verifier = file.verifier(1).await;
    // Spend the unknown-kid re-read, so only the timer can find the new key.
    let bogus = old.renamed("made-up").sign(&claims());
    assert_eq!(verifier.verify(&bogus).await, Err(JwtRejection::UnknownKey));

    let new = Signer::es256("2025-02");
    file.write(&jwks(&[&old, &new]));
    let token = new.sign(&claims());
    eventually(WITHIN, "the new key verifies", || async { verifier.verify(&token).await.is_ok() }).await;
}

#[tokio::test]
async fn a_removed_key_stops_verifying_after_the_refresh() {
    let old = Signer::ed25519("2025-01");
    let new = Signer::ed25519("2025-02");
    let file = KeyFile::new(&jwks(&[&old, &new]));
    let verifier = file.verifier(1).await;
    let old_token = old.sign(&claims());
    assert!(verifier.verify(&old_token).await.is_ok());

    file.write(&jwks(&[&new]));
    eventually(WITHIN, "the removed key is refused", || async {
        verifier.verify(&old_token).await == Err(JwtRejection::UnknownKey)
    })
    .await;
    assert!(verifier.verify(&new.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn a_bad_reread_keeps_the_last_good_keys() {
    let key = Signer::ed25519("2025-01");
    let file = KeyFile::new(&jwks(&[&key]));
    let verifier = file.verifier(3600).await;
    let token = key.sign(&claims());

    // An unknown kid makes the verifier read the broken file at once.
    file.write("{\"keys\": [");
    let bogus = key.renamed("made-up").sign(&claims());
    assert_eq!(verifier.verify(&bogus).await, Err(JwtRejection::UnknownKey));
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn clones_share_the_key_set() {
    let old = Signer::ed25519("2025-01");
    let file = KeyFile::new(&jwks(&[&old]));
    let verifier = file.verifier(3600).await;
    let clone = verifier.clone();

    let new = Signer::ed25519("2025-02");
    file.write(&jwks(&[&new]));
    assert!(clone.verify(&new.sign(&claims())).await.is_ok());
    // The original saw the same re-read: the old key is gone for it too.
    assert_eq!(verifier.verify(&old.sign(&claims())).await, Err(JwtRejection::UnknownKey));
}
