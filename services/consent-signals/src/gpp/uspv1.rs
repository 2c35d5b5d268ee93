//! The deprecated US Privacy section (`uspv1`, id 6): the four characters of
//! the `us_privacy` string, such as `1YNN`: the version (`1`), then notice
//! given, opted out of sale and covered by the LSPA, each `Y`, `N` or `-`
//! (not applicable). Lower-case letters are accepted: some CMPs write them.
//! It is still common beside `usnat`, and its sale opt-out is one of the
//! US opt-outs.

use serde::Serialize;

use super::us::OptOut;
use crate::error::{Context, OffsetUnit, SignalError};

/// A `Y`/`N`/`-` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UspFlag {
    /// `Y`.
    Yes,
    /// `N`.
    No,
    /// `-`.
    NotApplicable,
}

/// A decoded `uspv1` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UspV1 {
    /// Always 1.
    pub version: u8,
    /// Whether notice was given and the person could opt out.
    pub notice: UspFlag,
    /// Whether the person opted out of sale (`Y` is [`OptOut::OptedOut`]).
    pub opt_out_sale: OptOut,
    /// Whether the publisher is a signatory of the IAB LSPA.
    pub lspa_covered: UspFlag,
}

/// Decodes `text`, which starts at character `start`.
pub(super) fn decode(text: &str, start: usize, ctx: &Context) -> Result<UspV1, SignalError> {
    let bytes = text.as_bytes();
    let refuse = |field: &str, index: usize, message: String| {
        ctx.error("", field, start + index, OffsetUnit::Character, message)
    };
    if bytes.len() != 4 {
        let message = format!("has {} characters; a uspv1 section has 4", bytes.len());
        return Err(refuse("", bytes.len().min(4), message));
    }
    if bytes.first() != Some(&b'1') {
        return Err(refuse("version", 0, "version must be 1".to_owned()));
    }
    let flag = |field: &str, index: usize| -> Result<UspFlag, SignalError> {
        match bytes.get(index).map(u8::to_ascii_uppercase) {
            Some(b'Y') => Ok(UspFlag::Yes),
            Some(b'N') => Ok(UspFlag::No),
            Some(b'-') => Ok(UspFlag::NotApplicable),
            _ => Err(refuse(field, index, "must be Y, N or -".to_owned())),
        }
    };
    let notice = flag("notice", 1)?;
    let opt_out_sale = match flag("opt_out_sale", 2)? {
        UspFlag::Yes => OptOut::OptedOut,
        UspFlag::No => OptOut::DidNotOptOut,
        UspFlag::NotApplicable => OptOut::NotApplicable,
    };
    Ok(UspV1 { version: 1, notice, opt_out_sale, lspa_covered: flag("lspa_covered", 3)? })
}
