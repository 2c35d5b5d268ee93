//! Fixtures, a bit writer and a small TC string encoder for the tests.

use std::collections::BTreeSet;

use consent_signals::{PublisherRestriction, RestrictionType, TcString, VendorEncoding, VendorSet};
use serde::Deserialize;
use serde_json::Value;

/// One fixture: a string and its reference decode.
#[derive(Debug, Deserialize)]
pub(crate) struct Fixture {
    pub(crate) name: String,
    pub(crate) source: String,
    pub(crate) string: String,
    pub(crate) expected: Value,
}

fn load(file: &str) -> Vec<Fixture> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

pub(crate) fn tcf_fixtures() -> Vec<Fixture> {
    load("tcf.json")
}

pub(crate) fn gpp_fixtures() -> Vec<Fixture> {
    load("gpp.json")
}

/// Asserts that each field of `expected` (an object) equals the same field
/// of `actual`, naming the fixture and field on a mismatch.
pub(crate) fn assert_fields(name: &str, actual: &Value, expected: &Value) {
    let expected = expected.as_object().unwrap_or_else(|| panic!("{name}: expected is not an object"));
    for (field, value) in expected {
        assert_eq!(actual.get(field), Some(value), "{name}: field {field}");
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Bits written in order, turned into base64url zero-padded to a multiple of
/// 24 bits, as IAB's encoder pads (other decoders need whole base64 quads).
#[derive(Debug, Default, Clone)]
pub(crate) struct Bits(pub(crate) Vec<bool>);

impl Bits {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `value` in `width` bits, most significant first.
    pub(crate) fn int(&mut self, value: u64, width: usize) -> &mut Self {
        for i in (0..width).rev() {
            self.0.push((value >> i) & 1 == 1);
        }
        self
    }

    pub(crate) fn flag(&mut self, value: bool) -> &mut Self {
        self.0.push(value);
        self
    }

    /// Bits `1..=width`, set for the ids in `ids`.
    pub(crate) fn field<T: Copy + Into<u64>>(&mut self, ids: &BTreeSet<T>, width: u64) -> &mut Self {
        let ids: BTreeSet<u64> = ids.iter().map(|id| (*id).into()).collect();
        for id in 1..=width {
            self.0.push(ids.contains(&id));
        }
        self
    }

    pub(crate) fn letters(&mut self, text: &str) -> &mut Self {
        for byte in text.bytes() {
            self.int(u64::from(byte - b'A'), 6);
        }
        self
    }

    /// A Fibonacci-coded integer (at least 1).
    pub(crate) fn fibonacci(&mut self, mut value: u64) -> &mut Self {
        let mut weights = vec![1_u64, 2];
        while weights[weights.len() - 1] + weights[weights.len() - 2] <= value {
            weights.push(weights[weights.len() - 1] + weights[weights.len() - 2]);
        }
        let mut code = vec![false; weights.len()];
        for (i, weight) in weights.iter().enumerate().rev() {
            if *weight <= value {
                code[i] = true;
                value -= weight;
            }
        }
        while code.last() == Some(&false) {
            code.pop();
        }
        self.0.extend(code);
        self.0.push(true);
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn base64(&self) -> String {
        let mut bits = self.0.clone();
        bits.resize(self.0.len().div_ceil(24) * 24, false);
        bits.chunks(6)
            .map(|chunk| {
                let value =
                    (0..6).fold(0, |v, i| (v << 1) | usize::from(chunk.get(i).copied().unwrap_or(false)));
                char::from(ALPHABET[value])
            })
            .collect()
    }
}

/// Maximal runs of consecutive ids, as `(start, end)`.
pub(crate) fn runs(ids: &BTreeSet<u16>) -> Vec<(u16, u16)> {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &id in ids {
        match runs.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == u32::from(id) => *end = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

fn entries(bits: &mut Bits, ids: &BTreeSet<u16>) {
    let runs = runs(ids);
    bits.int(runs.len() as u64, 12);
    for (start, end) in runs {
        bits.flag(start != end).int(u64::from(start), 16);
        if start != end {
            bits.int(u64::from(end), 16);
        }
    }
}

fn vendor_set(bits: &mut Bits, set: &VendorSet) {
    bits.int(u64::from(set.max_vendor_id), 16);
    match set.encoding {
        VendorEncoding::Bitfield => {
            bits.flag(false).field(&set.ids, u64::from(set.max_vendor_id));
        }
        VendorEncoding::Range => {
            bits.flag(true);
            entries(bits, &set.ids);
        }
    }
}

fn restriction_type(value: RestrictionType) -> u64 {
    match value {
        RestrictionType::NotAllowed => 0,
        RestrictionType::RequireConsent => 1,
        RestrictionType::RequireLegitimateInterest => 2,
    }
}

/// The core segment's bits.
pub(crate) fn core_bits(tc: &TcString) -> Bits {
    let mut bits = Bits::new();
    bits.int(u64::from(tc.version), 6)
        .int((tc.created.as_micros() / 100_000) as u64, 36)
        .int((tc.last_updated.as_micros() / 100_000) as u64, 36)
        .int(u64::from(tc.cmp_id), 12)
        .int(u64::from(tc.cmp_version), 12)
        .int(u64::from(tc.consent_screen), 6)
        .letters(&tc.consent_language)
        .int(u64::from(tc.vendor_list_version), 12)
        .int(u64::from(tc.tcf_policy_version), 6)
        .flag(tc.is_service_specific)
        .flag(tc.use_non_standard_texts)
        .field(&tc.special_feature_opt_ins, 12)
        .field(&tc.purposes_consent, 24)
        .field(&tc.purposes_li_transparency, 24)
        .flag(tc.purpose_one_treatment)
        .letters(&tc.publisher_cc);
    vendor_set(&mut bits, &tc.vendor_consents);
    vendor_set(&mut bits, &tc.vendor_legitimate_interests);
    bits.int(tc.publisher_restrictions.len() as u64, 12);
    for PublisherRestriction { purpose_id, restriction_type: kind, vendor_ids } in &tc.publisher_restrictions
    {
        bits.int(u64::from(*purpose_id), 6).int(restriction_type(*kind), 2);
        entries(&mut bits, vendor_ids);
    }
    bits
}

/// `tc` as a TC string: the core segment and each optional one present.
pub(crate) fn encode(tc: &TcString) -> String {
    let mut segments = vec![core_bits(tc).base64()];
    for (kind, set) in [(1, &tc.disclosed_vendors), (2, &tc.allowed_vendors)] {
        if let Some(set) = set {
            let mut bits = Bits::new();
            bits.int(kind, 3);
            vendor_set(&mut bits, set);
            segments.push(bits.base64());
        }
    }
    if let Some(publisher) = &tc.publisher_tc {
        let custom = u64::from(publisher.num_custom_purposes);
        let mut bits = Bits::new();
        bits.int(3, 3)
            .field(&publisher.purposes_consent, 24)
            .field(&publisher.purposes_li_transparency, 24)
            .int(custom, 6)
            .field(&publisher.custom_purposes_consent, custom)
            .field(&publisher.custom_purposes_li_transparency, custom);
        segments.push(bits.base64());
    }
    segments.join(".")
}

/// A plain valid TC string's decode: everything empty, nothing optional.
pub(crate) fn plain() -> TcString {
    consent_signals::decode_tc_string("CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA").unwrap()
}
