//! TC strings with reference decodes: IAB's JavaScript decoder (the
//! fixtures) and lib_tcstring (a second, independent oracle).

use std::collections::BTreeSet;

use consent_signals::{RestrictionType, TcString, VendorEncoding, decode_tc_string};
use lib_tcstring::{PublisherRestrictionType, TcModelV2};

use crate::support::{assert_fields, encode, tcf_fixtures};

#[test]
fn every_fixture_decodes_field_by_field_as_iabs_decoder_does() {
    let fixtures = tcf_fixtures();
    assert!(fixtures.len() >= 19, "{} fixtures", fixtures.len());
    for fixture in fixtures {
        let tc = decode_tc_string(&fixture.string)
            .unwrap_or_else(|err| panic!("{} ({}): {err}", fixture.name, fixture.source));
        let view = serde_json::to_value(&tc).unwrap();
        assert_fields(&fixture.name, &view, &fixture.expected);
    }
}

fn set8(ids: &[u8]) -> BTreeSet<u8> {
    ids.iter().copied().collect()
}

fn set16(ids: &[u16]) -> BTreeSet<u16> {
    ids.iter().copied().collect()
}

fn restriction_type(kind: &PublisherRestrictionType) -> Option<RestrictionType> {
    match kind {
        PublisherRestrictionType::NotAllowed => Some(RestrictionType::NotAllowed),
        PublisherRestrictionType::RequireConsent => Some(RestrictionType::RequireConsent),
        PublisherRestrictionType::RequireLegitimateInterest => {
            Some(RestrictionType::RequireLegitimateInterest)
        }
        PublisherRestrictionType::Undefined => None,
    }
}

/// Asserts that lib_tcstring reads `string` as `tc` says.
pub(crate) fn assert_lib_tcstring_agrees(name: &str, string: &str, tc: &TcString) {
    let lib = TcModelV2::try_from(string).unwrap_or_else(|err| panic!("{name}: lib_tcstring refused: {err}"));
    assert_eq!(lib.created_at as i64 * 1_000, tc.created.as_micros(), "{name}: created");
    assert_eq!(lib.updated_at as i64 * 1_000, tc.last_updated.as_micros(), "{name}: last_updated");
    assert_eq!(
        (lib.cmp_id, lib.cmp_version, lib.consent_screen, lib.vendor_list_version),
        (tc.cmp_id, tc.cmp_version, tc.consent_screen, tc.vendor_list_version),
        "{name}: cmp and list versions"
    );
    assert_eq!(lib.consent_language, tc.consent_language, "{name}: consent_language");
    assert_eq!(lib.tcf_policy_version, u16::from(tc.tcf_policy_version), "{name}: tcf_policy_version");
    assert_eq!(lib.is_service_specific, tc.is_service_specific, "{name}: is_service_specific");
    assert_eq!(lib.use_non_standard_stacks, tc.use_non_standard_texts, "{name}: use_non_standard_texts");
    assert_eq!(set8(&lib.special_feature_opt_ins), tc.special_feature_opt_ins, "{name}: special features");
    assert_eq!(set8(&lib.purposes_consent), tc.purposes_consent, "{name}: purposes_consent");
    assert_eq!(set8(&lib.purposes_li_transparency), tc.purposes_li_transparency, "{name}: purposes LI");
    assert_eq!(lib.purpose_one_treatment, tc.purpose_one_treatment, "{name}: purpose_one_treatment");
    assert_eq!(lib.publisher_country_code, tc.publisher_cc, "{name}: publisher_cc");
    assert_eq!(set16(&lib.vendors_consent), tc.vendor_consents.ids, "{name}: vendor_consents");
    assert_eq!(set16(&lib.vendors_li_consent), tc.vendor_legitimate_interests.ids, "{name}: vendor LI");
    let lib_restrictions: Vec<_> = lib
        .publisher_restrictions
        .iter()
        .map(|r| (r.purpose_id, restriction_type(&r.restriction_type), set16(&r.vendor_list)))
        .collect();
    let restrictions: Vec<_> = tc
        .publisher_restrictions
        .iter()
        .map(|r| (r.purpose_id, Some(r.restriction_type), r.vendor_ids.clone()))
        .collect();
    assert_eq!(lib_restrictions, restrictions, "{name}: publisher_restrictions");
    let ids =
        |set: &Option<consent_signals::VendorSet>| set.as_ref().map(|s| s.ids.clone()).unwrap_or_default();
    assert_eq!(set16(&lib.disclosed_vendors), ids(&tc.disclosed_vendors), "{name}: disclosed_vendors");
    assert_eq!(set16(&lib.allowed_vendors), ids(&tc.allowed_vendors), "{name}: allowed_vendors");
    let publisher = tc.publisher_tc.clone().unwrap_or(consent_signals::PublisherTc {
        purposes_consent: BTreeSet::new(),
        purposes_li_transparency: BTreeSet::new(),
        num_custom_purposes: 0,
        custom_purposes_consent: BTreeSet::new(),
        custom_purposes_li_transparency: BTreeSet::new(),
    });
    assert_eq!(set8(&lib.publisher_purposes_consent), publisher.purposes_consent, "{name}: pub purposes");
    assert_eq!(
        set8(&lib.publisher_purposes_li_transparency),
        publisher.purposes_li_transparency,
        "{name}: pub LI"
    );
    assert_eq!(set8(&lib.custom_purposes_consent), publisher.custom_purposes_consent, "{name}: custom");
    assert_eq!(
        set8(&lib.custom_purposes_li_transparency),
        publisher.custom_purposes_li_transparency,
        "{name}: custom LI"
    );
}

#[test]
fn every_fixture_decodes_as_lib_tcstring_does() {
    for fixture in tcf_fixtures() {
        let tc = decode_tc_string(&fixture.string).unwrap();
        assert_lib_tcstring_agrees(&fixture.name, &fixture.string, &tc);
    }
}

#[test]
fn both_vendor_encodings_are_in_the_fixtures() {
    let encodings: BTreeSet<_> = tcf_fixtures()
        .iter()
        .map(|fixture| decode_tc_string(&fixture.string).unwrap())
        .flat_map(|tc| [tc.vendor_consents.encoding, tc.vendor_legitimate_interests.encoding])
        .map(|encoding| matches!(encoding, VendorEncoding::Range))
        .collect();
    assert_eq!(encodings.len(), 2, "bitfield and range both covered");
}

#[test]
fn the_test_encoder_writes_every_fixture_back_to_the_same_decode() {
    for fixture in tcf_fixtures() {
        let tc = decode_tc_string(&fixture.string).unwrap();
        assert_eq!(decode_tc_string(&encode(&tc)).unwrap(), tc, "{}", fixture.name);
    }
}

#[test]
fn a_known_string_decodes_to_known_values() {
    // lib_tcstring's first example, values from its test suite.
    let tc = decode_tc_string("COvFyGBOvFyGBAbAAAENAPCAAOAAAAAAAAAAAEEUACCKAAA").unwrap();
    assert_eq!(tc.created.as_micros(), 1_582_243_059_300_000);
    assert_eq!((tc.cmp_id, tc.vendor_list_version, tc.consent_language.as_str()), (27, 15, "EN"));
    assert_eq!(tc.purposes_consent, set8(&[1, 2, 3]));
    assert_eq!(tc.vendor_consents.ids, set16(&[2, 6, 8]));
    assert_eq!(tc.vendor_consents.encoding, VendorEncoding::Bitfield);
    assert_eq!(tc.vendor_consents.max_vendor_id, 8);
    assert_eq!(serde_json::to_value(&tc).unwrap()["created"], "2020-02-20T23:57:39.300000Z");
}
