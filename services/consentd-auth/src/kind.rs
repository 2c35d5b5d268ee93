//! The kinds of key, told by the prefix of their id, and the shape a
//! client's existing vendor key must have to be looked up at all.

/// The kinds of key, by the prefix of their id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `ck_…`: acts for its whole tenant with its scopes.
    Ordinary,
    /// `pk_…`: may sit in a web page; records for one vendor account from
    /// its origins, and reads nothing.
    Publishable,
    /// `vk_…`: a client's existing vendor key (the id is derived from it).
    Imported,
}

/// The longest vendor key `consentd keys import` takes (and so the longest
/// credential worth a lookup).
pub const MAX_IMPORTED_KEY_LEN: usize = 512;

impl KeyKind {
    /// The kind of the key with this id.
    pub fn of(id: &str) -> Self {
        if id.starts_with("pk_") {
            Self::Publishable
        } else if id.starts_with("vk_") {
            Self::Imported
        } else {
            Self::Ordinary
        }
    }

    /// Whether `token` could be an imported vendor key: visible ASCII, at
    /// most [`MAX_IMPORTED_KEY_LEN`] bytes. Anything else is refused before
    /// it costs a lookup.
    pub fn could_be_imported(token: &str) -> bool {
        (1..=MAX_IMPORTED_KEY_LEN).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_by_their_prefix_and_imports_by_their_shape() {
        assert_eq!(KeyKind::of("ck_0123456789abcdef"), KeyKind::Ordinary);
        assert_eq!(KeyKind::of("pk_0123456789abcdef"), KeyKind::Publishable);
        assert_eq!(KeyKind::of("vk_0123456789abcdef"), KeyKind::Imported);
        assert!(KeyKind::could_be_imported("prefix.secret"));
        assert!(KeyKind::could_be_imported(&"k".repeat(MAX_IMPORTED_KEY_LEN)));
        for bad in ["", "with space", "tab\there", "ünïcode", &"k".repeat(MAX_IMPORTED_KEY_LEN + 1)] {
            assert!(!KeyKind::could_be_imported(bad), "{bad:?}");
        }
    }
}
