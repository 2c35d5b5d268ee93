//! The Secure Privacy adapter against the vendor's documented requests and
//! responses, its mapping rules, and arbitrary input. One test binary; one
//! module per behaviour.

mod fixtures;
mod mapping;
mod properties;
mod required;
mod responses;
mod support;
