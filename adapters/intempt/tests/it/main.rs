//! The Intempt adapter against Intempt's documented examples, every required
//! field, its responses, and property tests.

mod fixtures;
mod mapping;
mod props;
mod required;
mod responses;
mod support;
