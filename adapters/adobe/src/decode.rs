//! An Adobe `/consent` request → one record command per person.

use std::collections::HashSet;

use consent_adapter::{Decoded, Failure, Request};
use consent_core::validate::{MAX_IDENTITY_VALUE_LEN, MAX_NAMESPACE_LEN};
use consent_core::{Decision, Evidence, Identity, PurposeDecision, RecordConsent};
use serde_json::{Map, Value};

use crate::ORG_HEADER;
use crate::error::{entity_field, invalid, required};
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
                decisions: vec![PurposeDecision {
                    purpose: PURPOSE.to_owned(),
                    target: String::new(),
                    decision,
                }],
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
    if bytes.trim_ascii().is_empty() {
        return Err(required("body"));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|err| invalid("body", format!("is not valid JSON: {err}")))?;
    let Value::Object(object) = value else {
        return Err(invalid("body", "must be a JSON object"));
    };
    let opt_out_of_sale = match present(&object, "optOutOfSale") {
        None => return Err(required("optOutOfSale")),
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(invalid("optOutOfSale", "must be a boolean")),
    };
    let list = match present(&object, "entities") {
        None => return Err(required("entities")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid("entities", "must be an array")),
    };
    if list.is_empty() {
        return Err(invalid("entities", "must contain at least one entity"));
    }
    let mut entities = Vec::with_capacity(list.len());
    let mut total = 0_usize;
    for (index, item) in list.iter().enumerate() {
        let entity = entity(index, item)?;
        total += entity.values.len();
        if total > MAX_VALUES_PER_REQUEST {
            return Err(invalid(
                "entities",
                format!("must name at most {MAX_VALUES_PER_REQUEST} values in total"),
            ));
        }
        entities.push(entity);
    }
    Ok(ConsentRequest { opt_out_of_sale, entities })
}

fn entity(index: usize, item: &Value) -> Result<Entity, Failure> {
    let Value::Object(object) = item else {
        return Err(invalid(&format!("entities[{index}]"), "must be an object"));
    };
    let field = entity_field(index, "nameSpace");
    let name_space = match present(object, "nameSpace").or_else(|| present(object, "namespace")) {
        None => return Err(required(&field)),
        Some(Value::String(text)) => text,
        Some(_) => return Err(invalid(&field, "must be a string")),
    };
    if name_space.is_empty() {
        return Err(invalid(&field, "must not be empty"));
    }
    let namespace = name_space.to_ascii_lowercase();
    if !is_namespace(&namespace) {
        return Err(invalid(
            &field,
            format!(
                "must be 1 to {MAX_NAMESPACE_LEN} letters, digits, '_', '-' or '.', starting with a letter"
            ),
        ));
    }
    let field = entity_field(index, "values");
    let list = match present(object, "values") {
        None => return Err(required(&field)),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid(&field, "must be an array")),
    };
    if list.is_empty() {
        return Err(invalid(&field, "must contain at least one value"));
    }
    let mut values = Vec::with_capacity(list.len());
    for (position, item) in list.iter().enumerate() {
        let field = format!("{field}[{position}]");
        let Value::String(text) = item else {
            return Err(invalid(&field, "must be a string"));
        };
        if text.trim().is_empty() {
            return Err(invalid(&field, "must not be empty"));
        }
        // Measured as consentd stores it (emails are lower-cased, which can
        // lengthen a few characters).
        if same_person_key(&namespace, text).chars().count() > MAX_IDENTITY_VALUE_LEN {
            return Err(invalid(&field, format!("must be at most {MAX_IDENTITY_VALUE_LEN} characters")));
        }
        if text.chars().any(char::is_control) {
            return Err(invalid(&field, "must not contain control characters"));
        }
        values.push(text.clone());
    }
    Ok(Entity { name_space: name_space.clone(), values })
}

/// The field `name`, treating `null` as absent.
fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|value| !value.is_null())
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
