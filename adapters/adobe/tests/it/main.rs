//! The Adobe adapter, from the outside, in the file set every adapter has:
//! the documented example (fixtures), the mapping beyond it, every required
//! field, the responses, and properties of the decoder; each of the
//! conformance suite's checks runs in the file of its kind.

mod fixtures;
mod mapping;
mod properties;
mod required;
mod responses;
mod support;
