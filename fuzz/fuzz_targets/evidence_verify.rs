//! The offline verifier on what an attacker controls: a receipt (a JWS
//! signed with the log's own key, so the contents are checked, not only
//! the signature), an exported log with its checkpoints, and raw proofs.
//! Oracle: no panic, and nothing made from the input verifies unless it is
//! the genuine evidence it started from.
#![no_main]

use std::sync::OnceLock;

use consentd_fuzz::evidence::{Genuine, Mutation};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|mutation: Mutation| {
    static GENUINE: OnceLock<Genuine> = OnceLock::new();
    GENUINE.get_or_init(Genuine::new).check(&mutation);
});
