//! The JENTIS adapter, from the outside, in the file set every adapter has:
//! JENTIS' documented example (fixtures), the mapping beyond it, every field
//! its published schema requires, the responses, and arbitrary input; each
//! of the conformance suite's checks runs in the file of its kind.

mod fixtures;
mod mapping;
mod properties;
mod required;
mod responses;
mod support;
