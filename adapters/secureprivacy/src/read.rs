//! Reading Secure Privacy's fields as .NET binds them (query parameters
//! over the JSON body's members, names in any case), and the check of each
//! field's value, so that every problem names the vendor's field.

use consent_adapter::Failure;
use consent_adapter::fields::Body;
use consent_core::validate::MAX_IDENTITY_VALUE_LEN;
use consent_core::{Decision, Identity, SubjectRef};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{invalid, missing};
use crate::field;
use crate::model::ConsentGiven;

/// The identity namespace of `CustomUserId`.
pub(crate) const CUSTOM_USER_NAMESPACE: &str = "custom_user_id";

/// `Metadata` may hold at most this many characters, as documented.
pub(crate) const MAX_METADATA_CHARS: usize = 200;
/// An `IntegrationId` may hold at most this many characters.
pub(crate) const MAX_INTEGRATION_ID_CHARS: usize = 128;
/// A `WebhookUrl` may hold at most this many characters.
pub(crate) const MAX_WEBHOOK_URL_CHARS: usize = 2048;

/// The fields of one request: query parameters (GET routes) over the JSON
/// body's members, names matched case-insensitively.
pub(crate) struct Fields<'a> {
    query: &'a [(String, String)],
    body: Option<consent_adapter::fields::Object<'a>>,
}

/// A field's value as sent: query values are always text.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> Fields<'a> {
    /// A POST's or PATCH's fields: its body's members.
    pub(crate) fn body(body: &'a Body) -> Self {
        Self { query: &[], body: Some(body.root()) }
    }

    /// A GET's fields: its query over its body's members, if it has a body.
    pub(crate) fn query_and_body(query: &'a [(String, String)], body: Option<&'a Body>) -> Self {
        Self { query, body: body.map(Body::root) }
    }

    /// The field `name` when given: a query parameter wins over the body;
    /// within the body the documented spelling wins over other casings.
    /// Absent, `null` and empty values are all "not given" (an empty query
    /// parameter is what a form sends for a blank filter).
    fn raw(&self, name: &str) -> Option<Raw<'a>> {
        let query = self
            .query
            .iter()
            .find(|(key, value)| key.eq_ignore_ascii_case(name) && !value.is_empty())
            .map(|(_, value)| Raw::Text(value.as_str()));
        query.or_else(|| {
            let value = self.body.as_ref()?.get_ignore_case(name)?;
            match value {
                Value::String(text) if text.is_empty() => None,
                Value::Null => None,
                Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                    Some(Raw::Json(value))
                }
            }
        })
    }

    /// A text field when given; another JSON type names the field.
    pub(crate) fn text(&self, name: &str) -> Result<Option<&'a str>, Failure> {
        match self.raw(name) {
            None => Ok(None),
            Some(Raw::Text(text)) => Ok(Some(text)),
            Some(Raw::Json(Value::String(text))) => Ok(Some(text.as_str())),
            Some(Raw::Json(other)) => Err(Failure::wrong_type(name, "a string", other)),
        }
    }
}

/// `ConsentGiven`, required: `All`, `Partial` or `None`.
pub(crate) fn consent_given(fields: &Fields<'_>) -> Result<Decision, Failure> {
    let text = fields.text(field::CONSENT_GIVEN)?.ok_or_else(|| missing(field::CONSENT_GIVEN))?;
    ConsentGiven::parse(text).map(decision).ok_or_else(|| {
        invalid(field::CONSENT_GIVEN, format!("must be All, Partial or None, got {}", shown(text)))
    })
}

/// The list's boolean `ConsentGiven`: `true` / `false` as text in any case
/// (a query parameter) or a JSON boolean.
pub(crate) fn flag(fields: &Fields<'_>, name: &str) -> Result<Option<bool>, Failure> {
    let text = match fields.raw(name) {
        None => return Ok(None),
        Some(Raw::Json(Value::Bool(value))) => return Ok(Some(*value)),
        Some(Raw::Text(text)) => text,
        Some(Raw::Json(Value::String(text))) => text.as_str(),
        Some(Raw::Json(other)) => return Err(Failure::wrong_type(name, "a boolean", other)),
    };
    if text.eq_ignore_ascii_case("true") {
        Ok(Some(true))
    } else if text.eq_ignore_ascii_case("false") {
        Ok(Some(false))
    } else {
        Err(invalid(name, format!("must be true or false, got {}", shown(text))))
    }
}

/// `PageSize`: a non-negative integer, as text or a JSON number; 0 (and
/// absent) is the service's default, and a size above its maximum is lowered
/// there.
pub(crate) fn page_size(fields: &Fields<'_>) -> Result<Option<i32>, Failure> {
    let name = field::PAGE_SIZE;
    let size = match fields.raw(name) {
        None => return Ok(None),
        Some(Raw::Text(text)) => text.trim().parse::<i128>().ok(),
        Some(Raw::Json(Value::String(text))) => text.trim().parse::<i128>().ok(),
        Some(Raw::Json(Value::Number(number))) => {
            number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from))
        }
        Some(Raw::Json(other)) => return Err(Failure::wrong_type(name, "an integer", other)),
    };
    match size {
        Some(size) if size >= 0 => Ok(Some(i32::try_from(size).unwrap_or(i32::MAX))),
        Some(_) | None => Err(invalid(name, "must be a non-negative integer")),
    }
}

/// `ClientId` (body, query or path): required, a UUID.
pub(crate) fn client_id(text: Option<&str>) -> Result<SubjectRef, Failure> {
    let text = text.filter(|text| !text.is_empty()).ok_or_else(|| missing(field::CLIENT_ID))?;
    Uuid::try_parse(text)
        .map(SubjectRef::Id)
        .map_err(|_| invalid(field::CLIENT_ID, format!("must be a UUID, got {}", shown(text))))
}

/// `IntegrationId` (path or query): required, bounded, plain text.
pub(crate) fn integration_id(text: Option<&str>) -> Result<String, Failure> {
    let text = text.filter(|text| !text.is_empty()).ok_or_else(|| missing(field::INTEGRATION_ID))?;
    limited(field::INTEGRATION_ID, text, MAX_INTEGRATION_ID_CHARS)?;
    Ok(text.to_owned())
}

/// `CustomUserId` as an identity, when given.
pub(crate) fn custom_user_id(fields: &Fields<'_>) -> Result<Option<Identity>, Failure> {
    let Some(value) = fields.text(field::CUSTOM_USER_ID)? else {
        return Ok(None);
    };
    limited(field::CUSTOM_USER_ID, value, MAX_IDENTITY_VALUE_LEN)?;
    Ok(Some(Identity::new(CUSTOM_USER_NAMESPACE, value)))
}

/// An optional text field, checked against consent-core's limit for what
/// it becomes; empty when not given.
pub(crate) fn optional(fields: &Fields<'_>, name: &str, max_chars: usize) -> Result<String, Failure> {
    let Some(text) = fields.text(name)? else {
        return Ok(String::new());
    };
    limited(name, text, max_chars)?;
    Ok(text.to_owned())
}

/// `WebhookUrl`: required, an http(s) address of bounded length. Whether
/// the server may call it (its allowlist, the address it resolves to) is
/// the server's to decide.
pub(crate) fn webhook_url(fields: &Fields<'_>) -> Result<String, Failure> {
    let name = field::WEBHOOK_URL;
    let url = fields.text(name)?.ok_or_else(|| missing(name))?;
    limited(name, url, MAX_WEBHOOK_URL_CHARS)?;
    let rest = ["https://", "http://"].into_iter().find_map(|scheme| {
        let head = url.as_bytes().get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme.as_bytes()).then(|| url.get(scheme.len()..)).flatten()
    });
    match rest {
        Some(rest) if !rest.is_empty() => Ok(url.to_owned()),
        Some(_) | None => Err(invalid(name, "must be an http:// or https:// address")),
    }
}

/// A free-text value the service stores: bounded, no control characters
/// (consent-core's limits, checked here so the failure names the vendor's
/// field).
pub(crate) fn limited(name: &str, value: &str, max_chars: usize) -> Result<(), Failure> {
    if value.chars().count() > max_chars {
        return Err(invalid(name, format!("must be at most {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(name, "must not contain control characters"));
    }
    Ok(())
}

/// A value for a message: quoted, shortened.
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

/// `ConsentGiven` → consentd's decision.
pub(crate) const fn decision(given: ConsentGiven) -> Decision {
    match given {
        ConsentGiven::All => Decision::Granted,
        ConsentGiven::Partial => Decision::Limited,
        ConsentGiven::None => Decision::Denied,
    }
}
