//! Failures named with Secure Privacy's field names, and the translation of
//! consentd's own field paths (from core validation, reported by the
//! gateway) back to them.

use consent_adapter::Failure;
use consent_adapter::fields::Wording;

use crate::field;

/// How the shared field reader words Secure Privacy's failures.
pub(crate) static WORDING: SecurePrivacyWording = SecurePrivacyWording;

/// ASP.NET's wording of a missing field; the rest is consentd's plain
/// wording, which the validation problem lists under the field's name.
#[derive(Debug)]
pub(crate) struct SecurePrivacyWording;

impl Wording for SecurePrivacyWording {
    fn missing(&self, path: &str) -> Failure {
        missing(path)
    }

    fn empty_body(&self) -> Failure {
        invalid(field::BODY, "a non-empty request body is required")
    }
}

/// A required field is absent, `null` or empty: ASP.NET's wording.
pub(crate) fn missing(name: &str) -> Failure {
    Failure::bad(name, format!("the {name} field is required"))
}

/// A field has the right type but an unusable value.
pub(crate) fn invalid(name: &str, message: impl Into<String>) -> Failure {
    Failure::bad(name, message)
}

/// The Secure Privacy field a consentd field path stands for. The decoder
/// checks every limit core validation enforces on what it decodes, but the
/// gateway reports the service's own failures (a page token from another
/// query, an over-long `User-Agent` header) with consentd's paths; a client
/// is shown its own names. Vendor names pass through unchanged, as do paths
/// that name nothing a Secure Privacy client sends.
pub(crate) fn vendor_field(path: &str) -> &str {
    let root = path.split(['.', '[']).next().unwrap_or(path);
    match root {
        "identities" | "identity" => field::CUSTOM_USER_ID,
        "decisions" | "current" => {
            if path.ends_with(".purpose") {
                field::CONSENT_TYPE
            } else if path.ends_with(".target") {
                field::REFERENCE
            } else if root == "current" {
                // `current.subject…`: the person a get names.
                field::CLIENT_ID
            } else {
                // A decision as a whole: the one field that carries it.
                field::CONSENT_GIVEN
            }
        }
        "purpose" | "purposes" => field::CONSENT_TYPE,
        "target" | "targets" => field::REFERENCE,
        "subject" | "subject_id" => field::CLIENT_ID,
        "evidence" => match path {
            "evidence.uri" => field::URI,
            "evidence.metadata_json" => field::METADATA,
            "evidence.user_agent" => field::USER_AGENT_HEADER,
            _ => path,
        },
        "page_token" => field::PAGE_TOKEN,
        "page_size" => field::PAGE_SIZE,
        "collected_after" => field::FROM_DATE,
        "collected_before" => field::TO_DATE,
        "ip" => field::IP,
        "user_agent" => field::USER_AGENT,
        "city" => field::CITY,
        "region" => field::STATE,
        "country" => field::COUNTRY,
        // The gateway's check of a subscription's address.
        "url" | "webhook_url" => field::WEBHOOK_URL,
        _ => path,
    }
}
