//! `consent_signals::decode_gpp` on the input as text; see
//! `consentd_fuzz::signals` for the oracles.
#![no_main]

use consentd_fuzz::signals::{check_error, check_gpp_string, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = text(data);
    match consent_signals::decode_gpp(&text) {
        Ok(gpp) => check_gpp_string(&gpp, &text),
        Err(err) => check_error(&err, &text),
    }
});
