//! Failures named by the fields of Adobe's request body.

use consent_adapter::Failure;

/// `field` is absent (or `null`).
pub(crate) fn required(field: &str) -> Failure {
    Failure::bad(field, "is required")
}

/// `field` is present but not what Adobe's format allows.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Failure {
    Failure::bad(field, message)
}

/// The path of entity `index`'s `name`: `entities[1].values`.
pub(crate) fn entity_field(index: usize, name: &str) -> String {
    format!("entities[{index}].{name}")
}
