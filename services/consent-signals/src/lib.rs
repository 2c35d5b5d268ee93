//! The consent signals web CMPs emit, decoded, and the consent decisions
//! they imply. Pure functions: no I/O, no clock, no async.
//!
//! - [`decode_tc_string`]: an IAB TCF v2 (v2.2) TC string, all four segments
//!   ([`tcf`] lists the fields and what is refused);
//! - [`decode_gpp`]: an IAB GPP string, with its `tcfeuv2`, `uspv1`, `usnat`
//!   and US state sections decoded ([`gpp`]);
//! - [`tcf_decisions`] and [`gpp_decisions`]: the decisions a decoded
//!   string implies, named by a tenant's [`SignalMapping`] ([`mapping`]
//!   gives the rules and their reasons).
//!
//! The decoded types serialize (serde) with stable snake_case field names,
//! so a service can show the decoded view beside the string it stored.
//!
//! A malformed string is refused with a [`SignalError`] naming the field and
//! the bit (or character) where the fault is, such as
//! `tc_string: purposes_consent at bit 152: string ends early`. The decoder
//! is this crate's own: the published Rust decoders report faults without
//! a position (and one reads GPP section id lists wrongly), so they serve as
//! oracles in the tests instead.

mod bits;
mod error;
pub mod gpp;
pub mod mapping;
pub mod policy;
pub mod tcf;

pub use error::{OffsetUnit, SectionAt, SignalError, SignalKind};
pub use gpp::{
    GppSection, GppString, OptOut, SectionContent, UsOptOuts, UsSection, UspFlag, UspV1, decode_gpp,
};
pub use mapping::{
    ConsentModeMapping, GpcPolicy, GpcPrecedence, ImpliedDecision, OptOutPurposes, SignalMapping,
    TCF_PURPOSES, TCF_VENDOR_PURPOSE, gpp_decisions, tcf_decisions,
};
pub use policy::SignalPolicies;
pub use tcf::{
    PublisherRestriction, PublisherTc, RestrictionType, TcString, VendorEncoding, VendorSet, decode_tc_string,
};

use error::Context;

/// The longest string decoded, in bytes. A TC string whose four vendor
/// sections (consents, legitimate interests, disclosed, allowed) each hold a
/// full 65,535-vendor bitfield is about 44,000 characters; real ones are a
/// few hundred to a few thousand.
pub const MAX_SIGNAL_LEN: usize = 64 * 1024;

/// Refuses an empty string and one longer than [`MAX_SIGNAL_LEN`], naming
/// the whole string.
fn check_length(s: &str, ctx: &Context) -> Result<(), SignalError> {
    if s.is_empty() {
        return Err(ctx.whole(0, "is empty"));
    }
    if s.len() > MAX_SIGNAL_LEN {
        let message = format!("is {} bytes long; at most {MAX_SIGNAL_LEN} are decoded", s.len());
        return Err(ctx.whole(MAX_SIGNAL_LEN, message));
    }
    Ok(())
}
