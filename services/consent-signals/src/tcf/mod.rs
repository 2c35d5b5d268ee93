//! IAB TCF v2 (v2.2) TC strings.
//!
//! A TC string is one to four segments separated by `.`, each a bit string
//! in base64url. The first is the core segment, which carries no segment
//! type (its first six bits are the version, which must be 2). Its fields, in
//! the order and at the bit offsets the spec gives them:
//!
//! | bit | width | field |
//! |---|---|---|
//! | 0 | 6 | `version` (2) |
//! | 6 | 36 | `created`, deciseconds since the Unix epoch |
//! | 42 | 36 | `last_updated`, the same |
//! | 78 | 12 | `cmp_id` |
//! | 90 | 12 | `cmp_version` |
//! | 102 | 6 | `consent_screen` |
//! | 108 | 12 | `consent_language`: two letters, six bits each, 0 = `A` |
//! | 120 | 12 | `vendor_list_version` |
//! | 132 | 6 | `tcf_policy_version` |
//! | 138 | 1 | `is_service_specific` |
//! | 139 | 1 | `use_non_standard_texts` |
//! | 140 | 12 | `special_feature_opt_ins`: bit *i* is special feature *i + 1* |
//! | 152 | 24 | `purposes_consent`: bit *i* is purpose *i + 1* |
//! | 176 | 24 | `purposes_li_transparency` |
//! | 200 | 1 | `purpose_one_treatment` |
//! | 201 | 12 | `publisher_cc`: two letters |
//! | 213 | … | `vendor_consents`, then `vendor_legitimate_interests`, then `publisher_restrictions` |
//!
//! A vendor section is `max_vendor_id` (16 bits) and `is_range_encoding`
//! (1 bit), then either a bitfield of `max_vendor_id` bits or `num_entries`
//! (12 bits) entries, each `is_a_range` (1 bit), a start vendor id (16 bits)
//! and, for a range, an end vendor id (16 bits). Publisher restrictions are
//! `num_pub_restrictions` (12 bits), each a `purpose_id` (6 bits), a
//! `restriction_type` (2 bits: 0 not allowed, 1 require consent, 2 require
//! legitimate interest) and vendor entries as above.
//!
//! The other segments start with a three-bit segment type: 1 disclosed
//! vendors and 2 allowed vendors (each a vendor section), 3 publisher TC
//! (`pub_purposes_consent` and `pub_purposes_li_transparency`, 24 bits
//! each, `num_custom_purposes`, 6 bits, and two bitfields of that many
//! bits). All three are decoded. Bits after the last field of a segment are
//! padding and ignored: encoders pad to whole characters or more.
//!
//! # What is refused
//!
//! Beyond a string that ends early, a character outside base64url (padding
//! `=` included) and a version other than 2, this decoder refuses what the
//! spec rules out and what would let a short string cost a lot of memory:
//! vendor id 0, range entries out of order, overlapping or ending before
//! they start, range entries beyond the section's `max_vendor_id`, a
//! publisher restriction for purpose 0 or above 24, restriction type 3, a
//! segment type other than 1–3 (or one given twice), an empty segment, a
//! letter value above 25, more than [`MAX_RESTRICTED_VENDOR_IDS`] vendor ids
//! across all publisher restrictions, and strings longer than
//! [`crate::MAX_SIGNAL_LEN`]. A vendor section needs no cap of its own:
//! `max_vendor_id` is a 16-bit field (at most 65,535), a bitfield costs a
//! bit per vendor, and range entries must ascend below it. Bits set in a bitfield beyond the purposes
//! (or special features) the policy defines today are kept: they are what
//! the string says, and the decisions read only the purposes they know
//! ([`crate::TCF_PURPOSES`]). Two restrictions for the same purpose and
//! type are merged, as IAB's own decoder does.

mod core_segment;
mod segments;
mod vendors;

use std::collections::BTreeSet;

use consent_core::time::Timestamp;
use serde::{Serialize, Serializer};

use crate::error::{Context, SignalError, SignalKind};

/// The most vendor ids all publisher restrictions of one string may name
/// together (ranges counted in full). Each vendor section is bounded by its
/// 16-bit `max_vendor_id`; restrictions have no such bound.
pub const MAX_RESTRICTED_VENDOR_IDS: usize = 131_072;

/// A decoded TC string.
///
/// Every set is the ids it holds, ascending. Serialized with these field
/// names, times as RFC 3339 (UTC, microseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcString {
    /// Always 2.
    pub version: u8,
    /// When the string was first created (to the decisecond).
    #[serde(serialize_with = "rfc3339")]
    pub created: Timestamp,
    /// When it was last updated (to the decisecond).
    #[serde(serialize_with = "rfc3339")]
    pub last_updated: Timestamp,
    /// The CMP that last updated it.
    pub cmp_id: u16,
    /// That CMP's version.
    pub cmp_version: u16,
    /// The CMP's screen where consent was given.
    pub consent_screen: u8,
    /// Two upper-case letters (ISO 639-1).
    pub consent_language: String,
    /// The global vendor list version the string was made with.
    pub vendor_list_version: u16,
    /// The TCF policy version (4 for TCF v2.2).
    pub tcf_policy_version: u8,
    /// Whether the signals come from service-specific storage.
    pub is_service_specific: bool,
    /// Whether the CMP used non-standard texts.
    pub use_non_standard_texts: bool,
    /// Special features opted in to (1..=12).
    pub special_feature_opt_ins: BTreeSet<u8>,
    /// Purposes consented to (1..=24).
    pub purposes_consent: BTreeSet<u8>,
    /// Purposes whose legitimate interest was disclosed and not objected to
    /// (1..=24).
    pub purposes_li_transparency: BTreeSet<u8>,
    /// Whether purpose 1 was not disclosed (a publisher in a country
    /// without that rule).
    pub purpose_one_treatment: bool,
    /// The publisher's country: two upper-case letters (ISO 3166-1 alpha-2).
    pub publisher_cc: String,
    /// Vendors consented to.
    pub vendor_consents: VendorSet,
    /// Vendors whose legitimate interest was disclosed and not objected to.
    pub vendor_legitimate_interests: VendorSet,
    /// The publisher's restrictions, in the string's order.
    pub publisher_restrictions: Vec<PublisherRestriction>,
    /// The disclosed vendors segment, when present.
    pub disclosed_vendors: Option<VendorSet>,
    /// The allowed vendors segment (TCF v2.0 and v2.1), when present.
    pub allowed_vendors: Option<VendorSet>,
    /// The publisher TC segment, when present.
    pub publisher_tc: Option<PublisherTc>,
}

/// One vendor section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VendorSet {
    /// The highest vendor id the section covers.
    pub max_vendor_id: u16,
    /// How the ids were written.
    pub encoding: VendorEncoding,
    /// The vendor ids in the set (each at most `max_vendor_id`).
    pub ids: BTreeSet<u16>,
}

/// How a vendor section writes its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorEncoding {
    /// One bit per vendor id up to `max_vendor_id`.
    Bitfield,
    /// A list of single ids and ranges.
    Range,
}

/// A publisher's restriction of a purpose for some vendors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherRestriction {
    /// The purpose (1..=24).
    pub purpose_id: u8,
    /// What the publisher requires.
    pub restriction_type: RestrictionType,
    /// The vendors restricted.
    pub vendor_ids: BTreeSet<u16>,
}

/// What a publisher restriction requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictionType {
    /// 0: the purpose is not allowed for these vendors.
    NotAllowed,
    /// 1: these vendors need consent for the purpose.
    RequireConsent,
    /// 2: these vendors need legitimate interest for the purpose.
    RequireLegitimateInterest,
}

/// The publisher TC segment: the publisher's own purposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherTc {
    /// Purposes consented to for the publisher (1..=24).
    pub purposes_consent: BTreeSet<u8>,
    /// Purposes under the publisher's legitimate interest (1..=24).
    pub purposes_li_transparency: BTreeSet<u8>,
    /// How many custom purposes the publisher defines (0..=63).
    pub num_custom_purposes: u8,
    /// Custom purposes consented to.
    pub custom_purposes_consent: BTreeSet<u8>,
    /// Custom purposes under legitimate interest.
    pub custom_purposes_li_transparency: BTreeSet<u8>,
}

fn rfc3339<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339())
}

/// Decodes a TC string (the value of the `euconsent-v2` cookie or
/// `__tcfapi`'s `tcString`).
///
/// Refuses a malformed string with the field and offset of the fault: see
/// the [module docs](self) and [`SignalError`].
pub fn decode_tc_string(s: &str) -> Result<TcString, SignalError> {
    let ctx = Context::top(SignalKind::TcString);
    crate::check_length(s, &ctx)?;
    decode_in(s, 0, &ctx)
}

/// Decodes a TC string that starts at character `start` of a larger string
/// (a GPP section); errors carry `ctx`.
pub(crate) fn decode_in(text: &str, start: usize, ctx: &Context) -> Result<TcString, SignalError> {
    if text.is_empty() {
        return Err(ctx.whole(start, "is empty"));
    }
    let mut parts = crate::bits::split_with_offsets(text, '.');
    let (core_start, core_text) = parts.next().unwrap_or((0, text));
    let mut tc = core_segment::decode(core_text, start + core_start, ctx)?;
    segments::decode_all(parts.map(|(at, part)| (start + at, part)), ctx, &mut tc)?;
    Ok(tc)
}
