//! `consent_adapter_native::Native::decode` (consentd's own JSON routes) on
//! requests built from the input, then validation and encoding of what it
//! decoded; see `consentd_fuzz::adapter`.
#![no_main]

use consentd_fuzz::adapter::{RequestInput, run};
use consentd_fuzz::vendors::NATIVE;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: RequestInput| {
    run(&consent_adapter_native::Native, &NATIVE, &input);
});
