//! API keys: `<prefix>.<secret>`. The prefix is public and finds the key; the
//! secret (256 random bits) is never stored — only HMAC-SHA256 of it under a
//! server secret, compared in constant time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_core::{KeyStore, StoredKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

use crate::kind::KeyKind;
use crate::lookups::LookupBuckets;
use crate::{Principal, Scope};

/// How long a looked-up key is trusted before it is read again: revocation
/// takes effect within this (plus a stream's re-check interval).
const KEY_CACHE_TTL: Duration = Duration::from_millis(500);

/// How long an id that no key has is remembered as unknown: a client retrying
/// a wrong key in a loop costs no lookups. (A key imported for an id tried
/// just before works this long after.)
const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(5);

/// Unknown ids remembered at most (about 100 bytes each).
const UNKNOWN_KEY_CAPACITY: usize = 10_000;

/// The store fact holding the generated HMAC secret when none is configured.
const SECRET_FACT: &str = "api_key_hmac_secret";

/// A key just created: shown once, then only its hash exists.
#[derive(Debug)]
pub struct NewKey {
    /// The public id (prefix).
    pub id: String,
    /// The whole key, `<prefix>.<secret>`.
    pub key: String,
}

/// Key management failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error("{0}")]
    Store(#[from] consent_core::ConsentError),
    /// The system random source failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// The key cannot be issued as asked.
    #[error(transparent)]
    Issue(#[from] IssueError),
}

/// Why a key cannot be issued as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// A publishable key names no origin.
    #[error("a publishable key needs at least one --origin")]
    NoOrigin,
    /// An origin is not `scheme://host[:port]`.
    #[error("{0}")]
    BadOrigin(String),
    /// The vendor key is empty, too long or not visible ASCII.
    #[error(
        "the vendor key must be 1 to {max} visible ASCII characters, and neither a consentd key nor a JWT",
        max = crate::kind::MAX_IMPORTED_KEY_LEN
    )]
    BadVendorKey,
    /// The same vendor key was imported before (its id is derived from it).
    #[error("this key is imported already as {0} (`consentd keys list` shows it)")]
    AlreadyImported(String),
}

/// Why a caller is not let in. Each transport answers it in its own shape
/// (a gRPC status; the vendor's error on vendor routes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No key, or one that is malformed, unknown, revoked or wrong.
    #[error("a valid API key is required (authorization: Bearer <key>)")]
    Unauthenticated,
    /// Too many key lookups from the caller's address; retry after the delay.
    #[error("too many API key lookups from this address; retry after the RetryInfo delay")]
    TooManyLookups {
        /// When the address may look a key up again.
        retry_after: Duration,
    },
    /// The key store cannot answer now (not the caller's fault).
    #[error("the key store cannot be reached; retry with backoff")]
    Unavailable,
    /// A fault of the server's own; the detail is logged.
    #[error("internal error")]
    Internal,
}

impl From<consent_core::ConsentError> for AuthError {
    fn from(err: consent_core::ConsentError) -> Self {
        use consent_core::ConsentError as E;
        match err {
            E::Unavailable(detail) | E::Aborted(detail) | E::ResourceExhausted(detail) => {
                tracing::warn!(%detail, "key lookup failed");
                Self::Unavailable
            }
            E::InvalidArgument(_) | E::NotFound(_) | E::FailedPrecondition { .. } | E::Internal(_) => {
                tracing::error!(error = %err, "key lookup failed");
                Self::Internal
            }
        }
    }
}

/// Keys are shared, not cloned, by the calls that present them.
type Cached = (Instant, Option<Arc<StoredKey>>);

/// One lookup of a key id, shared by the calls that wait for it.
type Lookup = OnceCell<Option<Arc<StoredKey>>>;

/// Creates, checks and caches API keys.
#[derive(Clone)]
pub struct Authenticator {
    pub(crate) store: Arc<dyn KeyStore>,
    /// HMAC-SHA256 keyed with the server secret, its key schedule done
    /// once: each check clones it rather than hashing the key again.
    mac: Hmac<Sha256>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// Ids recently looked up and found to be no key's.
    unknown: Arc<quick_cache::sync::Cache<String, Instant>>,
    /// Key lookups each client address may make (a database round trip each),
    /// spent before the lookup and given back when the key exists: strangers
    /// trying ids cannot turn requests into database load.
    lookups_per_address: Arc<LookupBuckets>,
    /// The key lookups under way, by id, each shared by the calls waiting
    /// for it.
    in_flight: Arc<Mutex<HashMap<String, Arc<Lookup>>>>,
    lookups: Counter<u64>,
    /// JWT bearer tokens, when `[auth.jwt]` is configured.
    jwt: Option<consentd_jwt::JwtVerifier>,
}

/// How many key lookups one client address may make: `rate` a second on
/// average, `burst` at once. Lookups of keys that exist are given back.
#[derive(Debug, Clone, Copy)]
pub struct LookupBudget {
    /// Lookups per second per address.
    pub rate: u32,
    /// Lookups one address may make at once.
    pub burst: u32,
}

impl Default for LookupBudget {
    fn default() -> Self {
        Self { rate: 10, burst: 100 }
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the HMAC secret.
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

/// The server secret that keys API-key hashes and webhook signing secrets:
/// `configured` (`CONSENTD_KEY_SECRET`), or else one generated once and kept
/// in the database.
pub async fn server_secret(store: &dyn KeyStore, configured: Option<&str>) -> Result<Vec<u8>, KeyError> {
    let secret = match configured {
        Some(secret) if !secret.is_empty() => secret.to_owned(),
        Some(_) | None => {
            let generated = random_token(32)?;
            store.fact(SECRET_FACT, generated).await?
        }
    };
    Ok(secret.into_bytes())
}

/// Whether `id` and `secret` have the shape of the keys this service
/// issues (ordinary and publishable).
pub(crate) fn well_formed(id: &str, secret: &str) -> bool {
    id.len() == 19
        && matches!(KeyKind::of(id), KeyKind::Ordinary | KeyKind::Publishable)
        && id[3..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && secret.len() == 43
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Authenticator {
    /// Uses `configured_secret` (`CONSENTD_KEY_SECRET`) as the HMAC key, or
    /// else a secret generated once and kept in the database.
    pub async fn new(store: Arc<dyn KeyStore>, configured_secret: Option<&str>) -> Result<Self, KeyError> {
        let secret = server_secret(store.as_ref(), configured_secret).await?;
        let budget = LookupBudget::default();
        Ok(Self {
            store,
            mac: Hmac::<Sha256>::new_from_slice(&secret)
                .unwrap_or_else(|_| unreachable!("hmac takes any key length")),
            cache: Arc::default(),
            unknown: Arc::new(quick_cache::sync::Cache::new(UNKNOWN_KEY_CAPACITY)),
            lookups_per_address: Arc::new(LookupBuckets::new(budget.rate, budget.burst)),
            in_flight: Arc::default(),
            lookups: consentd_telemetry::meter()
                .u64_counter("consentd.auth.key_lookups")
                .with_unit("{lookup}")
                .with_description("API keys looked up in the database, by outcome (found, unknown)")
                .build(),
            jwt: None,
        })
    }

    /// The same, accepting JWT bearer tokens checked by `verifier` too.
    pub fn with_jwt(mut self, verifier: consentd_jwt::JwtVerifier) -> Self {
        self.jwt = Some(verifier);
        self
    }

    /// The same, with `budget` for each client address's key lookups.
    pub fn with_lookup_budget(mut self, budget: LookupBudget) -> Self {
        self.lookups_per_address = Arc::new(LookupBuckets::new(budget.rate, budget.burst));
        self
    }

    /// The principal of a key (`<prefix>.<secret>`) however the caller sent
    /// it (a bearer header, a vendor's query parameter or basic pair).
    ///
    /// A key of ours (`ck_…`, `pk_…`) is found by its id; anything else
    /// that could be a client's existing vendor key is found by the id
    /// derived from it (`consentd keys import`).
    pub async fn authenticate_key(&self, token: &str, client: &str) -> Result<Principal, AuthError> {
        if let Some(verifier) = &self.jwt
            && consentd_jwt::JwtVerifier::looks_like_jwt(token)
        {
            return crate::jwt::principal(verifier, token).await;
        }
        let imported;
        let (id, secret) = match token.split_once('.') {
            Some((id, secret)) if well_formed(id, secret) => (id, secret),
            _ if KeyKind::could_be_imported(token) => {
                imported = self.imported_id(token);
                (imported.as_str(), token)
            }
            _ => return Err(AuthError::Unauthenticated),
        };
        let key = self.charged_lookup(id, client).await?.ok_or(AuthError::Unauthenticated)?;
        if key.revoked_at.is_some() || !self.verify(secret, &key.hash) {
            return Err(AuthError::Unauthenticated);
        }
        Ok(Principal {
            tenant: key.tenant.clone(),
            key_id: Some(key.id.clone()),
            scopes: key.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            account: key.account.clone().map(Arc::new),
            publishable: KeyKind::of(&key.id) == KeyKind::Publishable,
            expires_at: None,
        })
    }

    /// Whether the caller's credential still holds (for long-lived
    /// streams): a key unrevoked, a token unexpired; an error when the store
    /// cannot say.
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, AuthError> {
        if let Some(expires_at) = principal.expires_at {
            return Ok(std::time::SystemTime::now() < expires_at);
        }
        let Some(key_id) = &principal.key_id else { return Ok(true) };
        Ok(matches!(self.lookup(key_id).await?, Some(key) if key.revoked_at.is_none()))
    }

    /// The key `id` for a caller at `client`: from the caches if they know,
    /// else looked up at the address's expense (given back if it exists).
    async fn charged_lookup(&self, id: &str, client: &str) -> Result<Option<Arc<StoredKey>>, AuthError> {
        if let Some(known) = self.cached(id)? {
            return Ok(known);
        }
        if self.unknown.get(id).is_some_and(|at| at.elapsed() < UNKNOWN_KEY_TTL) {
            return Ok(None);
        }
        // One lookup of an id at a time: the calls that miss it together
        // (every call in flight when its cache entry lapses) wait for that
        // one, and only the call that makes it pays.
        let lookup = {
            let mut in_flight = self.in_flight.lock().map_err(|_| poisoned())?;
            Arc::clone(in_flight.entry(id.to_owned()).or_default())
        };
        let key = lookup
            .get_or_try_init(|| async {
                if let Err(wait) = self.lookups_per_address.take(client) {
                    return Err(AuthError::TooManyLookups { retry_after: wait });
                }
                let key = self.fetch(id).await?;
                if key.is_some() {
                    // Honest clients must not pay for the cache's lapses.
                    self.lookups_per_address.give_back(client);
                }
                Ok(key)
            })
            .await
            .cloned();
        let mut in_flight = self.in_flight.lock().map_err(|_| poisoned())?;
        if in_flight.get(id).is_some_and(|current| Arc::ptr_eq(current, &lookup)) {
            in_flight.remove(id);
        }
        key
    }

    /// The key `id` for the server's own re-checks (streams): never charged.
    async fn lookup(&self, id: &str) -> Result<Option<Arc<StoredKey>>, AuthError> {
        match self.cached(id)? {
            Some(known) => Ok(known),
            None => self.fetch(id).await,
        }
    }

    /// What the key cache knows of `id`, if it is fresh.
    fn cached(&self, id: &str) -> Result<Option<Option<Arc<StoredKey>>>, AuthError> {
        let cache = self.cache.lock().map_err(|_| poisoned())?;
        Ok(cache.get(id).filter(|(at, _)| at.elapsed() < KEY_CACHE_TTL).map(|(_, key)| key.clone()))
    }

    /// Reads the key from the store and caches what it found.
    async fn fetch(&self, id: &str) -> Result<Option<Arc<StoredKey>>, AuthError> {
        let key = self.store.key(id).await?.map(Arc::new);
        let outcome = if key.is_some() { "found" } else { "unknown" };
        self.lookups.add(1, &[KeyValue::new("outcome", outcome)]);
        match &key {
            // Only keys that exist go in this cache, so it is bounded by the
            // keys issued; unknown ids go in the bounded one.
            Some(_) => {
                let mut cache = self.cache.lock().map_err(|_| poisoned())?;
                cache.insert(id.to_owned(), (Instant::now(), key.clone()));
            }
            None => self.unknown.insert(id.to_owned(), Instant::now()),
        }
        Ok(key)
    }

    pub(crate) fn hash(&self, secret: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verify(&self, secret: &str, stored_hex: &str) -> bool {
        let mut stored = [0u8; 32];
        if hex::decode_to_slice(stored_hex, &mut stored).is_err() {
            return false;
        }
        let mut mac = self.mac.clone();
        mac.update(secret.as_bytes());
        mac.verify_slice(&stored).is_ok()
    }
}

/// A thread panicked while holding the key cache.
fn poisoned() -> AuthError {
    tracing::error!("key cache poisoned");
    AuthError::Internal
}

pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, KeyError> {
    let mut bytes = vec![0; n];
    getrandom::fill(&mut bytes).map_err(|err| KeyError::Random(err.to_string()))?;
    Ok(bytes)
}

pub(crate) fn random_token(n: usize) -> Result<String, KeyError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(n)?))
}
