//! Property tests: the decoder never panics, and what `encode_event` writes
//! decodes back to the record for everything Intempt's format carries.

use consent_adapter::{Decoded, Failure, VendorAdapter};
use consent_adapter_intempt::Intempt;
use consent_core::{
    ConsentRecord, Decision, EventKind, Evidence, Identity, PurposeDecision, TenantId, Timestamp,
};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use crate::support::{ACCOUNT, END_OF_TIME, decode, decode_received, single, suite};

const KNOWN: [&str; 9] =
    ["action", "timestamp", "validUntil", "source", "category", "userId", "email", "profileId", "message"];

/// 10^11 ms: smaller epoch values are read as seconds.
const MIN_MS: i64 = 100_000_000_000;
/// 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(KNOWN.to_vec()).prop_map(str::to_owned),
        Just("sourceId".to_owned()),
        "[a-zA-Z_]{1,8}",
        ".{0,6}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        Just(Value::from("accept")),
        Just(Value::from("reject")),
        Just(Value::from("unlimited")),
        "-?[0-9]{0,20}(\\.[0-9]{0,8})?".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..10)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body with every field Intempt knows, each either valid, absent or
/// arbitrary, so the checks past the first field are reached too.
fn near_valid_body() -> impl Strategy<Value = Value> {
    let valid = [
        Value::from("accept"),
        Value::from(1_769_518_152_000_i64),
        Value::from("unlimited"),
        Value::from("web"),
        Value::from("analytics"),
        Value::from("u-1"),
        Value::from("u@example.com"),
        Value::from("p-1"),
        Value::from("hello"),
    ];
    let fields: Vec<_> = valid
        .into_iter()
        .map(|value| prop_oneof![3 => Just(Some(value)), 1 => Just(None), 1 => leaf().prop_map(Some)])
        .collect();
    (fields, prop::collection::btree_map("[a-zA-Z]{1,8}", json(), 0..3)).prop_map(|(values, extra)| {
        let mut object: Map<String, Value> = extra.into_iter().collect();
        for (name, value) in KNOWN.iter().zip(values) {
            if let Some(value) = value {
                object.insert((*name).to_owned(), value);
            }
        }
        Value::Object(object)
    })
}

/// A successful decode is always one record with one decision and at least
/// one identity; a failure is always a bad request.
fn check_shape(result: Result<Decoded, Failure>) -> Result<(), TestCaseError> {
    match result {
        Ok(decoded) => {
            prop_assert_eq!(decoded.account.as_deref(), Some(ACCOUNT));
            prop_assert_eq!(decoded.records().len(), 1);
            let record = &decoded.records()[0];
            prop_assert_eq!(record.decisions.len(), 1);
            prop_assert!(!record.identities.is_empty());
            prop_assert!(record.collected_at.is_some());
            prop_assert_eq!(record.evidence.vendor.as_str(), "intempt");
        }
        Err(failure) => {
            prop_assert!(matches!(failure, Failure::BadRequest { .. }), "{:?}", failure);
            prop_assert_eq!(Intempt.encode_failure(&failure).status, 400);
        }
    }
    Ok(())
}

fn extra_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,10}".prop_filter("not a known field", |key| !KNOWN.contains(&key.as_str()))
}

/// Metadata as the decoder writes it: a JSON object of extra fields, or
/// nothing. No floats: serde_json's default float parsing is not guaranteed
/// to round-trip every `f64`, which is about serde_json, not this adapter.
fn metadata() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
    .prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    });
    prop_oneof![
        Just(String::new()),
        prop::collection::btree_map(extra_key(), value, 1..5)
            .prop_map(|map| Value::Object(map.into_iter().collect()).to_string()),
    ]
}

fn optional_text(pattern: &'static str) -> impl Strategy<Value = Option<String>> {
    prop::option::of(pattern)
}

/// A record of the shape Intempt can express: `user_id`, `email` and
/// `profile_id` identities (at least one, in that order), any purpose, no
/// target, granted or denied, times in whole milliseconds from 10^11 ms on.
fn expressible_record() -> impl Strategy<Value = ConsentRecord> {
    let identities = (optional_text("\\PC{1,24}"), optional_text("\\PC{1,24}"), optional_text("\\PC{1,24}"))
        .prop_filter_map("at least one identity", |(user_id, email, profile_id)| {
            let identities: Vec<_> = [("user_id", user_id), ("email", email), ("profile_id", profile_id)]
                .into_iter()
                .filter_map(|(namespace, value)| value.map(|value| Identity::new(namespace, value)))
                .collect();
            (!identities.is_empty()).then_some(identities)
        });
    (
        identities,
        prop_oneof![Just(String::new()), "\\PC{1,32}"],
        prop_oneof![Just(Decision::Granted), Just(Decision::Denied)],
        MIN_MS..=MAX_MS,
        prop::option::of(MIN_MS..=MAX_MS),
        "\\PC{0,6}[a-z]\\PC{0,6}",
        prop_oneof![Just(String::new()), "\\PC{1,40}"],
        metadata(),
    )
        .prop_map(
            |(identities, purpose, decision, collected, expires, source, message, metadata_json)| {
                ConsentRecord {
                    id: Default::default(),
                    tenant: TenantId::new("acme"),
                    subject_id: Default::default(),
                    identities,
                    purpose,
                    target: String::new(),
                    decision,
                    collected_at: Timestamp::from_micros(collected * 1_000),
                    expires_at: expires.map(|ms| Timestamp::from_micros(ms * 1_000)),
                    recorded_at: Timestamp::from_micros(collected * 1_000),
                    source,
                    evidence: Evidence {
                        message,
                        metadata_json,
                        vendor: "intempt".into(),
                        ..Evidence::default()
                    },
                    revision: 1,
                    kind: EventKind::Recorded,
                    implied_by: None,
                    gpc_conflict: false,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_shape(decode(&bytes))?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in json()) {
        check_shape(decode(&serde_json::to_vec(&value).unwrap()))?;
    }

    #[test]
    fn near_valid_bodies_never_panic(value in near_valid_body()) {
        check_shape(decode(&serde_json::to_vec(&value).unwrap()))?;
    }

    #[test]
    fn encode_event_round_trips(record in expressible_record()) {
        let body = Intempt.encode_event(&record);
        let decoded = single(decode_received(&serde_json::to_vec(&body).unwrap(), END_OF_TIME).unwrap());
        prop_assert_eq!(&decoded.identities, &record.identities);
        prop_assert_eq!(
            &decoded.decisions,
            &vec![PurposeDecision::stated(record.purpose.clone(), String::new(), record.decision)]
        );
        prop_assert_eq!(decoded.collected_at, Some(record.collected_at));
        prop_assert_eq!(decoded.expires_at, record.expires_at);
        prop_assert_eq!(&decoded.source, &record.source);
        prop_assert_eq!(&decoded.evidence.message, &record.evidence.message);
        prop_assert_eq!(&decoded.evidence.metadata_json, &record.evidence.metadata_json);
        prop_assert_eq!(decoded.evidence.vendor.as_str(), "intempt");
        prop_assert_eq!(decoded.idempotency_key.as_str(), "");
    }
}

#[test]
fn conformance_properties() {
    suite().properties();
}
