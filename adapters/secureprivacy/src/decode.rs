//! Secure Privacy requests → consentd operations, one function per route.
//!
//! Secure Privacy is an ASP.NET service, and its clients rely on how .NET
//! binds a request: field names match case-insensitively, unknown fields are
//! ignored, and a GET takes its fields from the query string. The decoder
//! therefore does not deserialise into fixed types: the body is read with
//! consent-adapter's field reader, each field is looked up in a
//! [`Fields`](crate::read::Fields) view over the query and that body, and
//! each value is checked where it is read (`read.rs`), so the first problem
//! is reported under the vendor's own field name. It also checks every limit
//! consent-core's validation applies to what it decodes, so a request the
//! adapter accepts is one the service accepts (short of what only the store
//! can know).

use consent_adapter::fields::Body;
use consent_adapter::{Decoded, Failure, Operation, Request};
use consent_core::validate::{MAX_LONG_TEXT_LEN, MAX_PURPOSE_LEN, MAX_SHORT_TEXT_LEN, MAX_TARGET_LEN};
use consent_core::{
    Decision, Evidence, FeedFilter, Identity, PurposeDecision, QueryConsents, RecordConsent, RecordFilter,
    SubjectRef, Timestamp, UpdateLatest,
};
use serde_json::{Map, Value};

use crate::dates::DateBound;
use crate::error::{WORDING, invalid};
use crate::field;
use crate::page_token;
use crate::read::{
    Fields, MAX_METADATA_CHARS, client_id, consent_given, custom_user_id, flag, integration_id, optional,
    page_size, webhook_url,
};
use crate::route;

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
    let body = Body::parse(request.body, &WORDING)?;
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
    let body = Body::parse(request.body, &WORDING)?;
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
    let body = Body::parse_optional(request.body, &WORDING)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let subject = client_id(fields.text(field::CLIENT_ID)?)?;
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    // A check: a consent for any target applies to this one too.
    Ok(Decoded { account: None, operation: Operation::Latest { subject, target, include_any_target: true } })
}

/// `GET /api/universalconsent/{ClientId}`.
fn get(request: &Request<'_>) -> Result<Decoded, Failure> {
    let subject = client_id(request.path_param(CLIENT_ID_PATH_PARAM))?;
    let body = Body::parse_optional(request.body, &WORDING)?;
    let fields = Fields::query_and_body(request.query, body.as_ref());
    let target = optional(&fields, field::REFERENCE, MAX_TARGET_LEN)?;
    Ok(Decoded { account: None, operation: Operation::Latest { subject, target, include_any_target: false } })
}

/// `GET /api/universalconsent`.
fn list(request: &Request<'_>) -> Result<Decoded, Failure> {
    let body = Body::parse_optional(request.body, &WORDING)?;
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
    let token = fields.text(field::PAGE_TOKEN)?.map(page_token::unwrap).transpose()?;

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
        expiring_before: None,
        gpc_conflict: false,
        ip,
        user_agent,
        country,
        region,
        city,
        history: false,
    };
    // The documented call names no page: it gets every matching record.
    // A client that wants pages asks for them with PageSize (and then
    // follows the next-page header).
    let operation = match (page_size, token) {
        (None, None) => Operation::ListAll(QueryConsents { filter, page_size: 0, page_token: String::new() }),
        (page_size, token) => Operation::List(QueryConsents {
            filter,
            page_size: page_size.unwrap_or(0),
            page_token: token.map(|token| token.t).unwrap_or_default(),
        }),
    };
    Ok(Decoded { account: None, operation })
}

/// `POST /api/universalconsent/subscribe`.
fn subscribe(request: &Request<'_>) -> Result<Decoded, Failure> {
    let body = Body::parse(request.body, &WORDING)?;
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
    let body = Body::parse(request.body, &WORDING)?;
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
    let body = Body::parse_optional(request.body, &WORDING)?;
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
        decisions: vec![PurposeDecision::stated(purpose, target, decision)],
        // Secure Privacy's clients do not say when: the server's now.
        collected_at: None,
        expires_at: None,
        source: SOURCE.to_owned(),
        evidence,
        idempotency_key: String::new(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_wrapped_in_an_object() {
        assert_eq!(metadata_json("{\"a\":1}"), r#"{"Metadata":"{\"a\":1}"}"#);
    }
}
