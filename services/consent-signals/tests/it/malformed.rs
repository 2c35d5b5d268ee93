//! Every class of malformed string, refused with its field and offset.

use consent_signals::{
    MAX_SIGNAL_LEN, OffsetUnit, SectionAt, SignalError, SignalKind, decode_gpp, decode_tc_string, tcf,
};

use crate::support::{Bits, core_bits, plain};

/// Asserts the error's field, offset, unit and (part of) its message.
#[track_caller]
fn assert_refused(
    result: Result<impl std::fmt::Debug, SignalError>,
    field: &str,
    offset: usize,
    unit: OffsetUnit,
    says: &str,
) {
    let err = result.expect_err("refused");
    assert_eq!((err.field.as_str(), err.offset, err.unit), (field, offset, unit), "{err}");
    assert!(err.message.contains(says), "{err}");
}

/// A core segment with every kind of field, and where each field starts.
fn annotated_core() -> (Bits, Vec<(usize, &'static str)>) {
    let mut bits = Bits::new();
    let mut fields = Vec::new();
    let layout: &[(&'static str, u64, usize)] = &[
        ("version", 2, 6),
        ("created", 16_000_000_000, 36),
        ("last_updated", 16_000_000_001, 36),
        ("cmp_id", 300, 12),
        ("cmp_version", 2, 12),
        ("consent_screen", 1, 6),
        ("consent_language", 4 * 64 + 13, 12),
        ("vendor_list_version", 50, 12),
        ("tcf_policy_version", 4, 6),
        ("is_service_specific", 1, 1),
        ("use_non_standard_texts", 0, 1),
        ("special_feature_opt_ins", 0b1000_0000_0000, 12),
        ("purposes_consent", 0xff_f000, 24),
        ("purposes_li_transparency", 0x40_0000, 24),
        ("purpose_one_treatment", 0, 1),
        ("publisher_cc", 3 * 64 + 4, 12),
        ("vendor_consents.max_vendor_id", 10, 16),
        ("vendor_consents.is_range_encoding", 0, 1),
        ("vendor_consents.bitfield", 0b10_0000_0001, 10),
        ("vendor_legitimate_interests.max_vendor_id", 20, 16),
        ("vendor_legitimate_interests.is_range_encoding", 1, 1),
        ("vendor_legitimate_interests.num_entries", 2, 12),
        ("vendor_legitimate_interests.is_a_range", 0, 1),
        ("vendor_legitimate_interests.start_or_only_vendor_id", 3, 16),
        ("vendor_legitimate_interests.is_a_range", 1, 1),
        ("vendor_legitimate_interests.start_or_only_vendor_id", 5, 16),
        ("vendor_legitimate_interests.end_vendor_id", 20, 16),
        ("publisher_restrictions.num_pub_restrictions", 1, 12),
        ("publisher_restrictions.purpose_id", 2, 6),
        ("publisher_restrictions.restriction_type", 1, 2),
        ("publisher_restrictions.num_entries", 1, 12),
        ("publisher_restrictions.is_a_range", 0, 1),
        ("publisher_restrictions.start_or_only_vendor_id", 7, 16),
    ];
    for &(name, value, width) in layout {
        fields.push((bits.len(), name));
        bits.int(value, width);
    }
    (bits, fields)
}

#[test]
fn the_annotated_core_decodes() {
    let (bits, _) = annotated_core();
    let tc = decode_tc_string(&bits.base64()).unwrap();
    assert_eq!((tc.consent_language.as_str(), tc.publisher_cc.as_str()), ("EN", "DE"));
    assert_eq!(tc.vendor_consents.ids, [1, 10].into());
    assert_eq!(tc.vendor_legitimate_interests.ids, [3].into_iter().chain(5..=20).collect());
    assert_eq!(tc.publisher_restrictions[0].vendor_ids, [7].into());
}

#[test]
fn a_string_cut_short_anywhere_names_the_field_it_cut_and_where_that_starts() {
    let (bits, fields) = annotated_core();
    let full = bits.base64();
    // The characters the fields need; the rest is padding.
    for chars in 1..bits.len().div_ceil(6) {
        let cut = chars * 6;
        let &(start, field) = fields.iter().rev().find(|(start, _)| *start <= cut).unwrap();
        let err = decode_tc_string(&full[..chars]).expect_err("cut short");
        assert_eq!(
            (err.field.as_str(), err.offset, err.message.as_str()),
            (field, start, "string ends early"),
            "cut after {chars} characters: {err}"
        );
    }
}

#[test]
fn the_display_names_the_signal_field_and_bit() {
    // 26 characters are 156 bits: purposes_consent (bits 152..176) is cut.
    let err = decode_tc_string(&plain_core()[..26]).unwrap_err();
    assert_eq!(err.to_string(), "tc_string: purposes_consent at bit 152: string ends early");
}

fn plain_core() -> String {
    core_bits(&plain()).base64()
}

#[test]
fn empty_and_overlong_strings_name_the_whole_string() {
    assert_refused(decode_tc_string(""), "tc_string", 0, OffsetUnit::Character, "is empty");
    let long = "A".repeat(MAX_SIGNAL_LEN + 1);
    assert_refused(
        decode_tc_string(&long),
        "tc_string",
        MAX_SIGNAL_LEN,
        OffsetUnit::Character,
        "65537 bytes",
    );
    assert_refused(decode_gpp(""), "gpp_string", 0, OffsetUnit::Character, "is empty");
    assert_refused(decode_gpp(&long), "gpp_string", MAX_SIGNAL_LEN, OffsetUnit::Character, "at most 65536");
}

#[test]
fn characters_outside_base64url_are_refused_at_their_offset() {
    let core = plain_core();
    for (bad, says) in
        [("+", "standard base64"), ("/", "standard base64"), ("=", "padding"), ("*", "'*'"), ("é", "0xc3")]
    {
        let string = format!("{}{bad}{}", &core[..8], &core[8..]);
        assert_refused(decode_tc_string(&string), "tc_string", 8, OffsetUnit::Character, says);
    }
    // In a later segment the offset still counts from the string's start.
    let string = format!("{core}.IA=A");
    assert_refused(decode_tc_string(&string), "tc_string", core.len() + 3, OffsetUnit::Character, "padding");
}

#[test]
fn a_version_other_than_2_is_refused_at_bit_0() {
    // A TCF v1 consent string.
    let err = decode_tc_string("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA").unwrap_err();
    assert_eq!((err.field.as_str(), err.offset), ("version", 0));
    assert!(err.message.contains("version 1 is not supported"), "{err}");
    assert_eq!(err.signal, SignalKind::TcString);
}

/// The plain string's core up to the vendor sections, then `tail`.
fn with_vendor_sections(tail: impl FnOnce(&mut Bits)) -> (String, usize) {
    let mut bits = Bits(core_bits(&plain()).0[..213].to_vec());
    tail(&mut bits);
    (bits.base64(), 213)
}

#[test]
fn range_entries_out_of_order_are_refused_at_the_entry() {
    let (string, at) = with_vendor_sections(|b| {
        b.int(40, 16).flag(true).int(2, 12).flag(false).int(30, 16).flag(false).int(12, 16);
    });
    let second_start = at + 16 + 1 + 12 + 17 + 1;
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.start_or_only_vendor_id",
        second_start,
        OffsetUnit::Bit,
        "not above the previous entry's 30",
    );
    // Overlapping ranges are out of order too.
    let (string, _) = with_vendor_sections(|b| {
        b.int(40, 16).flag(true).int(2, 12).flag(true).int(5, 16).int(10, 16).flag(false).int(10, 16);
    });
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.start_or_only_vendor_id",
        at + 29 + 33 + 1,
        OffsetUnit::Bit,
        "not above",
    );
}

#[test]
fn a_range_ending_before_its_start_is_refused_at_its_end() {
    let (string, at) = with_vendor_sections(|b| {
        b.int(40, 16).flag(true).int(1, 12).flag(true).int(20, 16).int(10, 16);
    });
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.end_vendor_id",
        at + 29 + 17,
        OffsetUnit::Bit,
        "before its start 20",
    );
}

#[test]
fn vendor_id_zero_is_refused() {
    let (string, at) = with_vendor_sections(|b| {
        b.int(40, 16).flag(true).int(1, 12).flag(false).int(0, 16);
    });
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.start_or_only_vendor_id",
        at + 30,
        OffsetUnit::Bit,
        "vendor id 0",
    );
}

#[test]
fn range_entries_beyond_max_vendor_id_are_refused() {
    let (string, at) = with_vendor_sections(|b| {
        b.int(20, 16).flag(true).int(1, 12).flag(true).int(10, 16).int(25, 16);
    });
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.end_vendor_id",
        at + 46,
        OffsetUnit::Bit,
        "exceeds max_vendor_id 20",
    );
    let (string, at) = with_vendor_sections(|b| {
        b.int(20, 16).flag(true).int(1, 12).flag(false).int(21, 16);
    });
    assert_refused(
        decode_tc_string(&string),
        "vendor_consents.start_or_only_vendor_id",
        at + 30,
        OffsetUnit::Bit,
        "exceeds",
    );
}

/// The plain core with `restrictions` (already encoded) as its last field.
fn with_restrictions(restrictions: impl FnOnce(&mut Bits)) -> (String, usize) {
    let mut bits = Bits(core_bits(&plain()).0[..213 + 34].to_vec());
    let at = bits.len();
    restrictions(&mut bits);
    (bits.base64(), at)
}

#[test]
fn restriction_purposes_outside_1_to_24_and_type_3_are_refused() {
    for purpose in [0, 25, 63] {
        let (string, at) = with_restrictions(|b| {
            b.int(1, 12).int(purpose, 6).int(1, 2).int(0, 12);
        });
        let says = format!("purpose {purpose} is outside 1..=24");
        assert_refused(
            decode_tc_string(&string),
            "publisher_restrictions.purpose_id",
            at + 12,
            OffsetUnit::Bit,
            &says,
        );
    }
    let (string, at) = with_restrictions(|b| {
        b.int(1, 12).int(3, 6).int(3, 2).int(0, 12);
    });
    assert_refused(
        decode_tc_string(&string),
        "publisher_restrictions.restriction_type",
        at + 18,
        OffsetUnit::Bit,
        "type 3",
    );
}

#[test]
fn restrictions_naming_too_many_vendors_are_refused() {
    let (string, at) = with_restrictions(|b| {
        b.int(3, 12);
        for purpose in 1..=3 {
            b.int(purpose, 6).int(1, 2).int(1, 12).flag(true).int(1, 16).int(65_535, 16);
        }
    });
    let third_entry = at + 12 + 2 * (20 + 33) + 20;
    let says = format!("more than {} vendor ids", tcf::MAX_RESTRICTED_VENDOR_IDS);
    assert_refused(
        decode_tc_string(&string),
        "publisher_restrictions.vendor_ids",
        third_entry,
        OffsetUnit::Bit,
        &says,
    );
}

#[test]
fn two_restrictions_for_one_purpose_and_type_merge() {
    let (string, _) = with_restrictions(|b| {
        b.int(2, 12);
        b.int(4, 6).int(2, 2).int(1, 12).flag(false).int(9, 16);
        b.int(4, 6).int(2, 2).int(1, 12).flag(false).int(3, 16);
    });
    let tc = decode_tc_string(&string).unwrap();
    assert_eq!(tc.publisher_restrictions.len(), 1);
    assert_eq!(tc.publisher_restrictions[0].vendor_ids, [3, 9].into());
}

#[test]
fn bits_beyond_the_defined_purposes_are_kept() {
    let mut tc = plain();
    tc.purposes_consent = [1, 12, 24].into();
    tc.special_feature_opt_ins = [12].into();
    let decoded = decode_tc_string(&crate::support::encode(&tc)).unwrap();
    assert_eq!(decoded.purposes_consent, [1, 12, 24].into());
    assert_eq!(decoded.special_feature_opt_ins, [12].into());
}

#[test]
fn a_letter_above_z_is_refused_at_the_letter() {
    let mut bits = core_bits(&plain());
    for (i, bit) in [true, true, false, true, false, false].into_iter().enumerate() {
        bits.0[114 + i] = bit; // second letter of consent_language: 52
    }
    assert_refused(
        decode_tc_string(&bits.base64()),
        "consent_language",
        114,
        OffsetUnit::Bit,
        "letter value 52",
    );
}

#[test]
fn unknown_repeated_and_empty_segments_are_refused() {
    let core = plain_core();
    let at = core.len() + 1;
    // 'g' is 100000: segment type 4.
    assert_refused(
        decode_tc_string(&format!("{core}.gAAA")),
        "segment_type",
        at * 6,
        OffsetUnit::Bit,
        "type 4 is not defined",
    );
    assert_refused(
        decode_tc_string(&format!("{core}.AAAA")),
        "segment_type",
        at * 6,
        OffsetUnit::Bit,
        "type 0 (core)",
    );
    let publisher = "YAAAAAAAAAAA";
    let twice = format!("{core}.{publisher}.{publisher}");
    let second = (at + publisher.len() + 1) * 6;
    assert_refused(
        decode_tc_string(&twice),
        "segment_type",
        second,
        OffsetUnit::Bit,
        "a second publisher_tc",
    );
    assert_refused(
        decode_tc_string(&format!("{core}.")),
        "segment_type",
        at,
        OffsetUnit::Character,
        "segment is empty",
    );
    // A disclosed vendors segment cut short names its own fields.
    assert_refused(
        decode_tc_string(&format!("{core}.IA")),
        "disclosed_vendors.max_vendor_id",
        at * 6 + 3,
        OffsetUnit::Bit,
        "ends early",
    );
}

#[test]
fn a_max_vendor_id_of_65535_is_the_most_a_bitfield_says() {
    let mut tc = plain();
    tc.vendor_consents.max_vendor_id = u16::MAX;
    tc.vendor_consents.ids = [1, u16::MAX].into();
    let decoded = decode_tc_string(&crate::support::encode(&tc)).unwrap();
    assert_eq!(decoded.vendor_consents, tc.vendor_consents);
}

// ------------------------------------------------------------------- GPP

#[track_caller]
fn assert_section(err: &SignalError, index: usize, id: u8, start: usize) {
    assert_eq!(err.section, Some(SectionAt { index, id, start }), "{err}");
    assert_eq!(err.signal, SignalKind::GppString);
}

#[test]
fn a_header_that_is_not_one_is_refused() {
    assert_refused(
        decode_gpp("CBABTA~1YNN"),
        "header.type",
        0,
        OffsetUnit::Bit,
        "type 2 is not a GPP header",
    );
    assert_refused(decode_gpp("DCABTA~1YNN"), "header.version", 6, OffsetUnit::Bit, "version 2");
    assert_refused(decode_gpp("DB"), "header.section_ids", 12, OffsetUnit::Bit, "ends early");
    assert_refused(decode_gpp("~1YNN"), "header.type", 0, OffsetUnit::Character, "header is empty");
    assert_refused(decode_gpp("DB+BTA~1YNN"), "gpp_string", 2, OffsetUnit::Character, "standard base64");
}

#[test]
fn a_header_listing_a_different_number_of_sections_is_refused() {
    assert_refused(
        decode_gpp("DBABTA~1YNN~1YNN"),
        "header.section_ids",
        12,
        OffsetUnit::Bit,
        "lists 1 sections but the string has 2",
    );
    assert_refused(
        decode_gpp("DBACNY~1YNN"),
        "header.section_ids",
        12,
        OffsetUnit::Bit,
        "lists 2 sections but the string has 1",
    );
}

#[test]
fn an_endless_fibonacci_integer_is_refused_where_it_starts() {
    let mut bits = Bits::new();
    bits.int(3, 6).int(1, 6).int(1, 12).flag(false);
    bits.0.extend([false; 30]);
    let err = decode_gpp(&bits.base64()).unwrap_err();
    assert_eq!((err.field.as_str(), err.offset), ("header.section_ids", 25), "{err}");
    assert!(err.message.contains("longer than 24 bits"), "{err}");
}

#[test]
fn section_ids_above_255_are_refused() {
    let mut bits = Bits::new();
    bits.int(3, 6).int(1, 6).int(1, 12).flag(false).fibonacci(300);
    assert_refused(decode_gpp(&bits.base64()), "header.section_ids", 25, OffsetUnit::Bit, "section id 300");
}

#[test]
fn an_empty_section_names_its_section() {
    let err = decode_gpp("DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~").unwrap_err();
    assert_eq!((err.field.as_str(), err.offset, err.unit), ("uspv1", 52, OffsetUnit::Character), "{err}");
    assert_section(&err, 1, 6, 52);
    assert!(err.to_string().ends_with("(section 1, id 6, starting at character 52)"), "{err}");
}

/// A `usnat` v2 section string with sale_opt_out set to `sale`.
fn usnat(sale: u64) -> String {
    let mut bits = Bits::new();
    // version, six notices, sale, sharing and targeted advertising, 16 + 3
    // sensitive data values, personal data, then the three MSPA fields.
    bits.int(2, 6).int(0, 12).int(sale, 2).int(0, 2 * 21).int(0, 2).int(1, 2).int(0, 4);
    bits.base64()
}

#[test]
fn a_us_value_of_3_is_refused_with_its_field_and_bit() {
    let string = format!("DBABLA~{}", usnat(3));
    let err = decode_gpp(&string).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.offset, err.unit),
        ("usnat.sale_opt_out", 7 * 6 + 18, OffsetUnit::Bit),
        "{err}"
    );
    assert!(err.message.contains("value 3 is not defined"), "{err}");
    assert_section(&err, 0, 7, 7);
    assert!(decode_gpp(&format!("DBABLA~{}", usnat(1))).is_ok());
}

#[test]
fn a_us_section_cut_short_names_the_field() {
    // The version and the six notices, then nothing.
    let err = decode_gpp("DBABLA~CVQ").unwrap_err();
    assert_eq!((err.field.as_str(), err.offset), ("usnat.sale_opt_out", 7 * 6 + 18), "{err}");
    assert_section(&err, 0, 7, 7);
}

#[test]
fn an_unknown_us_section_version_is_refused() {
    // 'D' is version 3.
    assert_refused(decode_gpp("DBABLA~DAAAAAAAAAWA"), "usnat.version", 42, OffsetUnit::Bit, "only 1, 2");
    assert_refused(decode_gpp("DBABRg~CAAAABA"), "usva.version", 42, OffsetUnit::Bit, "version 2 of usva");
}

#[test]
fn subsections_other_than_one_gpc_are_refused() {
    assert_refused(
        decode_gpp("DBABRg~BAAAABA.YA"),
        "usva.subsection_type",
        15,
        OffsetUnit::Character,
        "no subsections",
    );
    // 'g' is 100000: subsection type 2.
    assert_refused(
        decode_gpp("DBABBg~BAAAAACA.gA"),
        "usca.subsection_type",
        16 * 6,
        OffsetUnit::Bit,
        "type 2",
    );
    assert_refused(
        decode_gpp("DBABBg~BAAAAACA.YA.YA"),
        "usca.subsection_type",
        19,
        OffsetUnit::Character,
        "only one",
    );
    assert_refused(
        decode_gpp("DBABBg~BAAAAACA."),
        "usca.subsection_type",
        16,
        OffsetUnit::Character,
        "empty",
    );
}

#[test]
fn a_malformed_tcfeuv2_section_carries_the_tc_string_field_at_its_bit_in_the_gpp_string() {
    let err = decode_gpp("DBABMA~CPXxRfAPXxRfAAfKABENB-CgAA").unwrap_err();
    assert_eq!((err.field.as_str(), err.offset), ("tcfeuv2.purposes_consent", 7 * 6 + 152), "{err}");
    assert_section(&err, 0, 2, 7);
    let err = decode_gpp("DBABMA~BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA").unwrap_err();
    assert_eq!((err.field.as_str(), err.offset), ("tcfeuv2.version", 42), "{err}");
}

#[test]
fn a_malformed_uspv1_section_is_refused_at_its_character() {
    assert_refused(decode_gpp("DBABTA~1YXN"), "uspv1.opt_out_sale", 9, OffsetUnit::Character, "Y, N or -");
    assert_refused(decode_gpp("DBABTA~2YNN"), "uspv1.version", 7, OffsetUnit::Character, "must be 1");
    assert_refused(decode_gpp("DBABTA~1YN"), "uspv1", 10, OffsetUnit::Character, "has 3 characters");
    assert!(decode_gpp("DBABTA~1yn-").is_ok(), "lower case is accepted");
}
