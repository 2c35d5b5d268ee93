//! What authentication needs from storage: API keys (only their keyed
//! hashes) and the named facts of a database (its generated server
//! secret). A small interface of its own, apart from the consent log's
//! [`crate::ConsentStore`], so the crates that check keys never name the
//! store that keeps them.

use std::future::Future;
use std::pin::Pin;

use crate::error::ConsentError;
use crate::model::TenantId;
use crate::time::Timestamp;

/// An API key as stored: never the secret, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key's public prefix.
    pub id: String,
    /// The tenant the key acts for.
    pub tenant: TenantId,
    /// Hex HMAC-SHA256 of the secret part.
    pub hash: String,
    /// Granted scopes, such as `consent:read`.
    pub scopes: Vec<String>,
    /// When the key was created.
    pub created_at: Timestamp,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// The vendor account the key is bound to: a publishable key records
    /// only for it, an imported vendor key is checked against it. `None`
    /// for an ordinary key, which acts for its whole tenant.
    pub account: Option<KeyAccount>,
}

/// The vendor account a key is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccount {
    /// The vendor (an adapter's name): the key works only on its routes,
    /// and on gRPC unless it is publishable.
    pub vendor: String,
    /// The account id (as `consentd tenants bind` names it); `None`: any
    /// account of the vendor bound to the key's tenant.
    pub external_id: Option<String>,
    /// The browser origins (`https://shop.example`) a publishable key may be
    /// used from.
    pub origins: Vec<String>,
}

/// A future of a key store's answer (boxed: the authenticator holds its
/// store as a trait object).
pub type KeyFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ConsentError>> + Send + 'a>>;

/// Storage of API keys.
pub trait KeyStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a new key.
    fn insert_key<'a>(&'a self, key: &'a StoredKey) -> KeyFuture<'a, ()>;

    /// The key with this public id, revoked or not.
    fn key<'a>(&'a self, id: &'a str) -> KeyFuture<'a, Option<StoredKey>>;

    /// A named fact about this database, `initial` stored on first use (the
    /// first writer wins when several race).
    fn fact<'a>(&'a self, name: &'a str, initial: String) -> KeyFuture<'a, String>;

    /// Every key, oldest first.
    fn keys(&self) -> KeyFuture<'_, Vec<StoredKey>>;

    /// Whether any key was ever created (revoked ones count).
    fn has_keys(&self) -> KeyFuture<'_, bool>;

    /// Revokes a key at `at` (a revoked key stays revoked at its first
    /// time); `false` when there is no such key.
    fn revoke_key<'a>(&'a self, id: &'a str, at: Timestamp) -> KeyFuture<'a, bool>;
}
