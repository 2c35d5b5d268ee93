//! consent-signals' integration tests: one binary, a module per concern.

mod decisions;
mod gpp;
mod malformed;
mod policy;
mod properties;
mod support;
mod tcf;
mod view;
