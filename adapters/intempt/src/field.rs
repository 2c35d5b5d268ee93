//! Intempt's field names, as its documentation spells them: what the decoder
//! reads and what failures name.

/// `action`: what the person decided.
pub(crate) const ACTION: &str = "action";
/// `timestamp`: when, in epoch milliseconds (the server SDKs send seconds).
pub(crate) const TIMESTAMP: &str = "timestamp";
/// `validUntil`: epoch milliseconds, or `unlimited`.
pub(crate) const VALID_UNTIL: &str = "validUntil";
/// `source`: `desktop`, `mobile`, …
pub(crate) const SOURCE: &str = "source";
/// `category`: the purpose; absent means every category.
pub(crate) const CATEGORY: &str = "category";
/// `userId`: the client's user id.
pub(crate) const USER_ID: &str = "userId";
/// `email`: the person's email address.
pub(crate) const EMAIL: &str = "email";
/// `profileId`: Intempt's profile id.
pub(crate) const PROFILE_ID: &str = "profileId";
/// `message`: free text about the decision.
pub(crate) const MESSAGE: &str = "message";
