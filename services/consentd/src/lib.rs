//! consentd: the consent-record service. This library holds the server so
//! that the binary and the integration tests start it the same way.

pub mod config;
pub mod server;
