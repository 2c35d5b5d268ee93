//! `consent_adapter_jentis::Jentis::decode` on requests built from the input,
//! then validation and encoding of what it decoded; see `consentd_fuzz::adapter`.
#![no_main]

use consentd_fuzz::adapter::{RequestInput, run};
use consentd_fuzz::vendors::JENTIS;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: RequestInput| {
    run(&consent_adapter_jentis::Jentis, &JENTIS, &input);
});
