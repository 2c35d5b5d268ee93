//! Data keys made for the subjects a write names that have none yet
//! (docs/evidence.md#erasure).

use std::collections::BTreeSet;

use consent_core::{ConsentError, TenantId};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::entity::subject_key;
use crate::keys::{Keys, Sealing, keys_of, new_key};

/// The data keys of `subjects`, made for those without one. Inside a write:
/// the tenant's write lock is held, so no other writer makes one at once.
pub(crate) async fn keys_for_writing<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    subjects: impl IntoIterator<Item = Uuid>,
) -> Result<Keys, ConsentError> {
    let subjects: BTreeSet<Uuid> = subjects.into_iter().collect();
    let mut keys = keys_of(db, vault, tenant, subjects.iter().copied()).await?;
    let missing: Vec<Uuid> = subjects.into_iter().filter(|subject| !keys.contains_key(subject)).collect();
    let mut rows = Vec::with_capacity(missing.len());
    for subject in missing {
        let (key, row) = new_key(vault, tenant, subject)?;
        keys.insert(subject, key);
        rows.push(row);
    }
    crate::bulk::insert::<_, subject_key::Entity>(db, &rows).await?;
    Ok(keys)
}
