//! An Adobe `/consent` request → one record command per person.

use std::collections::HashSet;

use consent_adapter::fields::{Body, Object};
use consent_adapter::{Decoded, Failure, Request};
use consent_core::validate::{MAX_IDENTITY_VALUE_LEN, MAX_NAMESPACE_LEN};
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent};

use crate::ORG_HEADER;
use crate::error::WORDING;
use crate::model::{ConsentRequest, Entity};

/// The purpose `optOutOfSale` decides.
pub const PURPOSE: &str = "sale_sharing";

/// The source of every record decoded from Adobe's API.
pub const SOURCE: &str = "api";

/// Identity values (people) one request may name, over all entities: the
/// limit Adobe's Privacy Service sets on the IDs of one request. The request
/// is written in one transaction, so it must stay bounded.
pub const MAX_VALUES_PER_REQUEST: usize = 1000;

/// Decodes a request: the whole body must be valid, or nothing is decoded.
pub(crate) fn decode(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    if request.route != 0 {
        // The gateway only hands over routes this adapter declared.
        return Err(Failure::Internal);
    }
    let body = parse(request.body)?;
    let mut evidence = Evidence::default();
    request.evidence.fill(&mut evidence, vendor);
    let decision = if body.opt_out_of_sale { Decision::Denied } else { Decision::Granted };
    let mut seen = HashSet::new();
    let mut records = Vec::new();
    for entity in &body.entities {
        let namespace = entity.name_space.to_ascii_lowercase();
        for value in &entity.values {
            if !seen.insert((namespace.clone(), same_person_key(&namespace, value))) {
                continue;
            }
            records.push(RecordConsent {
                identities: vec![Identity::new(namespace.clone(), value.clone())],
                decisions: vec![PurposeDecision::stated(PURPOSE.to_owned(), String::new(), decision)],
                collected_at: None,
                expires_at: None,
                source: SOURCE.to_owned(),
                evidence: evidence.clone(),
                idempotency_key: String::new(),
            });
        }
    }
    let account = request.header(ORG_HEADER).map(str::trim).filter(|org| !org.is_empty()).map(str::to_owned);
    Ok(Decoded::write(account, records))
}

/// How consentd compares identity values: emails without case and
/// surrounding space, everything else exactly.
fn same_person_key(namespace: &str, value: &str) -> String {
    if namespace == "email" { value.trim().to_lowercase() } else { value.to_owned() }
}

/// The body → Adobe's request, every field checked, the first problem (in
/// document order) reported with its path.
pub(crate) fn parse(bytes: &[u8]) -> Result<ConsentRequest, Failure> {
    let body = Body::parse(bytes, &WORDING)?;
    let root = body.root();
    let opt_out_of_sale = root.required_bool("optOutOfSale")?;
    let list = root.required_array("entities")?;
    if list.is_empty() {
        return Err(list.invalid("must contain at least one entity"));
    }
    let mut entities = Vec::with_capacity(list.len());
    let mut total = 0_usize;
    for item in list.iter() {
        let entity = entity(&item.as_object()?)?;
        total += entity.values.len();
        if total > MAX_VALUES_PER_REQUEST {
            return Err(list.invalid(format!("must name at most {MAX_VALUES_PER_REQUEST} values in total")));
        }
        entities.push(entity);
    }
    Ok(ConsentRequest { opt_out_of_sale, entities })
}

fn entity(object: &Object<'_>) -> Result<Entity, Failure> {
    // Adobe's prose spells it `namespace`, its example `nameSpace`: both are
    // read, and a problem is named by the example's spelling.
    let key = "nameSpace";
    let value = object.get(key).or_else(|| object.get("namespace")).ok_or_else(|| object.missing(key))?;
    let name_space = value.as_str().ok_or_else(|| object.wrong_type(key, "a string", value))?;
    if name_space.is_empty() {
        return Err(object.invalid(key, "must not be empty"));
    }
    let namespace = name_space.to_ascii_lowercase();
    if !is_namespace(&namespace) {
        return Err(object.invalid(
            key,
            format!(
                "must be 1 to {MAX_NAMESPACE_LEN} letters, digits, '_', '-' or '.', starting with a letter"
            ),
        ));
    }
    let list = object.required_array("values")?;
    if list.is_empty() {
        return Err(list.invalid("must contain at least one value"));
    }
    let mut values = Vec::with_capacity(list.len());
    for item in list.iter() {
        let text = item.as_str()?;
        if text.trim().is_empty() {
            return Err(item.invalid("must not be empty"));
        }
        // Measured as consentd stores it (emails are lower-cased, which can
        // lengthen a few characters).
        if same_person_key(&namespace, text).chars().count() > MAX_IDENTITY_VALUE_LEN {
            return Err(item.invalid(format!("must be at most {MAX_IDENTITY_VALUE_LEN} characters")));
        }
        if text.chars().any(char::is_control) {
            return Err(item.invalid("must not contain control characters"));
        }
        values.push(text.to_owned());
    }
    Ok(Entity { name_space: name_space.to_owned(), values })
}

/// consentd's namespace rule: lower-case `[a-z][a-z0-9_.-]*`, bounded.
fn is_namespace(namespace: &str) -> bool {
    namespace.len() <= MAX_NAMESPACE_LEN
        && namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_the_core_rule() {
        assert!(is_namespace("ecid"));
        assert!(is_namespace("email_lc_sha256"));
        assert!(is_namespace("a.b-c_9"));
        assert!(!is_namespace("9email"));
        assert!(!is_namespace("e mail"));
        assert!(!is_namespace(&"a".repeat(MAX_NAMESPACE_LEN + 1)));
    }

    #[test]
    fn emails_compare_like_the_core_normalises_them() {
        assert_eq!(same_person_key("email", " A@Example.com "), "a@example.com");
        assert_eq!(same_person_key("ecid", "AbC"), "AbC");
    }
}
