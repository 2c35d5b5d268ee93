//! The Secure Privacy adapter, from the outside, in the file set every
//! adapter has: the vendor's documented requests and responses (fixtures),
//! its mapping rules, every required field, the responses, and arbitrary
//! input; each of the conformance suite's checks runs in the file of its
//! kind.

mod fixtures;
mod mapping;
mod properties;
mod required;
mod responses;
mod support;
