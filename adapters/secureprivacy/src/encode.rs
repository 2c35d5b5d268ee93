//! consentd outcomes → Secure Privacy responses, failures → ASP.NET Core
//! problem details, and records → Secure Privacy request bodies and webhook
//! deliveries.

use std::collections::BTreeMap;

use consent_adapter::{Failure, Notification, Outcome, Response};
use consent_core::{ConsentRecord, ConsentStatus, ConsentView, Decision, EventKind, RecordFilter};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::decode::METADATA_MEMBER;
use crate::error::vendor_field;
use crate::model::{
    CheckResponse, ConsentGiven, ConsentResponse, Fingerprint, IntegrationConsentResponse,
    IntegrationRecordResponse, ListItem, NotificationBody, ProblemDetails, RecordRequest, RecordResponse,
    SubscribeResponse, ValidationProblemDetails,
};
use crate::page_token;
use crate::read::CUSTOM_USER_NAMESPACE;
use crate::route;

/// The status of every success, as documented.
const OK: u16 = 200;
/// The response header that carries the list's next page token.
pub(crate) const NEXT_PAGE_TOKEN_HEADER: &str = "x-next-page-token";

/// The outcome of the operation `route` decoded → the route's response. An
/// outcome the route never produces is a bug in the gateway: a 500, not a
/// panic.
pub(crate) fn encode(route: usize, outcome: &Outcome) -> Response {
    let response = match route {
        route::RECORD => written(outcome).and_then(<[_]>::first).map(|record| {
            ok(&RecordResponse {
                created: record.collected_at.to_rfc3339(),
                client_id: record.subject_id.to_string(),
            })
        }),
        // "Response: 200 OK", no body.
        route::UPDATE => written(outcome).map(|_| Response::empty(OK)),
        // A check answers for an unknown consent too: none was given.
        route::CHECK => latest(outcome).map(|view| {
            let status = view.map_or(ConsentStatus::Unknown, |view| view.status);
            ok(&CheckResponse { consent_given: consent_given_now(status) })
        }),
        route::GET => latest(outcome).map(|view| view.map_or_else(not_found, |view| ok(&consent(view)))),
        route::LIST => {
            listed(outcome).map(|(views, next_page_token, filter)| list(views, next_page_token, filter))
        }
        route::SUBSCRIBE => subscribed(outcome).map(|(id, secret)| {
            ok(&SubscribeResponse { subscription_id: id.to_owned(), secret: secret.to_owned() })
        }),
        route::INTEGRATION_RECORD => written(outcome).and_then(<[_]>::first).map(|record| {
            ok(&IntegrationRecordResponse {
                created: record.collected_at.to_rfc3339(),
                client_id: record.subject_id.to_string(),
                reference: record.target.clone(),
                custom_user_id: custom_user_id(record),
            })
        }),
        route::INTEGRATION_GET => latest(outcome).map(|view| {
            view.map_or_else(not_found, |view| {
                ok(&IntegrationConsentResponse {
                    client_id: view.record.subject_id.to_string(),
                    reference: view.record.target.clone(),
                    consent_given: consent_given_now(view.status),
                    created: view.first_collected_at.to_rfc3339(),
                    metadata: metadata_text(&view.record.evidence.metadata_json),
                })
            })
        }),
        _ => None,
    };
    response.unwrap_or_else(|| failure(&Failure::Internal))
}

fn written(outcome: &Outcome) -> Option<&[ConsentRecord]> {
    match outcome {
        Outcome::Written(records) => Some(records),
        Outcome::Latest(_)
        | Outcome::Listed { .. }
        | Outcome::Subscribed { .. }
        | Outcome::Checked(_)
        | Outcome::ConsentMode(_) => None,
    }
}

fn latest(outcome: &Outcome) -> Option<Option<&ConsentView>> {
    match outcome {
        Outcome::Latest(view) => Some(view.as_ref()),
        Outcome::Written(_)
        | Outcome::Listed { .. }
        | Outcome::Subscribed { .. }
        | Outcome::Checked(_)
        | Outcome::ConsentMode(_) => None,
    }
}

fn listed(outcome: &Outcome) -> Option<(&[ConsentView], &str, &RecordFilter)> {
    match outcome {
        Outcome::Listed { views, next_page_token, filter } => Some((views, next_page_token, filter)),
        Outcome::Written(_)
        | Outcome::Latest(_)
        | Outcome::Subscribed { .. }
        | Outcome::Checked(_)
        | Outcome::ConsentMode(_) => None,
    }
}

fn subscribed(outcome: &Outcome) -> Option<(&str, &str)> {
    match outcome {
        Outcome::Subscribed { id, secret } => Some((id, secret)),
        Outcome::Written(_)
        | Outcome::Latest(_)
        | Outcome::Listed { .. }
        | Outcome::Checked(_)
        | Outcome::ConsentMode(_) => None,
    }
}

/// A 200 with `body` as JSON.
fn ok<T: Serialize>(body: &T) -> Response {
    // Plain structs with string keys: serialising cannot fail.
    serde_json::to_value(body).map_or_else(|_| failure(&Failure::Internal), |json| Response::json(OK, json))
}

/// The answer when the person has no current consent for the reference.
fn not_found() -> Response {
    failure(&Failure::NotFound("no consent is recorded for this ClientId and Reference".to_owned()))
}

/// The list page: the items, and the token of the next page in a header.
fn list(views: &[ConsentView], next_page_token: &str, filter: &RecordFilter) -> Response {
    let items: Vec<ListItem> = views.iter().map(list_item).collect();
    let mut response = ok(&items);
    if !next_page_token.is_empty() {
        response
            .headers
            .push((NEXT_PAGE_TOKEN_HEADER, page_token::wrap(next_page_token, filter.collected_after)));
    }
    response
}

/// A view as the get route answers it (and a notification carries it).
pub(crate) fn consent(view: &ConsentView) -> ConsentResponse {
    let record = &view.record;
    ConsentResponse {
        id: record.id.to_string(),
        created: view.first_collected_at.to_rfc3339(),
        last_updated: record.collected_at.to_rfc3339(),
        uri: record.evidence.uri.clone(),
        consent_given: consent_given_now(view.status),
        consent_type: record.purpose.clone(),
        metadata: metadata_text(&record.evidence.metadata_json),
        reference: record.target.clone(),
        custom_user_id: custom_user_id(record),
        client_id: record.subject_id.to_string(),
    }
}

/// One item of a list streamed whole, as JSON.
pub(crate) fn list_item_json(view: &ConsentView) -> serde_json::Value {
    // A plain struct with string keys: serialising cannot fail.
    serde_json::to_value(list_item(view)).unwrap_or(serde_json::Value::Null)
}

fn list_item(view: &ConsentView) -> ListItem {
    let record = &view.record;
    let evidence = &record.evidence;
    ListItem {
        id: record.id.to_string(),
        created: view.first_collected_at.to_rfc3339(),
        last_updated: record.collected_at.to_rfc3339(),
        // The decision recorded, as the `ConsentGiven` filter selects it.
        consent_given: given(record.decision),
        uri: evidence.uri.clone(),
        consent_type: record.purpose.clone(),
        metadata: metadata_text(&evidence.metadata_json),
        reference: record.target.clone(),
        client_id: record.subject_id.to_string(),
        fingerprint: Fingerprint {
            custom_user_id: custom_user_id(record),
            ip: evidence.ip.clone(),
            proxified_ip: evidence.proxy_ip.clone(),
            user_agent: evidence.user_agent.clone(),
            city: evidence.city.clone(),
            state: evidence.region.clone(),
            country: evidence.country.clone(),
        },
    }
}

/// The record's `CustomUserId`; empty for an anonymous visitor or a person
/// recorded under other identities.
fn custom_user_id(record: &ConsentRecord) -> String {
    record
        .identities
        .iter()
        .find(|identity| identity.namespace == CUSTOM_USER_NAMESPACE)
        .map(|identity| identity.value.clone())
        .unwrap_or_default()
}

/// The `Metadata` text of a record: what this adapter wrapped as
/// `{"Metadata": "<text>"}`, or, for a record another transport wrote, its
/// metadata JSON as it is.
pub(crate) fn metadata_text(json: &str) -> String {
    if json.is_empty() {
        return String::new();
    }
    match serde_json::from_str::<Map<String, Value>>(json) {
        Ok(object) => match object.get(METADATA_MEMBER) {
            Some(Value::String(text)) => text.clone(),
            Some(_) | None => json.to_owned(),
        },
        Err(_) => json.to_owned(),
    }
}

/// A failure → ASP.NET Core problem details with its status: a validation
/// problem listing the field for a bad request, otherwise a plain problem
/// with a detail.
pub(crate) fn failure(failure: &Failure) -> Response {
    let status = failure.status();
    let body = match failure {
        Failure::BadRequest { field, message } => serde_json::to_value(ValidationProblemDetails {
            kind: "https://tools.ietf.org/html/rfc9110#section-15.5.1".to_owned(),
            title: "One or more validation errors occurred.".to_owned(),
            status,
            errors: BTreeMap::from([(vendor_field(field).to_owned(), vec![message.clone()])]),
        }),
        Failure::Unauthorized => problem(
            status,
            "rfc9110#section-15.5.2",
            "Unauthorized",
            "a valid api key is required: Authorization: Bearer <key>",
        ),
        Failure::Forbidden => problem(
            status,
            "rfc9110#section-15.5.4",
            "Forbidden",
            "the credential may not act for this integration, or lacks the scope this request needs",
        ),
        Failure::NotFound(message) => problem(status, "rfc9110#section-15.5.5", "Not Found", message),
        Failure::Conflict(message) => problem(status, "rfc9110#section-15.5.10", "Conflict", message),
        // RFC 9110 does not define 429; ASP.NET Core links RFC 6585 for it.
        Failure::TooManyRequests => {
            problem(status, "rfc6585#section-4", "Too Many Requests", "too many requests, retry later")
        }
        Failure::Internal => problem(
            status,
            "rfc9110#section-15.6.1",
            "Internal Server Error",
            "the request could not be processed",
        ),
        Failure::Unavailable => problem(
            status,
            "rfc9110#section-15.6.4",
            "Service Unavailable",
            "the consent store is unavailable, retry later",
        ),
    };
    // Plain structs with string keys: serialising cannot fail, and a body
    // is better than none if it ever did.
    Response::json(status, body.unwrap_or(Value::Null))
}

fn problem(status: u16, section: &str, title: &str, detail: &str) -> serde_json::Result<Value> {
    serde_json::to_value(ProblemDetails {
        kind: format!("https://tools.ietf.org/html/{section}"),
        title: title.to_owned(),
        status,
        detail: detail.to_owned(),
    })
}

/// A record → the record request body that would have produced it.
pub(crate) fn event(record: &ConsentRecord) -> Value {
    let given = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    let request = RecordRequest {
        consent_given: consent_given(record.decision),
        custom_user_id: given(&custom_user_id(record)),
        uri: given(&record.evidence.uri),
        metadata: given(&metadata_text(&record.evidence.metadata_json)),
        reference: given(&record.target),
        consent_type: given(&record.purpose),
    };
    serde_json::to_value(request).unwrap_or(Value::Null)
}

/// A change → the webhook delivery: the event, and the consent as the get
/// route answers it.
pub(crate) fn notification(notification: &Notification<'_>) -> Value {
    let record = &notification.view.record;
    let body = NotificationBody {
        event_id: notification.event_id.to_owned(),
        event_type: match record.kind {
            EventKind::Recorded => "consent.recorded",
            EventKind::Updated => "consent.updated",
            EventKind::Expired => "consent.expired",
            EventKind::Erased => "consent.erased",
        }
        .to_owned(),
        subscription_id: notification.subscription_id.to_owned(),
        revision: record.revision,
        consent: consent(notification.view),
    };
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// The `ConsentGiven` that records `decision`.
const fn consent_given(decision: Decision) -> ConsentGiven {
    match decision {
        Decision::Granted => ConsentGiven::All,
        Decision::Limited => ConsentGiven::Partial,
        Decision::Denied => ConsentGiven::None,
    }
}

/// The `ConsentGiven` a check answers: an expired consent, or none at all,
/// is no consent.
const fn consent_given_now(status: ConsentStatus) -> ConsentGiven {
    match status {
        ConsentStatus::Granted => ConsentGiven::All,
        ConsentStatus::Limited => ConsentGiven::Partial,
        ConsentStatus::Denied | ConsentStatus::Expired | ConsentStatus::Unknown => ConsentGiven::None,
    }
}

/// The list's boolean `ConsentGiven`: whether the decision gave any consent.
const fn given(decision: Decision) -> bool {
    matches!(decision, Decision::Granted | Decision::Limited)
}
