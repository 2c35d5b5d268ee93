//! consent-evidence's tests: one binary, a module per concern.

mod log;
mod proofs;
mod receipts;
mod support;
