//! The JENTIS adapter against JENTIS' documented request, its published
//! schema, and arbitrary input. One test binary; one module per behaviour.

mod fixtures;
mod properties;
mod required;
mod responses;
mod schema;
mod support;
