//! `POST /jentis` body → one [`RecordConsent`].
//!
//! The body is read with consent-adapter's field reader and walked by hand,
//! in the schema's order, so that the first problem found is reported with the
//! vendor's dotted field path (`data.identifier.consent.id`). The walk
//! builds the normalised [`ConsentSubmission`], which [`record`] maps into
//! consentd's command.

use std::collections::BTreeMap;

use consent_adapter::fields::{Body, Object};
use consent_adapter::{Failure, Request};
use consent_core::validate::{
    MAX_DECISIONS, MAX_IDENTITY_VALUE_LEN, MAX_LONG_TEXT_LEN, MAX_METADATA_BYTES, MAX_SOURCE_LEN,
    MAX_TARGET_LEN,
};
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent, Timestamp};
use serde_json::{Map, Value};
use uuid::{Uuid, Variant, Version};

use crate::error::{WORDING, invalid};
use crate::model::{
    Configuration, ConsentIdentifier, ConsentState, ConsentSubmission, Data, Identifier, System,
    UserIdentifier, VendorConsent, integer_text,
};

/// The identity namespace of `data.identifier.user.id`.
pub(crate) const USER_NAMESPACE: &str = "jentis_user_id";

/// The request body → the submission it states, or the first problem.
pub(crate) fn submission(body: &[u8]) -> Result<ConsentSubmission, Failure> {
    let body = Body::parse(body, &WORDING)?;
    let root = body.root();
    let version = text_or_integer(&root, "version")?;
    let system = system(&root.required_object("system")?)?;
    let configuration = configuration(&root.required_object("configuration")?)?;
    let data = root.required_object("data")?;
    let identifier = identifier(&data.required_object("identifier")?)?;
    let consent = consent(&data.required_object("consent")?)?;
    Ok(ConsentSubmission { version, system, configuration, data: Data { identifier, consent } })
}

/// The account id a submission names: `<container>/<environment>`.
pub(crate) fn account(configuration: &Configuration) -> String {
    format!("{}/{}", configuration.container, configuration.environment)
}

/// A checked submission → the command it asks for, with the HTTP layer's
/// evidence filled in where the body left it empty.
pub(crate) fn record(submission: &ConsentSubmission, request: &Request<'_>, vendor: &str) -> RecordConsent {
    let ConsentSubmission { system, data, .. } = submission;
    let consent = &data.consent;
    let decisions = consent
        .vendors
        .iter()
        .map(|(vendor_id, status)| {
            PurposeDecision::stated(String::new(), vendor_id.clone(), decision(*status))
        })
        .collect();
    let mut evidence = Evidence {
        user_agent: system.navigator_user_agent.clone(),
        uri: system.href.clone().unwrap_or_default(),
        metadata_json: metadata_json(&consent.data),
        consent_id: data.identifier.consent.id.clone(),
        ..Evidence::default()
    };
    request.evidence.fill(&mut evidence, vendor);
    RecordConsent {
        identities: vec![Identity::new(USER_NAMESPACE, data.identifier.user.id.clone())],
        decisions,
        // Checked in `consent`: not negative, and the product fits.
        collected_at: Some(Timestamp::from_micros(consent.lastupdate.saturating_mul(1_000))),
        expires_at: None,
        source: system.kind.clone(),
        evidence,
        idempotency_key: String::new(),
    }
}

/// A vendor status → consentd's decision.
pub(crate) const fn decision(status: VendorConsent) -> Decision {
    match status {
        VendorConsent::Granted => Decision::Granted,
        VendorConsent::Denied => Decision::Denied,
        VendorConsent::Ncm => Decision::Limited,
    }
}

/// `data.consent.data` as evidence metadata: compact JSON, empty for `{}`
/// (nothing given).
fn metadata_json(data: &Map<String, Value>) -> String {
    if data.is_empty() { String::new() } else { Value::Object(data.clone()).to_string() }
}

/// Whether `text` is a UUID of version 4 (random) and the RFC 4122 variant,
/// in the hyphenated form (either case).
pub(crate) fn is_uuid_v4(text: &str) -> bool {
    // 36 characters is the hyphenated form; `try_parse` also accepts the
    // simple, braced and URN forms, which are longer or shorter.
    text.len() == 36
        && Uuid::try_parse(text).is_ok_and(|uuid| {
            uuid.get_version() == Some(Version::Random) && uuid.get_variant() == Variant::RFC4122
        })
}

fn system(obj: &Object<'_>) -> Result<System, Failure> {
    let kind = obj.required_str("type")?;
    limited(&obj.path_of("type"), kind, MAX_SOURCE_LEN)?;
    let timestamp = obj.required_i64("timestamp")?;
    let navigator_user_agent = obj.required_str("navigator-userAgent")?;
    limited(&obj.path_of("navigator-userAgent"), navigator_user_agent, MAX_LONG_TEXT_LEN)?;
    let initiator = obj.required_str("initiator")?;
    let href = obj.optional_str("href")?;
    if let Some(href) = href {
        limited(&obj.path_of("href"), href, MAX_LONG_TEXT_LEN)?;
    }
    Ok(System {
        kind: kind.to_owned(),
        timestamp,
        navigator_user_agent: navigator_user_agent.to_owned(),
        initiator: initiator.to_owned(),
        href: href.map(str::to_owned),
        // Not mapped: kept when they are strings, never a reason to reject.
        request_type: obj.lenient_str("requestType").map(str::to_owned),
        domain: obj.lenient_str("domain").map(str::to_owned),
    })
}

fn configuration(obj: &Object<'_>) -> Result<Configuration, Failure> {
    let account_part = |key: &str| -> Result<String, Failure> {
        let value = obj.required_str(key)?;
        let path = obj.path_of(key);
        if value.is_empty() {
            return Err(invalid(&path, "must not be empty"));
        }
        // The account id is `<container>/<environment>`; a '/' in either
        // part would make two different pairs name the same account.
        if value.contains('/') {
            return Err(invalid(&path, "must not contain '/'"));
        }
        plain(&path, value)?;
        Ok(value.to_owned())
    };
    let container = account_part("container")?;
    let environment = account_part("environment")?;
    Ok(Configuration {
        container,
        environment,
        version: obj.lenient_str("version").map(str::to_owned),
        debugcode: obj.lenient_str("debugcode").map(str::to_owned),
    })
}

fn identifier(obj: &Object<'_>) -> Result<Identifier, Failure> {
    let user = obj.required_object("user")?;
    let id = text_or_integer(&user, "id")?;
    let id_path = user.path_of("id");
    if id.is_empty() {
        return Err(invalid(&id_path, "must not be empty"));
    }
    limited(&id_path, &id, MAX_IDENTITY_VALUE_LEN)?;
    let user = UserIdentifier { id, action: user.lenient_str("action").map(str::to_owned) };

    let consent = obj.required_object("consent")?;
    let consent_id = consent.required_str("id")?;
    if !is_uuid_v4(consent_id) {
        return Err(invalid(
            &consent.path_of("id"),
            format!("must be a UUIDv4 (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx), got {consent_id:?}"),
        ));
    }
    let consent = ConsentIdentifier {
        id: consent_id.to_owned(),
        action: consent.lenient_str("action").map(str::to_owned),
    };
    Ok(Identifier { user, consent })
}

fn consent(obj: &Object<'_>) -> Result<ConsentState, Failure> {
    let lastupdate = obj.required_i64("lastupdate")?;
    let lastupdate_path = obj.path_of("lastupdate");
    if lastupdate < 0 {
        return Err(invalid(&lastupdate_path, "must not be before 1970-01-01T00:00:00Z"));
    }
    if lastupdate.checked_mul(1_000).is_none() {
        return Err(invalid(&lastupdate_path, "is out of range"));
    }

    let data = obj.required_object("data")?;
    if metadata_json(data.map()).len() > MAX_METADATA_BYTES {
        return Err(invalid(data.path(), format!("must be at most {MAX_METADATA_BYTES} bytes as JSON")));
    }
    let data = data.map().clone();

    let vendors = obj.required_object("vendors")?;
    if vendors.map().is_empty() {
        return Err(invalid(vendors.path(), "must name at least one vendor"));
    }
    if vendors.map().len() > MAX_DECISIONS {
        return Err(invalid(vendors.path(), format!("must name at most {MAX_DECISIONS} vendors")));
    }
    let vendors = statuses(&vendors, true)?;
    let vendors_changed = statuses(&obj.required_object("vendorsChanged")?, false)?;

    Ok(ConsentState {
        lastupdate,
        data,
        // `send` and `userconsent` are in the schema's required list but are
        // untyped, undescribed and absent from JENTIS' own example request:
        // accepted in any form, required in none.
        send: obj.get("send").cloned(),
        userconsent: obj.get("userconsent").cloned(),
        vendors,
        vendors_changed,
    })
}

/// A vendor-id → status object. Vendor ids that become record targets
/// (`as_targets`) are checked against the target limits too.
fn statuses(obj: &Object<'_>, as_targets: bool) -> Result<BTreeMap<String, VendorConsent>, Failure> {
    let mut statuses = BTreeMap::new();
    for (vendor_id, value) in obj.map() {
        let path = obj.path_of(vendor_id);
        if as_targets {
            // An empty target would mean "any target": not what a vendor id says.
            if vendor_id.is_empty() {
                return Err(invalid(obj.path(), "vendor ids must not be empty"));
            }
            limited(&path, vendor_id, MAX_TARGET_LEN)?;
        }
        let Some(status) = VendorConsent::from_value(value) else {
            return Err(invalid(&path, format!("must be true, false or \"ncm\", got {}", shown(value))));
        };
        statuses.insert(vendor_id.clone(), status);
    }
    Ok(statuses)
}

/// A value for a message: its JSON, shortened.
fn shown(value: &Value) -> String {
    const MAX: usize = 64;
    let json = value.to_string();
    if json.chars().count() <= MAX { json } else { json.chars().take(MAX).chain("…".chars()).collect() }
}

/// A free-text value the service stores: bounded, no control characters
/// (the limits of consent-core's validation, checked here so the failure
/// names the vendor's field).
fn limited(path: &str, value: &str, max_chars: usize) -> Result<(), Failure> {
    if value.chars().count() > max_chars {
        return Err(invalid(path, format!("must be at most {max_chars} characters")));
    }
    plain(path, value)
}

fn plain(path: &str, value: &str) -> Result<(), Failure> {
    if value.chars().any(char::is_control) {
        return Err(invalid(path, "must not contain control characters"));
    }
    Ok(())
}

/// A string, or an integer taken as its decimal digits (JENTIS' own
/// example sends `version` and the user id as numbers).
fn text_or_integer(obj: &Object<'_>, key: &str) -> Result<String, Failure> {
    let value = obj.required(key)?;
    let text = match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => integer_text(number),
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
    };
    text.ok_or_else(|| obj.wrong_type(key, "a string or an integer", value))
}
