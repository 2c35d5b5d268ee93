//! Properties: no input panics, encoded strings decode back, mutated
//! fixtures are decoded or refused, never anything else.

use std::collections::BTreeSet;

use consent_core::time::Timestamp;
use consent_signals::{
    PublisherRestriction, PublisherTc, RestrictionType, TcString, VendorEncoding, VendorSet, decode_gpp,
    decode_tc_string, gpp_decisions, tcf_decisions,
};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use crate::support::{Bits, encode, gpp_fixtures, runs, tcf_fixtures};
use crate::tcf::assert_lib_tcstring_agrees;

const SIGNAL_CHARS: &str = "[A-Za-z0-9_~.+=-]{0,120}";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = decode_tc_string(&s);
        let _ = decode_gpp(&s);
    }

    #[test]
    fn strings_of_signal_characters_never_panic(s in SIGNAL_CHARS) {
        if let Ok(tc) = decode_tc_string(&s) {
            tcf_decisions(&tc, &Default::default());
        }
        for prefix in ["", "C", "DBA", "DBABM~C", "DBABLA~C", "DBACNY~C"] {
            if let Ok(gpp) = decode_gpp(&format!("{prefix}{s}")) {
                gpp_decisions(&gpp, &Default::default());
            }
        }
    }

    #[test]
    fn an_encoded_tc_string_decodes_back_and_lib_tcstring_agrees(tc in tc_string()) {
        let string = encode(&tc);
        let decoded = decode_tc_string(&string);
        prop_assert_eq!(decoded.as_ref(), Ok(&tc), "{}", string);
        assert_lib_tcstring_agrees("generated", &string, &tc);
    }

    #[test]
    fn section_id_lists_decode_back(ids in btree_set(1_u8..=40, 1..12)) {
        let string = gpp_with_sections(&ids);
        let gpp = decode_gpp(&string).map_err(|err| TestCaseError::fail(format!("{string}: {err}")))?;
        prop_assert_eq!(gpp.section_ids, ids.into_iter().collect::<Vec<_>>());
    }
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (0_i64..(1 << 36)).prop_map(|deciseconds| Timestamp::from_micros(deciseconds * 100_000))
}

fn letters() -> impl Strategy<Value = String> {
    "[A-Z]{2}"
}

fn small_ids(max: u8) -> impl Strategy<Value = BTreeSet<u8>> {
    btree_set(1..=max, 0..usize::from(max))
}

fn vendor_set() -> impl Strategy<Value = VendorSet> {
    (0_u16..1500, any::<bool>())
        .prop_flat_map(|(max, range)| {
            let ids =
                if max == 0 { Just(BTreeSet::new()).boxed() } else { btree_set(1..=max, 0..40).boxed() };
            (Just(max), Just(range), ids)
        })
        .prop_map(|(max_vendor_id, range, ids)| VendorSet {
            max_vendor_id,
            encoding: if range { VendorEncoding::Range } else { VendorEncoding::Bitfield },
            ids,
        })
}

fn restrictions() -> impl Strategy<Value = Vec<PublisherRestriction>> {
    // Distinct purpose and type pairs: a pair given twice would merge.
    btree_set((1_u8..=24, 0_u8..3), 0..5).prop_flat_map(|pairs| {
        let pairs: Vec<_> = pairs.into_iter().collect();
        let count = pairs.len();
        (Just(pairs), vec(btree_set(1_u16..3000, 0..30), count)).prop_map(|(pairs, vendor_sets)| {
            pairs
                .into_iter()
                .zip(vendor_sets)
                .map(|((purpose_id, kind), vendor_ids)| PublisherRestriction {
                    purpose_id,
                    restriction_type: match kind {
                        0 => RestrictionType::NotAllowed,
                        1 => RestrictionType::RequireConsent,
                        _ => RestrictionType::RequireLegitimateInterest,
                    },
                    vendor_ids,
                })
                .collect()
        })
    })
}

fn publisher_tc() -> impl Strategy<Value = PublisherTc> {
    (small_ids(24), small_ids(24), 0_u8..64).prop_flat_map(|(consent, li, custom)| {
        let custom_ids = if custom == 0 { Just(BTreeSet::new()).boxed() } else { small_ids(custom).boxed() };
        (Just(consent), Just(li), Just(custom), custom_ids.clone(), custom_ids).prop_map(
            |(purposes_consent, purposes_li_transparency, num_custom_purposes, consent, li)| PublisherTc {
                purposes_consent,
                purposes_li_transparency,
                num_custom_purposes,
                custom_purposes_consent: consent,
                custom_purposes_li_transparency: li,
            },
        )
    })
}

prop_compose! {
    fn tc_string()(
        (created, last_updated, cmp_id, cmp_version, consent_screen) in
            (timestamp(), timestamp(), 0_u16..4096, 0_u16..4096, 0_u8..64),
        (consent_language, publisher_cc, vendor_list_version, tcf_policy_version) in
            (letters(), letters(), 0_u16..4096, 0_u8..64),
        (is_service_specific, use_non_standard_texts, purpose_one_treatment) in
            (any::<bool>(), any::<bool>(), any::<bool>()),
        (special_feature_opt_ins, purposes_consent, purposes_li_transparency) in
            (small_ids(12), small_ids(24), small_ids(24)),
        (vendor_consents, vendor_legitimate_interests, publisher_restrictions) in
            (vendor_set(), vendor_set(), restrictions()),
        (disclosed_vendors, allowed_vendors, publisher_tc) in
            (proptest::option::of(vendor_set()), proptest::option::of(vendor_set()), proptest::option::of(publisher_tc())),
    ) -> TcString {
        TcString {
            version: 2, created, last_updated, cmp_id, cmp_version, consent_screen, consent_language,
            vendor_list_version, tcf_policy_version, is_service_specific, use_non_standard_texts,
            special_feature_opt_ins, purposes_consent, purposes_li_transparency, purpose_one_treatment,
            publisher_cc, vendor_consents, vendor_legitimate_interests, publisher_restrictions,
            disclosed_vendors, allowed_vendors, publisher_tc,
        }
    }
}

/// A GPP string listing `ids`, each section a valid one of its kind.
fn gpp_with_sections(ids: &BTreeSet<u8>) -> String {
    let mut header = Bits::new();
    let ids16: BTreeSet<u16> = ids.iter().map(|id| u16::from(*id)).collect();
    let runs = runs(&ids16);
    header.int(3, 6).int(1, 6).int(runs.len() as u64, 12);
    let mut last = 0;
    for (start, end) in runs {
        header.flag(start != end).fibonacci(u64::from(start - last));
        if start != end {
            header.fibonacci(u64::from(end - start));
        }
        last = end;
    }
    let mut parts = vec![header.base64()];
    parts.extend(ids.iter().map(|id| sample_section(*id).to_owned()));
    parts.join("~")
}

fn sample_section(id: u8) -> &'static str {
    match id {
        2 => "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
        6 => "1YNN",
        7 => "CAAAAAAAAAWA.Q",
        8 => "BAAAAACA",
        9 => "BAAAABA",
        10 => "BAAAAEA",
        11 => "BAAAAAQA",
        12 => "BAAAAAEA",
        _ => "anything",
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `string` with each bit of each base64url character flipped in turn.
fn bit_flips(string: &str) -> impl Iterator<Item = String> + '_ {
    string.bytes().enumerate().flat_map(move |(index, byte)| {
        let value = ALPHABET.iter().position(|c| *c == byte);
        (0..6).filter_map(move |bit| {
            let flipped = ALPHABET[value? ^ (1 << bit)];
            let mut bytes = string.as_bytes().to_vec();
            bytes[index] = flipped;
            String::from_utf8(bytes).ok()
        })
    })
}

#[test]
fn tc_fixtures_with_any_one_bit_flipped_decode_to_what_they_encode_or_are_refused() {
    let mut decoded = 0;
    for fixture in tcf_fixtures() {
        for string in bit_flips(&fixture.string) {
            if let Ok(tc) = decode_tc_string(&string) {
                decoded += 1;
                let again = decode_tc_string(&encode(&tc));
                assert_eq!(again.as_ref(), Ok(&tc), "{}: {string}", fixture.name);
            }
        }
    }
    assert!(decoded > 1000, "only {decoded} mutants decoded");
}

#[test]
fn gpp_fixtures_with_any_one_bit_flipped_never_panic() {
    for fixture in gpp_fixtures() {
        for string in bit_flips(&fixture.string) {
            if let Ok(gpp) = decode_gpp(&string) {
                gpp_decisions(&gpp, &Default::default());
                serde_json::to_value(&gpp).unwrap();
            }
        }
    }
}

#[test]
fn fixtures_cut_anywhere_are_refused_or_decoded_never_panic() {
    for fixture in tcf_fixtures().into_iter().chain(gpp_fixtures()) {
        for end in 0..fixture.string.len() {
            let _ = decode_tc_string(&fixture.string[..end]);
            let _ = decode_gpp(&fixture.string[..end]);
        }
    }
}
