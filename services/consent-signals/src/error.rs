//! Why a signal string was refused, and where.
//!
//! Every refusal names the field being read and an offset into the whole
//! string the caller passed. Bit offsets count six bits per character of
//! that string, separators (`.` and `~`) included, so `offset / 6` is always
//! the index of the character that holds the faulty bit: an offset is useful
//! for a string of several segments or sections without knowing where each
//! one starts. Character offsets are byte indexes into the string (the
//! alphabets are ASCII; a non-ASCII character is refused at its first byte).

use std::fmt;

use serde::Serialize;

/// Which kind of signal string an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// An IAB TCF v2 TC string.
    TcString,
    /// An IAB GPP string.
    GppString,
}

impl SignalKind {
    /// The stable name used in messages: `tc_string` or `gpp_string`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TcString => "tc_string",
            Self::GppString => "gpp_string",
        }
    }
}

/// What [`SignalError::offset`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetUnit {
    /// Bits, six per character of the whole string.
    Bit,
    /// Characters (bytes) of the whole string.
    Character,
}

impl OffsetUnit {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Bit => "bit",
            Self::Character => "character",
        }
    }
}

/// The GPP section an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct SectionAt {
    /// Its position among the sections (0 for the first after the header).
    pub index: usize,
    /// Its GPP section id.
    pub id: u8,
    /// The character offset of its first character in the whole string.
    pub start: usize,
}

/// A malformed or unsupported signal string.
///
/// Displays as `tc_string: purposes_consent at bit 152: string ends early`,
/// with ` (section 1, id 7, starting at character 19)` added inside a GPP
/// section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SignalError {
    /// The kind of string.
    pub signal: SignalKind,
    /// The field being read, such as `vendor_consents.max_vendor_id` or
    /// `usnat.sale_opt_out`; `tc_string`/`gpp_string` for the whole string.
    pub field: String,
    /// Where the fault is, in [`SignalError::unit`]s from the start of the
    /// whole string.
    pub offset: usize,
    /// What the offset counts.
    pub unit: OffsetUnit,
    /// The GPP section, for faults inside one.
    pub section: Option<SectionAt>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} at {} {}: {}",
            self.signal.as_str(),
            self.field,
            self.unit.as_str(),
            self.offset,
            self.message
        )?;
        if let Some(section) = self.section {
            write!(
                f,
                " (section {}, id {}, starting at character {})",
                section.index, section.id, section.start
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for SignalError {}

/// What every reader of one string shares: the kind of string, the name of
/// the part being read (`tcfeuv2` inside a GPP string, empty for a bare TC
/// string) and the GPP section it is in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    pub(crate) signal: SignalKind,
    pub(crate) prefix: &'static str,
    pub(crate) section: Option<SectionAt>,
}

impl Context {
    /// The context of a string's own top level.
    pub(crate) const fn top(signal: SignalKind) -> Self {
        Self { signal, prefix: "", section: None }
    }

    /// An error about `scope.field` (either may be empty).
    pub(crate) fn error(
        &self,
        scope: &str,
        field: &str,
        offset: usize,
        unit: OffsetUnit,
        message: impl Into<String>,
    ) -> SignalError {
        let field =
            [self.prefix, scope, field].iter().filter(|part| !part.is_empty()).copied().collect::<Vec<_>>();
        SignalError {
            signal: self.signal,
            field: if field.is_empty() { self.signal.as_str().to_owned() } else { field.join(".") },
            offset,
            unit,
            section: self.section,
            message: message.into(),
        }
    }

    /// An error about the whole string (or section), at a character.
    pub(crate) fn whole(&self, offset: usize, message: impl Into<String>) -> SignalError {
        self.error("", "", offset, OffsetUnit::Character, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_signal_field_unit_and_offset() {
        let ctx = Context::top(SignalKind::TcString);
        let err = ctx.error("", "purposes_consent", 152, OffsetUnit::Bit, "string ends early");
        assert_eq!(err.to_string(), "tc_string: purposes_consent at bit 152: string ends early");
    }

    #[test]
    fn display_inside_a_section_names_it() {
        let section = SectionAt { index: 1, id: 7, start: 19 };
        let ctx = Context { signal: SignalKind::GppString, prefix: "usnat", section: Some(section) };
        let err = ctx.error("", "sale_opt_out", 150, OffsetUnit::Bit, "value 3 is not defined");
        assert_eq!(
            err.to_string(),
            "gpp_string: usnat.sale_opt_out at bit 150: value 3 is not defined \
             (section 1, id 7, starting at character 19)"
        );
        assert_eq!(ctx.whole(19, "is empty").field, "usnat");
    }
}
