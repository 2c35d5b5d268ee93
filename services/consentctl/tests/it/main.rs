//! consentctl as a user types it, against a real consentd on loopback.

mod commands;
mod export_import;
mod support;
mod tail;
mod terminal;
mod tls;
