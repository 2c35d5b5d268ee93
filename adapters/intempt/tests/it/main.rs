//! The Intempt adapter, from the outside, in the file set every adapter has:
//! Intempt's documented examples (fixtures), the mapping beyond them, every
//! required field, the responses, and property tests; each of the
//! conformance suite's checks runs in the file of its kind.

mod fixtures;
mod mapping;
mod properties;
mod required;
mod responses;
mod support;
