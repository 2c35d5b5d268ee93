//! The decisions signals imply, named by a tenant's mapping.

use consent_core::model::Decision;
use consent_signals::{
    ImpliedDecision, OptOutPurposes, SignalMapping, TCF_PURPOSES, TCF_VENDOR_PURPOSE, decode_gpp,
    decode_tc_string, gpp_decisions, tcf_decisions,
};

use crate::support::{encode, gpp_fixtures, plain};

fn decision(purpose: &str, target: &str, decision: Decision) -> ImpliedDecision {
    ImpliedDecision { purpose: purpose.to_owned(), target: target.to_owned(), decision }
}

fn find<'a>(decisions: &'a [ImpliedDecision], purpose: &str, target: &str) -> Option<&'a ImpliedDecision> {
    decisions.iter().find(|d| d.purpose == purpose && d.target == target)
}

#[test]
fn each_tcf_purpose_is_granted_or_denied_for_all_targets() {
    // Purposes 1, 2 and 3 consented; vendors 2, 6 and 8 of up to 8.
    let tc = decode_tc_string("COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA").unwrap();
    let decisions = tcf_decisions(&tc, &SignalMapping::default());
    assert_eq!(decisions.len(), TCF_PURPOSES.count(), "no vendor is listed: none is a decision");
    for id in TCF_PURPOSES {
        let expected = if id <= 3 { Decision::Granted } else { Decision::Denied };
        let purpose = format!("tcf.purpose.{id}");
        assert_eq!(find(&decisions, &purpose, "").map(|d| d.decision), Some(expected), "purpose {id}");
    }
    assert!(find(&decisions, "tcf.purpose.12", "").is_none(), "purposes past 11 imply nothing");
}

#[test]
fn listed_vendors_are_targets_of_the_vendor_consent_purpose() {
    let tc = decode_tc_string("COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA").unwrap();
    let mapping = SignalMapping { tcf_vendors: vec![1, 2, 6, 8, 9], ..SignalMapping::default() };
    let decisions = tcf_decisions(&tc, &mapping);
    let vendors: Vec<_> = decisions.iter().filter(|d| d.purpose == TCF_VENDOR_PURPOSE).collect();
    assert_eq!(vendors.len(), 5);
    for vendor in [1, 2, 6, 8, 9] {
        let expected = if [2, 6, 8].contains(&vendor) { Decision::Granted } else { Decision::Denied };
        let target = format!("tcf.vendor.{vendor}");
        assert_eq!(
            find(&decisions, TCF_VENDOR_PURPOSE, &target).map(|d| d.decision),
            Some(expected),
            "vendor {vendor} (9 is past max_vendor_id: no consent)"
        );
    }
    assert!(
        find(&decisions, TCF_VENDOR_PURPOSE, "tcf.vendor.3").is_none(),
        "an unlisted vendor is no decision"
    );
}

#[test]
fn legitimate_interest_is_not_consent() {
    let mut tc = plain();
    tc.purposes_li_transparency = [2, 7].into();
    tc.vendor_legitimate_interests.max_vendor_id = 5;
    tc.vendor_legitimate_interests.ids = [5].into();
    let decisions = tcf_decisions(&decode_tc_string(&encode(&tc)).unwrap(), &SignalMapping::default());
    assert_eq!(find(&decisions, "tcf.purpose.2", "").map(|d| d.decision), Some(Decision::Denied));
    assert!(decisions.iter().all(|d| !d.target.starts_with("tcf.vendor.")), "no vendor has consent's range");
}

#[test]
fn mapped_purposes_take_the_tenants_names_and_a_denial_wins_a_shared_name() {
    let mut tc = plain();
    tc.purposes_consent = [1, 8].into();
    let mapping = SignalMapping {
        tcf_purposes: [
            (1, "storage".to_owned()),
            (7, "measurement".to_owned()),
            (8, "measurement".to_owned()),
        ]
        .into(),
        ..SignalMapping::default()
    };
    let decisions = tcf_decisions(&tc, &mapping);
    assert_eq!(find(&decisions, "storage", ""), Some(&decision("storage", "", Decision::Granted)));
    // Purpose 8 granted, purpose 7 denied: one decision, denied.
    assert_eq!(find(&decisions, "measurement", ""), Some(&decision("measurement", "", Decision::Denied)));
    assert_eq!(decisions.iter().filter(|d| d.purpose == "measurement").count(), 1);
    assert!(find(&decisions, "tcf.purpose.1", "").is_none());
}

#[test]
fn a_purpose_mapped_to_nothing_is_skipped() {
    let mapping = SignalMapping { tcf_purposes: [(3, String::new())].into(), ..SignalMapping::default() };
    let decisions = tcf_decisions(&plain(), &mapping);
    assert_eq!(decisions.len(), TCF_PURPOSES.count() - 1);
    assert!(
        decisions.iter().all(|d| !d.purpose.is_empty() || !d.target.is_empty()),
        "nothing for all purposes"
    );
}

#[test]
fn decisions_come_out_sorted_by_purpose_then_target() {
    let tc = decode_tc_string("COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA").unwrap();
    let decisions = tcf_decisions(&tc, &SignalMapping::default());
    let keys: Vec<_> = decisions.iter().map(|d| (d.purpose.clone(), d.target.clone())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn us_opt_outs_deny_the_configured_purposes_and_nothing_else_is_implied() {
    let fixture = gpp_fixtures().into_iter().find(|f| f.name == "encoded_every_decoded_section").unwrap();
    let gpp = decode_gpp(&fixture.string).unwrap();
    let mapping = SignalMapping {
        opt_out_purposes: OptOutPurposes {
            sale: vec!["sale".to_owned(), "data_brokers".to_owned()],
            sharing: vec!["sharing".to_owned()],
            targeted_advertising: vec!["ads".to_owned(), String::new()],
        },
        ..SignalMapping::default()
    };
    let decisions = gpp_decisions(&gpp, &mapping);
    // usnat and uspv1 opted out of sale, usca of sharing, usva and usut of
    // targeted advertising; usca and usut did not opt out of sale.
    for purpose in ["sale", "data_brokers", "sharing", "ads"] {
        assert_eq!(
            find(&decisions, purpose, ""),
            Some(&decision(purpose, "", Decision::Denied)),
            "{purpose}"
        );
    }
    assert!(decisions.iter().all(|d| d.decision == Decision::Denied
        || d.purpose.starts_with("tcf.")
        || d.target.starts_with("tcf.")));
    // The tcfeuv2 section's decisions are there too: purposes 1, 2, 4 and
    // vendors 1, 2, 755 (none of them listed: no vendor decisions).
    assert_eq!(find(&decisions, "tcf.purpose.4", "").map(|d| d.decision), Some(Decision::Granted));
    assert!(decisions.iter().all(|d| d.purpose != TCF_VENDOR_PURPOSE));
}

#[test]
fn not_opting_out_implies_nothing() {
    let fixture =
        gpp_fixtures().into_iter().find(|f| f.name == "encoded_usnat_did_not_opt_out_no_gpc").unwrap();
    let gpp = decode_gpp(&fixture.string).unwrap();
    assert_eq!(gpp_decisions(&gpp, &SignalMapping::default()), Vec::new());
}

#[test]
fn an_opt_out_denies_what_a_tcf_purpose_mapped_to_the_same_name_grants() {
    let fixture = gpp_fixtures().into_iter().find(|f| f.name == "encoded_every_decoded_section").unwrap();
    let gpp = decode_gpp(&fixture.string).unwrap();
    // TCF purpose 1 is consented; the tenant calls it "sale".
    let mapping = SignalMapping { tcf_purposes: [(1, "sale".to_owned())].into(), ..SignalMapping::default() };
    let decisions = gpp_decisions(&gpp, &mapping);
    assert_eq!(find(&decisions, "sale", ""), Some(&decision("sale", "", Decision::Denied)));
}

#[test]
fn the_mapping_deserializes_with_defaults_from_json_and_toml() {
    let empty: SignalMapping = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, SignalMapping::default());
    assert_eq!(empty.opt_out_purposes.sale, vec!["sale"]);
    assert_eq!(empty.tcf_purpose(5), "tcf.purpose.5");

    let json: SignalMapping =
        serde_json::from_str(r#"{"tcf_purposes": {"1": "storage"}, "opt_out_purposes": {"sale": []}}"#)
            .unwrap();
    assert_eq!(json.tcf_purpose(1), "storage");
    assert!(json.opt_out_purposes.sale.is_empty());
    assert_eq!(json.opt_out_purposes.sharing, vec!["sharing"], "unnamed lists keep their default");

    let toml: SignalMapping = toml::from_str(
        "[tcf_purposes]\n1 = \"storage\"\n10 = \"product_development\"\n\n[opt_out_purposes]\nsale = [\"sale\", \"resale\"]\n",
    )
    .unwrap();
    assert_eq!(toml.tcf_purpose(10), "product_development");
    assert_eq!(toml.opt_out_purposes.sale, vec!["sale", "resale"]);

    assert!(
        serde_json::from_str::<SignalMapping>(r#"{"tcf_purpose": {}}"#).is_err(),
        "unknown fields refused"
    );
    assert!(
        serde_json::from_str::<SignalMapping>(r#"{"tcf_purposes": {"300": "x"}}"#).is_err(),
        "ids are u8"
    );
}

#[test]
fn an_implied_decision_serializes_in_lower_case() {
    let implied = decision("sale", "", Decision::Denied);
    assert_eq!(
        serde_json::to_value(&implied).unwrap(),
        serde_json::json!({"purpose": "sale", "target": "", "decision": "denied"})
    );
}
