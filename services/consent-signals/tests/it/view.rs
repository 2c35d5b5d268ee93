//! The serialized views keep their field names: the service shows them.

use consent_signals::{decode_gpp, decode_tc_string};
use serde_json::Value;

/// The object's keys, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn the_tc_string_view_has_the_documented_snake_case_fields() {
    let tc = decode_tc_string(
        "COw4XqLOw4XqLAAAAAENAXCf-v-gAAAfwIAAACngAI8AIFABgACAA4SADAAgADQ.IAPPwAPrwA.QAPPwAPrwA.cAEAPAAAC7gAHw4AAA",
    )
    .unwrap();
    let view = serde_json::to_value(&tc).unwrap();
    assert_eq!(
        keys(&view),
        [
            "allowed_vendors",
            "cmp_id",
            "cmp_version",
            "consent_language",
            "consent_screen",
            "created",
            "disclosed_vendors",
            "is_service_specific",
            "last_updated",
            "publisher_cc",
            "publisher_restrictions",
            "publisher_tc",
            "purpose_one_treatment",
            "purposes_consent",
            "purposes_li_transparency",
            "special_feature_opt_ins",
            "tcf_policy_version",
            "use_non_standard_texts",
            "vendor_consents",
            "vendor_legitimate_interests",
            "vendor_list_version",
            "version",
        ]
    );
    assert_eq!(view["created"], "2020-03-26T18:21:27.500000Z");
    assert_eq!(
        view["vendor_consents"],
        serde_json::json!({"max_vendor_id": 5, "encoding": "bitfield", "ids": [2, 3, 4, 5]})
    );
    assert_eq!(
        view["publisher_restrictions"][0],
        serde_json::json!({"purpose_id": 1, "restriction_type": "require_consent", "vendor_ids": [1, 2, 3, 4, 5, 6, 7]})
    );
    assert_eq!(
        keys(&view["publisher_tc"]),
        [
            "custom_purposes_consent",
            "custom_purposes_li_transparency",
            "num_custom_purposes",
            "purposes_consent",
            "purposes_li_transparency",
        ]
    );
}

#[test]
fn the_gpp_view_tags_each_section_with_its_kind() {
    let gpp = decode_gpp("DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN").unwrap();
    let view = serde_json::to_value(&gpp).unwrap();
    assert_eq!(keys(&view), ["section_ids", "sections", "version"]);
    assert_eq!(keys(&view["sections"][1]), ["content", "id", "name", "start"]);
    assert_eq!(
        view["sections"][1]["content"],
        serde_json::json!({"kind": "usp_v1", "version": 1, "notice": "yes", "opt_out_sale": "did_not_opt_out", "lspa_covered": "no"})
    );
    assert_eq!(view["sections"][0]["content"]["kind"], "tcf_eu_v2");
    assert_eq!(view["sections"][0]["content"]["cmp_id"], 31);

    let usnat = serde_json::to_value(decode_gpp("DBABLA~BVVVVVVVVWA.YA").unwrap()).unwrap();
    let content = &usnat["sections"][0]["content"];
    assert_eq!(
        keys(content),
        [
            "gpc",
            "kind",
            "known_child_sensitive_data_consents",
            "mspa_covered_transaction",
            "mspa_opt_out_option_mode",
            "mspa_service_provider_mode",
            "name",
            "personal_data_consents",
            "sale_opt_out",
            "sale_opt_out_notice",
            "sensitive_data_limit_use_notice",
            "sensitive_data_processing",
            "sensitive_data_processing_opt_out_notice",
            "sharing_notice",
            "sharing_opt_out",
            "sharing_opt_out_notice",
            "targeted_advertising_opt_out",
            "targeted_advertising_opt_out_notice",
            "version",
        ]
    );
    assert_eq!(
        (&content["kind"], &content["sale_opt_out"], &content["gpc"]),
        (&"us".into(), &"opted_out".into(), &true.into())
    );
}

#[test]
fn errors_serialize_too() {
    let err = decode_gpp("DBABTA~1YXN").unwrap_err();
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        serde_json::json!({
            "signal": "gpp_string",
            "field": "uspv1.opt_out_sale",
            "offset": 9,
            "unit": "character",
            "section": {"index": 0, "id": 6, "start": 7},
            "message": "must be Y, N or -",
        })
    );
}
