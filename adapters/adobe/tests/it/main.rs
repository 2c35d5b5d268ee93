//! The Adobe adapter, from the outside: Adobe's documented example, every
//! required field, the responses, and properties of the decoder.

mod fixtures;
mod properties;
mod required_fields;
mod responses;
mod support;
