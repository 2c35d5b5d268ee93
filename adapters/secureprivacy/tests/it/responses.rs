//! What the gateway mounts, and the responses Secure Privacy clients get.

use consent_adapter::{Access, Credential, Failure, Method, Notification, Outcome, Route, VendorAdapter};
use consent_adapter_secureprivacy::{ROUTES, SecurePrivacy, route};
use consent_core::{EventKind, RecordFilter};
use serde_json::json;

use crate::support::{body, documented_record, documented_view, keys, suite};

#[test]
fn serves_the_documented_routes_in_index_order() {
    assert_eq!(SecurePrivacy.name(), "secureprivacy");
    assert_eq!(SecurePrivacy.credentials(), [Credential::Bearer]);
    let account = |method, path| Route { method, path, access: Access::Account, beacon: false };
    assert_eq!(
        SecurePrivacy.routes(),
        [
            Route::keyed(Method::Post, "/api/universalconsent"),
            Route::keyed(Method::Patch, "/api/universalconsent"),
            Route::keyed(Method::Get, "/api/universalconsent/consent-given"),
            Route::keyed(Method::Get, "/api/universalconsent/{ClientId}"),
            Route::keyed(Method::Get, "/api/universalconsent"),
            Route::keyed(Method::Post, "/api/universalconsent/subscribe"),
            account(Method::Post, "/api/universalconsent/integration/{id}"),
            account(Method::Get, "/api/universalconsent/integration/{id}"),
        ]
    );
    assert_eq!(
        [
            route::RECORD,
            route::UPDATE,
            route::CHECK,
            route::GET,
            route::LIST,
            route::SUBSCRIBE,
            route::INTEGRATION_RECORD,
            route::INTEGRATION_GET,
        ],
        [0, 1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(ROUTES.len(), 8);
}

#[test]
fn every_failure_has_its_status_and_the_problem_details_shape() {
    let cases = [
        (Failure::Unauthorized, 401, "rfc9110#section-15.5.2", "Unauthorized"),
        (Failure::Forbidden, 403, "rfc9110#section-15.5.4", "Forbidden"),
        (Failure::NotFound("no such consent".to_owned()), 404, "rfc9110#section-15.5.5", "Not Found"),
        (Failure::Conflict("changed meanwhile".to_owned()), 409, "rfc9110#section-15.5.10", "Conflict"),
        (Failure::TooManyRequests, 429, "rfc6585#section-4", "Too Many Requests"),
        (Failure::Internal, 500, "rfc9110#section-15.6.1", "Internal Server Error"),
        (Failure::Unavailable, 503, "rfc9110#section-15.6.4", "Service Unavailable"),
    ];
    for (failure, status, section, title) in cases {
        let response = SecurePrivacy.encode_failure(&failure);
        assert_eq!(response.status, status, "{failure:?}");
        assert_eq!(response.status, failure.status());
        assert!(response.headers.is_empty());
        let body = body(&response);
        assert_eq!(keys(body), ["detail", "status", "title", "type"], "{failure:?}");
        assert_eq!(body["type"], format!("https://tools.ietf.org/html/{section}"));
        assert_eq!(body["title"], title);
        assert_eq!(body["status"], status);
        let detail = body["detail"].as_str().expect("a detail");
        assert!(!detail.is_empty() && !detail.ends_with('.'), "{detail}");
        assert!(detail.chars().next().is_some_and(char::is_lowercase), "{detail}");
    }
    // Not-found and conflict messages are the service's own.
    let response = SecurePrivacy.encode_failure(&Failure::Conflict("changed meanwhile".to_owned()));
    assert_eq!(body(&response)["detail"], "changed meanwhile");
}

#[test]
fn a_bad_request_is_a_validation_problem() {
    let response =
        SecurePrivacy.encode_failure(&Failure::bad("ConsentGiven", "the ConsentGiven field is required"));
    assert_eq!(response.status, 400);
    assert_eq!(
        response.body,
        Some(json!({
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": { "ConsentGiven": ["the ConsentGiven field is required"] },
        }))
    );
}

#[test]
fn a_check_without_a_consent_answers_none() {
    let response = SecurePrivacy.encode(route::CHECK, &Outcome::Latest(None));
    assert_eq!(response.status, 200);
    assert_eq!(*body(&response), json!({ "ConsentGiven": "None" }));
}

#[test]
fn no_current_consent_is_a_404_on_the_record_routes() {
    for route in [route::GET, route::INTEGRATION_GET] {
        let response = SecurePrivacy.encode(route, &Outcome::Latest(None));
        assert_eq!(response.status, 404, "route {route}");
        let body = body(&response);
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["type"], "https://tools.ietf.org/html/rfc9110#section-15.5.5");
        assert_eq!(body["detail"], "no consent is recorded for this ClientId and Reference");
    }
}

#[test]
fn the_list_names_the_next_page_only_when_there_is_one() {
    let listed = |token: &str| Outcome::Listed {
        views: vec![documented_view(), documented_view()],
        next_page_token: token.to_owned(),
        filter: RecordFilter::default(),
    };
    let last = SecurePrivacy.encode(route::LIST, &listed(""));
    assert_eq!(last.status, 200);
    assert!(last.headers.is_empty());
    assert_eq!(body(&last).as_array().map(Vec::len), Some(2));

    let more = SecurePrivacy.encode(route::LIST, &listed("next"));
    assert_eq!(more.headers.len(), 1);
    let (name, value) = &more.headers[0];
    assert_eq!(*name, "x-next-page-token");
    assert!(!value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));

    let empty = Outcome::Listed {
        views: Vec::new(),
        next_page_token: String::new(),
        filter: RecordFilter::default(),
    };
    assert_eq!(SecurePrivacy.encode(route::LIST, &empty).body, Some(json!([])));
}

#[test]
fn an_update_is_answered_200_without_a_body() {
    let response = SecurePrivacy.encode(route::UPDATE, &Outcome::Written(vec![documented_record()]));
    assert_eq!((response.status, response.body), (200, None));
}

#[test]
fn a_subscription_answers_its_id_and_secret() {
    let outcome = Outcome::Subscribed { id: "sub-1".to_owned(), secret: "whsec_abc".to_owned() };
    let response = SecurePrivacy.encode(route::SUBSCRIBE, &outcome);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, Some(json!({ "SubscriptionId": "sub-1", "Secret": "whsec_abc" })));
}

#[test]
fn an_outcome_a_route_never_produces_is_a_500() {
    let written = Outcome::Written(vec![documented_record()]);
    let latest = Outcome::Latest(Some(documented_view()));
    let listed = Outcome::Listed {
        views: Vec::new(),
        next_page_token: String::new(),
        filter: RecordFilter::default(),
    };
    let subscribed = Outcome::Subscribed { id: "s".to_owned(), secret: "k".to_owned() };
    let cases = [
        (route::RECORD, &listed),
        (route::RECORD, &Outcome::Written(Vec::new())),
        (route::UPDATE, &latest),
        (route::CHECK, &written),
        (route::GET, &subscribed),
        (route::LIST, &latest),
        (route::SUBSCRIBE, &written),
        (route::INTEGRATION_RECORD, &Outcome::Written(Vec::new())),
        (route::INTEGRATION_GET, &listed),
        (8, &written),
        (usize::MAX, &latest),
    ];
    for (route, outcome) in cases {
        let response = SecurePrivacy.encode(route, outcome);
        assert_eq!(response.status, 500, "route {route}: {outcome:?}");
        assert_eq!(body(&response)["title"], "Internal Server Error");
    }
}

#[test]
fn an_unknown_route_index_does_not_decode() {
    let call = crate::support::Call::to(8).json(&json!({ "ConsentGiven": "All" }));
    assert_eq!(call.decode(), Err(Failure::Internal));
}

#[test]
fn notifications_carry_the_get_response() {
    let view = documented_view();
    let get = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view.clone())));
    for (kind, event_type) in
        [(EventKind::Recorded, "consent.recorded"), (EventKind::Updated, "consent.updated")]
    {
        let mut view = view.clone();
        view.record.kind = kind;
        let notification = Notification { event_id: "sub-1:42", subscription_id: "sub-1", view: &view };
        let delivery = SecurePrivacy.encode_notification(&notification).expect("secure privacy has webhooks");
        assert_eq!(keys(&delivery), ["Consent", "EventId", "EventType", "Revision", "SubscriptionId"]);
        assert_eq!(delivery["EventId"], "sub-1:42");
        assert_eq!(delivery["EventType"], event_type);
        assert_eq!(delivery["SubscriptionId"], "sub-1");
        assert_eq!(delivery["Revision"], 42);
        assert_eq!(&delivery["Consent"], body(&get));
    }
}

#[test]
fn encode_event_is_the_record_request_without_empty_fields() {
    let full = SecurePrivacy.encode_event(&documented_record());
    assert_eq!(full, crate::support::fixture_json("record-request.json"));

    let mut bare = documented_record();
    bare.identities = vec![consent_core::Identity::new("email", "jane.doe@example.com")];
    bare.purpose.clear();
    bare.target.clear();
    bare.evidence = consent_core::Evidence::default();
    bare.decision = consent_core::Decision::Limited;
    assert_eq!(SecurePrivacy.encode_event(&bare), json!({ "ConsentGiven": "Partial" }));
}

#[test]
fn conformance_responses_are_documented() {
    suite().responses_are_documented();
}
