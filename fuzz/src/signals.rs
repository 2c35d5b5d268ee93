//! Oracles of the `tcf_decode` and `gpp_decode` targets: what must hold of
//! anything `consent_signals` decodes or refuses.

use consent_signals::{
    GppString, OffsetUnit, SignalError, SignalMapping, TcString, VendorSet, gpp_decisions, tcf_decisions,
};

/// The input as text: the decoders take `&str`, and invalid UTF-8 becomes
/// replacement characters, which they must refuse like any other.
pub fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A refusal names a field and a message, and points inside the string
/// (bits count six per character), inside its section when it has one.
pub fn check_error(err: &SignalError, text: &str) {
    assert!(!err.field.is_empty() && !err.message.is_empty(), "{err:?}");
    let limit = match err.unit {
        OffsetUnit::Bit => text.len() * 6,
        OffsetUnit::Character => text.len(),
    };
    assert!(err.offset <= limit, "offset past the end: {err}");
    if let Some(section) = err.section {
        assert!(section.start <= text.len(), "section past the end: {err}");
        let start = match err.unit {
            OffsetUnit::Bit => section.start * 6,
            OffsetUnit::Character => section.start,
        };
        assert!(err.offset >= start, "offset before its section: {err}");
    }
    let _ = err.to_string();
}

fn check_vendor_set(set: &VendorSet) {
    assert!(set.ids.iter().all(|id| (1..=set.max_vendor_id).contains(id)), "{set:?}");
}

/// What a decoded TC string always satisfies, and its decisions: one per
/// TCF purpose and one per vendor id up to the consent section's maximum.
pub fn check_tc_string(tc: &TcString) {
    assert_eq!(tc.version, 2);
    assert!(tc.purposes_consent.iter().chain(&tc.purposes_li_transparency).all(|id| (1..=24).contains(id)));
    assert!(tc.special_feature_opt_ins.iter().all(|id| (1..=12).contains(id)));
    assert!(tc.consent_language.bytes().chain(tc.publisher_cc.bytes()).all(|b| b.is_ascii_uppercase()));
    check_vendor_set(&tc.vendor_consents);
    check_vendor_set(&tc.vendor_legitimate_interests);
    tc.disclosed_vendors.iter().chain(&tc.allowed_vendors).for_each(check_vendor_set);
    for restriction in &tc.publisher_restrictions {
        assert!((1..=24).contains(&restriction.purpose_id), "{restriction:?}");
        assert!(!restriction.vendor_ids.contains(&0), "{restriction:?}");
    }
    let decisions = tcf_decisions(tc, &SignalMapping::default());
    assert_eq!(decisions.len(), 11 + usize::from(tc.vendor_consents.max_vendor_id));
    serde_json::to_string(tc).expect("a decoded TC string serializes");
}

/// What a decoded GPP string always satisfies: a section per listed id, in
/// order, ids ascending, each section starting inside the string.
pub fn check_gpp_string(gpp: &GppString, text: &str) {
    assert_eq!(gpp.version, 1);
    assert!(gpp.section_ids.windows(2).all(|pair| pair[0] < pair[1]), "{:?}", gpp.section_ids);
    let ids: Vec<u8> = gpp.sections.iter().map(|section| section.id).collect();
    assert_eq!(ids, gpp.section_ids);
    assert!(gpp.sections.iter().all(|section| section.start <= text.len()));
    if let Some(tc) = gpp.tcf_eu_v2() {
        check_tc_string(tc);
    }
    gpp_decisions(gpp, &SignalMapping::default());
    serde_json::to_string(gpp).expect("a decoded GPP string serializes");
}
