//! consentd: the consent-record service. This library holds the server so
//! that the binary and the integration tests start it the same way.

pub mod auth;
pub mod config;
pub mod connection;
pub mod feed;
pub mod gateway;
pub mod grpc;
mod http;
#[cfg(test)]
mod parity;
pub mod pipeline;
mod readiness;
pub mod server;
mod tail;
pub mod tls;
pub mod webhooks;
