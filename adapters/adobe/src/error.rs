//! Failures named by the fields of Adobe's request body, worded as
//! `<field> <problem>` reads (`entities[0].nameSpace is required`).

use consent_adapter::Failure;
use consent_adapter::fields::{BODY, Wording};
use serde_json::Value;

/// How the shared field reader words Adobe's failures.
pub(crate) static WORDING: AdobeWording = AdobeWording;

/// Adobe's wording: `is required`, and a wrong type as what the field must
/// be (Adobe's messages do not say what came instead).
#[derive(Debug)]
pub(crate) struct AdobeWording;

impl Wording for AdobeWording {
    fn missing(&self, path: &str) -> Failure {
        Failure::bad(path, "is required")
    }

    fn empty_body(&self) -> Failure {
        self.missing(BODY)
    }

    fn wrong_type(&self, path: &str, expected: &str, _got: &Value) -> Failure {
        Failure::bad(path, format!("must be {expected}"))
    }
}
