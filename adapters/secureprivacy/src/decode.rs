//! Secure Privacy requests → consentd operations.
//!
//! Secure Privacy is an ASP.NET service, and its clients rely on how .NET
//! binds a request: field names match case-insensitively, unknown fields are
//! ignored, and a GET takes its fields from the query string. The decoder
//! therefore does not deserialise into fixed types: it looks fields up in a
//! [`Fields`] view over the query and the JSON body, and checks each value
//! where it is read, so the first problem is reported under the vendor's own
//! field name. It also checks every limit consent-core's validation applies
//! to what it decodes, so a request the adapter accepts is one the service
//! accepts (short of what only the store can know).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_adapter::{Decoded, Failure, Operation, Request};
use consent_core::validate::{
    MAX_IDENTITY_VALUE_LEN, MAX_LONG_TEXT_LEN, MAX_PURPOSE_LEN, MAX_SHORT_TEXT_LEN, MAX_TARGET_LEN,
};
use consent_core::{
    Decision, Evidence, FeedFilter, Identity, PurposeDecision, QueryConsents, RecordConsent, RecordFilter,
    SubjectRef, Timestamp, UpdateLatest,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{invalid, missing};
use crate::model::{
    ConsentGiven, MAX_INTEGRATION_ID_CHARS, MAX_METADATA_CHARS, MAX_WEBHOOK_URL_CHARS, PageToken, field,
};
use crate::route;

/// The identity namespace of `CustomUserId`.
pub(crate) const CUSTOM_USER_NAMESPACE: &str = "custom_user_id";
/// The identity namespace of an anonymous visitor (a record without a
/// `CustomUserId`): each such request is a new person.
pub(crate) const ANONYMOUS_NAMESPACE: &str = "anonymous_id";
/// The source of every record written through this API.
pub(crate) const SOURCE: &str = "api";
/// The member of `metadata_json` that holds the `Metadata` text.
pub(crate) const METADATA_MEMBER: &str = "Metadata";
/// The path parameter of the integration routes (the IntegrationId on the
/// record route, the ClientId on the get route: the router cannot hold two
/// templates that differ only in a parameter's name).
pub(crate) const INTEGRATION_PATH_PARAM: &str = "id";
/// The path parameter of the get route.
pub(crate) const CLIENT_ID_PATH_PARAM: &str = "ClientId";

/// The list's default window: "by default selects all consents for the
/// last week".
const WEEK_MICROS: i64 = 7 * 24 * 60 * 60 * 1_000_000;
const DAY_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// The request → the operation it asks for, or the first problem.
pub(crate) fn decode(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    match request.route {
        route::RECORD => record(request, vendor),
        route::UPDATE => update(request, vendor),
        route::CHECK => check(request),
        route::GET => get(request),
        route::LIST => list(request),
        route::SUBSCRIBE => subscribe(request),
        route::INTEGRATION_RECORD => integration_record(request, vendor),
        route::INTEGRATION_GET => integration_get(request),
        // The gateway only passes indexes of `routes()`: another is a bug there.
        _ => Err(Failure::Internal),
    }
}

/// `POST /api/universalconsent`.
fn record(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    let body = required_body(request.body)?;
    let fields = Fields::body(&body);
    let decision = consent_given(&fields)?;
    let identity = identity_or_anonymous(&fields, request)?;
    let evidence = evidence(&fields, request, vendor)?;
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    let purpose = optional(&fields, field::CONSENT_TYPE, MAX_PURPOSE_LEN)?;
    Ok(Decoded::write(None, vec![record_command(identity, purpose, target, decision, evidence)]))
}

/// `PATCH /api/universalconsent`.
fn update(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    let body = required_body(request.body)?;
    let fields = Fields::body(&body);
    let subject = client_id(fields.text(field::CLIENT_ID)?)?;
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    let decision = consent_given(&fields)?;
    let evidence = evidence(&fields, request, vendor)?;
    Ok(Decoded {
        account: None,
        operation: Operation::UpdateLatest(UpdateLatest { subject, target, decision, evidence }),
    })
}

/// `GET /api/universalconsent/consent-given`.
fn check(request: &Request<'_>) -> Result<Decoded, Failure> {
    let body = optional_body(request.body)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let subject = client_id(fields.text(field::CLIENT_ID)?)?;
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    // A check: a consent for any target applies to this one too.
    Ok(Decoded { account: None, operation: Operation::Latest { subject, target, include_any_target: true } })
}

/// `GET /api/universalconsent/{ClientId}`.
fn get(request: &Request<'_>) -> Result<Decoded, Failure> {
    let subject = client_id(request.path_param(CLIENT_ID_PATH_PARAM))?;
    let body = optional_body(request.body)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    Ok(Decoded { account: None, operation: Operation::Latest { subject, target, include_any_target: false } })
}

/// `GET /api/universalconsent`.
fn list(request: &Request<'_>) -> Result<Decoded, Failure> {
    let body = optional_body(request.body)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let identity = custom_user_id(&fields)?;
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    let purpose = optional(&fields, field::CONSENT_TYPE, MAX_PURPOSE_LEN)?;
    let from =
        fields.text(field::FROM_DATE)?.map(|text| DateBound::parse(field::FROM_DATE, text)).transpose()?;
    let to = fields.text(field::TO_DATE)?.map(|text| DateBound::parse(field::TO_DATE, text)).transpose()?;
    let decisions = match flag(&fields, field::CONSENT_GIVEN)? {
        Some(true) => vec![Decision::Granted, Decision::Limited],
        Some(false) => vec![Decision::Denied],
        None => Vec::new(),
    };
    let ip = optional(&fields, field::IP, MAX_SHORT_TEXT_LEN)?;
    let user_agent = optional(&fields, field::USER_AGENT, MAX_LONG_TEXT_LEN)?;
    let city = optional(&fields, field::CITY, MAX_SHORT_TEXT_LEN)?;
    let region = optional(&fields, field::STATE, MAX_SHORT_TEXT_LEN)?;
    let country = optional(&fields, field::COUNTRY, MAX_SHORT_TEXT_LEN)?;
    let page_size = page_size(&fields)?;
    let token = fields.text(field::PAGE_TOKEN)?.map(unwrap_page_token).transpose()?;

    let collected_after = match (from, &token) {
        (Some(from), _) => Some(from.start()),
        // A later page keeps the window of the first, not one a page
        // later on the clock (the core token is bound to its filter).
        (None, Some(token)) => token.f.map(Timestamp::from_micros),
        // The documented default, when the client names no window at all.
        (None, None) if to.is_none() => Some(request.received_at.saturating_add_micros(-WEEK_MICROS)),
        (None, None) => None,
    };
    let collected_before = to.map(DateBound::end_exclusive);
    if let (Some(after), Some(before)) = (collected_after, collected_before)
        && before <= after
    {
        return Err(invalid(field::TO_DATE, "must not be before FromDate"));
    }

    let filter = RecordFilter {
        subject_id: None,
        identity,
        purpose,
        target,
        decisions,
        source: String::new(),
        collected_after,
        collected_before,
        ip,
        user_agent,
        country,
        region,
        city,
        history: false,
    };
    Ok(Decoded {
        account: None,
        operation: Operation::List(QueryConsents {
            filter,
            page_size,
            page_token: token.map(|token| token.t).unwrap_or_default(),
        }),
    })
}

/// `POST /api/universalconsent/subscribe`.
fn subscribe(request: &Request<'_>) -> Result<Decoded, Failure> {
    let body = required_body(request.body)?;
    let fields = Fields::body(&body);
    let subject = custom_user_id(&fields)?.map(SubjectRef::Identity);
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    let purpose = optional(&fields, field::CONSENT_TYPE, MAX_PURPOSE_LEN)?;
    let url = webhook_url(&fields)?;
    let listed = |value: String| if value.is_empty() { Vec::new() } else { vec![value] };
    let filter =
        FeedFilter { subject, purposes: listed(purpose), targets: listed(target), sources: Vec::new() };
    Ok(Decoded { account: None, operation: Operation::Subscribe { filter, url } })
}

/// `POST /api/universalconsent/integration/{IntegrationId}`: the record is
/// for the integration (its target), and the integration stands in for a key.
fn integration_record(request: &Request<'_>, vendor: &str) -> Result<Decoded, Failure> {
    let integration = integration_id(request.path_param(INTEGRATION_PATH_PARAM))?;
    let body = required_body(request.body)?;
    let fields = Fields::body(&body);
    let decision = consent_given(&fields)?;
    let identity = identity_or_anonymous(&fields, request)?;
    let purpose = optional(&fields, field::CONSENT_TYPE, MAX_PURPOSE_LEN)?;
    let evidence = evidence(&fields, request, vendor)?;
    let record = record_command(identity, purpose, integration.clone(), decision, evidence);
    Ok(Decoded::write(Some(integration), vec![record]))
}

/// `GET /api/universalconsent/integration/{ClientId}?IntegrationId=`.
fn integration_get(request: &Request<'_>) -> Result<Decoded, Failure> {
    let subject = client_id(request.path_param(INTEGRATION_PATH_PARAM))?;
    let body = optional_body(request.body)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let integration = integration_id(fields.text(field::INTEGRATION_ID)?)?;
    Ok(Decoded {
        account: Some(integration.clone()),
        operation: Operation::Latest { subject, target: integration, include_any_target: false },
    })
}

fn record_command(
    identity: Identity,
    purpose: String,
    target: String,
    decision: Decision,
    evidence: Evidence,
) -> RecordConsent {
    RecordConsent {
        identities: vec![identity],
        decisions: vec![PurposeDecision { purpose, target, decision }],
        // Secure Privacy's clients do not say when: the server's now.
        collected_at: None,
        expires_at: None,
        source: SOURCE.to_owned(),
        evidence,
        idempotency_key: String::new(),
    }
}

/// The body a POST or PATCH must carry: a JSON object.
fn required_body(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    optional_body(body)?.ok_or_else(|| invalid(field::BODY, "a non-empty request body is required"))
}

/// A GET's optional JSON object body; `None` when empty.
fn optional_body(body: &[u8]) -> Result<Option<Map<String, Value>>, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| invalid(field::BODY, format!("is not valid JSON: {err}")))?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        other @ (Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_)) => {
            Err(Failure::wrong_type(field::BODY, "a JSON object", &other))
        }
    }
}

/// The fields of one request: query parameters (GET routes) over the JSON
/// body's members, names matched case-insensitively.
struct Fields<'a> {
    query: &'a [(String, String)],
    body: Option<&'a Map<String, Value>>,
}

/// A field's value as sent: query values are always text.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

impl<'a> Fields<'a> {
    fn body(body: &'a Map<String, Value>) -> Self {
        Self { query: &[], body: Some(body) }
    }

    fn query_and_body(query: &'a [(String, String)], body: Option<&'a Map<String, Value>>) -> Self {
        Self { query, body }
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
            let body = self.body?;
            let value = body.get(name).or_else(|| {
                body.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
            })?;
            match value {
                Value::Null => None,
                Value::String(text) if text.is_empty() => None,
                Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                    Some(Raw::Json(value))
                }
            }
        })
    }

    /// A text field when given; another JSON type names the field.
    fn text(&self, name: &str) -> Result<Option<&'a str>, Failure> {
        match self.raw(name) {
            None => Ok(None),
            Some(Raw::Text(text)) => Ok(Some(text)),
            Some(Raw::Json(Value::String(text))) => Ok(Some(text.as_str())),
            Some(Raw::Json(other)) => Err(Failure::wrong_type(name, "a string", other)),
        }
    }
}

/// `ConsentGiven`, required: `All`, `Partial` or `None`.
fn consent_given(fields: &Fields<'_>) -> Result<Decision, Failure> {
    let text = fields.text(field::CONSENT_GIVEN)?.ok_or_else(|| missing(field::CONSENT_GIVEN))?;
    ConsentGiven::parse(text).map(ConsentGiven::decision).ok_or_else(|| {
        invalid(field::CONSENT_GIVEN, format!("must be All, Partial or None, got {}", shown(text)))
    })
}

/// The list's boolean `ConsentGiven`: `true` / `false` as text in any case
/// (a query parameter) or a JSON boolean.
fn flag(fields: &Fields<'_>, name: &str) -> Result<Option<bool>, Failure> {
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
fn page_size(fields: &Fields<'_>) -> Result<i32, Failure> {
    let name = field::PAGE_SIZE;
    let size = match fields.raw(name) {
        None => return Ok(0),
        Some(Raw::Text(text)) => text.trim().parse::<i128>().ok(),
        Some(Raw::Json(Value::String(text))) => text.trim().parse::<i128>().ok(),
        Some(Raw::Json(Value::Number(number))) => {
            number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from))
        }
        Some(Raw::Json(other)) => return Err(Failure::wrong_type(name, "an integer", other)),
    };
    match size {
        Some(size) if size >= 0 => Ok(i32::try_from(size).unwrap_or(i32::MAX)),
        Some(_) | None => Err(invalid(name, "must be a non-negative integer")),
    }
}

/// `ClientId` (body, query or path): required, a UUID.
fn client_id(text: Option<&str>) -> Result<SubjectRef, Failure> {
    let text = text.filter(|text| !text.is_empty()).ok_or_else(|| missing(field::CLIENT_ID))?;
    Uuid::try_parse(text)
        .map(SubjectRef::Id)
        .map_err(|_| invalid(field::CLIENT_ID, format!("must be a UUID, got {}", shown(text))))
}

/// `IntegrationId` (path or query): required, bounded, plain text.
fn integration_id(text: Option<&str>) -> Result<String, Failure> {
    let text = text.filter(|text| !text.is_empty()).ok_or_else(|| missing(field::INTEGRATION_ID))?;
    limited(field::INTEGRATION_ID, text, MAX_INTEGRATION_ID_CHARS)?;
    Ok(text.to_owned())
}

/// `CustomUserId` as an identity, when given.
fn custom_user_id(fields: &Fields<'_>) -> Result<Option<Identity>, Failure> {
    let Some(value) = fields.text(field::CUSTOM_USER_ID)? else {
        return Ok(None);
    };
    limited(field::CUSTOM_USER_ID, value, MAX_IDENTITY_VALUE_LEN)?;
    Ok(Some(Identity::new(CUSTOM_USER_NAMESPACE, value)))
}

/// `CustomUserId`, or, for an anonymous visitor, an identity of its own
/// minted from the request's fresh id: each anonymous consent is a new
/// person, as a new ClientId is at Secure Privacy.
fn identity_or_anonymous(fields: &Fields<'_>, request: &Request<'_>) -> Result<Identity, Failure> {
    Ok(custom_user_id(fields)?
        .unwrap_or_else(|| Identity::new(ANONYMOUS_NAMESPACE, request.fresh_id.to_string())))
}

/// `URI` and `Metadata` as evidence, with what the HTTP layer knows filled
/// in (`URI` from the `Origin` header when absent).
fn evidence(fields: &Fields<'_>, request: &Request<'_>, vendor: &str) -> Result<Evidence, Failure> {
    let uri = optional(fields, field::URI, MAX_LONG_TEXT_LEN)?;
    let metadata_json = match fields.text(field::METADATA)? {
        None => String::new(),
        Some(text) => {
            if text.chars().count() > MAX_METADATA_CHARS {
                return Err(invalid(
                    field::METADATA,
                    format!("must be at most {MAX_METADATA_CHARS} characters"),
                ));
            }
            metadata_json(text)
        }
    };
    let mut evidence = Evidence { uri, metadata_json, ..Evidence::default() };
    request.evidence.fill(&mut evidence, vendor);
    Ok(evidence)
}

/// `Metadata` text as evidence metadata: consentd keeps a JSON object there,
/// and Secure Privacy's `Metadata` is any text (usually JSON, not always an
/// object), so it is wrapped: `{"Metadata": "<text>"}`.
pub(crate) fn metadata_json(text: &str) -> String {
    let mut object = Map::new();
    object.insert(METADATA_MEMBER.to_owned(), Value::String(text.to_owned()));
    Value::Object(object).to_string()
}

/// An optional text field, checked against consent-core's limit for what
/// it becomes; empty when not given.
fn optional(fields: &Fields<'_>, name: &str, max_chars: usize) -> Result<String, Failure> {
    let Some(text) = fields.text(name)? else {
        return Ok(String::new());
    };
    limited(name, text, max_chars)?;
    Ok(text.to_owned())
}

/// `WebhookUrl`: required, an http(s) address of bounded length. Whether
/// the server may call it (its allowlist, the address it resolves to) is
/// the server's to decide.
fn webhook_url(fields: &Fields<'_>) -> Result<String, Failure> {
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
fn limited(name: &str, value: &str, max_chars: usize) -> Result<(), Failure> {
    if value.chars().count() > max_chars {
        return Err(invalid(name, format!("must be at most {max_chars} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(name, "must not contain control characters"));
    }
    Ok(())
}

/// A value for a message: quoted, shortened.
fn shown(text: &str) -> String {
    const MAX: usize = 64;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

/// A list date as the client meant it: a whole day, or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateBound {
    /// `2026-11-30`: that day, from midnight UTC.
    Date(Timestamp),
    /// `2026-11-30T12:00:00` (UTC), with an optional offset and fraction.
    DateTime(Timestamp),
}

impl DateBound {
    /// RFC 3339 with an offset, a date-time without one (taken as UTC, as
    /// .NET binds an unqualified `DateTime` on a UTC server), or a date.
    fn parse(name: &str, text: &str) -> Result<Self, Failure> {
        if let Some(at) = Timestamp::parse_rfc3339(text) {
            return Ok(Self::DateTime(at));
        }
        let is_date = text.len() == 10
            && text
                .bytes()
                .enumerate()
                .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        if is_date {
            if let Some(at) = Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")) {
                return Ok(Self::Date(at));
            }
        } else if let Some(at) = Timestamp::parse_rfc3339(&format!("{text}Z")) {
            // Only a full date and time makes `<text>Z` RFC 3339: the
            // offset was all that was missing.
            return Ok(Self::DateTime(at));
        }
        Err(invalid(
            name,
            format!(
                "must be a date (2026-11-30) or a date-time (2026-11-30T12:00:00, optionally with an offset), got {}",
                shown(text)
            ),
        ))
    }

    /// The first instant the bound includes.
    const fn start(self) -> Timestamp {
        match self {
            Self::Date(at) | Self::DateTime(at) => at,
        }
    }

    /// The first instant after the bound: `ToDate` includes the whole day,
    /// or the instant itself.
    const fn end_exclusive(self) -> Timestamp {
        match self {
            Self::Date(at) => at.saturating_add_micros(DAY_MICROS),
            Self::DateTime(at) => at.saturating_add_micros(1),
        }
    }
}

/// The list's `PageToken` → the wrapper [`crate::encode`] issued.
fn unwrap_page_token(text: &str) -> Result<PageToken, Failure> {
    let foreign = || invalid(field::PAGE_TOKEN, "is not a page token this service issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| foreign())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| foreign())?;
    if token.v != PageToken::VERSION || token.t.is_empty() {
        return Err(foreign());
    }
    Ok(token)
}

/// The page token handed to the client for a core token and the lower
/// bound the page was read with.
pub(crate) fn wrap_page_token(core_token: &str, collected_after: Option<Timestamp>) -> String {
    let token = PageToken {
        v: PageToken::VERSION,
        f: collected_after.map(Timestamp::as_micros),
        t: core_token.to_owned(),
    };
    // A struct of an integer, an optional integer and a string: serialising
    // cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap_or(Timestamp::EPOCH)
    }

    #[test]
    fn dates_dates_with_time_and_offsets_parse() {
        let parse = |text| DateBound::parse("FromDate", text);
        assert_eq!(parse("2026-11-30"), Ok(DateBound::Date(at("2026-11-30T00:00:00Z"))));
        assert_eq!(parse("2026-11-30T12:00:00"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00Z"))));
        assert_eq!(parse("2026-11-30T12:00:00.25"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00.25Z"))));
        assert_eq!(parse("2026-11-30T13:00:00+01:00"), Ok(DateBound::DateTime(at("2026-11-30T12:00:00Z"))));
        for bad in
            ["", "2026-11-31", "2026-1-30", "30/11/2026", "2026-11-30T25:00:00", "2026-11-30T12:00", "now"]
        {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn to_date_includes_the_whole_day_or_the_instant() {
        let day = DateBound::Date(at("2026-11-30T00:00:00Z"));
        assert_eq!(day.end_exclusive(), at("2026-12-01T00:00:00Z"));
        let instant = DateBound::DateTime(at("2026-11-30T12:00:00Z"));
        assert_eq!(instant.end_exclusive(), at("2026-11-30T12:00:00.000001Z"));
    }

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let token = wrap_page_token("core", Some(Timestamp::from_micros(42)));
        assert_eq!(unwrap_page_token(&token), Ok(PageToken { v: 1, f: Some(42), t: "core".to_owned() }));
        for bad in ["", "core", "eyJ2IjoyLCJmIjpudWxsLCJ0IjoiYyJ9", "e30", "!!!"] {
            assert!(unwrap_page_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_is_wrapped_in_an_object() {
        assert_eq!(metadata_json("{\"a\":1}"), r#"{"Metadata":"{\"a\":1}"}"#);
    }
}
