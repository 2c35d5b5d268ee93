//! Keys, tenant bindings and store facts: what `consentd keys`, `consentd
//! tenants` and the authentication layer read and write. Not part of the
//! consent API, so not on the `ConsentStore` trait.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use consent_core::keys::KeyFuture;
use consent_core::{ConsentError, KeyAccount, KeyStore, StoredKey, TenantId, Timestamp};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use crate::SqlStore;
use crate::entity::{api_key, binding_origin, store_meta, tenant_binding};
use crate::error::db_error;

impl From<api_key::Model> for StoredKey {
    fn from(row: api_key::Model) -> Self {
        Self {
            id: row.id,
            tenant: TenantId::new(row.tenant),
            hash: row.hash,
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: Timestamp::from_micros(row.created_at),
            revoked_at: row.revoked_at.map(Timestamp::from_micros),
            account: row.vendor.map(|vendor| KeyAccount {
                vendor,
                external_id: row.external_id,
                origins: row.origins.split_whitespace().map(str::to_owned).collect(),
            }),
        }
    }
}

/// The bindings a store has found, by (vendor, external id).
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownBindings {
    known: Arc<RwLock<HashMap<(String, String), TenantId>>>,
}

/// Bindings remembered at most; past it the memory starts over (each is one
/// read to find again).
const MAX_KNOWN_BINDINGS: usize = 65_536;

impl KnownBindings {
    fn get(&self, vendor: &str, external_id: &str) -> Option<TenantId> {
        let known = self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.get(&(vendor.to_owned(), external_id.to_owned())).cloned()
    }

    fn remember(&self, vendor: &str, external_id: &str, tenant: &TenantId) {
        let mut known = self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if known.len() >= MAX_KNOWN_BINDINGS {
            known.clear();
        }
        known.insert((vendor.to_owned(), external_id.to_owned()), tenant.clone());
    }
}

impl SqlStore {
    /// Stores a new key.
    pub async fn insert_key(&self, key: &StoredKey) -> Result<(), ConsentError> {
        let row = api_key::Model {
            id: key.id.clone(),
            tenant: key.tenant.as_str().to_owned(),
            hash: key.hash.clone(),
            scopes: key.scopes.join(" "),
            created_at: key.created_at.as_micros(),
            revoked_at: key.revoked_at.map(Timestamp::as_micros),
            vendor: key.account.as_ref().map(|account| account.vendor.clone()),
            external_id: key.account.as_ref().and_then(|account| account.external_id.clone()),
            origins: key.account.as_ref().map(|account| account.origins.join(" ")).unwrap_or_default(),
        };
        api_key::Entity::insert(row.into_active_model()).exec(self.connection()).await.map_err(db_error)?;
        Ok(())
    }

    /// The key with this prefix, revoked or not.
    pub async fn key(&self, id: &str) -> Result<Option<StoredKey>, ConsentError> {
        Ok(api_key::Entity::find_by_id(id.to_owned())
            .one(self.connection())
            .await
            .map_err(db_error)?
            .map(StoredKey::from))
    }

    /// Every key, oldest first.
    pub async fn keys(&self) -> Result<Vec<StoredKey>, ConsentError> {
        let rows = api_key::Entity::find()
            .order_by_asc(api_key::Column::CreatedAt)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(StoredKey::from).collect())
    }

    /// Whether any key was ever created (revoked ones count).
    pub async fn has_keys(&self) -> Result<bool, ConsentError> {
        Ok(api_key::Entity::find().one(self.connection()).await.map_err(db_error)?.is_some())
    }

    /// Revokes a key; `false` when there is no such key.
    pub async fn revoke_key(&self, id: &str, at: Timestamp) -> Result<bool, ConsentError> {
        let Some(row) =
            api_key::Entity::find_by_id(id.to_owned()).one(self.connection()).await.map_err(db_error)?
        else {
            return Ok(false);
        };
        if row.revoked_at.is_none() {
            let mut active = row.into_active_model();
            active.revoked_at = ActiveValue::Set(Some(at.as_micros()));
            api_key::Entity::update(active).exec(self.connection()).await.map_err(db_error)?;
        }
        Ok(true)
    }

    /// Declares that `external_id` of `vendor` belongs to `tenant`. Binding an
    /// id already bound to another tenant is refused.
    pub async fn bind_tenant(
        &self,
        vendor: &str,
        external_id: &str,
        tenant: &TenantId,
    ) -> Result<(), ConsentError> {
        if let Some(owner) = self.bound_tenant(vendor, external_id).await? {
            return if owner == *tenant {
                Ok(())
            } else {
                Err(ConsentError::FailedPrecondition {
                    reason: "ALREADY_BOUND",
                    message: format!("{vendor} id {external_id} is bound to another tenant"),
                })
            };
        }
        let row = tenant_binding::Model {
            vendor: vendor.to_owned(),
            external_id: external_id.to_owned(),
            tenant: tenant.as_str().to_owned(),
            created_at: Timestamp::now().as_micros(),
        };
        tenant_binding::Entity::insert(row.into_active_model())
            .exec(self.connection())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The tenant `external_id` of `vendor` is bound to. A binding never
    /// changes once made (rebinding is refused, and nothing unbinds), so one
    /// found is remembered: a vendor route no longer reads the database for it
    /// on every request. An id not bound yet is asked again each time, so a
    /// new binding works at once.
    pub async fn bound_tenant(
        &self,
        vendor: &str,
        external_id: &str,
    ) -> Result<Option<TenantId>, ConsentError> {
        if let Some(tenant) = self.parts.bindings.get(vendor, external_id) {
            return Ok(Some(tenant));
        }
        let found = tenant_binding::Entity::find_by_id((vendor.to_owned(), external_id.to_owned()))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .map(|row| TenantId::new(row.tenant));
        if let Some(tenant) = &found {
            self.parts.bindings.remember(vendor, external_id, tenant);
        }
        Ok(found)
    }

    /// Allows browser `origins` on an account (those it has stay).
    pub async fn allow_origins(
        &self,
        vendor: &str,
        external_id: &str,
        origins: &[String],
    ) -> Result<(), ConsentError> {
        if origins.is_empty() {
            return Ok(());
        }
        let now = Timestamp::now().as_micros();
        let rows = origins.iter().map(|origin| {
            binding_origin::Model {
                vendor: vendor.to_owned(),
                external_id: external_id.to_owned(),
                origin: origin.clone(),
                created_at: now,
            }
            .into_active_model()
        });
        // An origin already allowed stays as it was.
        binding_origin::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([
                binding_origin::Column::Vendor,
                binding_origin::Column::ExternalId,
                binding_origin::Column::Origin,
            ])
            .exec(self.connection())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Every (account, origin) allowed on `vendor`'s accounts.
    pub async fn allowed_origins(&self, vendor: &str) -> Result<Vec<(String, String)>, ConsentError> {
        let rows = binding_origin::Entity::find()
            .filter(binding_origin::Column::Vendor.eq(vendor))
            .all(self.connection())
            .await
            .map_err(db_error)?;
        Ok(rows.into_iter().map(|row| (row.external_id, row.origin)).collect())
    }

    /// A named fact about this database, created from `initial` on first use
    /// (the first writer wins when several race).
    pub async fn meta_value(
        &self,
        key: &str,
        initial: impl FnOnce() -> String,
    ) -> Result<String, ConsentError> {
        meta_value(self.connection(), key, initial).await
    }
}

pub(crate) async fn meta_value<C: ConnectionTrait>(
    db: &C,
    key: &str,
    initial: impl FnOnce() -> String,
) -> Result<String, ConsentError> {
    if let Some(row) = store_meta::Entity::find_by_id(key.to_owned()).one(db).await.map_err(db_error)? {
        return Ok(row.value);
    }
    let insert = Query::insert()
        .into_table(store_meta::Entity)
        .columns([store_meta::Column::Key, store_meta::Column::Value])
        .values_panic([key.into(), initial().into()])
        .on_conflict(OnConflict::column(store_meta::Column::Key).do_nothing().to_owned())
        .to_owned();
    db.execute(&insert).await.map_err(db_error)?;
    store_meta::Entity::find_by_id(key.to_owned())
        .one(db)
        .await
        .map_err(db_error)?
        .map(|row| row.value)
        .ok_or_else(|| ConsentError::Internal(format!("store fact {key} missing after insert")))
}

impl KeyStore for SqlStore {
    fn insert_key<'a>(&'a self, key: &'a StoredKey) -> KeyFuture<'a, ()> {
        Box::pin(SqlStore::insert_key(self, key))
    }

    fn key<'a>(&'a self, id: &'a str) -> KeyFuture<'a, Option<StoredKey>> {
        Box::pin(SqlStore::key(self, id))
    }

    fn fact<'a>(&'a self, name: &'a str, initial: String) -> KeyFuture<'a, String> {
        Box::pin(self.meta_value(name, move || initial))
    }

    fn keys(&self) -> KeyFuture<'_, Vec<StoredKey>> {
        Box::pin(SqlStore::keys(self))
    }

    fn has_keys(&self) -> KeyFuture<'_, bool> {
        Box::pin(SqlStore::has_keys(self))
    }

    fn revoke_key<'a>(&'a self, id: &'a str, at: Timestamp) -> KeyFuture<'a, bool> {
        Box::pin(SqlStore::revoke_key(self, id, at))
    }
}

impl consent_core::BindingStore for SqlStore {
    async fn bound_tenant(&self, vendor: &str, external_id: &str) -> Result<Option<TenantId>, ConsentError> {
        SqlStore::bound_tenant(self, vendor, external_id).await
    }

    async fn bind_tenant(
        &self,
        vendor: &str,
        external_id: &str,
        tenant: &TenantId,
    ) -> Result<(), ConsentError> {
        SqlStore::bind_tenant(self, vendor, external_id, tenant).await
    }

    async fn allow_origins(
        &self,
        vendor: &str,
        external_id: &str,
        origins: &[String],
    ) -> Result<(), ConsentError> {
        SqlStore::allow_origins(self, vendor, external_id, origins).await
    }

    async fn allowed_origins(&self, vendor: &str) -> Result<Vec<(String, String)>, ConsentError> {
        SqlStore::allowed_origins(self, vendor).await
    }
}
