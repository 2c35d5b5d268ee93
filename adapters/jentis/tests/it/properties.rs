//! Property tests: no input makes the decoder panic, and every record JENTIS
//! can express survives `encode_event` → `decode` unchanged.

use consent_adapter::{Failure, RequestEvidence, VendorAdapter};
use consent_adapter_jentis::Jentis;
use consent_adapter_jentis::model::ConsentSubmission;
use consent_core::{
    ConsentRecord, Decision, EventKind, Evidence, Identity, PurposeDecision, TenantId, Timestamp,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::{Builder, Uuid};

use crate::support::{decode, decode_with, example, set, suite};

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    nested(prop_oneof![
        any::<f64>().prop_map(|n| json!(n)),
        Just(json!("ncm")),
        Just(json!("d40cfeb0-9526-43d7-96d3-02d5ae65df67")),
        scalar(),
    ])
}

/// JSON whose numbers survive a parse and print: serde_json's default float
/// parser can be one unit in the last place off for extreme exponents, so a
/// float in `data.consent.data` may come back with a different last digit.
fn exact_json_value() -> impl Strategy<Value = Value> {
    nested(prop_oneof![any::<i32>().prop_map(|n| json!(f64::from(n) / 4.0)), scalar()])
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn nested(leaf: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z-]{0,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every dotted path of the documented example.
fn example_paths() -> Vec<String> {
    fn walk(value: &Value, prefix: &str, out: &mut Vec<String>) {
        for (key, child) in value.as_object().into_iter().flatten() {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            out.push(path.clone());
            walk(child, &path, out);
        }
    }
    let mut paths = Vec::new();
    walk(&example(), "", &mut paths);
    paths
}

/// Either a success or a bad request: nothing else comes from decoding.
fn assert_decoded_or_bad(result: &Result<consent_adapter::Decoded, Failure>) {
    match result {
        Ok(decoded) => {
            assert_eq!(decoded.records().len(), 1);
            // What the adapter accepts, the service accepts (short of a
            // collection time in the future, which depends on the clock).
            let mut cmd = decoded.records()[0].clone();
            let late = Timestamp::from_micros(i64::MAX / 2);
            assert_eq!(consent_core::validate::record(&mut cmd, late), Ok(()), "{cmd:?}");
        }
        Err(Failure::BadRequest { field, message }) => {
            assert!(!field.is_empty() && !message.is_empty());
        }
        Err(other) => panic!("decoding failed with {other:?}"),
    }
}

/// A record of the shape JENTIS can express: a JENTIS user, one vendor
/// (target), a UUIDv4 consent id, millisecond precision, no expiry.
fn expressible_record() -> impl Strategy<Value = ConsentRecord> {
    let who = (
        "[a-z][a-z0-9-]{0,15}",                              // tenant
        prop_oneof!["[0-9]{1,23}", "[A-Za-z0-9_.:-]{1,64}"], // JENTIS user id
        any::<u128>(),                                       // subject id
        any::<u128>(),                                       // record id
        any::<u128>(),                                       // consent id randomness
        any::<bool>(),                                       // upper-case consent id
    );
    let what = (
        "[a-z0-9_]{0,20}", // purpose: JENTIS does not carry it
        "[A-Za-z0-9_.-]{1,64}",
        prop_oneof![Just(Decision::Granted), Just(Decision::Denied), Just(Decision::Limited)],
        0_i64..=4_102_444_800_000,     // collected, ms
        0_i64..=4_102_444_800_000_000, // recorded, µs
        "[a-z][a-z-]{0,20}",           // source
        prop_oneof![Just(EventKind::Recorded), Just(EventKind::Updated)],
    );
    let evidence = (
        "[ -~]{0,120}", // user agent: printable ASCII
        prop_oneof![Just(String::new()), "https://[a-z]{1,12}\\.example/[a-z0-9/?=&]{0,30}"],
        prop::collection::btree_map("[a-zA-Z_]{1,10}", exact_json_value(), 0..4),
        "[0-9.]{0,15}", // IP: not carried
    );
    (who, what, evidence).prop_map(
        |(
            (tenant, user_id, subject, id, consent, upper),
            (purpose, target, decision, collected_ms, recorded, source, kind),
            (user_agent, uri, metadata, ip),
        )| {
            let consent_id =
                Builder::from_random_bytes(consent.to_be_bytes()).into_uuid().hyphenated().to_string();
            let metadata_json = if metadata.is_empty() {
                String::new()
            } else {
                Value::Object(metadata.into_iter().collect()).to_string()
            };
            ConsentRecord {
                id: Uuid::from_u128(id),
                tenant: TenantId::new(tenant),
                subject_id: Uuid::from_u128(subject),
                identities: vec![
                    Identity::new("jentis_user_id", user_id),
                    Identity::new("email", "a@example.com"),
                ],
                purpose,
                target,
                decision,
                collected_at: Timestamp::from_micros(collected_ms * 1_000),
                expires_at: None,
                recorded_at: Timestamp::from_micros(recorded),
                source,
                evidence: Evidence {
                    user_agent,
                    ip,
                    uri,
                    metadata_json,
                    consent_id: if upper { consent_id.to_uppercase() } else { consent_id },
                    vendor: "intempt".to_owned(),
                    payload_digest: "abc".to_owned(),
                    ..Evidence::default()
                },
                revision: 7,
                kind,
                implied_by: None,
                gpc_conflict: false,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_decoded_or_bad(&decode(&body));
    }

    #[test]
    fn arbitrary_json_never_panics(doc in json_value()) {
        assert_decoded_or_bad(&decode(doc.to_string().as_bytes()));
    }

    #[test]
    fn any_field_of_the_example_replaced_by_any_json_never_panics(
        index in any::<prop::sample::Index>(),
        value in json_value(),
    ) {
        let paths = example_paths();
        let path = &paths[index.index(paths.len())];
        let mut doc = example();
        set(&mut doc, path, Some(value));
        assert_decoded_or_bad(&decode(doc.to_string().as_bytes()));
    }

    #[test]
    fn encode_event_then_decode_reproduces_what_jentis_carries(record in expressible_record()) {
        let event = Jentis.encode_event(&record);
        // The event is a well-formed ConsentSubmission.
        let parsed: ConsentSubmission = serde_json::from_value(event.clone()).expect("a ConsentSubmission");
        prop_assert_eq!(parsed.system.timestamp, record.recorded_at.as_micros().div_euclid(1_000));

        let decoded = decode_with(event.to_string().as_bytes(), &RequestEvidence::default())
            .expect("an encoded event decodes");
        let account = format!("{}/live", record.tenant.as_str());
        prop_assert_eq!(decoded.account.as_deref(), Some(account.as_str()));
        prop_assert_eq!(decoded.records().len(), 1);
        assert_decoded_or_bad(&Ok(decoded.clone()));
        let cmd = decoded.records()[0].clone();
        prop_assert_eq!(&cmd.identities, &vec![record.identities[0].clone()]);
        prop_assert_eq!(
            &cmd.decisions,
            &vec![PurposeDecision::stated(String::new(), record.target.clone(), record.decision)]
        );
        prop_assert_eq!(cmd.collected_at, Some(record.collected_at));
        prop_assert_eq!(cmd.expires_at, None);
        prop_assert_eq!(&cmd.source, &record.source);
        prop_assert_eq!(&cmd.idempotency_key, "");
        let expected = Evidence {
            user_agent: record.evidence.user_agent.clone(),
            uri: record.evidence.uri.clone(),
            metadata_json: record.evidence.metadata_json.clone(),
            consent_id: record.evidence.consent_id,
            vendor: "jentis".to_owned(),
            ..Evidence::default()
        };
        prop_assert_eq!(&cmd.evidence, &expected);
    }

    #[test]
    fn records_jentis_cannot_name_still_encode_to_a_valid_submission(
        record in expressible_record(),
        foreign_consent_id in "[a-z0-9-]{0,40}",
    ) {
        let mut record = record;
        record.identities = vec![Identity::new("email", "someone@example.com")];
        record.evidence.consent_id = foreign_consent_id;
        record.source = String::new();
        let event = Jentis.encode_event(&record);
        prop_assert_eq!(&event, &Jentis.encode_event(&record), "deterministic");
        let decoded = decode_with(event.to_string().as_bytes(), &RequestEvidence::default())
            .expect("an encoded event decodes");
        let cmd = decoded.records()[0].clone();
        // The subject id stands in for the JENTIS user id; never the e-mail.
        prop_assert_eq!(&cmd.identities, &vec![Identity::new("jentis_user_id", record.subject_id.to_string())]);
        prop_assert_eq!(Uuid::parse_str(&cmd.evidence.consent_id).ok().map(|id| id.get_version_num()), Some(4));
        prop_assert_eq!(&cmd.source, "http-api");
    }
}

#[test]
fn conformance_properties() {
    suite().properties();
}
