//! Property tests: no input makes any route panic, what the adapter accepts
//! the service accepts, and every record survives `encode_event` → `decode`.

use consent_adapter::{Decoded, Failure, Operation, RequestEvidence, VendorAdapter};
use consent_adapter_secureprivacy::{SecurePrivacy, route};
use consent_core::feed::{FeedStart, Subscribe};
use consent_core::{
    ConsentRecord, Decision, EventKind, Evidence, Identity, RecordConsent, TenantId, Timestamp,
    UpdateConsent, validate,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::support::{CLIENT_ID, Call, fixture_json, fresh_id, suite, wrapped};

/// Every field name any route reads.
const FIELDS: &[&str] = &[
    "ConsentGiven",
    "CustomUserId",
    "ClientId",
    "URI",
    "Metadata",
    "Reference",
    "ConsentType",
    "IntegrationId",
    "WebhookUrl",
    "FromDate",
    "ToDate",
    "IP",
    "UserAgent",
    "City",
    "State",
    "Country",
    "PageSize",
    "PageToken",
];

/// A call to `route` with the path parameters its template has.
fn call(route: usize) -> Call {
    match route {
        route::GET => Call::to(route).path("ClientId", CLIENT_ID),
        route::INTEGRATION_RECORD => Call::to(route).path("id", "hubspot"),
        route::INTEGRATION_GET => Call::to(route).path("id", CLIENT_ID),
        _ => Call::to(route),
    }
}

/// Either an operation the service accepts, or a bad request naming a field.
fn assert_accepted_or_bad(result: Result<Decoded, Failure>) {
    match result {
        Ok(Decoded { operation, .. }) => match operation {
            Operation::Record(records) => {
                assert_eq!(records.len(), 1);
                for mut cmd in records {
                    assert_eq!(validate::record(&mut cmd, Timestamp::now()), Ok(()), "{cmd:?}");
                }
            }
            Operation::UpdateLatest(update) => {
                let mut cmd = UpdateConsent {
                    subject: update.subject,
                    purpose: String::new(),
                    target: update.target,
                    decision: update.decision,
                    collected_at: None,
                    expires_at: None,
                    source: String::new(),
                    evidence: update.evidence,
                    expected_revision: None,
                    idempotency_key: String::new(),
                };
                assert_eq!(validate::update(&mut cmd, Timestamp::now()), Ok(()), "{cmd:?}");
            }
            Operation::Latest { mut subject, target, .. } => {
                assert_eq!(validate::latest(&mut subject, &target), Ok(()));
            }
            Operation::List(mut query) | Operation::ListAll(mut query) => {
                assert!(query.page_size >= 0);
                assert_eq!(validate::filter(&mut query.filter), Ok(()), "{query:?}");
            }
            Operation::Subscribe { filter, url } => {
                assert!(url.to_ascii_lowercase().starts_with("http"));
                let mut cmd = Subscribe { filter, start: FeedStart::Now };
                assert_eq!(validate::subscribe(&mut cmd), Ok(()));
            }
            other @ (Operation::BatchCheck(_) | Operation::ConsentMode { .. }) => {
                panic!("Secure Privacy's routes decoded consentd's own operation {other:?}")
            }
        },
        Err(Failure::BadRequest { field, message }) => {
            assert!(!field.is_empty() && !message.is_empty());
        }
        Err(other) => panic!("decoding failed with {other:?}"),
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
        Just(json!("All")),
        Just(json!("partial")),
        Just(json!("true")),
        Just(json!(CLIENT_ID)),
        Just(json!("2026-11-30")),
        Just(json!("https://crm.example/hook")),
    ]
}

/// Text: short ASCII, any characters at all, or lengths at and just past
/// the limits.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,16}",
        prop::sample::select(vec![128_usize, 129, 200, 201, 256, 257, 2048, 2049])
            .prop_map(|n| "é".repeat(n)),
        prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        prop::collection::vec(any::<char>(), 190..260).prop_map(String::from_iter),
    ]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,12}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A field name in a random casing.
fn field_name() -> impl Strategy<Value = String> {
    (prop::sample::select(FIELDS), any::<u32>()).prop_map(|(name, mask)| {
        name.chars()
            .enumerate()
            .map(
                |(i, c)| {
                    if mask >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }
                },
            )
            .collect()
    })
}

/// A JSON object of the routes' own fields with arbitrary values.
fn field_soup() -> impl Strategy<Value = Value> {
    prop::collection::vec((field_name(), prop_oneof![scalar(), json_value()]), 0..10)
        .prop_map(|members| Value::Object(members.into_iter().collect::<Map<String, Value>>()))
}

/// Query parameters of the routes' own fields with arbitrary text.
fn query_soup() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            field_name(),
            prop_oneof![
                text(),
                Just("true".to_owned()),
                Just("-5".to_owned()),
                Just("2026-11-30T12:00:00".to_owned()),
                Just(CLIENT_ID.to_owned()),
            ],
        ),
        0..10,
    )
}

/// A valid request to `route`, from the documented examples.
fn documented(route: usize) -> Call {
    let body = |name: &str| fixture_json(name);
    match route {
        route::RECORD => Call::to(route).json(&body("record-request.json")),
        route::UPDATE => Call::to(route).json(&body("update-request.json")),
        route::CHECK => Call::to(route).query_from(&body("check-request.json")),
        route::GET => Call::to(route).path("ClientId", CLIENT_ID).query("Reference", "test-drive-booking"),
        route::LIST => Call::to(route).json(&body("list-request.json")),
        route::SUBSCRIBE => Call::to(route).json(&body("subscribe-request.json")),
        route::INTEGRATION_RECORD => {
            Call::to(route).path("id", "hubspot").json(&body("integration-request.json"))
        }
        _ => Call::to(route).path("id", CLIENT_ID).query("IntegrationId", "hubspot"),
    }
}

/// `call` with the field `name` (in whatever casing) set to `value`, in
/// the query or the body: whichever the request already uses for it, so
/// that the new value is the one read.
fn replaced(mut call: Call, name: &str, value: &Value, in_query: bool) -> Call {
    call.query.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
    if in_query {
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        call.query.push((name.to_owned(), text));
        return call;
    }
    let mut doc: Value = serde_json::from_slice(&call.body).unwrap_or_else(|_| json!({}));
    if let Some(object) = doc.as_object_mut() {
        object.retain(|key, _| !key.eq_ignore_ascii_case(name));
        object.insert(name.to_owned(), value.clone());
    }
    call.json(&doc)
}

/// A record of the shape a Secure Privacy record request can produce:
/// any decision, purpose, target and URI within consentd's limits, a
/// `CustomUserId` or none, `Metadata` of at most 200 characters (wrapped
/// by this adapter, or a short JSON object another transport wrote).
fn expressible_record() -> impl Strategy<Value = ConsentRecord> {
    let no_control = |max: usize| {
        prop::collection::vec(any::<char>().prop_filter("not a control", |c| !c.is_control()), 0..=max)
            .prop_map(String::from_iter)
    };
    let metadata = prop_oneof![
        Just(String::new()),
        prop::collection::vec(any::<char>(), 1..=200).prop_map(|chars| wrapped(&String::from_iter(chars))),
        "[a-z]{1,20}".prop_map(|key| json!({ key: [1, 2] }).to_string()),
    ];
    (
        prop_oneof![Just(Decision::Granted), Just(Decision::Denied), Just(Decision::Limited)],
        no_control(128),
        no_control(256),
        prop::option::of(no_control(256).prop_filter("non-empty", |s| !s.is_empty())),
        no_control(300),
        metadata,
        any::<u128>(),
        prop_oneof![Just(EventKind::Recorded), Just(EventKind::Updated)],
    )
        .prop_map(|(decision, purpose, target, custom, uri, metadata_json, id, kind)| {
            let identities = match custom {
                Some(value) => {
                    vec![Identity::new("email", "other@example.com"), Identity::new("custom_user_id", value)]
                }
                None => vec![Identity::new("anonymous_id", Uuid::from_u128(id).to_string())],
            };
            ConsentRecord {
                id: Uuid::from_u128(id),
                tenant: TenantId::default_tenant(),
                subject_id: Uuid::from_u128(id ^ 1),
                identities,
                purpose,
                target,
                decision,
                collected_at: Timestamp::from_micros(1_764_585_961_123_456),
                expires_at: None,
                recorded_at: Timestamp::from_micros(1_764_585_961_123_456),
                source: "api".to_owned(),
                evidence: Evidence { uri, metadata_json, ..Evidence::default() },
                revision: 7,
                kind,
                implied_by: None,
                gpc_conflict: false,
            }
        })
}

/// The record the store would write for `cmd` (ids and times from `like`).
fn stored(cmd: &RecordConsent, like: &ConsentRecord) -> ConsentRecord {
    let decision = &cmd.decisions[0];
    ConsentRecord {
        identities: cmd.identities.clone(),
        purpose: decision.purpose.clone(),
        target: decision.target.clone(),
        decision: decision.decision,
        evidence: cmd.evidence.clone(),
        ..like.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(route in 0_usize..8, body in prop::collection::vec(any::<u8>(), 0..256)) {
        assert_accepted_or_bad(call(route).body(&body).decode());
    }

    #[test]
    fn arbitrary_json_never_panics(route in 0_usize..8, doc in json_value()) {
        assert_accepted_or_bad(call(route).json(&doc).decode());
    }

    #[test]
    fn arbitrary_values_of_the_routes_fields_never_panic(
        route in 0_usize..8,
        doc in field_soup(),
        query in query_soup(),
        path in text(),
    ) {
        let mut with_query = call(route).json(&doc);
        with_query.query = query;
        assert_accepted_or_bad(with_query.decode());
        // The path parameter too, where there is one.
        let mut any_path = call(route).json(&doc);
        for (_, value) in &mut any_path.path {
            value.clone_from(&path);
        }
        assert_accepted_or_bad(any_path.decode());
    }

    #[test]
    fn any_field_of_a_documented_request_set_to_anything_is_accepted_or_named(
        route in 0_usize..8,
        name in field_name(),
        value in prop_oneof![scalar(), json_value()],
        in_query in any::<bool>(),
    ) {
        // Only the GET routes read the query.
        let in_query = in_query && matches!(route, route::CHECK | route::GET | route::LIST | route::INTEGRATION_GET);
        assert_accepted_or_bad(replaced(documented(route), &name, &value, in_query).decode());
    }

    #[test]
    fn encoding_never_panics(route in 0_usize..12, record in expressible_record(), token in "[ -~]{0,8}") {
        let view = consent_core::ConsentView {
            record: record.clone(),
            first_collected_at: record.collected_at,
            status: consent_core::ConsentStatus::Expired,
        };
        for outcome in [
            consent_adapter::Outcome::Written(vec![record]),
            consent_adapter::Outcome::Written(Vec::new()),
            consent_adapter::Outcome::Latest(Some(view.clone())),
            consent_adapter::Outcome::Latest(None),
            consent_adapter::Outcome::Listed { views: vec![view], next_page_token: token.clone(), filter: Default::default() },
            consent_adapter::Outcome::Subscribed { id: token.clone(), secret: token },
        ] {
            let response = SecurePrivacy.encode(route, &outcome);
            prop_assert!([200, 404, 500].contains(&response.status));
        }
    }

    #[test]
    fn encode_event_then_decode_gives_the_record_back(record in expressible_record()) {
        let event = SecurePrivacy.encode_event(&record);
        let decoded = Call::to(route::RECORD)
            .json(&event)
            .evidence(RequestEvidence::default())
            .decode()
            .expect("an encoded event decodes");
        prop_assert_eq!(decoded.account.as_deref(), None);
        let [cmd] = decoded.records() else { panic!("one record") };
        let mut checked = cmd.clone();
        prop_assert_eq!(validate::record(&mut checked, Timestamp::now()), Ok(()));

        let decision = &cmd.decisions[0];
        prop_assert_eq!(decision.decision, record.decision);
        prop_assert_eq!(&decision.purpose, &record.purpose);
        prop_assert_eq!(&decision.target, &record.target);
        let custom = record.identities.iter().find(|identity| identity.namespace == "custom_user_id");
        let expected_identity = custom
            .cloned()
            .unwrap_or_else(|| Identity::new("anonymous_id", fresh_id().to_string()));
        prop_assert_eq!(&cmd.identities, &vec![expected_identity]);
        prop_assert_eq!(&cmd.evidence.uri, &record.evidence.uri);
        prop_assert_eq!(&cmd.source, "api");
        // The Metadata text survives; a foreign metadata JSON comes back wrapped.
        if record.evidence.metadata_json.is_empty() || record.evidence.metadata_json.starts_with("{\"Metadata\":") {
            prop_assert_eq!(&cmd.evidence.metadata_json, &record.evidence.metadata_json);
        }
        let again = SecurePrivacy.encode_event(&stored(cmd, &record));
        if custom.is_some() {
            prop_assert_eq!(&again, &event);
        }
        prop_assert_eq!(&again["Metadata"], &event["Metadata"]);
    }
}

#[test]
fn conformance_properties() {
    suite().properties();
}
