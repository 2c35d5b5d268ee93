//! Properties of the decoder: it never panics, whatever arrives; what it
//! accepts is valid for consentd; and a record survives the trip through
//! Adobe's format.

use std::collections::HashSet;

use consent_adapter::{Failure, VendorAdapter};
use consent_adapter_adobe::Adobe;
use consent_core::{Decision, Evidence, Identity, Timestamp, validate};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{Call, bad_field, decode_json, expected_evidence, person, record, suite};

/// Any JSON, biased towards the names Adobe's body uses.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("optOutOfSale".to_owned()),
        Just("entities".to_owned()),
        Just("nameSpace".to_owned()),
        Just("namespace".to_owned()),
        Just("values".to_owned()),
        ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[A-Za-z][A-Za-z0-9_.-]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A namespace as Adobe clients spell them: mixed case, valid once lower-cased.
fn namespace() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_.-]{0,63}"
}

/// An identity value consentd accepts for `namespace` as it stands.
fn value_for(namespace: &str) -> impl Strategy<Value = String> + use<> {
    let email = namespace.eq_ignore_ascii_case("email");
    "[^\\p{Cc}]{1,256}".prop_filter("a value consentd keeps", move |value| {
        !value.trim().is_empty() && (!email || value.trim().to_lowercase().chars().count() <= 256)
    })
}

fn entity() -> impl Strategy<Value = (String, Vec<String>)> {
    namespace().prop_flat_map(|ns| {
        let values = prop::collection::vec(value_for(&ns), 1..5);
        (Just(ns), values)
    })
}

/// Every accepted request yields commands consentd's own validation accepts.
fn assert_valid_for_consentd(result: &Result<consent_adapter::Decoded, Failure>) {
    if let Ok(decoded) = result {
        assert!(!decoded.records().is_empty());
        for command in decoded.records() {
            assert_eq!(command.identities.len(), 1);
            assert_eq!(command.decisions.len(), 1);
            let mut command = command.clone();
            validate::record(&mut command, Timestamp::now()).expect("valid for consentd");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let result = Call::adobe(body).decode();
        assert_valid_for_consentd(&result);
    }

    #[test]
    fn arbitrary_json_never_panics(body in any_json()) {
        let result = decode_json(&body);
        assert_valid_for_consentd(&result);
    }

    #[test]
    fn arbitrary_entities_never_panic(opt_out in any_json(), entities in prop::collection::vec(any_json(), 0..4)) {
        let result = decode_json(&json!({ "optOutOfSale": opt_out, "entities": entities }));
        assert_valid_for_consentd(&result);
    }

    #[test]
    fn every_value_of_every_entity_is_one_person(
        opt_out in any::<bool>(),
        entities in prop::collection::vec(entity(), 1..5),
    ) {
        let body = json!({
            "optOutOfSale": opt_out,
            "entities": entities.iter()
                .map(|(ns, values)| json!({ "nameSpace": ns, "values": values }))
                .collect::<Vec<_>>(),
        });
        let decision = if opt_out { Decision::Denied } else { Decision::Granted };
        let mut seen = HashSet::new();
        let mut expected = Vec::new();
        for (ns, values) in &entities {
            let ns = ns.to_ascii_lowercase();
            for value in values {
                let key = if ns == "email" { value.trim().to_lowercase() } else { value.clone() };
                if seen.insert((ns.clone(), key)) {
                    expected.push(person(&ns, value, decision, expected_evidence()));
                }
            }
        }
        let result = decode_json(&body);
        assert_valid_for_consentd(&result);
        prop_assert_eq!(result.expect("decodes").records().to_vec(), expected);
    }

    #[test]
    fn one_bad_value_anywhere_fails_the_whole_request(
        entities in prop::collection::vec(entity(), 1..5),
        pick in any::<prop::sample::Index>(),
        bad in prop_oneof![Just(json!("")), Just(json!(" ")), Just(json!(1)), Just(Value::Null), Just(json!(["x"]))],
    ) {
        let mut body = json!({
            "optOutOfSale": true,
            "entities": entities.iter()
                .map(|(ns, values)| json!({ "nameSpace": ns, "values": values }))
                .collect::<Vec<_>>(),
        });
        let slots: Vec<(usize, usize)> = entities.iter().enumerate()
            .flat_map(|(i, (_, values))| (0..values.len()).map(move |j| (i, j)))
            .collect();
        let (i, j) = slots[pick.index(slots.len())];
        body["entities"][i]["values"][j] = bad;
        prop_assert_eq!(bad_field(decode_json(&body)), format!("entities[{i}].values[{j}]"));
    }

    #[test]
    fn a_record_survives_the_trip_through_adobes_format(
        (ns, value) in "[a-z][a-z0-9_.-]{0,63}".prop_flat_map(|ns| (Just(ns.clone()), value_for(&ns))),
        denied in any::<bool>(),
        extra in prop::collection::vec(("[a-z]{1,8}", "[a-z0-9]{1,8}"), 0..3),
        micros in 0_i64..4_000_000_000_000_000,
        user_agent in ".{0,32}",
    ) {
        let decision = if denied { Decision::Denied } else { Decision::Granted };
        let mut identities = vec![Identity::new(ns.clone(), value.clone())];
        identities.extend(extra.into_iter().map(|(n, v)| Identity::new(n, v)));
        let mut original = record(identities, decision);
        original.collected_at = Timestamp::from_micros(micros);
        original.evidence = Evidence { user_agent, vendor: "adobe".into(), ..Evidence::default() };

        let body = serde_json::to_vec(&Adobe.encode_event(&original)).expect("json");
        let decoded = Call::adobe(body).decode().expect("decodes");
        // Adobe's format carries the first identity and the decision; the
        // purpose, target and source are what every Adobe request means.
        prop_assert_eq!(decoded.records(), vec![person(&ns, &value, decision, expected_evidence())]);
        prop_assert_eq!(&original.purpose, "sale_sharing");
        prop_assert_eq!(&original.target, "");
        prop_assert_eq!(&original.source, "api");
    }
}

#[test]
fn conformance_properties() {
    suite().properties();
}
