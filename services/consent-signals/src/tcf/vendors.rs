//! Vendor sections (bitfield or range encoded) and publisher restrictions.

use std::collections::BTreeSet;

use super::{MAX_RESTRICTED_VENDOR_IDS, PublisherRestriction, RestrictionType, VendorEncoding, VendorSet};
use crate::bits::BitReader;
use crate::error::SignalError;

/// The purposes a publisher restriction may name.
const RESTRICTABLE_PURPOSES: std::ops::RangeInclusive<u8> = 1..=24;

/// A vendor section (`max_vendor_id`, `is_range_encoding`, then a bitfield or
/// range entries), its fields named under `scope` in errors.
pub(super) fn read_vendor_set(r: &mut BitReader<'_>, scope: &'static str) -> Result<VendorSet, SignalError> {
    r.set_scope(scope);
    let max_vendor_id = r.read_u16("max_vendor_id", 16)?;
    let (encoding, ids) = if r.read_bool("is_range_encoding")? {
        // Ids are ascending and at most max_vendor_id, so the set is bounded
        // without a budget of its own.
        let mut unbounded = usize::MAX;
        (VendorEncoding::Range, read_entries(r, Some(max_vendor_id), &mut unbounded)?)
    } else {
        (VendorEncoding::Bitfield, r.read_ids("bitfield", max_vendor_id)?)
    };
    r.set_scope("");
    Ok(VendorSet { max_vendor_id, encoding, ids })
}

/// The publisher restrictions that end the core segment.
pub(super) fn read_restrictions(r: &mut BitReader<'_>) -> Result<Vec<PublisherRestriction>, SignalError> {
    r.set_scope("publisher_restrictions");
    let count = r.read_u16("num_pub_restrictions", 12)?;
    let mut budget = MAX_RESTRICTED_VENDOR_IDS;
    let mut restrictions: Vec<PublisherRestriction> = Vec::new();
    for _ in 0..count {
        let purpose_at = r.offset();
        let purpose_id = r.read_u8("purpose_id", 6)?;
        if !RESTRICTABLE_PURPOSES.contains(&purpose_id) {
            return Err(r.error_at(
                "purpose_id",
                purpose_at,
                format!("purpose {purpose_id} is outside 1..=24"),
            ));
        }
        let restriction_type = read_restriction_type(r)?;
        let vendor_ids = read_entries(r, None, &mut budget)?;
        // IAB's decoder keys restrictions by purpose and type, so a pair given
        // twice is one restriction naming the vendors of both.
        let same = restrictions
            .iter_mut()
            .find(|known| known.purpose_id == purpose_id && known.restriction_type == restriction_type);
        match same {
            Some(known) => known.vendor_ids.extend(vendor_ids),
            None => restrictions.push(PublisherRestriction { purpose_id, restriction_type, vendor_ids }),
        }
    }
    r.set_scope("");
    Ok(restrictions)
}

fn read_restriction_type(r: &mut BitReader<'_>) -> Result<RestrictionType, SignalError> {
    let at = r.offset();
    match r.read_u8("restriction_type", 2)? {
        0 => Ok(RestrictionType::NotAllowed),
        1 => Ok(RestrictionType::RequireConsent),
        2 => Ok(RestrictionType::RequireLegitimateInterest),
        other => Err(r.error_at("restriction_type", at, format!("type {other} is not defined (0, 1 or 2)"))),
    }
}

/// Range entries: `num_entries` (12 bits), then each a single vendor id or a
/// range. Entries ascend without overlapping, name no vendor 0 and none
/// above `max`; together they may name at most `budget` ids, which is
/// reduced by what they name.
fn read_entries(
    r: &mut BitReader<'_>,
    max: Option<u16>,
    budget: &mut usize,
) -> Result<BTreeSet<u16>, SignalError> {
    let count = r.read_u16("num_entries", 12)?;
    let mut ids = BTreeSet::new();
    let mut previous_end = None;
    for _ in 0..count {
        let entry_at = r.offset();
        let (start, end) = read_entry(r, max, previous_end)?;
        let size = usize::from(end - start) + 1;
        if size > *budget {
            let message = format!("the restrictions name more than {MAX_RESTRICTED_VENDOR_IDS} vendor ids");
            return Err(r.error_at("vendor_ids", entry_at, message));
        }
        *budget -= size;
        ids.extend(start..=end);
        previous_end = Some(end);
    }
    Ok(ids)
}

/// One entry: `is_a_range`, `start_or_only_vendor_id` and, for a range,
/// `end_vendor_id`; checked against `max` and the previous entry's end.
fn read_entry(
    r: &mut BitReader<'_>,
    max: Option<u16>,
    previous_end: Option<u16>,
) -> Result<(u16, u16), SignalError> {
    let is_range = r.read_bool("is_a_range")?;
    let start_at = r.offset();
    let start = read_vendor_id(r, "start_or_only_vendor_id", max)?;
    if let Some(previous) = previous_end
        && start <= previous
    {
        let message =
            format!("vendor id {start} is not above the previous entry's {previous} (entries ascend)");
        return Err(r.error_at("start_or_only_vendor_id", start_at, message));
    }
    if !is_range {
        return Ok((start, start));
    }
    let end_at = r.offset();
    let end = read_vendor_id(r, "end_vendor_id", max)?;
    if end < start {
        return Err(r.error_at(
            "end_vendor_id",
            end_at,
            format!("range ends at {end}, before its start {start}"),
        ));
    }
    Ok((start, end))
}

fn read_vendor_id(r: &mut BitReader<'_>, field: &str, max: Option<u16>) -> Result<u16, SignalError> {
    let at = r.offset();
    let id = r.read_u16(field, 16)?;
    if id == 0 {
        return Err(r.error_at(field, at, "vendor id 0 does not exist (ids start at 1)"));
    }
    if let Some(max) = max
        && id > max
    {
        return Err(r.error_at(field, at, format!("vendor id {id} exceeds max_vendor_id {max}")));
    }
    Ok(id)
}
