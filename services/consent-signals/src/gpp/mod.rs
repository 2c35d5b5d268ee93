//! IAB GPP (Global Privacy Platform) strings.
//!
//! A GPP string is a header and sections separated by `~`, such as
//! `DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN`. The header is
//! base64url bits: `type` (6 bits, 3), `version` (6 bits, 1) and the
//! section ids as a Fibonacci-coded range (each id the offset from the one
//! before, a range's end the offset from its start); one section follows
//! for each id, in the same order.
//!
//! Sections decoded here:
//!
//! | id | name | decoded as |
//! |---|---|---|
//! | 2 | `tcfeuv2` | [`TcString`]: the section is a TC string |
//! | 6 | `uspv1` | [`UspV1`] |
//! | 7 | `usnat` (versions 1 and 2) | [`UsSection`] |
//! | 8 | `usca` | [`UsSection`] |
//! | 9 | `usva` | [`UsSection`] |
//! | 10 | `usco` | [`UsSection`] |
//! | 11 | `usut` | [`UsSection`] |
//! | 12 | `usct` | [`UsSection`] |
//!
//! Any other section (TCF Canada, the other states, ids not yet assigned)
//! is kept as its text, [`SectionContent::NotDecoded`]: a string that
//! carries one still decodes, and its other sections still count.
//!
//! Refused: a header whose type is not 3 or version not 1, a header that
//! lists a different number of sections than the string has, an empty
//! section, and any fault inside a decoded section (with the section's
//! index, id and first character in [`crate::SignalError::section`]).

mod header;
mod us;
mod uspv1;

use serde::Serialize;

pub use us::{OptOut, UsSection};
pub use uspv1::{UspFlag, UspV1};

use crate::bits::split_with_offsets;
use crate::error::{Context, SectionAt, SignalError, SignalKind};
use crate::tcf::TcString;

/// The GPP section id of TCF EU v2.
pub const TCF_EU_V2: u8 = 2;
/// The GPP section id of US Privacy (`uspv1`).
pub const USP_V1: u8 = 6;

/// A decoded GPP string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GppString {
    /// The GPP version (1).
    pub version: u8,
    /// The section ids the header lists, ascending.
    pub section_ids: Vec<u8>,
    /// The sections, in the header's order.
    pub sections: Vec<GppSection>,
}

/// One section of a GPP string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GppSection {
    /// The section id.
    pub id: u8,
    /// The section's name in the spec (`usnat`), or `unknown`.
    pub name: &'static str,
    /// The character offset of the section's first character.
    pub start: usize,
    /// What it says.
    pub content: SectionContent,
}

/// A section's decoded content, tagged with `kind` when serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SectionContent {
    /// `tcfeuv2` (boxed: a TC string is many times larger than the others).
    TcfEuV2(Box<TcString>),
    /// `usnat` or a state section.
    Us(UsSection),
    /// `uspv1`.
    UspV1(UspV1),
    /// A section this crate does not decode, as it was written.
    NotDecoded {
        /// The section's text.
        raw: String,
    },
}

/// The opt-outs of one US section (or `uspv1`), the view all share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UsOptOuts {
    /// The section's name.
    pub section: &'static str,
    /// Sale of personal data.
    pub sale_opt_out: Option<OptOut>,
    /// Sharing of personal data.
    pub sharing_opt_out: Option<OptOut>,
    /// Targeted advertising.
    pub targeted_advertising_opt_out: Option<OptOut>,
    /// The GPC subsection's signal, where the section carries one.
    pub gpc: Option<bool>,
}

impl GppString {
    /// The section with id `id`.
    pub fn section(&self, id: u8) -> Option<&GppSection> {
        self.sections.iter().find(|section| section.id == id)
    }

    /// The `tcfeuv2` section's TC string.
    pub fn tcf_eu_v2(&self) -> Option<&TcString> {
        self.sections.iter().find_map(|section| match &section.content {
            SectionContent::TcfEuV2(tc) => Some(tc.as_ref()),
            SectionContent::Us(_) | SectionContent::UspV1(_) | SectionContent::NotDecoded { .. } => None,
        })
    }

    /// The opt-outs of every US section and `uspv1`, in the string's order.
    pub fn us_opt_outs(&self) -> Vec<UsOptOuts> {
        self.sections.iter().filter_map(GppSection::us_opt_outs).collect()
    }
}

impl GppSection {
    /// The opt-outs, for a US section or `uspv1`.
    pub fn us_opt_outs(&self) -> Option<UsOptOuts> {
        match &self.content {
            SectionContent::Us(us) => Some(UsOptOuts {
                section: us.name,
                sale_opt_out: us.sale_opt_out,
                sharing_opt_out: us.sharing_opt_out,
                targeted_advertising_opt_out: us.targeted_advertising_opt_out,
                gpc: us.gpc,
            }),
            SectionContent::UspV1(usp) => Some(UsOptOuts {
                section: self.name,
                sale_opt_out: Some(usp.opt_out_sale),
                sharing_opt_out: None,
                targeted_advertising_opt_out: None,
                gpc: None,
            }),
            SectionContent::TcfEuV2(_) | SectionContent::NotDecoded { .. } => None,
        }
    }
}

/// The spec's name of section `id`.
pub fn section_name(id: u8) -> &'static str {
    const NAMES: [&str; 28] = [
        "unknown",
        "tcfeuv1",
        "tcfeuv2",
        "header",
        "signal_integrity",
        "tcfcav1",
        "uspv1",
        "usnat",
        "usca",
        "usva",
        "usco",
        "usut",
        "usct",
        "usfl",
        "usmt",
        "usor",
        "ustx",
        "usde",
        "usia",
        "usne",
        "usnh",
        "usnj",
        "ustn",
        "usmn",
        "usmd",
        "usin",
        "usky",
        "usri",
    ];
    NAMES.get(usize::from(id)).copied().unwrap_or("unknown")
}

/// Decodes a GPP string (the `__gpp` API's `gppString`, or the `gpp` query
/// parameter of an ad request).
///
/// Refuses a malformed string with the field and offset of the fault: see
/// the [module docs](self) and [`SignalError`].
pub fn decode_gpp(s: &str) -> Result<GppString, SignalError> {
    let ctx = Context::top(SignalKind::GppString);
    crate::check_length(s, &ctx)?;
    let mut parts = split_with_offsets(s, '~');
    let (_, header_text) = parts.next().unwrap_or((0, s));
    if header_text.is_empty() {
        return Err(ctx.error("header", "type", 0, crate::OffsetUnit::Character, "header is empty"));
    }
    let header = header::decode(header_text, &ctx)?;
    let parts: Vec<(usize, &str)> = parts.collect();
    if parts.len() != header.section_ids.len() {
        let message = format!(
            "the header lists {} sections but the string has {}",
            header.section_ids.len(),
            parts.len()
        );
        return Err(ctx.error(
            "header",
            "section_ids",
            header.section_ids_at,
            crate::OffsetUnit::Bit,
            message,
        ));
    }
    let sections = header
        .section_ids
        .iter()
        .zip(parts)
        .enumerate()
        .map(|(index, (&id, (start, text)))| decode_section(SectionAt { index, id, start }, text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GppString { version: header.version, section_ids: header.section_ids, sections })
}

fn decode_section(at: SectionAt, text: &str) -> Result<GppSection, SignalError> {
    let name = section_name(at.id);
    let ctx = Context { signal: SignalKind::GppString, prefix: name, section: Some(at) };
    if text.is_empty() {
        return Err(ctx.whole(at.start, "section is empty"));
    }
    let content = match at.id {
        TCF_EU_V2 => SectionContent::TcfEuV2(Box::new(crate::tcf::decode_in(text, at.start, &ctx)?)),
        USP_V1 => SectionContent::UspV1(uspv1::decode(text, at.start, &ctx)?),
        id if us::decodes(id) => SectionContent::Us(us::decode(id, name, text, at.start, &ctx)?),
        _ => SectionContent::NotDecoded { raw: text.to_owned() },
    };
    Ok(GppSection { id: at.id, name, start: at.start, content })
}
