//! Retention (docs/evidence.md#retention): a tenant keeps a record's
//! identifying values for a number of days after the record stops being
//! current, unless its subject is on legal hold. Then they go as an
//! erasure's do — the record keeps their commitments, so its log leaf and
//! every proof stay the same — but the record stays filed under its
//! subject, and the subject keeps its key for the records still kept.
//!
//! A sweeper on every replica hands each tenant's due removals to the group
//! committer as a [`RetainUntil`] write each round (at most
//! [`REMOVALS_PER_WRITE`]): under the tenant's write lock, so a
//! removal never races an erasure of the same record.

use std::collections::BTreeMap;
use std::time::Duration;

use consent_core::{ConsentError, RetainUntil, Revision, TenantId, Timestamp, WriteCommand, WriteOutcome};
use consent_evidence::Commitments;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use uuid::Uuid;

use crate::convert::{Opening, Removed, commitment_salt, from_row, keys_for_rows, row_key};
use crate::entity::{consent_record, tenant_head};
use crate::error::db_error;
use crate::keys::Sealing;
use crate::{SqlStore, erase, evidence};

/// Why a record's values went, as `removed` says.
pub(crate) const RETENTION: &str = "retention";

/// The most records one [`RetainUntil`] write removes.
pub(crate) const REMOVALS_PER_WRITE: usize = 500;

/// The most days a retention may be: a hundred years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How long each tenant keeps what its records no longer need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Days a record's identifying values are kept after it stops being
    /// current, for every tenant not named in `tenants`; 0 keeps them for
    /// ever.
    pub days: u32,
    /// Days for the tenants named (0: for ever).
    pub tenants: BTreeMap<String, u32>,
}

impl Retention {
    /// The tenant's days, `None` when it keeps everything.
    pub fn days_for(&self, tenant: &str) -> Option<u32> {
        Some(self.tenants.get(tenant).copied().unwrap_or(self.days)).filter(|days| *days > 0)
    }

    /// Whether no tenant removes anything.
    pub fn keeps_everything(&self) -> bool {
        self.days == 0 && self.tenants.values().all(|days| *days == 0)
    }
}

/// The records of the tenant whose values retention no longer keeps: not
/// current, replaced by the current record of their key, both recorded
/// before `cutoff` (a record stops being current no later than the later of
/// the two), the subject not on legal hold, and its salt at hand (a key, or
/// a stored salt: a record the log has not reached yet waits for it).
const DUE_FROM: &str = "FROM consent_records r \
    JOIN consent_state s ON s.tenant = r.tenant AND s.subject_id = r.subject_id \
        AND s.purpose = r.purpose AND s.target = r.target \
    JOIN consent_records c ON c.id = s.record_id \
    WHERE r.tenant = $1 AND r.removed = '' AND s.record_id <> r.id \
        AND r.recorded_at < $2 AND c.recorded_at < $2 \
        AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant = r.tenant AND h.subject_id = r.subject_id) \
        AND (EXISTS (SELECT 1 FROM subject_keys k WHERE k.tenant = r.tenant AND k.subject_id = r.subject_id) \
            OR EXISTS (SELECT 1 FROM subject_salts t WHERE t.tenant = r.tenant AND t.subject_id = r.subject_id))";

/// The ids of up to `limit` due records, in revision order; with `among`,
/// only of those.
async fn due<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    cutoff: Timestamp,
    limit: usize,
    among: Option<&[String]>,
) -> Result<Vec<String>, ConsentError> {
    let mut values: Vec<sea_orm::Value> = vec![tenant.as_str().into(), cutoff.as_micros().into()];
    let mut sql = format!("SELECT r.id {DUE_FROM}");
    if let Some(ids) = among {
        let placeholders: Vec<String> = (3..ids.len() + 3).map(|n| format!("${n}")).collect();
        sql.push_str(&format!(" AND r.id IN ({})", placeholders.join(", ")));
        values.extend(ids.iter().map(|id| id.as_str().into()));
    }
    sql.push_str(&format!(" ORDER BY r.revision LIMIT {limit}"));
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    db.query_all_raw(statement)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.try_get::<String>("", "id").map_err(db_error))
        .collect()
}

/// Removes the values retention no longer keeps (see [`RetainUntil`]):
/// under the tenant's write lock, so only the candidates are checked again.
pub(crate) async fn retain<C: ConnectionTrait>(
    db: &C,
    vault: &Sealing,
    tenant: &TenantId,
    cmd: &RetainUntil,
    first_revision: Revision,
) -> Result<WriteOutcome, ConsentError> {
    let nothing = WriteOutcome {
        subject_id: Uuid::nil(),
        records: Vec::new(),
        revision: first_revision - 1,
        conflicting_identities: Vec::new(),
    };
    let candidates: Vec<String> = cmd.records.iter().take(REMOVALS_PER_WRITE).cloned().collect();
    if candidates.is_empty() {
        return Ok(nothing);
    }
    let ids = due(db, tenant, cmd.cutoff, candidates.len(), Some(&candidates)).await?;
    if ids.is_empty() {
        return Ok(nothing);
    }
    let rows = consent_record::Entity::find()
        .filter(consent_record::Column::Id.is_in(ids))
        .all(db)
        .await
        .map_err(db_error)?;
    let keys = keys_for_rows(db, vault, &rows).await?;
    let subjects = rows.iter().map(|row| row.subject_id.clone()).collect();
    let salts = evidence::read_salts(db, tenant, &subjects).await?;
    let mut removed = 0;
    for row in rows {
        let subject_id = Uuid::parse_str(&row.subject_id).unwrap_or_default();
        let key = row_key(&keys, &row);
        let Some(salt) = commitment_salt(&row, salts.get(&row.subject_id).copied(), key) else { continue };
        let record = from_row(row.clone(), key, Opening::Strict)?;
        let kept = Removed {
            reason: RETENTION.to_owned(),
            subject_id: row.subject_id.clone(),
            commitments: Commitments::of(&record, &salt),
        };
        erase::strip(db, &row.id, subject_id, &kept).await?;
        removed += 1;
    }
    tracing::debug!(tenant = tenant.as_str(), removed, "retention removed identifying values");
    Ok(nothing)
}

/// The instant `days` days before `now`, for any number of days.
pub fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    now.saturating_add_micros(i64::from(days).saturating_mul(-86_400_000_000))
}

/// One round of the sweeper: a removal write for each tenant that keeps
/// less than everything.
async fn sweep(store: SqlStore, retention: &Retention) {
    let tenants: Vec<String> = match tenant_head::Entity::find().all(store.connection()).await {
        Ok(heads) => heads.into_iter().map(|head| head.tenant).collect(),
        Err(err) => {
            tracing::warn!(error = %err, "cannot list tenants for retention");
            return;
        }
    };
    for tenant in tenants {
        let Some(days) = retention.days_for(&tenant) else { continue };
        let cutoff = cutoff(Timestamp::now(), days);
        if let Err(err) = store.apply_retention(&TenantId::new(tenant.clone()), cutoff).await {
            tracing::warn!(error = %err, tenant, "cannot apply retention");
        }
    }
}

impl SqlStore {
    /// Removes the values of up to [`REMOVALS_PER_WRITE`] of `tenant`'s
    /// records that stopped being current before `cutoff`: one write, so a
    /// sweep never holds a tenant's write lock long; the next sweep takes
    /// the rest.
    pub async fn apply_retention(&self, tenant: &TenantId, cutoff: Timestamp) -> Result<(), ConsentError> {
        // Found outside the write lock (it is a scan of the tenant's
        // records); checked again under it.
        let records = due(self.connection(), tenant, cutoff, REMOVALS_PER_WRITE, None).await?;
        if records.is_empty() {
            return Ok(());
        }
        let command = WriteCommand::Retain(RetainUntil { cutoff, records });
        self.parts.writer.write(tenant, command).await.map(drop)
    }

    /// How many of `tenant`'s records retention would remove values of at
    /// `cutoff` (those of subjects on legal hold not counted).
    pub async fn retention_due(&self, tenant: &TenantId, cutoff: Timestamp) -> Result<u64, ConsentError> {
        let db = self.connection();
        let statement = Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS due {DUE_FROM}"),
            [tenant.as_str().into(), cutoff.as_micros().into()],
        );
        let row = db.query_one_raw(statement).await.map_err(db_error)?;
        let due = row.map(|row| row.try_get::<i64>("", "due")).transpose().map_err(db_error)?;
        Ok(u64::try_from(due.unwrap_or(0)).unwrap_or(0))
    }

    /// Starts removing what `retention` no longer keeps, looking every
    /// `interval`, as one of the vital tasks.
    pub fn spawn_retention(&self, retention: Retention, interval: Duration) {
        if retention.keeps_everything() {
            return;
        }
        let rounds = crate::every(self, interval, move |store| {
            let retention = retention.clone();
            async move { sweep(store, &retention).await }
        });
        let _ended = self.parts.vitals.spawn("retention sweeper", rounds);
    }
}
