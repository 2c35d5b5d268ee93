//! The mapping rules beyond the documented examples.

use consent_adapter::{Decoded, RequestEvidence, VendorAdapter};
use consent_adapter_intempt::Intempt;
use consent_core::validate;
use consent_core::{ConsentError, Decision, Evidence, Identity, Timestamp};
use serde_json::{Value, json};

use crate::support::{
    END_OF_TIME, FIXTURES, NOW_MS, ORG, PROJECT, decode, decode_parts, decode_received, ms, pairs, single,
    stored,
};

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

fn minimal() -> Value {
    json!({
        "action": "accept",
        "timestamp": NOW_MS,
        "validUntil": "unlimited",
        "source": "api",
        "userId": "u-1"
    })
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut object = minimal();
    object[field] = value;
    body(&object)
}

#[test]
fn the_adapter_names_its_routes_and_credentials() {
    use consent_adapter::{Credential, Method, Route};
    assert_eq!(Intempt.name(), "intempt");
    assert_eq!(
        Intempt.routes(),
        [
            Route::keyed(Method::Post, "/{orgName}/projects/{projectName}/consents/data"),
            Route::keyed(Method::Post, "/v1/{orgName}/projects/{projectName}/consents/data"),
        ]
    );
    assert_eq!(
        Intempt.credentials(),
        [Credential::Query("apiKey"), Credential::BasicPrefixSecret, Credential::Bearer]
    );
}

#[test]
fn the_account_is_org_slash_project() {
    let decoded = decode_parts(
        1,
        &pairs(&[("orgName", "acme-inc"), ("projectName", "web-shop")]),
        &[],
        &[],
        &body(&minimal()),
        &RequestEvidence::default(),
    )
    .unwrap();
    assert_eq!(decoded.account.as_deref(), Some("acme-inc/web-shop"));
}

#[test]
fn a_minimal_body_records_all_purposes_without_expiry() {
    let record = single(decode(&body(&minimal())).unwrap());
    assert_eq!(record.identities, [Identity::new("user_id", "u-1")]);
    assert_eq!(record.decisions.len(), 1);
    assert_eq!(record.decisions[0].purpose, "");
    assert_eq!(record.decisions[0].target, "");
    assert_eq!(record.decisions[0].decision, Decision::Granted);
    assert_eq!(record.expires_at, None);
    assert_eq!(record.source, "api");
    assert_eq!(record.evidence.message, "");
    assert_eq!(record.evidence.metadata_json, "");
    assert_eq!(record.idempotency_key, "");
}

#[test]
fn an_empty_or_null_category_means_all_purposes() {
    for category in [json!(""), Value::Null] {
        let record = single(decode(&with("category", category)).unwrap());
        assert_eq!(record.decisions[0].purpose, "");
    }
}

#[test]
fn timestamps_are_milliseconds_or_seconds_as_numbers_or_strings() {
    let cases = [
        (json!(NOW_MS), ms(NOW_MS)),
        (json!(NOW_MS.to_string()), ms(NOW_MS)),
        // Intempt's server SDKs send seconds.
        (json!(NOW_MS / 1000), ms(NOW_MS)),
        (json!((NOW_MS / 1000).to_string()), ms(NOW_MS)),
        (json!(1_769_518_152.5), Timestamp::from_micros(1_769_518_152_500_000)),
        // The boundary: 10^11 and above is milliseconds.
        (json!(99_999_999_999_i64), Timestamp::from_micros(99_999_999_999_000_000)),
        (json!(100_000_000_000_i64), ms(100_000_000_000)),
    ];
    for (value, expected) in cases {
        let record = single(decode_received(&with("timestamp", value.clone()), END_OF_TIME).unwrap());
        assert_eq!(record.collected_at, Some(expected), "{value}");
    }
}

#[test]
fn valid_until_is_milliseconds_or_unlimited() {
    let later = NOW_MS + 86_400_000;
    let cases = [
        (json!(later), Some(ms(later))),
        (json!(later.to_string()), Some(ms(later))),
        // Seconds, as for `timestamp`: a millisecond expiry before 1973 could
        // never follow the decision anyway.
        (json!(later / 1000), Some(ms(later))),
        (json!("unlimited"), None),
        (json!("Unlimited"), None),
    ];
    for (value, expected) in cases {
        let record = single(decode(&with("validUntil", value.clone())).unwrap());
        assert_eq!(record.expires_at, expected, "{value}");
    }
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(body(&minimal()));
    assert_eq!(decode(&bytes).unwrap(), decode(&body(&minimal())).unwrap());
}

#[test]
fn identities_are_listed_user_id_email_profile_id_and_empty_ones_skipped() {
    let mut object = minimal();
    object["profileId"] = json!("p-9");
    object["email"] = json!("Someone@Example.com");
    object["userId"] = json!("");
    let record = single(decode(&body(&object)).unwrap());
    assert_eq!(
        record.identities,
        [Identity::new("email", "Someone@Example.com"), Identity::new("profile_id", "p-9")]
    );
}

#[test]
fn every_extra_field_is_kept_as_metadata_never_rejected() {
    let mut object = minimal();
    object["sourceId"] = json!(7);
    object["reason"] = json!("cookie banner");
    object["method"] = json!("explicit");
    object["deviceInfo"] = json!({"os": "iOS", "version": "17.5", "tablet": false});
    let record = single(decode(&body(&object)).unwrap());
    let metadata: Value = serde_json::from_str(&record.evidence.metadata_json).unwrap();
    assert_eq!(
        metadata,
        json!({
            "sourceId": 7,
            "reason": "cookie banner",
            "method": "explicit",
            "deviceInfo": {"os": "iOS", "version": "17.5", "tablet": false}
        })
    );
}

#[test]
fn http_evidence_fills_the_record() {
    let http = RequestEvidence {
        user_agent: "intempt-python/2.0".into(),
        client_ip: "198.51.100.4".into(),
        origin: String::new(),
        body_digest: "abc123".into(),
        proxy_ip: String::new(),
        gpc: false,
        country: String::new(),
        region: String::new(),
        city: String::new(),
    };
    let decoded = decode_parts(
        1,
        &pairs(&[("orgName", ORG), ("projectName", PROJECT)]),
        &[],
        &pairs(&[("authorization", "Bearer identifier.secret")]),
        &body(&minimal()),
        &http,
    )
    .unwrap();
    assert_eq!(
        single(decoded).evidence,
        Evidence {
            user_agent: "intempt-python/2.0".into(),
            ip: "198.51.100.4".into(),
            vendor: "intempt".into(),
            payload_digest: "abc123".into(),
            ..Evidence::default()
        }
    );
}

#[test]
fn decoded_fixtures_pass_consentd_validation() {
    let now = ms(NOW_MS + 1_000);
    for name in FIXTURES {
        let decoded: Decoded = decode(&crate::support::fixture(name)).unwrap();
        for mut record in decoded.records().to_vec() {
            assert_eq!(validate::record(&mut record, now), Ok::<(), ConsentError>(()), "{name}");
        }
    }
}

#[test]
fn encode_event_drops_what_intempt_cannot_carry() {
    let mut record = stored(&single(decode(&body(&minimal())).unwrap()));
    record.decision = Decision::Limited;
    record.target = "some-vendor".into();
    record.identities.push(Identity::new("ecid", "123"));
    record.identities.push(Identity::new("user_id", "second"));
    record.collected_at = Timestamp::from_micros(NOW_MS * 1_000 + 999);
    record.expires_at = Some(Timestamp::from_micros(NOW_MS * 1_000 + 1_500));
    record.evidence.metadata_json = r#"{"action":"accept","reason":"banner"}"#.into();
    assert_eq!(
        Intempt.encode_event(&record),
        json!({
            "action": "reject",
            "timestamp": NOW_MS.to_string(),
            "validUntil": (NOW_MS + 2).to_string(),
            "source": "api",
            "userId": "u-1",
            "reason": "banner"
        })
    );
}
