//! Failures named the way JENTIS names its fields, and the translation of
//! consentd's own field paths (from core validation) back to them.

use consent_adapter::Failure;
use consent_adapter::fields::{BODY, Wording};

/// How the shared field reader words JENTIS' failures.
pub(crate) static WORDING: JentisWording = JentisWording;

/// JENTIS' wording: the error body names the field on its own, so the
/// message says only what is wrong with it.
#[derive(Debug)]
pub(crate) struct JentisWording;

impl Wording for JentisWording {
    fn missing(&self, path: &str) -> Failure {
        Failure::bad(path, "required field is missing")
    }

    fn empty_body(&self) -> Failure {
        invalid(BODY, "request body is empty")
    }
}

/// A field has the right type but an unusable value.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Failure {
    Failure::bad(field, message)
}

/// The JENTIS field a consentd field path stands for. The decoder checks
/// every limit core validation enforces except "not in the future", but a
/// failure the service reports (`collected_at`, `source`, …) is still shown
/// to a JENTIS client in its own terms. Vendor paths pass through unchanged.
pub(crate) fn vendor_field(field: &str) -> &str {
    let root = field.split(['.', '[']).next().unwrap_or(field);
    match root {
        "collected_at" => "data.consent.lastupdate",
        "source" => "system.type",
        "identities" => "data.identifier.user.id",
        "decisions" => "data.consent.vendors",
        "evidence" => match field {
            "evidence.user_agent" => "system.navigator-userAgent",
            "evidence.uri" => "system.href",
            "evidence.metadata_json" => "data.consent.data",
            "evidence.consent_id" => "data.identifier.consent.id",
            _ => field,
        },
        _ => field,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_paths_become_vendor_paths() {
        assert_eq!(vendor_field("collected_at"), "data.consent.lastupdate");
        assert_eq!(vendor_field("identities[0].value"), "data.identifier.user.id");
        assert_eq!(vendor_field("decisions[3].target"), "data.consent.vendors");
        assert_eq!(vendor_field("evidence.user_agent"), "system.navigator-userAgent");
        assert_eq!(vendor_field("evidence.ip"), "evidence.ip");
        assert_eq!(vendor_field("data.consent.vendors.ga4"), "data.consent.vendors.ga4");
        assert_eq!(vendor_field("body"), "body");
    }
}
