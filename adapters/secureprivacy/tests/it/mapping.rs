//! The mapping rules beyond the documented examples: how .NET binds names,
//! where a field may come from, what an absent field means, and how the
//! list's window and paging work.

use consent_adapter::{Decoded, Failure, Operation, Outcome, RequestEvidence, VendorAdapter};
use consent_adapter_secureprivacy::{NEXT_PAGE_TOKEN_HEADER, SecurePrivacy, route};
use consent_core::{
    ConsentError, ConsentStatus, ConsentView, Decision, Identity, QueryConsents, RecordFilter, SubjectRef,
    Timestamp,
};
use serde_json::json;
use uuid::Uuid;

use crate::support::{
    CLIENT_ID, Call, METADATA, REFERENCE, at, body, client_id, documented_record, documented_view, fixture,
    fixture_json, fresh_id, received_at, wrapped,
};

const DAY_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// The query of a list, whole or paged.
fn query(decoded: Result<Decoded, Failure>) -> QueryConsents {
    match decoded {
        Ok(Decoded { operation: Operation::List(query) | Operation::ListAll(query), .. }) => query,
        other => panic!("expected a list, got {other:?}"),
    }
}

fn latest(decoded: Result<Decoded, Failure>) -> (SubjectRef, String) {
    match decoded {
        Ok(Decoded { operation: Operation::Latest { subject, target, .. }, .. }) => (subject, target),
        other => panic!("expected a latest-record lookup, got {other:?}"),
    }
}

#[test]
fn field_names_match_in_any_case() {
    let documented = Call::to(route::RECORD).body(&fixture("record-request.json")).decode();
    let shouted = json!({
        "consentgiven": "all",
        "CUSTOMUSERID": "jane.doe@example.com",
        "uri": "https://www.northwind-motors.example/test-drive",
        "metaData": METADATA,
        "reference": REFERENCE,
        "consentTYPE": "Dealership",
    });
    assert_eq!(Call::to(route::RECORD).json(&shouted).decode(), documented);

    let lower = Call::to(route::CHECK).query("clientid", CLIENT_ID).query("REFERENCE", REFERENCE);
    assert_eq!(latest(lower.decode()), (SubjectRef::Id(client_id()), REFERENCE.to_owned()));
}

#[test]
fn the_documented_spelling_wins_over_another_casing() {
    let doc = json!({ "ConsentGiven": "None", "consentgiven": "All" });
    let decoded = Call::to(route::RECORD).json(&doc).decode().expect("decodes");
    assert_eq!(decoded.records()[0].decisions[0].decision, Decision::Denied);
}

#[test]
fn consent_given_values_match_in_any_case() {
    for (text, decision) in [
        ("All", Decision::Granted),
        ("ALL", Decision::Granted),
        ("partial", Decision::Limited),
        ("Partial", Decision::Limited),
        ("none", Decision::Denied),
        ("NONE", Decision::Denied),
    ] {
        let decoded = Call::to(route::RECORD).json(&json!({ "ConsentGiven": text })).decode().expect(text);
        assert_eq!(decoded.records()[0].decisions[0].decision, decision, "{text}");
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let mut doc = fixture_json("record-request.json");
    doc["Extra"] = json!({ "nested": [1, 2, 3] });
    doc["ClientId"] = json!(12);
    let plain = Call::to(route::RECORD).body(&fixture("record-request.json")).decode();
    assert_eq!(Call::to(route::RECORD).json(&doc).decode(), plain);
}

#[test]
fn a_query_parameter_wins_over_the_same_body_field() {
    let other = Uuid::from_u128(7).to_string();
    let call = Call::to(route::CHECK)
        .query("ClientId", CLIENT_ID)
        .json(&json!({ "ClientId": other, "Reference": "from-body" }));
    // ClientId from the query; Reference only in the body.
    assert_eq!(latest(call.decode()), (SubjectRef::Id(client_id()), "from-body".to_owned()));

    let call = Call::to(route::LIST)
        .query("ConsentType", "from-query")
        .query("Country", "")
        .json(&json!({ "ConsentType": "from-body", "Country": "DK" }));
    let filter = query(call.decode()).filter;
    assert_eq!(filter.purpose, "from-query");
    // An empty query parameter is a blank form field: the body's value stands.
    assert_eq!(filter.region, "");
    assert_eq!(filter.country, "DK");
}

#[test]
fn the_get_route_takes_its_reference_from_the_query_or_the_body() {
    let base = Call::to(route::GET).path("ClientId", CLIENT_ID);
    let from_body = base.clone().json(&json!({ "reference": REFERENCE }));
    assert_eq!(latest(from_body.decode()).1, REFERENCE);
    assert_eq!(latest(base.decode()).1, "", "no Reference: the any-target records");
    let both = base.query("Reference", "q").json(&json!({ "Reference": "b" }));
    assert_eq!(latest(both.decode()).1, "q");
}

#[test]
fn a_record_without_custom_user_id_is_an_anonymous_visitor() {
    let anonymous = Identity::new("anonymous_id", fresh_id().to_string());
    for doc in [
        json!({ "ConsentGiven": "All" }),
        json!({ "ConsentGiven": "All", "CustomUserId": "" }),
        json!({ "ConsentGiven": "All", "CustomUserId": null }),
    ] {
        let decoded = Call::to(route::RECORD).json(&doc).decode().expect("decodes");
        assert_eq!(decoded.records()[0].identities, std::slice::from_ref(&anonymous), "{doc}");
        let decoded =
            Call::to(route::INTEGRATION_RECORD).path("id", "hubspot").json(&doc).decode().expect("decodes");
        assert_eq!(decoded.records()[0].identities, std::slice::from_ref(&anonymous), "{doc}");
    }
}

#[test]
fn absent_type_and_reference_mean_all_purposes_and_any_target() {
    let decoded =
        Call::to(route::RECORD).json(&json!({ "ConsentGiven": "Partial" })).decode().expect("decodes");
    let decision = &decoded.records()[0].decisions[0];
    assert_eq!((decision.purpose.as_str(), decision.target.as_str()), ("", ""));
    assert_eq!(decoded.records()[0].source, "api");
}

#[test]
fn uri_defaults_to_the_origin_header() {
    let decoded = Call::to(route::RECORD).json(&json!({ "ConsentGiven": "All" })).decode().expect("decodes");
    assert_eq!(decoded.records()[0].evidence.uri, "https://www.northwind-motors.example");
    let bare = Call::to(route::RECORD)
        .json(&json!({ "ConsentGiven": "All" }))
        .evidence(RequestEvidence::default())
        .decode()
        .expect("decodes");
    assert_eq!(bare.records()[0].evidence.uri, "");
    assert_eq!(bare.records()[0].evidence.vendor, "secureprivacy");
}

#[test]
fn metadata_round_trips_through_the_get_response() {
    for text in [METADATA, "plain words", "[1,2]", "{\"Metadata\":\"nested\"}", "a\nb"] {
        let decoded = Call::to(route::RECORD)
            .json(&json!({ "ConsentGiven": "All", "Metadata": text }))
            .decode()
            .expect("decodes");
        let metadata_json = decoded.records()[0].evidence.metadata_json.clone();
        assert_eq!(metadata_json, wrapped(text));
        let mut view = documented_view();
        view.record.evidence.metadata_json = metadata_json;
        let response = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view)));
        assert_eq!(body(&response)["Metadata"], text);
    }
}

#[test]
fn metadata_written_by_other_transports_is_shown_as_its_json() {
    let mut view = documented_view();
    view.record.evidence.metadata_json = r#"{"cmp":"custom","bannerVersion":7}"#.to_owned();
    let response = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view.clone())));
    assert_eq!(body(&response)["Metadata"], r#"{"cmp":"custom","bannerVersion":7}"#);
    view.record.evidence.metadata_json = String::new();
    let response = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view)));
    assert_eq!(body(&response)["Metadata"], "");
}

#[test]
fn the_list_defaults_to_the_last_seven_days() {
    let query = query(Call::to(route::LIST).decode());
    assert_eq!(query.filter.collected_after, Some(received_at().saturating_add_micros(-7 * DAY_MICROS)));
    assert_eq!(query.filter.collected_before, None);
    assert_eq!(query.filter.decisions, []);
    assert!(!query.filter.history);
    assert_eq!((query.page_size, query.page_token.as_str()), (0, ""));

    let later = received_at().saturating_add_micros(DAY_MICROS);
    let moved = self::query(Call::to(route::LIST).received(later).decode());
    assert_eq!(moved.filter.collected_after, Some(later.saturating_add_micros(-7 * DAY_MICROS)));

    // A ToDate alone names the window's end: everything before it.
    let until = self::query(Call::to(route::LIST).query("ToDate", "2026-01-01").decode());
    assert_eq!(until.filter.collected_after, None);
    assert!(until.filter.collected_before.is_some());
}

#[test]
fn from_date_accepts_dates_local_date_times_and_offsets() {
    for (text, expected) in [
        ("2026-11-01", "2026-11-01T00:00:00Z"),
        ("2026-11-01T08:30:00", "2026-11-01T08:30:00Z"),
        ("2026-11-01T08:30:00.123456", "2026-11-01T08:30:00.123456Z"),
        ("2026-11-01T08:30:00Z", "2026-11-01T08:30:00Z"),
        ("2026-11-01T09:30:00+01:00", "2026-11-01T08:30:00Z"),
    ] {
        let query = query(Call::to(route::LIST).query("FromDate", text).decode());
        assert_eq!(query.filter.collected_after, Some(at(expected)), "{text}");
    }
}

#[test]
fn to_date_is_inclusive() {
    for (text, before) in [
        // A date includes the whole day.
        ("2026-11-30", "2026-12-01T00:00:00Z"),
        // A date-time includes that instant.
        ("2026-11-30T12:00:00", "2026-11-30T12:00:00.000001Z"),
        ("2026-11-30T13:00:00+01:00", "2026-11-30T12:00:00.000001Z"),
    ] {
        let call = Call::to(route::LIST).query("FromDate", "2026-11-01").query("ToDate", text);
        assert_eq!(query(call.decode()).filter.collected_before, Some(at(before)), "{text}");
    }
    // FromDate and ToDate naming the same day select that day.
    let same = Call::to(route::LIST).query("FromDate", "2026-11-30").query("ToDate", "2026-11-30");
    let filter = query(same.decode()).filter;
    assert_eq!(filter.collected_after, Some(at("2026-11-30T00:00:00Z")));
    assert_eq!(filter.collected_before, Some(at("2026-12-01T00:00:00Z")));
}

#[test]
fn the_consent_given_filter_is_a_boolean() {
    for (call, decisions) in [
        (Call::to(route::LIST).query("ConsentGiven", "true"), vec![Decision::Granted, Decision::Limited]),
        (Call::to(route::LIST).query("consentgiven", "TRUE"), vec![Decision::Granted, Decision::Limited]),
        (Call::to(route::LIST).query("ConsentGiven", "False"), vec![Decision::Denied]),
        (
            Call::to(route::LIST).json(&json!({ "ConsentGiven": true })),
            vec![Decision::Granted, Decision::Limited],
        ),
        (Call::to(route::LIST).json(&json!({ "ConsentGiven": false })), vec![Decision::Denied]),
        (Call::to(route::LIST).json(&json!({ "ConsentGiven": null })), vec![]),
    ] {
        assert_eq!(query(call.decode()).filter.decisions, decisions);
    }
}

#[test]
fn page_size_is_passed_on() {
    assert_eq!(query(Call::to(route::LIST).query("PageSize", "25").decode()).page_size, 25);
    assert_eq!(query(Call::to(route::LIST).json(&json!({ "pagesize": 25 })).decode()).page_size, 25);
    // Above any maximum: the service lowers it.
    assert_eq!(query(Call::to(route::LIST).query("PageSize", "99999999999").decode()).page_size, i32::MAX);
}

#[test]
fn the_page_token_carries_the_window_of_the_first_page() {
    // First page, default window.
    let first = query(Call::to(route::LIST).query("Reference", REFERENCE).decode());
    let window = first.filter.collected_after;
    assert!(window.is_some());
    let outcome = Outcome::Listed {
        views: vec![documented_view()],
        next_page_token: "core-token-1".to_owned(),
        filter: first.filter.clone(),
    };
    let response = SecurePrivacy.encode(route::LIST, &outcome);
    let [(name, token)] = response.headers.as_slice() else { panic!("one header: {:?}", response.headers) };
    assert_eq!(*name, NEXT_PAGE_TOKEN_HEADER);
    assert_eq!(*name, "x-next-page-token");

    // The next page, asked for a day later: same window, the core token unwrapped.
    let later = received_at().saturating_add_micros(DAY_MICROS);
    let next = query(
        Call::to(route::LIST)
            .received(later)
            .query("Reference", REFERENCE)
            .query("PageToken", token)
            .decode(),
    );
    assert_eq!(next.filter.collected_after, window);
    assert_eq!(next.filter, first.filter);
    assert_eq!(next.page_token, "core-token-1");

    // An explicit FromDate still decides the window.
    let explicit =
        query(Call::to(route::LIST).query("FromDate", "2026-11-01").query("PageToken", token).decode());
    assert_eq!(explicit.filter.collected_after, Some(at("2026-11-01T00:00:00Z")));
    assert_eq!(explicit.page_token, "core-token-1");
}

#[test]
fn a_page_token_without_a_window_keeps_none() {
    let filter = RecordFilter { collected_after: None, ..RecordFilter::default() };
    let outcome = Outcome::Listed { views: Vec::new(), next_page_token: "t".to_owned(), filter };
    let response = SecurePrivacy.encode(route::LIST, &outcome);
    let token = &response.headers[0].1;
    let next = query(Call::to(route::LIST).query("PageToken", token).decode());
    assert_eq!(next.filter.collected_after, None);
}

#[test]
fn the_subscription_filters_only_on_what_is_given() {
    let call = Call::to(route::SUBSCRIBE).json(&json!({ "webhookurl": "https://crm.example/hook" }));
    match call.decode() {
        Ok(Decoded { account: None, operation: Operation::Subscribe { filter, url } }) => {
            assert_eq!(filter, consent_core::FeedFilter::default());
            assert_eq!(url, "https://crm.example/hook");
        }
        other => panic!("expected a subscription, got {other:?}"),
    }
}

#[test]
fn core_field_paths_are_reported_as_vendor_fields() {
    for (core, vendor) in [
        ("identities[0].value", "CustomUserId"),
        ("identities[0].namespace", "CustomUserId"),
        ("identity.value", "CustomUserId"),
        ("decisions[0].purpose", "ConsentType"),
        ("purpose", "ConsentType"),
        ("purposes[0]", "ConsentType"),
        ("decisions[0].target", "Reference"),
        ("target", "Reference"),
        ("targets[0]", "Reference"),
        ("evidence.uri", "URI"),
        ("evidence.metadata_json", "Metadata"),
        ("evidence.user_agent", "User-Agent"),
        ("subject", "ClientId"),
        ("page_token", "PageToken"),
        ("page_size", "PageSize"),
        ("collected_after", "FromDate"),
        ("collected_before", "ToDate"),
        ("ip", "IP"),
        ("user_agent", "UserAgent"),
        ("city", "City"),
        ("region", "State"),
        ("country", "Country"),
        ("ConsentGiven", "ConsentGiven"),
        ("body", "body"),
    ] {
        let failure = Failure::from(&ConsentError::invalid(core, "is not a token this service issued"));
        let response = SecurePrivacy.encode_failure(&failure);
        assert_eq!(response.status, 400, "{core}");
        assert_eq!(
            body(&response)["errors"],
            json!({ vendor: ["is not a token this service issued"] }),
            "{core}"
        );
    }
}

#[test]
fn the_same_custom_user_id_gives_the_same_identity() {
    // consent-core derives the ClientId from the first identity: the
    // adapter's part is to name the person the same way every time.
    let once = Call::to(route::RECORD).body(&fixture("record-request.json")).decode().expect("decodes");
    let mut later =
        Call::to(route::INTEGRATION_RECORD).path("id", "hubspot").body(&fixture("integration-request.json"));
    later.fresh_id = Uuid::from_u128(99);
    let again = later.decode().expect("decodes");
    assert_eq!(once.records()[0].identities, again.records()[0].identities);
    let id = consent_core::subject::subject_id_for(
        &consent_core::TenantId::default_tenant(),
        &once.records()[0].identities[0],
    );
    assert_eq!(id, client_id());
}

#[test]
fn status_maps_to_consent_given() {
    for (status, given) in [
        (ConsentStatus::Granted, "All"),
        (ConsentStatus::Limited, "Partial"),
        (ConsentStatus::Denied, "None"),
        (ConsentStatus::Expired, "None"),
        (ConsentStatus::Unknown, "None"),
    ] {
        let view = ConsentView { status, ..documented_view() };
        let check = SecurePrivacy.encode(route::CHECK, &Outcome::Latest(Some(view.clone())));
        assert_eq!(body(&check), &json!({ "ConsentGiven": given }), "{status:?}");
        let get = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view)));
        assert_eq!(body(&get)["ConsentGiven"], given, "{status:?}");
    }
}

#[test]
fn the_list_shows_the_decision_its_filter_selects_on() {
    for (decision, flag) in [(Decision::Granted, true), (Decision::Limited, true), (Decision::Denied, false)]
    {
        let mut view = ConsentView { status: ConsentStatus::Expired, ..documented_view() };
        view.record.decision = decision;
        let listed = Outcome::Listed {
            views: vec![view],
            next_page_token: String::new(),
            filter: RecordFilter::default(),
        };
        let list = SecurePrivacy.encode(route::LIST, &listed);
        assert_eq!(body(&list)[0]["ConsentGiven"], flag, "{decision:?}");
    }
}

#[test]
fn a_record_without_custom_user_id_answers_an_empty_one() {
    let mut record = documented_record();
    record.identities = vec![Identity::new("anonymous_id", fresh_id().to_string())];
    let response = SecurePrivacy.encode(route::INTEGRATION_RECORD, &Outcome::Written(vec![record]));
    assert_eq!(body(&response)["CustomUserId"], "");
}

#[test]
fn times_are_rfc3339_utc_with_microseconds() {
    let mut view = documented_view();
    view.record.collected_at = Timestamp::from_micros(1_764_585_961_123_456);
    let response = SecurePrivacy.encode(route::GET, &Outcome::Latest(Some(view)));
    assert_eq!(body(&response)["LastUpdated"], "2025-12-01T10:46:01.123456Z");
    assert_eq!(body(&response)["Created"], "2026-11-02T09:15:30.000000Z");
}
