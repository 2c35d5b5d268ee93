//! The vault of a store and its subjects' data keys (docs/evidence.md#erasure).
//!
//! The master key comes from the configuration, or, when none is given, is
//! made once and kept in the database (`store_meta`), which protects nothing
//! against a reader of the database or its backups, but keeps a
//! no-configuration start working; `consentd` warns about it.

use std::collections::{BTreeSet, HashMap};

use consent_core::{ConsentError, TenantId};
use consent_vault::{MasterKey, SubjectKey, Vault};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::entity::subject_key;
use crate::error::db_error;

/// The data keys of some subjects, unwrapped.
pub(crate) type Keys = HashMap<Uuid, SubjectKey>;

/// Rows per key lookup.
const KEYS_PER_READ: usize = 300;

/// The store's vault, made on first use (the master key may be in the
/// database, which must be migrated first).
#[derive(Debug)]
pub(crate) struct VaultCell {
    configured: Option<MasterKey>,
    vault: OnceCell<Vault>,
}

impl VaultCell {
    pub(crate) fn new(configured: Option<MasterKey>) -> Self {
        Self { configured, vault: OnceCell::new() }
    }

    /// The vault.
    pub(crate) async fn get<C: ConnectionTrait>(&self, db: &C) -> Result<&Vault, ConsentError> {
        self.vault
            .get_or_try_init(|| async {
                let master = match &self.configured {
                    Some(master) => master.clone(),
                    None => stored_master_key(db).await?,
                };
                // Another master key would silently miss every pseudonym and
                // unwrap no key: refused at once.
                let fingerprint = master.fingerprint();
                let known =
                    crate::admin::meta_value(db, "master_key_fingerprint", || fingerprint.clone()).await?;
                if known != fingerprint {
                    return Err(ConsentError::Unavailable(
                        "the master key is not the one this database's subject keys are wrapped under \
                         (--master-key-file, [evidence] master_key_file; docs/evidence.md#erasure)"
                            .to_owned(),
                    ));
                }
                Ok(Vault::new(&master))
            })
            .await
    }
}

async fn stored_master_key<C: ConnectionTrait>(db: &C) -> Result<MasterKey, ConsentError> {
    let generated = MasterKey::generate().map_err(vault_error)?;
    let text = crate::admin::meta_value(db, "master_key", || generated.to_hex()).await?;
    MasterKey::parse(&text).map_err(vault_error)
}

pub(crate) fn vault_error(err: consent_vault::VaultError) -> ConsentError {
    ConsentError::Internal(format!("vault: {err}"))
}

/// The data keys of those of `subjects` that have one.
pub(crate) async fn keys_of<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subjects: impl IntoIterator<Item = Uuid>,
) -> Result<Keys, ConsentError> {
    let subjects: BTreeSet<String> = subjects.into_iter().map(|subject| subject.to_string()).collect();
    let subjects: Vec<String> = subjects.into_iter().collect();
    let mut keys = Keys::with_capacity(subjects.len());
    for chunk in subjects.chunks(KEYS_PER_READ) {
        let rows = subject_key::Entity::find()
            .filter(subject_key::Column::Tenant.eq(tenant.as_str()))
            .filter(subject_key::Column::SubjectId.is_in(chunk.iter().map(String::as_str)))
            .all(db)
            .await
            .map_err(db_error)?;
        for row in rows {
            let subject = Uuid::parse_str(&row.subject_id).map_err(|_| {
                ConsentError::Internal(format!("subject key of a bad subject id {}", row.subject_id))
            })?;
            let key = vault.subject_key(tenant.as_str(), &row.subject_id, &row.wrapped).map_err(|err| {
                ConsentError::Internal(format!("the data key of subject {subject} does not unwrap: {err}"))
            })?;
            keys.insert(subject, key);
        }
    }
    Ok(keys)
}

/// Which of `subjects` have a data key.
pub(crate) async fn subjects_with_keys<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subjects: &BTreeSet<String>,
) -> Result<BTreeSet<String>, ConsentError> {
    use sea_orm::QuerySelect;

    let subjects: Vec<&String> = subjects.iter().collect();
    let mut keyed = BTreeSet::new();
    for chunk in subjects.chunks(KEYS_PER_READ) {
        let found: Vec<String> = subject_key::Entity::find()
            .select_only()
            .column(subject_key::Column::SubjectId)
            .filter(subject_key::Column::Tenant.eq(tenant.as_str()))
            .filter(subject_key::Column::SubjectId.is_in(chunk.iter().map(|s| s.as_str())))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?;
        keyed.extend(found);
    }
    Ok(keyed)
}

/// The data keys of `subjects`, made for those without one. Inside a write:
/// the tenant's write lock is held, so no other writer makes one at once.
pub(crate) async fn keys_for_writing<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    tenant: &TenantId,
    subjects: impl IntoIterator<Item = Uuid>,
) -> Result<Keys, ConsentError> {
    let subjects: BTreeSet<Uuid> = subjects.into_iter().collect();
    let mut keys = keys_of(db, vault, tenant, subjects.iter().copied()).await?;
    let missing: Vec<Uuid> = subjects.into_iter().filter(|subject| !keys.contains_key(subject)).collect();
    let mut rows = Vec::new();
    for subject in missing {
        let (key, wrapped) =
            vault.new_subject_key(tenant.as_str(), &subject.to_string()).map_err(vault_error)?;
        keys.insert(subject, key);
        rows.push(subject_key::ActiveModel {
            tenant: sea_orm::Set(tenant.as_str().to_owned()),
            subject_id: sea_orm::Set(subject.to_string()),
            wrapped: sea_orm::Set(wrapped),
        });
    }
    for chunk in rows.chunks(KEYS_PER_READ) {
        subject_key::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(db_error)?;
    }
    Ok(keys)
}

/// Identity links stored before pseudonyms existed hold their values: once,
/// inside the migration's transaction (so before any replica serves), each
/// becomes its pseudonym. Marked done in `store_meta`.
pub(crate) async fn pseudonymize_identities<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
) -> Result<(), ConsentError> {
    use sea_orm::IntoActiveModel;

    const DONE: &str = "identities_pseudonymous";
    if crate::entity::store_meta::Entity::find_by_id(DONE.to_owned())
        .one(db)
        .await
        .map_err(db_error)?
        .is_some()
    {
        return Ok(());
    }
    let rows = crate::entity::identity::Entity::find().all(db).await.map_err(db_error)?;
    if !rows.is_empty() {
        tracing::info!(links = rows.len(), "storing identity links by pseudonym");
        crate::entity::identity::Entity::delete_many().exec(db).await.map_err(db_error)?;
        let rows: Vec<_> = rows
            .into_iter()
            .map(|row| crate::entity::identity::Model {
                value: vault.pseudonym(&row.tenant, &row.namespace, &row.value),
                ..row
            })
            .collect();
        for chunk in rows.chunks(KEYS_PER_READ) {
            crate::entity::identity::Entity::insert_many(
                chunk.iter().cloned().map(IntoActiveModel::into_active_model),
            )
            .exec_without_returning(db)
            .await
            .map_err(db_error)?;
        }
    }
    crate::admin::meta_value(db, DONE, || "1".to_owned()).await?;
    Ok(())
}
