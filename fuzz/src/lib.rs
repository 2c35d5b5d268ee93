//! Shared pieces of consentd's fuzz targets (see README.md).

pub mod adapter;
pub mod json;
pub mod vendors;
