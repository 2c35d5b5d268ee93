//! The GPP header: type 3, version 1 and the ids of the sections that follow.

use crate::bits::BitReader;
use crate::error::{Context, SignalError};

/// The header's own section id, its first field.
const HEADER_TYPE: u8 = 3;
/// The only GPP version decoded.
const VERSION: u8 = 1;

/// What the header says.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) version: u8,
    /// Strictly ascending (the encoding cannot say otherwise).
    pub(super) section_ids: Vec<u8>,
    /// The bit offset of the section id list, for errors about it.
    pub(super) section_ids_at: usize,
}

/// Decodes the header `text`, the start of the whole string.
pub(super) fn decode(text: &str, ctx: &Context) -> Result<Header, SignalError> {
    let mut r = BitReader::new(text, 0, ctx)?;
    r.set_scope("header");
    let type_at = r.offset();
    let header_type = r.read_u8("type", 6)?;
    if header_type != HEADER_TYPE {
        let message = format!("type {header_type} is not a GPP header (type {HEADER_TYPE})");
        return Err(r.error_at("type", type_at, message));
    }
    let version_at = r.offset();
    let version = r.read_u8("version", 6)?;
    if version != VERSION {
        let message = format!("version {version} is not supported (GPP version {VERSION})");
        return Err(r.error_at("version", version_at, message));
    }
    let section_ids_at = r.offset();
    let section_ids = read_section_ids(&mut r)?;
    Ok(Header { version, section_ids, section_ids_at })
}

/// A Fibonacci range: `num_entries` (12 bits), then each `is_a_range` and one
/// Fibonacci integer (a single id) or two (a range). Each id is the offset
/// from the previous id (0 before the first), a range's end the offset from
/// its start; so the ids ascend.
fn read_section_ids(r: &mut BitReader<'_>) -> Result<Vec<u8>, SignalError> {
    let count = r.read_u16("section_ids", 12)?;
    let mut ids = Vec::new();
    let mut last = 0_u32;
    for _ in 0..count {
        let is_range = r.read_bool("section_ids")?;
        let at = r.offset();
        let start = last + u32::from(r.read_fibonacci("section_ids")?);
        let end = if is_range { start + u32::from(r.read_fibonacci("section_ids")?) } else { start };
        // Ids above 255 are refused: sections ids are far smaller, and the
        // bound keeps a short header from naming millions of sections.
        let end = u8::try_from(end)
            .map_err(|_| r.error_at("section_ids", at, format!("section id {end} is above {}", u8::MAX)))?;
        // `start` is at most `end`, which fits.
        let start = u8::try_from(start).unwrap_or(end);
        ids.extend(start..=end);
        last = u32::from(end);
    }
    Ok(ids)
}
