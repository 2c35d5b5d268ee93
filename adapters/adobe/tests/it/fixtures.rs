//! Adobe's documented request example, decoded.

use consent_core::Decision;

use crate::support::{CONSENT_REQUEST, Call, ORG_ID, expected_evidence, person, suite};

#[test]
fn the_documented_request_records_one_opt_out_per_person() {
    let decoded = Call::adobe(CONSENT_REQUEST).decode().expect("decodes");
    assert_eq!(decoded.account.as_deref(), Some(ORG_ID));
    assert_eq!(
        decoded.records(),
        [
            person("email", "dsmith@acme.com", Decision::Denied, expected_evidence()),
            person("email", "ajones@acme.com", Decision::Denied, expected_evidence()),
            person("ecid", "443636576799758681021090721276", Decision::Denied, expected_evidence()),
        ]
    );
}

#[test]
fn conformance_documented_examples_decode() {
    suite().examples_decode();
}
