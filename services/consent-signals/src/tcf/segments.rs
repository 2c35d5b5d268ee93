//! The segments after the core one, each opened by a three-bit type.

use super::{PublisherTc, TcString, vendors};
use crate::bits::BitReader;
use crate::error::{Context, OffsetUnit, SignalError};

/// The segment types that may follow the core segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegmentType {
    DisclosedVendors,
    AllowedVendors,
    PublisherTc,
}

impl SegmentType {
    const fn name(self) -> &'static str {
        match self {
            Self::DisclosedVendors => "disclosed_vendors",
            Self::AllowedVendors => "allowed_vendors",
            Self::PublisherTc => "publisher_tc",
        }
    }

    fn is_in(self, tc: &TcString) -> bool {
        match self {
            Self::DisclosedVendors => tc.disclosed_vendors.is_some(),
            Self::AllowedVendors => tc.allowed_vendors.is_some(),
            Self::PublisherTc => tc.publisher_tc.is_some(),
        }
    }
}

/// Decodes each `(start, text)` segment into `tc`, in any order, each type
/// at most once.
pub(super) fn decode_all<'a>(
    parts: impl Iterator<Item = (usize, &'a str)>,
    ctx: &Context,
    tc: &mut TcString,
) -> Result<(), SignalError> {
    for (start, text) in parts {
        if text.is_empty() {
            return Err(ctx.error("", "segment_type", start, OffsetUnit::Character, "segment is empty"));
        }
        let mut r = BitReader::new(text, start, ctx)?;
        let segment_type = read_type(&mut r)?;
        if segment_type.is_in(tc) {
            let message = format!("a second {} segment", segment_type.name());
            return Err(r.error_at("segment_type", start * crate::bits::BITS_PER_CHAR, message));
        }
        match segment_type {
            SegmentType::DisclosedVendors => {
                tc.disclosed_vendors = Some(vendors::read_vendor_set(&mut r, "disclosed_vendors")?);
            }
            SegmentType::AllowedVendors => {
                tc.allowed_vendors = Some(vendors::read_vendor_set(&mut r, "allowed_vendors")?);
            }
            SegmentType::PublisherTc => tc.publisher_tc = Some(read_publisher_tc(&mut r)?),
        }
    }
    Ok(())
}

fn read_type(r: &mut BitReader<'_>) -> Result<SegmentType, SignalError> {
    let at = r.offset();
    match r.read_u8("segment_type", 3)? {
        1 => Ok(SegmentType::DisclosedVendors),
        2 => Ok(SegmentType::AllowedVendors),
        3 => Ok(SegmentType::PublisherTc),
        0 => Err(r.error_at("segment_type", at, "segment type 0 (core) may only come first")),
        other => {
            let message = format!(
                "segment type {other} is not defined (1 disclosed vendors, 2 allowed vendors, 3 publisher TC)"
            );
            Err(r.error_at("segment_type", at, message))
        }
    }
}

fn read_publisher_tc(r: &mut BitReader<'_>) -> Result<PublisherTc, SignalError> {
    r.set_scope("publisher_tc");
    let purposes_consent = r.read_small_ids("pub_purposes_consent", 24)?;
    let purposes_li_transparency = r.read_small_ids("pub_purposes_li_transparency", 24)?;
    let num_custom_purposes = r.read_u8("num_custom_purposes", 6)?;
    let custom_purposes_consent = r.read_small_ids("custom_purposes_consent", num_custom_purposes)?;
    let custom_purposes_li_transparency =
        r.read_small_ids("custom_purposes_li_transparency", num_custom_purposes)?;
    r.set_scope("");
    Ok(PublisherTc {
        purposes_consent,
        purposes_li_transparency,
        num_custom_purposes,
        custom_purposes_consent,
        custom_purposes_li_transparency,
    })
}
