//! `consent_signals::decode_tc_string` on the input as text; see
//! `consentd_fuzz::signals` for the oracles.
#![no_main]

use consentd_fuzz::signals::{check_error, check_tc_string, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    match consent_signals::decode_tc_string(&text) {
        Ok(tc) => check_tc_string(&tc),
        Err(err) => check_error(&err, &text),
    }
});
