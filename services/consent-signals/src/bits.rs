//! Fields read from base64url text, most significant bit first.
//!
//! TC strings and GPP sections are bit strings written six bits to a
//! character in the URL-safe base64 alphabet, without padding. Fields sit at
//! any bit position and have any width, so the text is turned into six-bit
//! values once and read bit by bit. Each read names its field, so that a
//! string that ends early or holds a value the spec does not define is
//! refused with the field and the bit where it starts.

use std::collections::BTreeSet;

use crate::error::{Context, OffsetUnit, SignalError};

/// Bits held by one base64url character.
pub(crate) const BITS_PER_CHAR: usize = 6;

/// Bits a Fibonacci-coded integer may use before its closing `1`: enough for
/// any `u16`, and a bound on the work a run of zeros can cause.
const MAX_FIBONACCI_BITS: usize = 24;

/// The value of a base64url character.
fn sextet(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

fn not_base64url(byte: u8) -> String {
    match byte {
        b'=' => "padding '=' is not allowed (base64url without padding)".to_owned(),
        b'+' | b'/' => format!("'{}' is standard base64, not base64url ('-' and '_')", char::from(byte)),
        0x21..=0x7e => format!("'{}' is not a base64url character", char::from(byte)),
        _ => format!("byte 0x{byte:02x} is not a base64url character"),
    }
}

/// The parts of `text` between `separator`s, each with the offset of its
/// first character in `text`.
pub(crate) fn split_with_offsets(text: &str, separator: char) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.split(separator).map(move |part| {
        let at = start;
        start += part.len() + separator.len_utf8();
        (at, part)
    })
}

/// Reads the fields of one segment (or GPP section) in order.
#[derive(Debug)]
pub(crate) struct BitReader<'c> {
    sextets: Vec<u8>,
    /// Bits read so far.
    pos: usize,
    /// The offset of this segment's first bit in the whole string.
    base: usize,
    ctx: &'c Context,
    /// The group of fields being read (`vendor_consents`), named in errors.
    scope: &'static str,
}

impl<'c> BitReader<'c> {
    /// A reader of `text`, which starts at character `start` of the whole
    /// string; refused at the first character outside base64url.
    pub(crate) fn new(text: &str, start: usize, ctx: &'c Context) -> Result<Self, SignalError> {
        let sextets = text
            .bytes()
            .enumerate()
            .map(|(index, byte)| sextet(byte).ok_or_else(|| ctx.whole(start + index, not_base64url(byte))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { sextets, pos: 0, base: start * BITS_PER_CHAR, ctx, scope: "" })
    }

    /// Names the group of the fields read next.
    pub(crate) fn set_scope(&mut self, scope: &'static str) {
        self.scope = scope;
    }

    /// The offset of the next bit in the whole string.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bits left in the segment.
    pub(crate) fn remaining(&self) -> usize {
        self.sextets.len() * BITS_PER_CHAR - self.pos
    }

    /// An error about `field` at bit `offset` of the whole string.
    pub(crate) fn error_at(&self, field: &str, offset: usize, message: impl Into<String>) -> SignalError {
        self.ctx.error(self.scope, field, offset, OffsetUnit::Bit, message)
    }

    fn need(&self, field: &str, width: usize) -> Result<(), SignalError> {
        if width > self.remaining() {
            return Err(self.error_at(field, self.offset(), "string ends early"));
        }
        Ok(())
    }

    fn bit(&mut self) -> bool {
        let sextet = self.sextets.get(self.pos / BITS_PER_CHAR).copied().unwrap_or(0);
        let bit = (sextet >> (BITS_PER_CHAR - 1 - self.pos % BITS_PER_CHAR)) & 1;
        self.pos += 1;
        bit == 1
    }

    /// An unsigned field of `width` bits (at most 64).
    pub(crate) fn read(&mut self, field: &str, width: usize) -> Result<u64, SignalError> {
        debug_assert!(width <= 64, "{field} is wider than 64 bits");
        self.need(field, width)?;
        Ok((0..width).fold(0, |value, _| (value << 1) | u64::from(self.bit())))
    }

    /// An unsigned field of at most 8 bits.
    pub(crate) fn read_u8(&mut self, field: &str, width: usize) -> Result<u8, SignalError> {
        debug_assert!(width <= 8, "{field} is wider than 8 bits");
        Ok(u8::try_from(self.read(field, width)?).unwrap_or(u8::MAX))
    }

    /// An unsigned field of at most 16 bits.
    pub(crate) fn read_u16(&mut self, field: &str, width: usize) -> Result<u16, SignalError> {
        debug_assert!(width <= 16, "{field} is wider than 16 bits");
        Ok(u16::try_from(self.read(field, width)?).unwrap_or(u16::MAX))
    }

    /// A one-bit flag.
    pub(crate) fn read_bool(&mut self, field: &str) -> Result<bool, SignalError> {
        self.need(field, 1)?;
        Ok(self.bit())
    }

    /// A bitfield of `width` bits: the ids (from 1) of the bits set.
    pub(crate) fn read_ids(&mut self, field: &str, width: u16) -> Result<BTreeSet<u16>, SignalError> {
        self.need(field, usize::from(width))?;
        Ok((1..=width).filter(|_| self.bit()).collect())
    }

    /// A bitfield of at most 255 bits: the ids (from 1) of the bits set.
    pub(crate) fn read_small_ids(&mut self, field: &str, width: u8) -> Result<BTreeSet<u8>, SignalError> {
        self.need(field, usize::from(width))?;
        Ok((1..=width).filter(|_| self.bit()).collect())
    }

    /// `count` letters of six bits each, 0 for `A` to 25 for `Z`.
    pub(crate) fn read_letters(&mut self, field: &str, count: usize) -> Result<String, SignalError> {
        self.need(field, count * BITS_PER_CHAR)?;
        let mut letters = String::with_capacity(count);
        for _ in 0..count {
            let at = self.offset();
            let value = self.read_u8(field, BITS_PER_CHAR)?;
            if value > 25 {
                return Err(self.error_at(field, at, format!("letter value {value} is not A-Z (0-25)")));
            }
            letters.push(char::from(b'A' + value));
        }
        Ok(letters)
    }

    /// A Fibonacci-coded integer (GPP): bit `i` adds the `i`-th Fibonacci
    /// number (1, 2, 3, 5, …) and two `1`s in a row end it. It is at least 1.
    pub(crate) fn read_fibonacci(&mut self, field: &str) -> Result<u16, SignalError> {
        let start = self.offset();
        let (mut value, mut weight, mut next_weight, mut previous) = (0_u32, 1_u32, 2_u32, false);
        for index in 0..=MAX_FIBONACCI_BITS {
            self.need(field, 1).map_err(|_| self.error_at(field, start, "string ends early"))?;
            let bit = self.bit();
            if bit && previous {
                return u16::try_from(value).map_err(|_| {
                    self.error_at(field, start, format!("{value} is larger than {}", u16::MAX))
                });
            }
            if index == MAX_FIBONACCI_BITS {
                break;
            }
            if bit {
                value += weight;
            }
            (weight, next_weight, previous) = (next_weight, weight + next_weight, bit);
        }
        Err(self.error_at(field, start, format!("Fibonacci integer longer than {MAX_FIBONACCI_BITS} bits")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::SignalKind;

    const CTX: Context = Context::top(SignalKind::GppString);

    /// A reader of the bits written as `0`s and `1`s (spaces ignored).
    fn reader(bits: &str) -> BitReader<'static> {
        let bits: Vec<u8> = bits.bytes().filter(|b| !b.is_ascii_whitespace()).map(|b| b - b'0').collect();
        let text: String = bits
            .chunks(BITS_PER_CHAR)
            .map(|chunk| {
                let value = (0..BITS_PER_CHAR).fold(0, |v, i| (v << 1) | chunk.get(i).copied().unwrap_or(0));
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[usize::from(value)],
                )
            })
            .collect();
        BitReader::new(&text, 0, &CTX).unwrap()
    }

    #[test]
    fn fixed_fields_read_most_significant_bit_first() {
        let mut r = reader("000010 1 0110");
        assert_eq!(r.read("a", 6).unwrap(), 2);
        assert!(r.read_bool("b").unwrap());
        assert_eq!(r.read_u8("c", 4).unwrap(), 6);
        assert_eq!(r.offset(), 11);
    }

    #[test]
    fn fibonacci_integers_decode_as_the_gpp_spec_lists() {
        for (bits, value) in
            [("11", 1), ("011", 2), ("0011", 3), ("1011", 4), ("00011", 5), ("10011", 6), ("01011", 7)]
        {
            assert_eq!(reader(bits).read_fibonacci("f").unwrap(), value, "{bits}");
        }
    }

    #[test]
    fn a_fibonacci_integer_without_its_end_is_refused_where_it_starts() {
        let mut r = reader("0 000000000000000000000000000000");
        r.read_bool("skip").unwrap();
        let err = r.read_fibonacci("f").unwrap_err();
        assert_eq!((err.field.as_str(), err.offset), ("f", 1));
        assert!(err.message.contains("longer than 24 bits"), "{}", err.message);
    }

    #[test]
    fn bad_characters_are_refused_at_their_offset() {
        let err = BitReader::new("AB+C", 10, &CTX).unwrap_err();
        assert_eq!((err.offset, err.unit), (12, OffsetUnit::Character));
        assert!(err.message.contains("standard base64"), "{}", err.message);
        let err = BitReader::new("ABC=", 0, &CTX).unwrap_err();
        assert_eq!(err.offset, 3);
        assert!(err.message.contains("padding"), "{}", err.message);
    }

    #[test]
    fn split_reports_where_each_part_starts() {
        let parts: Vec<_> = split_with_offsets("ab~~cde~f", '~').collect();
        assert_eq!(parts, vec![(0, "ab"), (3, ""), (4, "cde"), (8, "f")]);
    }
}
