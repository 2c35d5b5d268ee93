//! Structure-aware JSON for the fuzz targets: a depth-bounded tree whose keys
//! and strings are drawn from a per-vendor dictionary (or are arbitrary), and
//! edits of a valid template document, so that inputs get past the first
//! "required field" checks and reach the decoders' deeper paths.

use arbitrary::{Arbitrary, Result, Unstructured};
use consent_core::Timestamp;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

/// The words a vendor's format uses: field names, and values with a meaning.
#[derive(Debug, Clone, Copy)]
pub struct Dict {
    /// Field names (in the vendor's spelling).
    pub keys: &'static [&'static str],
    /// String values with a meaning (enum names, URLs, ...).
    pub values: &'static [&'static str],
}

/// Deepest nesting a generated document gets (serde_json itself refuses more
/// than 128 levels when parsing).
const MAX_DEPTH: usize = 12;
/// Members of one generated array or object.
const MAX_ITEMS: usize = 8;

fn pick<'d>(list: &'d [&'d str], index: u8) -> &'d str {
    if list.is_empty() { "" } else { list[usize::from(index) % list.len()] }
}

/// A field name.
#[derive(Debug, Clone, Arbitrary)]
pub enum Key {
    /// A dictionary key.
    Known(u8),
    /// A dictionary key with the case of some letters flipped (Secure
    /// Privacy matches names case-insensitively).
    Recased(u8, u8),
    /// Anything.
    Other(String),
}

impl Key {
    /// The key as text.
    pub fn resolve(&self, dict: &Dict) -> String {
        match self {
            Self::Known(index) => pick(dict.keys, *index).to_owned(),
            Self::Recased(index, mask) => pick(dict.keys, *index)
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << (i % 8)) == 0 {
                        c
                    } else if c.is_ascii_lowercase() {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
            Self::Other(text) => text.clone(),
        }
    }
}

/// Characters a long string is made of: plain, multi-byte, ones whose lower
/// case is longer, white space and control characters.
const FILL: &[char] = &['a', '1', ' ', 'É', 'İ', 'ß', '\u{7f}', '\n', '\u{200b}', '😀', '"', '\\'];

/// A string value.
#[derive(Debug, Clone, Arbitrary)]
pub enum Text {
    /// A dictionary value.
    Known(u8),
    /// Anything.
    Other(String),
    /// An integer as text.
    Int(i64),
    /// A random-version UUID (v4 bits set).
    UuidV4([u8; 16]),
    /// A UUID of any bits.
    UuidRaw([u8; 16]),
    /// `count` copies of one character, around the length limits.
    Long(u8, u16),
    /// An instant, as RFC 3339 (`form` 0), a date (1), a date-time without
    /// offset (2), or epoch milliseconds (3) / seconds (4).
    Instant(u32, u8),
    /// A dictionary value with text appended.
    Suffixed(u8, String),
}

impl Text {
    /// The value as a string.
    pub fn resolve(&self, dict: &Dict) -> String {
        match self {
            Self::Known(index) => pick(dict.values, *index).to_owned(),
            Self::Other(text) => text.clone(),
            Self::Int(n) => n.to_string(),
            Self::UuidV4(bytes) => uuid::Builder::from_random_bytes(*bytes).into_uuid().to_string(),
            Self::UuidRaw(bytes) => Uuid::from_bytes(*bytes).to_string(),
            Self::Long(which, count) => {
                let c = FILL[usize::from(*which) % FILL.len()];
                std::iter::repeat_n(c, usize::from(*count) % 4200).collect()
            }
            Self::Instant(offset, form) => {
                // Seconds from 2000-01-01 (946684800), up to ~2136.
                let seconds = 946_684_800_i64 + i64::from(*offset);
                let rfc = Timestamp::from_micros(seconds * 1_000_000).to_rfc3339();
                match form % 5 {
                    0 => rfc,
                    1 => rfc.chars().take(10).collect(),
                    2 => rfc.chars().take(19).collect(),
                    3 => (seconds * 1000).to_string(),
                    _ => seconds.to_string(),
                }
            }
            Self::Suffixed(index, suffix) => format!("{}{suffix}", pick(dict.values, *index)),
        }
    }
}

/// A JSON value, generated with a depth bound.
#[derive(Debug, Clone)]
pub enum JsonSeed {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float (NaN and infinities become `null`).
    Float(f64),
    /// A string.
    Str(Text),
    /// An array.
    Array(Vec<JsonSeed>),
    /// An object (a repeated key keeps the last value).
    Object(Vec<(Key, JsonSeed)>),
}

impl<'a> Arbitrary<'a> for JsonSeed {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Self::generate(u, 0)
    }
}

impl JsonSeed {
    fn generate(u: &mut Unstructured<'_>, depth: usize) -> Result<Self> {
        let kinds = if depth >= MAX_DEPTH { 5 } else { 7 };
        Ok(match u.int_in_range(0..=kinds)? {
            0 => Self::Null,
            1 => Self::Bool(u.arbitrary()?),
            2 => Self::Int(u.arbitrary()?),
            3 => Self::UInt(u.arbitrary()?),
            4 => Self::Float(u.arbitrary()?),
            5 => Self::Str(u.arbitrary()?),
            6 => {
                let len = u.int_in_range(0..=MAX_ITEMS)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    if u.is_empty() {
                        break;
                    }
                    items.push(Self::generate(u, depth + 1)?);
                }
                Self::Array(items)
            }
            _ => {
                let len = u.int_in_range(0..=MAX_ITEMS)?;
                let mut members = Vec::with_capacity(len);
                for _ in 0..len {
                    if u.is_empty() {
                        break;
                    }
                    members.push((u.arbitrary()?, Self::generate(u, depth + 1)?));
                }
                Self::Object(members)
            }
        })
    }

    /// The JSON value.
    pub fn to_value(&self, dict: &Dict) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(n) => Value::from(*n),
            Self::UInt(n) => Value::from(*n),
            Self::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Str(text) => Value::String(text.resolve(dict)),
            Self::Array(items) => Value::Array(items.iter().map(|item| item.to_value(dict)).collect()),
            Self::Object(members) => Value::Object(
                members.iter().map(|(key, value)| (key.resolve(dict), value.to_value(dict))).collect(),
            ),
        }
    }
}

/// One change to a template document.
#[derive(Debug, Clone, Arbitrary)]
pub enum Edit {
    /// Set the member at `path` (objects created on the way) to a value.
    Set(Vec<Key>, JsonSeed),
    /// Remove the member at `path`.
    Remove(Vec<Key>),
    /// Replace the member at `path` by `null`.
    Null(Vec<Key>),
}

/// The child of `value` that `key` names: an object member by name (created
/// when `create`), an array item by the dictionary index taken modulo the
/// length.
fn child<'v>(value: &'v mut Value, key: &Key, dict: &Dict, create: bool) -> Option<&'v mut Value> {
    match value {
        Value::Object(map) => {
            let name = key.resolve(dict);
            if create {
                Some(map.entry(name).or_insert_with(|| Value::Object(Map::new())))
            } else {
                map.get_mut(&name)
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = match key {
                Key::Known(i) | Key::Recased(i, _) => usize::from(*i),
                Key::Other(text) => text.len(),
            } % items.len();
            items.get_mut(index)
        }
        Value::Array(_) | Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => None,
    }
}

impl Edit {
    /// Applies the edit; a path that leads nowhere changes nothing.
    pub fn apply(&self, root: &mut Value, dict: &Dict) {
        let (path, create) = match self {
            Self::Set(path, _) => (path, true),
            Self::Remove(path) | Self::Null(path) => (path, false),
        };
        let Some((last, parents)) = path.split_last() else {
            if let Self::Set(_, seed) = self {
                *root = seed.to_value(dict);
            }
            return;
        };
        let mut at = root;
        for key in parents.iter().take(MAX_DEPTH) {
            match child(at, key, dict, create) {
                Some(next) => at = next,
                None => return,
            }
        }
        match (self, at) {
            (Self::Set(_, seed), Value::Object(map)) => {
                map.insert(last.resolve(dict), seed.to_value(dict));
            }
            (Self::Remove(_), Value::Object(map)) => {
                map.remove(&last.resolve(dict));
            }
            (Self::Null(_), at @ Value::Object(_)) => {
                if let Some(slot) = child(at, last, dict, false) {
                    *slot = Value::Null;
                }
            }
            (Self::Set(_, seed), at @ Value::Array(_)) => {
                if let Some(slot) = child(at, last, dict, false) {
                    *slot = seed.to_value(dict);
                }
            }
            (Self::Remove(_), Value::Array(items)) if !items.is_empty() => {
                let len = items.len();
                items.remove(match last {
                    Key::Known(i) | Key::Recased(i, _) => usize::from(*i) % len,
                    Key::Other(text) => text.len() % len,
                });
            }
            (Self::Null(_), at @ Value::Array(_)) => {
                if let Some(slot) = child(at, last, dict, false) {
                    *slot = Value::Null;
                }
            }
            _ => {}
        }
    }
}

/// How a JSON document becomes body bytes.
#[derive(Debug, Clone, Arbitrary)]
pub enum Framing {
    /// As serialised.
    Plain,
    /// With a UTF-8 byte order mark.
    Bom,
    /// Pretty-printed, with surrounding white space.
    Pretty,
    /// Cut after this many bytes.
    Truncated(u16),
    /// With bytes appended.
    Trailing(Vec<u8>),
}

impl Framing {
    /// The body bytes of `value`.
    pub fn bytes(&self, value: &Value) -> Vec<u8> {
        let plain = || serde_json::to_vec(value).unwrap_or_default();
        match self {
            Self::Plain => plain(),
            Self::Bom => {
                let mut bytes = b"\xEF\xBB\xBF".to_vec();
                bytes.extend(plain());
                bytes
            }
            Self::Pretty => {
                let mut bytes = b" \r\n\t".to_vec();
                bytes.extend(serde_json::to_vec_pretty(value).unwrap_or_default());
                bytes.extend(b"\n ");
                bytes
            }
            Self::Truncated(len) => {
                let mut bytes = plain();
                bytes.truncate(usize::from(*len));
                bytes
            }
            Self::Trailing(extra) => {
                let mut bytes = plain();
                bytes.extend(extra);
                bytes
            }
        }
    }
}

/// A request body.
#[derive(Debug, Clone, Arbitrary)]
pub enum Body {
    /// No body.
    Empty,
    /// Any bytes.
    Raw(Vec<u8>),
    /// A generated document.
    Json(JsonSeed, Framing),
    /// One of the vendor's valid documents (`template` picks which), edited.
    Template(u8, Vec<Edit>, Framing),
}

impl Body {
    /// The body bytes, given the vendor's dictionary and valid documents.
    pub fn bytes(&self, dict: &Dict, templates: &[&str]) -> Vec<u8> {
        match self {
            Self::Empty => Vec::new(),
            Self::Raw(bytes) => bytes.clone(),
            Self::Json(seed, framing) => framing.bytes(&seed.to_value(dict)),
            Self::Template(which, edits, framing) => {
                let text = pick(templates, *which);
                let mut value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                for edit in edits {
                    edit.apply(&mut value, dict);
                }
                framing.bytes(&value)
            }
        }
    }
}
