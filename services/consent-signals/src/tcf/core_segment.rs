//! The core segment, read field by field in the spec's order.

use consent_core::time::Timestamp;

use super::{TcString, vendors};
use crate::bits::BitReader;
use crate::error::{Context, SignalError};

/// The only TC string version decoded.
const VERSION: u8 = 2;

/// Microseconds in a decisecond, the unit of `created` and `last_updated`.
const MICROS_PER_DECISECOND: i64 = 100_000;

/// Decodes the core segment `text`, which starts at character `start`.
pub(super) fn decode(text: &str, start: usize, ctx: &Context) -> Result<TcString, SignalError> {
    let mut r = BitReader::new(text, start, ctx)?;
    let version_at = r.offset();
    let version = r.read_u8("version", 6)?;
    if version != VERSION {
        let message = format!("version {version} is not supported (TCF v2 strings have version {VERSION})");
        return Err(r.error_at("version", version_at, message));
    }
    // A struct expression evaluates its fields in the order written, which
    // here is the order of the fields in the string.
    Ok(TcString {
        version,
        created: timestamp(r.read("created", 36)?),
        last_updated: timestamp(r.read("last_updated", 36)?),
        cmp_id: r.read_u16("cmp_id", 12)?,
        cmp_version: r.read_u16("cmp_version", 12)?,
        consent_screen: r.read_u8("consent_screen", 6)?,
        consent_language: r.read_letters("consent_language", 2)?,
        vendor_list_version: r.read_u16("vendor_list_version", 12)?,
        tcf_policy_version: r.read_u8("tcf_policy_version", 6)?,
        is_service_specific: r.read_bool("is_service_specific")?,
        use_non_standard_texts: r.read_bool("use_non_standard_texts")?,
        special_feature_opt_ins: r.read_small_ids("special_feature_opt_ins", 12)?,
        purposes_consent: r.read_small_ids("purposes_consent", 24)?,
        purposes_li_transparency: r.read_small_ids("purposes_li_transparency", 24)?,
        purpose_one_treatment: r.read_bool("purpose_one_treatment")?,
        publisher_cc: r.read_letters("publisher_cc", 2)?,
        vendor_consents: vendors::read_vendor_set(&mut r, "vendor_consents")?,
        vendor_legitimate_interests: vendors::read_vendor_set(&mut r, "vendor_legitimate_interests")?,
        publisher_restrictions: vendors::read_restrictions(&mut r)?,
        disclosed_vendors: None,
        allowed_vendors: None,
        publisher_tc: None,
    })
}

/// A 36-bit count of deciseconds since the epoch as a timestamp (it cannot
/// overflow: 2^36 deciseconds are about 218 years).
fn timestamp(deciseconds: u64) -> Timestamp {
    let deciseconds = i64::try_from(deciseconds).unwrap_or(i64::MAX);
    Timestamp::from_micros(deciseconds.saturating_mul(MICROS_PER_DECISECOND))
}
