//! The list's page token: consentd's extension to Secure Privacy's list,
//! handed out in `x-next-page-token` and read back from `PageToken`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_adapter::Failure;
use consent_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::invalid;
use crate::field;

/// The list's page token, before base64url: the core token and the lower
/// time bound the page was read with. The core token is bound to its exact
/// filter, and the default window ("the last week") moves with the clock,
/// so the next page must reuse the bound of the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PageToken {
    /// The format version, [`PageToken::VERSION`].
    pub(crate) v: u8,
    /// `collected_after` in microseconds since the epoch, if any.
    pub(crate) f: Option<i64>,
    /// The core page token.
    pub(crate) t: String,
}

impl PageToken {
    /// The only version issued.
    pub(crate) const VERSION: u8 = 1;
}

/// The list's `PageToken` → the wrapper [`crate::encode`] issued.
pub(crate) fn unwrap(text: &str) -> Result<PageToken, Failure> {
    let foreign = || invalid(field::PAGE_TOKEN, "is not a page token this service issued");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| foreign())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| foreign())?;
    if token.v != PageToken::VERSION || token.t.is_empty() {
        return Err(foreign());
    }
    Ok(token)
}

/// The page token handed to the client for a core token and the lower
/// bound the page was read with.
pub(crate) fn wrap(core_token: &str, collected_after: Option<Timestamp>) -> String {
    let token = PageToken {
        v: PageToken::VERSION,
        f: collected_after.map(Timestamp::as_micros),
        t: core_token.to_owned(),
    };
    // A struct of an integer, an optional integer and a string: serialising
    // cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        let token = wrap("core", Some(Timestamp::from_micros(42)));
        assert_eq!(unwrap(&token), Ok(PageToken { v: 1, f: Some(42), t: "core".to_owned() }));
        for bad in ["", "core", "eyJ2IjoyLCJmIjpudWxsLCJ0IjoiYyJ9", "e30", "!!!"] {
            assert!(unwrap(bad).is_err(), "{bad}");
        }
    }
}
