//! The vault of a store and its subjects' data keys (docs/evidence.md#erasure).
//!
//! The master key comes from the configuration, or, when none is given, is
//! made once and kept in the database (`store_meta`), which protects nothing
//! against a reader of the database or its backups, but keeps a
//! no-configuration start working; `consentd` warns about it.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use consent_core::{ConsentError, TenantId};
use consent_vault::{MasterKey, SubjectKey, Vault};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::dialect::Dialect;
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
    leaf_hashes: bool,
    vault: OnceCell<Sealing>,
}

/// How a store writes records: the vault, and whether each write computes
/// its records' log leaf hashes (the verifiable log on; see
/// [`crate::StoreOptions::leaf_hashes`]).
#[derive(Debug)]
pub(crate) struct Sealing {
    vault: Vault,
    pub(crate) leaf_hashes: bool,
}

impl std::ops::Deref for Sealing {
    type Target = Vault;

    fn deref(&self) -> &Vault {
        &self.vault
    }
}

impl VaultCell {
    pub(crate) fn new(configured: Option<MasterKey>, leaf_hashes: bool) -> Self {
        Self { configured, leaf_hashes, vault: OnceCell::new() }
    }

    /// The vault.
    pub(crate) async fn get<C: ConnectionTrait>(&self, db: &C) -> Result<&Sealing, ConsentError> {
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
                Ok(Sealing { vault: Vault::new(&master), leaf_hashes: self.leaf_hashes })
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
    let rows = if Dialect::of(db).rows_as_json() {
        key_rows_postgres(db, tenant, &subjects).await?
    } else {
        key_rows_by_chunk(db, tenant, &subjects).await?
    };
    let mut keys = Keys::with_capacity(rows.len());
    for (subject_id, wrapped) in rows {
        let subject = Uuid::parse_str(&subject_id)
            .map_err(|_| ConsentError::Internal(format!("subject key of a bad subject id {subject_id}")))?;
        keys.insert(subject, unwrap_key(vault, tenant, subject, &wrapped)?);
    }
    Ok(keys)
}

/// A stored (wrapped, base64) data key, unwrapped.
pub(crate) fn unwrap_key(
    vault: &Vault,
    tenant: &TenantId,
    subject: Uuid,
    wrapped: &str,
) -> Result<SubjectKey, ConsentError> {
    STANDARD
        .decode(wrapped)
        .map_err(|_| consent_vault::VaultError::Undecryptable)
        .and_then(|wrapped| vault.subject_key(tenant.as_str(), &subject.to_string(), &wrapped))
        .map_err(|err| {
            ConsentError::Internal(format!("the data key of subject {subject} does not unwrap: {err}"))
        })
}

/// A new data key for a subject, and its row to store.
pub(crate) fn new_key(
    vault: &Vault,
    tenant: &TenantId,
    subject: Uuid,
) -> Result<(SubjectKey, subject_key::Model), ConsentError> {
    let (key, wrapped) = vault.new_subject_key(tenant.as_str(), &subject.to_string()).map_err(vault_error)?;
    let row = subject_key::Model {
        tenant: tenant.as_str().to_owned(),
        subject_id: subject.to_string(),
        wrapped: STANDARD.encode(wrapped),
    };
    Ok((key, row))
}

/// (subject id, wrapped key) rows, by `IN` lists.
pub(crate) async fn key_rows_by_chunk<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subjects: &BTreeSet<String>,
) -> Result<Vec<(String, String)>, ConsentError> {
    let subjects: Vec<&String> = subjects.iter().collect();
    let mut found = Vec::with_capacity(subjects.len());
    for chunk in subjects.chunks(KEYS_PER_READ) {
        let rows = subject_key::Entity::find()
            .filter(subject_key::Column::Tenant.eq(tenant.as_str()))
            .filter(subject_key::Column::SubjectId.is_in(chunk.iter().map(|s| s.as_str())))
            .all(db)
            .await
            .map_err(db_error)?;
        found.extend(rows.into_iter().map(|row| (row.subject_id, row.wrapped)));
    }
    Ok(found)
}

/// PostgreSQL: one statement of fixed text however many subjects, planned
/// once per connection (an `IN` list of each length is a statement of its
/// own to parse and plan: it took most of a write's time).
async fn key_rows_postgres<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    subjects: &BTreeSet<String>,
) -> Result<Vec<(String, String)>, ConsentError> {
    const LOOKUP: &str = "SELECT subject_id, wrapped FROM subject_keys \
        WHERE tenant = $1 AND subject_id IN (SELECT jsonb_array_elements_text($2::jsonb))";
    if subjects.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = serde_json::to_string(subjects)
        .map_err(|err| ConsentError::Internal(format!("subject ids do not serialise: {err}")))?;
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, LOOKUP, [tenant.as_str().into(), wanted.into()]);
    db.query_all_raw(statement)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<String>("", "subject_id").map_err(db_error)?,
                row.try_get::<String>("", "wrapped").map_err(db_error)?,
            ))
        })
        .collect()
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
