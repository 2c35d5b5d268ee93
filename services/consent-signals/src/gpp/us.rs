//! The US sections: the national one (`usnat`) and the states' (`usca`,
//! `usva`, `usco`, `usut`, `usct`).
//!
//! Each is a core segment of two-bit fields after a six-bit version, in an
//! order and with list lengths that differ by section (and, for `usnat`, by
//! version), optionally followed by `.` and a GPC subsection
//! (`subsection_type` = 1, two bits, then `gpc`, one bit) in the sections
//! that define one. The layouts below are the spec's, field by field. Every
//! two-bit field is 0, 1 or 2; 3 is refused. What the values mean:
//!
//! - opt-outs: 0 not applicable, 1 opted out, 2 did not opt out ([`OptOut`]);
//! - notices: 0 not applicable, 1 provided, 2 not provided;
//! - sensitive data processing: per category, 0 not applicable, then 1 and 2
//!   as the section defines them (opted out / did not opt out for opt-out
//!   states, no consent / consent for consent states);
//! - known child and personal data consents: 0 not applicable, 1 no
//!   consent, 2 consent;
//! - MSPA fields: 0 not applicable, 1 yes, 2 no.

use serde::Serialize;

use crate::bits::{BitReader, split_with_offsets};
use crate::error::{Context, OffsetUnit, SignalError};

/// A US opt-out as the GPP sections write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOut {
    /// 0: the opt-out does not apply.
    NotApplicable,
    /// 1: the person opted out.
    OptedOut,
    /// 2: the person did not opt out.
    DidNotOptOut,
}

/// A decoded US section. The three opt-outs and `gpc` are the view shared by
/// every US section; `None` where the section has no such field. The other
/// fields are the raw values (0, 1 or 2, see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UsSection {
    /// The section's name (`usnat`, `usca`, …).
    pub name: &'static str,
    /// The section's version.
    pub version: u8,
    /// Opt-out of the sale of personal data.
    pub sale_opt_out: Option<OptOut>,
    /// Opt-out of sharing personal data (cross-context behavioural
    /// advertising).
    pub sharing_opt_out: Option<OptOut>,
    /// Opt-out of processing for targeted advertising.
    pub targeted_advertising_opt_out: Option<OptOut>,
    /// The Global Privacy Control signal, when the GPC subsection is present.
    pub gpc: Option<bool>,
    /// Notice of sharing.
    pub sharing_notice: Option<u8>,
    /// Notice of the sale opt-out.
    pub sale_opt_out_notice: Option<u8>,
    /// Notice of the sharing opt-out.
    pub sharing_opt_out_notice: Option<u8>,
    /// Notice of the targeted advertising opt-out.
    pub targeted_advertising_opt_out_notice: Option<u8>,
    /// Notice of the sensitive data processing opt-out.
    pub sensitive_data_processing_opt_out_notice: Option<u8>,
    /// Notice of the limit on the use of sensitive data.
    pub sensitive_data_limit_use_notice: Option<u8>,
    /// One value per sensitive data category, in the section's order.
    pub sensitive_data_processing: Vec<u8>,
    /// One value per known-child consent the section defines.
    pub known_child_sensitive_data_consents: Vec<u8>,
    /// Consent to the processing of personal data.
    pub personal_data_consents: Option<u8>,
    /// Whether the transaction is covered by the MSPA.
    pub mspa_covered_transaction: Option<u8>,
    /// MSPA opt-out option mode.
    pub mspa_opt_out_option_mode: Option<u8>,
    /// MSPA service provider mode.
    pub mspa_service_provider_mode: Option<u8>,
}

/// One field of a US core segment; the lists carry their length.
#[derive(Debug, Clone, Copy)]
enum Field {
    SharingNotice,
    SaleOptOutNotice,
    SharingOptOutNotice,
    TargetedAdvertisingOptOutNotice,
    SensitiveDataProcessingOptOutNotice,
    SensitiveDataLimitUseNotice,
    SaleOptOut,
    SharingOptOut,
    TargetedAdvertisingOptOut,
    SensitiveDataProcessing(usize),
    KnownChildSensitiveDataConsents(usize),
    PersonalDataConsents,
    MspaCoveredTransaction,
    MspaOptOutOptionMode,
    MspaServiceProviderMode,
}

/// One section version's core segment, after its version field.
#[derive(Debug)]
struct Layout {
    id: u8,
    version: u8,
    fields: &'static [Field],
    has_gpc: bool,
}

use Field::*;

const MSPA: [Field; 3] = [MspaCoveredTransaction, MspaOptOutOptionMode, MspaServiceProviderMode];

/// `usnat` v1 and v2 differ only in the lengths of the two lists.
const fn usnat(sensitive: usize, child: usize) -> [Field; 15] {
    [
        SharingNotice,
        SaleOptOutNotice,
        SharingOptOutNotice,
        TargetedAdvertisingOptOutNotice,
        SensitiveDataProcessingOptOutNotice,
        SensitiveDataLimitUseNotice,
        SaleOptOut,
        SharingOptOut,
        TargetedAdvertisingOptOut,
        SensitiveDataProcessing(sensitive),
        KnownChildSensitiveDataConsents(child),
        PersonalDataConsents,
        MSPA[0],
        MSPA[1],
        MSPA[2],
    ]
}

const USNAT_V1: [Field; 15] = usnat(12, 2);
const USNAT_V2: [Field; 15] = usnat(16, 3);
const USCA: [Field; 11] = [
    SaleOptOutNotice,
    SharingOptOutNotice,
    SensitiveDataLimitUseNotice,
    SaleOptOut,
    SharingOptOut,
    SensitiveDataProcessing(9),
    KnownChildSensitiveDataConsents(2),
    PersonalDataConsents,
    MSPA[0],
    MSPA[1],
    MSPA[2],
];
/// Virginia, Colorado and Connecticut share a shape; the lists differ.
const fn opt_out_state(sensitive: usize, child: usize) -> [Field; 10] {
    [
        SharingNotice,
        SaleOptOutNotice,
        TargetedAdvertisingOptOutNotice,
        SaleOptOut,
        TargetedAdvertisingOptOut,
        SensitiveDataProcessing(sensitive),
        KnownChildSensitiveDataConsents(child),
        MSPA[0],
        MSPA[1],
        MSPA[2],
    ]
}
const USVA: [Field; 10] = opt_out_state(8, 1);
const USCO: [Field; 10] = opt_out_state(7, 1);
const USCT: [Field; 10] = opt_out_state(8, 3);
const USUT: [Field; 11] = [
    SharingNotice,
    SaleOptOutNotice,
    TargetedAdvertisingOptOutNotice,
    SensitiveDataProcessingOptOutNotice,
    SaleOptOut,
    TargetedAdvertisingOptOut,
    SensitiveDataProcessing(8),
    KnownChildSensitiveDataConsents(1),
    MSPA[0],
    MSPA[1],
    MSPA[2],
];

const LAYOUTS: [Layout; 7] = [
    Layout { id: 7, version: 1, fields: &USNAT_V1, has_gpc: true },
    Layout { id: 7, version: 2, fields: &USNAT_V2, has_gpc: true },
    Layout { id: 8, version: 1, fields: &USCA, has_gpc: true },
    Layout { id: 9, version: 1, fields: &USVA, has_gpc: false },
    Layout { id: 10, version: 1, fields: &USCO, has_gpc: true },
    Layout { id: 11, version: 1, fields: &USUT, has_gpc: false },
    Layout { id: 12, version: 1, fields: &USCT, has_gpc: true },
];

/// Whether section `id` is a US section decoded here.
pub(super) fn decodes(id: u8) -> bool {
    LAYOUTS.iter().any(|layout| layout.id == id)
}

/// Decodes US section `id` (named `name`), whose `text` starts at character
/// `start`.
pub(super) fn decode(
    id: u8,
    name: &'static str,
    text: &str,
    start: usize,
    ctx: &Context,
) -> Result<UsSection, SignalError> {
    let mut parts = split_with_offsets(text, '.').map(|(at, part)| (start + at, part));
    let (core_start, core_text) = parts.next().unwrap_or((start, text));
    let mut r = BitReader::new(core_text, core_start, ctx)?;
    let version_at = r.offset();
    let version = r.read_u8("version", 6)?;
    let layout =
        LAYOUTS.iter().find(|layout| layout.id == id && layout.version == version).ok_or_else(|| {
            let known: Vec<String> = LAYOUTS
                .iter()
                .filter(|layout| layout.id == id)
                .map(|layout| layout.version.to_string())
                .collect();
            let message = format!("version {version} of {name} is not supported (only {})", known.join(", "));
            r.error_at("version", version_at, message)
        })?;
    let mut section = UsSection { name, version, ..UsSection::default() };
    for field in layout.fields {
        read_field(&mut r, *field, &mut section)?;
    }
    section.gpc = read_gpc(parts, layout, ctx)?;
    Ok(section)
}

fn read_field(r: &mut BitReader<'_>, field: Field, s: &mut UsSection) -> Result<(), SignalError> {
    match field {
        SharingNotice => s.sharing_notice = Some(read_value(r, "sharing_notice")?),
        SaleOptOutNotice => s.sale_opt_out_notice = Some(read_value(r, "sale_opt_out_notice")?),
        SharingOptOutNotice => s.sharing_opt_out_notice = Some(read_value(r, "sharing_opt_out_notice")?),
        TargetedAdvertisingOptOutNotice => {
            s.targeted_advertising_opt_out_notice =
                Some(read_value(r, "targeted_advertising_opt_out_notice")?);
        }
        SensitiveDataProcessingOptOutNotice => {
            s.sensitive_data_processing_opt_out_notice =
                Some(read_value(r, "sensitive_data_processing_opt_out_notice")?);
        }
        SensitiveDataLimitUseNotice => {
            s.sensitive_data_limit_use_notice = Some(read_value(r, "sensitive_data_limit_use_notice")?);
        }
        SaleOptOut => s.sale_opt_out = Some(opt_out(read_value(r, "sale_opt_out")?)),
        SharingOptOut => s.sharing_opt_out = Some(opt_out(read_value(r, "sharing_opt_out")?)),
        TargetedAdvertisingOptOut => {
            s.targeted_advertising_opt_out = Some(opt_out(read_value(r, "targeted_advertising_opt_out")?));
        }
        SensitiveDataProcessing(len) => {
            s.sensitive_data_processing = read_list(r, "sensitive_data_processing", len)?
        }
        KnownChildSensitiveDataConsents(len) => {
            s.known_child_sensitive_data_consents = read_list(r, "known_child_sensitive_data_consents", len)?;
        }
        PersonalDataConsents => s.personal_data_consents = Some(read_value(r, "personal_data_consents")?),
        MspaCoveredTransaction => {
            s.mspa_covered_transaction = Some(read_value(r, "mspa_covered_transaction")?)
        }
        MspaOptOutOptionMode => s.mspa_opt_out_option_mode = Some(read_value(r, "mspa_opt_out_option_mode")?),
        MspaServiceProviderMode => {
            s.mspa_service_provider_mode = Some(read_value(r, "mspa_service_provider_mode")?)
        }
    }
    Ok(())
}

/// A two-bit field: 0, 1 or 2.
fn read_value(r: &mut BitReader<'_>, field: &str) -> Result<u8, SignalError> {
    let at = r.offset();
    let value = r.read_u8(field, 2)?;
    if value > 2 {
        return Err(r.error_at(field, at, format!("value {value} is not defined (0, 1 or 2)")));
    }
    Ok(value)
}

fn read_list(r: &mut BitReader<'_>, field: &str, len: usize) -> Result<Vec<u8>, SignalError> {
    (0..len).map(|_| read_value(r, field)).collect()
}

const fn opt_out(value: u8) -> OptOut {
    match value {
        1 => OptOut::OptedOut,
        2 => OptOut::DidNotOptOut,
        _ => OptOut::NotApplicable,
    }
}

/// The GPC subsection after the core segment, if any: at most one, only in
/// sections that define it.
fn read_gpc<'a>(
    mut parts: impl Iterator<Item = (usize, &'a str)>,
    layout: &Layout,
    ctx: &Context,
) -> Result<Option<bool>, SignalError> {
    let Some((start, text)) = parts.next() else {
        return Ok(None);
    };
    let refuse = |at, message: &str| ctx.error("", "subsection_type", at, OffsetUnit::Character, message);
    if !layout.has_gpc {
        return Err(refuse(start, "this section has no subsections"));
    }
    if text.is_empty() {
        return Err(refuse(start, "subsection is empty"));
    }
    let mut r = BitReader::new(text, start, ctx)?;
    let type_at = r.offset();
    let subsection_type = r.read_u8("subsection_type", 2)?;
    if subsection_type != 1 {
        let message = format!("subsection type {subsection_type} is not defined (1 is GPC)");
        return Err(r.error_at("subsection_type", type_at, message));
    }
    let gpc = r.read_bool("gpc")?;
    if let Some((extra, _)) = parts.next() {
        return Err(refuse(extra, "only one subsection (GPC) is defined"));
    }
    Ok(Some(gpc))
}
