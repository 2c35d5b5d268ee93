//! Who is calling: API keys (checked against a [`consent_core::KeyStore`]),
//! JWT bearer tokens (`consentd_jwt`), scopes, the [`Principal`] the
//! request pipeline establishes for the handlers, and the rate budgets of
//! keys and client addresses.
//!
//! The tenant always comes from the key, never from the request body.

mod issue;
mod jwt;
mod keys;
mod kind;
mod lookups;
pub mod origin;
mod rate;

use std::sync::Arc;

use consent_core::{KeyAccount, TenantId};

pub use keys::{AuthError, Authenticator, IssueError, KeyError, LookupBudget, NewKey, server_secret};
pub use kind::{KeyKind, MAX_IMPORTED_KEY_LEN};
pub use rate::KeyRate;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// RecordConsent, UpdateConsent.
    Write,
    /// CheckConsent, QueryConsents, GetConsent.
    Read,
    /// Subscribe, webhook subscriptions and their management.
    Subscribe,
    /// Everything, including administration.
    Admin,
}

impl Scope {
    /// The scopes a key gets when none are named.
    pub const DEFAULT: [Self; 3] = [Self::Write, Self::Read, Self::Subscribe];

    /// The scope's name, as keys store it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Write => "consent:write",
            Self::Read => "consent:read",
            Self::Subscribe => "consent:subscribe",
            Self::Admin => "admin",
        }
    }

    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Write, Self::Read, Self::Subscribe, Self::Admin]
            .into_iter()
            .find(|scope| scope.as_str() == name)
    }
}

/// The caller of a request, as the authentication layer established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant every read and write of the call is scoped to.
    pub tenant: TenantId,
    /// The key's public id; `None` when authentication is disabled.
    pub key_id: Option<String>,
    /// What the caller may do.
    pub scopes: Vec<Scope>,
    /// The vendor account the credential is bound to (publishable keys and
    /// imported vendor keys): vendor routes check the account a request
    /// names against it.
    pub account: Option<Arc<KeyAccount>>,
    /// A publishable key: it may only record, on its vendor's routes, for
    /// its account, from its origins.
    pub publishable: bool,
    /// When the credential stops being valid by itself (a JWT's `exp`);
    /// `None` for keys, which last until revoked.
    pub expires_at: Option<std::time::SystemTime>,
}

impl Principal {
    /// The caller when authentication is disabled: tenant `default`, every
    /// consent scope.
    pub fn anonymous() -> Self {
        Self {
            tenant: TenantId::default_tenant(),
            key_id: None,
            scopes: Scope::DEFAULT.to_vec(),
            account: None,
            publishable: false,
            expires_at: None,
        }
    }

    /// Whether the caller holds `scope` (`admin` holds every scope).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}
