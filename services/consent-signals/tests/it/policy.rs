//! The tenants' policies applied to record requests, as the service calls
//! them: implied decisions merged with stated ones, GPC conflicts in the
//! order the tenant prefers, refusals naming field and offset.

use std::collections::BTreeMap;

use consent_core::model::{Decision, Evidence, Identity, PurposeDecision, Signal, TenantId};
use consent_core::{ConsentError, RecordConsent, SignalPolicy};
use consent_signals::{ConsentModeMapping, GpcPolicy, GpcPrecedence, SignalMapping, SignalPolicies};

const TC_STRING: &str = "COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA";

fn request(evidence: Evidence, decisions: Vec<PurposeDecision>) -> RecordConsent {
    RecordConsent {
        identities: vec![Identity::new("email", "a@example.com")],
        decisions,
        collected_at: None,
        expires_at: None,
        source: "web".to_owned(),
        evidence,
        idempotency_key: String::new(),
    }
}

fn applied(policies: &SignalPolicies, tenant: &str, cmd: &mut RecordConsent) -> Result<(), ConsentError> {
    policies.apply(&TenantId::new(tenant), cmd)
}

fn keys(cmd: &RecordConsent) -> Vec<(&str, Decision, Option<Signal>, bool)> {
    cmd.decisions.iter().map(|d| (d.purpose.as_str(), d.decision, d.implied_by, d.gpc_conflict)).collect()
}

fn gpc(prefer: GpcPrecedence) -> SignalMapping {
    SignalMapping {
        gpc: GpcPolicy { enabled: true, prefer, ..GpcPolicy::default() },
        ..SignalMapping::default()
    }
}

#[test]
fn implied_decisions_come_first_and_a_stated_one_replaces_its_key() {
    let policies = SignalPolicies::default();
    let evidence = Evidence { tc_string: TC_STRING.to_owned(), ..Evidence::default() };
    let stated = PurposeDecision::stated("tcf.purpose.1", "", Decision::Denied);
    let mut cmd = request(evidence, vec![stated.clone()]);
    applied(&policies, "acme", &mut cmd).unwrap();
    assert_eq!(cmd.decisions.len(), 11);
    assert_eq!(cmd.decisions.last(), Some(&stated), "stated decisions last");
    assert_eq!(cmd.decisions.iter().filter(|d| d.purpose == "tcf.purpose.1").count(), 1);
    assert!(cmd.decisions[..10].iter().all(|d| d.implied_by == Some(Signal::Tcf)));
}

#[test]
fn gpc_decides_nothing_unless_the_policy_is_on() {
    let evidence = Evidence { gpc: true, ..Evidence::default() };
    let grant = PurposeDecision::stated("sale", "", Decision::Granted);
    let mut off = request(evidence.clone(), vec![grant.clone()]);
    applied(&SignalPolicies::default(), "acme", &mut off).unwrap();
    assert_eq!(off.decisions, std::slice::from_ref(&grant));

    let policies = SignalPolicies::new(
        SignalMapping::default(),
        BTreeMap::from([("acme".to_owned(), gpc(GpcPrecedence::Explicit))]),
    )
    .unwrap();
    let mut other_tenant = request(evidence, vec![grant.clone()]);
    applied(&policies, "globex", &mut other_tenant).unwrap();
    assert_eq!(other_tenant.decisions, std::slice::from_ref(&grant), "the policy is acme's");

    let mut without_gpc = request(Evidence::default(), vec![grant.clone()]);
    applied(&policies, "acme", &mut without_gpc).unwrap();
    assert_eq!(without_gpc.decisions, [grant], "no signal, no denial");
}

#[test]
fn a_gpc_conflict_keeps_both_in_the_order_the_tenant_prefers() {
    let evidence = Evidence { gpc: true, ..Evidence::default() };
    let stated = vec![
        PurposeDecision::stated("sale", "", Decision::Granted),
        PurposeDecision::stated("analytics", "", Decision::Granted),
    ];
    let explicit = SignalPolicies::new(gpc(GpcPrecedence::Explicit), BTreeMap::new()).unwrap();
    let mut cmd = request(evidence.clone(), stated.clone());
    applied(&explicit, "acme", &mut cmd).unwrap();
    assert_eq!(
        keys(&cmd),
        [
            ("sharing", Decision::Denied, Some(Signal::Gpc), false),
            ("sale", Decision::Denied, Some(Signal::Gpc), true),
            ("sale", Decision::Granted, None, true),
            ("analytics", Decision::Granted, None, false),
        ]
    );
    let signal = SignalPolicies::new(gpc(GpcPrecedence::Gpc), BTreeMap::new()).unwrap();
    let mut cmd = request(evidence, stated);
    applied(&signal, "acme", &mut cmd).unwrap();
    assert_eq!(
        keys(&cmd),
        [
            ("sharing", Decision::Denied, Some(Signal::Gpc), false),
            ("sale", Decision::Granted, None, true),
            ("analytics", Decision::Granted, None, false),
            ("sale", Decision::Denied, Some(Signal::Gpc), true),
        ]
    );
}

#[test]
fn a_stated_denial_is_no_conflict_and_replaces_the_gpc_denial() {
    let policies = SignalPolicies::new(gpc(GpcPrecedence::Explicit), BTreeMap::new()).unwrap();
    let mut cmd = request(
        Evidence { gpc: true, ..Evidence::default() },
        vec![PurposeDecision::stated("sale", "", Decision::Denied)],
    );
    applied(&policies, "acme", &mut cmd).unwrap();
    assert_eq!(
        keys(&cmd),
        [("sharing", Decision::Denied, Some(Signal::Gpc), false), ("sale", Decision::Denied, None, false)]
    );
}

#[test]
fn malformed_strings_are_refused_naming_the_field_and_offset() {
    let policies = SignalPolicies::default();
    let cases = [
        (
            Evidence { tc_string: "COvFyGBOvFyGBAbAAAENAPCAAOA".to_owned(), ..Evidence::default() },
            "evidence.tc_string",
            "tc_string: ",
        ),
        (
            Evidence { gpp_string: "DBABBg~B*VVVVVY".to_owned(), ..Evidence::default() },
            "evidence.gpp_string",
            "gpp_string: ",
        ),
    ];
    for (evidence, field, prefix) in cases {
        let mut cmd = request(evidence, Vec::new());
        let Err(ConsentError::InvalidArgument(violations)) = applied(&policies, "acme", &mut cmd) else {
            panic!("{field}: accepted");
        };
        assert_eq!(violations[0].field, field);
        let description = &violations[0].description;
        assert!(description.starts_with(prefix) && description.contains(" at "), "{description}");
    }
}

#[test]
fn settings_a_request_cannot_be_served_under_are_refused_by_name() {
    let too_many = SignalMapping { tcf_vendors: (1..=101).collect(), ..SignalMapping::default() };
    let error = SignalPolicies::new(too_many, BTreeMap::new()).unwrap_err();
    assert!(error.contains("signals.tcf_vendors"), "{error}");
    let purpose_12 =
        SignalMapping { tcf_purposes: [(12, "x".to_owned())].into(), ..SignalMapping::default() };
    let error =
        SignalPolicies::new(SignalMapping::default(), BTreeMap::from([("acme".to_owned(), purpose_12)]))
            .unwrap_err();
    assert!(error.contains("signals.tenants.acme.tcf_purposes"), "{error}");
    let nothing_denied = SignalMapping {
        gpc: GpcPolicy { enabled: true, purposes: vec![String::new()], ..GpcPolicy::default() },
        ..SignalMapping::default()
    };
    assert!(
        SignalPolicies::new(nothing_denied, BTreeMap::new()).unwrap_err().contains("signals.gpc.purposes")
    );
}

#[test]
fn consent_mode_maps_types_in_order_and_public_namespaces_per_tenant() {
    let mapping = SignalMapping {
        consent_mode: ConsentModeMapping {
            ad_storage: Some("marketing".to_owned()),
            security_storage: Some("essential".to_owned()),
            analytics_storage: Some(String::new()),
            public_namespaces: vec!["device_id".to_owned()],
            ..ConsentModeMapping::default()
        },
        ..SignalMapping::default()
    };
    let policies =
        SignalPolicies::new(SignalMapping::default(), BTreeMap::from([("acme".to_owned(), mapping)]))
            .unwrap();
    let acme = TenantId::new("acme");
    let purposes = policies.consent_mode_purposes(&acme);
    assert_eq!(purposes[0].as_deref(), Some("marketing"));
    assert_eq!(purposes[3], None, "an empty name maps nothing");
    assert_eq!(purposes[6].as_deref(), Some("essential"));
    assert!(policies.consent_mode_public(&acme, "device_id"));
    assert!(!policies.consent_mode_public(&acme, "email"));
    assert!(!policies.consent_mode_public(&TenantId::new("globex"), "device_id"));
}

#[test]
fn the_decoded_view_serializes_each_string_present() {
    let policies = SignalPolicies::default();
    let evidence = Evidence { tc_string: TC_STRING.to_owned(), ..Evidence::default() };
    let decoded = policies.decoded(&evidence);
    assert_eq!(decoded.tcf.as_ref().unwrap()["cmp_id"], 27);
    assert!(decoded.gpp.is_none());
}
