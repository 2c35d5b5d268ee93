//! Issuing keys: ordinary keys for a tenant, publishable keys a web page
//! may carry, and a client's existing vendor key imported so that only its
//! base URL changes.

use consent_core::{KeyAccount, StoredKey, TenantId, Timestamp};

use crate::keys::{Authenticator, IssueError, KeyError, NewKey, random_bytes, random_token};
use crate::kind::KeyKind;
use crate::{Scope, origin};

impl Authenticator {
    /// Creates a key for `tenant` with `scopes` and returns it, the only time
    /// its secret is known.
    pub async fn create(&self, tenant: &TenantId, scopes: &[Scope]) -> Result<NewKey, KeyError> {
        self.issue("ck_", tenant, scopes, None).await
    }

    /// Creates a publishable key: it records consent for `vendor`'s account
    /// `external_id` (bound to `tenant`), from the browser `origins` only,
    /// and reads nothing.
    pub async fn create_publishable(
        &self,
        tenant: &TenantId,
        vendor: &str,
        external_id: &str,
        origins: &[String],
    ) -> Result<NewKey, KeyError> {
        if origins.is_empty() {
            return Err(IssueError::NoOrigin.into());
        }
        let origins: Result<Vec<String>, IssueError> =
            origins.iter().map(|o| origin::normalize(o).map_err(IssueError::BadOrigin)).collect();
        let account = KeyAccount {
            vendor: vendor.to_owned(),
            external_id: Some(external_id.to_owned()),
            origins: origins?,
        };
        self.issue("pk_", tenant, &[Scope::Write], Some(account)).await
    }

    /// Stores a client's existing vendor key (hashed), for `tenant` with
    /// `scopes`, usable on `vendor`'s routes (for its account `external_id`
    /// if given) and on gRPC; returns its id.
    pub async fn import(
        &self,
        tenant: &TenantId,
        vendor: &str,
        vendor_key: &str,
        external_id: Option<&str>,
        scopes: &[Scope],
    ) -> Result<String, KeyError> {
        // A key shaped like one of ours, or like a JWT, is checked as that
        // and would never be found as an imported key.
        let ours =
            vendor_key.split_once('.').is_some_and(|(id, secret)| crate::keys::well_formed(id, secret));
        if !KeyKind::could_be_imported(vendor_key)
            || ours
            || consentd_jwt::JwtVerifier::looks_like_jwt(vendor_key)
        {
            return Err(IssueError::BadVendorKey.into());
        }
        let id = self.imported_id(vendor_key);
        if self.store.key(&id).await?.is_some() {
            return Err(IssueError::AlreadyImported(id).into());
        }
        let account = KeyAccount {
            vendor: vendor.to_owned(),
            external_id: external_id.map(str::to_owned),
            origins: Vec::new(),
        };
        self.store(&id, tenant, vendor_key, scopes, Some(account)).await?;
        Ok(id)
    }

    /// The id an imported vendor key is stored under: derived from the key
    /// with the server secret, so the key is found without being stored.
    /// (The NUL keeps it apart from any key's own hash: keys are visible
    /// ASCII.)
    pub(crate) fn imported_id(&self, vendor_key: &str) -> String {
        let derived = self.hash(&format!("\0imported-key-id\0{vendor_key}"));
        format!("vk_{}", &derived[..16])
    }

    async fn issue(
        &self,
        prefix: &str,
        tenant: &TenantId,
        scopes: &[Scope],
        account: Option<KeyAccount>,
    ) -> Result<NewKey, KeyError> {
        let id = format!("{prefix}{}", hex::encode(random_bytes(8)?));
        let secret = random_token(32)?;
        self.store(&id, tenant, &secret, scopes, account).await?;
        Ok(NewKey { key: format!("{id}.{secret}"), id })
    }

    async fn store(
        &self,
        id: &str,
        tenant: &TenantId,
        secret: &str,
        scopes: &[Scope],
        account: Option<KeyAccount>,
    ) -> Result<(), KeyError> {
        let stored = StoredKey {
            id: id.to_owned(),
            tenant: tenant.clone(),
            hash: self.hash(secret),
            scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: Timestamp::now(),
            revoked_at: None,
            account,
        };
        self.store.insert_key(&stored).await?;
        Ok(())
    }
}
