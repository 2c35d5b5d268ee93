//! The check cache's read path: what the cache knows of a subject, loaded
//! on a miss, at a revision at least the caller's; and the seeding of a
//! tenant's applied revision. Both kinds of check (`check`, `check_target`)
//! answer from it.

use std::sync::Arc;
use std::time::Duration;

use consent_core::{ConsentError, Revision, SubjectRef, TenantId};
use uuid::Uuid;

use crate::cache::{self, CheckCache, CurrentRecord};
use crate::dialect::Dialect;
use crate::{SqlStore, notify, read};

/// How long a check carrying a `min_revision` the cache has not reached yet
/// waits for it (a commit notice on its way) before it reads the database.
const MIN_REVISION_WAIT: Duration = Duration::from_millis(50);

/// How long seeding a tenant's applied revision waits for its barrier.
const SEED_WAIT: Duration = Duration::from_secs(1);

impl SqlStore {
    /// What the check cache knows of the subject `subject` names, at a
    /// revision of at least `min_revision`, loading the subject's current
    /// records if need be; `None` when the cache cannot answer (offline, not
    /// seeded, or `min_revision` not reached in time).
    pub(crate) async fn cached_current(
        &self,
        cache: &CheckCache,
        tenant: &TenantId,
        subject: &SubjectRef,
        min_revision: Revision,
    ) -> Result<Option<Cached>, ConsentError> {
        if !cache.is_online() {
            return Ok(None);
        }
        let vault = self.vault().await?;
        // Before the revision: an erasure noticed after it is then seen by
        // `remember_link`, which keeps nothing read before it.
        let stamp = cache.link_stamp(tenant);
        // The revision is read before any entry: every entry then reflects
        // at least every commit up to it.
        let applied = match cache.applied(tenant) {
            Some(applied) => applied,
            None => match self.seed(cache, tenant).await? {
                Some(applied) => applied,
                None => return Ok(None),
            },
        };
        let revision = if applied >= min_revision {
            applied
        } else {
            match cache.wait_for(tenant, min_revision, MIN_REVISION_WAIT).await {
                Some(applied) => applied,
                None => return Ok(None),
            }
        };
        let subject_id = match subject {
            SubjectRef::Id(id) => Some(*id),
            SubjectRef::Identity(identity) => match cache.subject_of(tenant, identity) {
                Some(known) => known,
                None => {
                    // Read where the cache's revision is reached: a fill
                    // older than the invalidations already applied would
                    // stay stale.
                    let found = self
                        .parts
                        .reads
                        .read(tenant, revision, |db| read::subject_of(db, vault, tenant, identity))
                        .await?;
                    cache.remember_link(tenant, identity, found, stamp);
                    found
                }
            },
        };
        let Some(subject_id) = subject_id else {
            return Ok(Some(Cached { revision, subject: CachedSubject::Unknown }));
        };
        if let Some(current) = cache.records(tenant, subject_id) {
            return Ok(Some(Cached { revision, subject: CachedSubject::Current(current) }));
        }
        let epoch = cache.epoch(tenant, subject_id);
        let limit = cache::MAX_CACHED_RECORDS as u64 + 1;
        let loaded = self
            .parts
            .reads
            .read(tenant, revision, |db| read::current_with_first(db, vault, tenant, subject_id, limit))
            .await?;
        if loaded.len() > cache::MAX_CACHED_RECORDS {
            // Too many to keep: this subject's checks read the tables.
            return Ok(Some(Cached { revision, subject: CachedSubject::TooMany(subject_id) }));
        }
        let loaded: Arc<[CurrentRecord]> = loaded.into();
        cache.remember_records(tenant, subject_id, Arc::clone(&loaded), epoch);
        Ok(Some(Cached { revision, subject: CachedSubject::Current(loaded) }))
    }

    /// Seeds the tenant's applied revision from the database head, behind a
    /// barrier that every earlier commit's invalidation has passed: the
    /// committer's gate on SQLite, a notice round trip on PostgreSQL.
    async fn seed(&self, cache: &CheckCache, tenant: &TenantId) -> Result<Option<Revision>, ConsentError> {
        let resets = cache.resets();
        let head = if Dialect::of(&self.parts.db).shared() {
            let head = read::head_revision(&self.parts.db, tenant).await?;
            if !notify::barrier(&self.parts.db, cache, SEED_WAIT).await? {
                return Ok(None);
            }
            head
        } else {
            let _gate = cache.commit_gate().lock().await;
            read::head_revision(&self.parts.db, tenant).await?
        };
        Ok(cache.seed(tenant, head, resets).then_some(head))
    }
}

/// What the check cache knows of a subject, and the revision it reflects.
pub(crate) struct Cached {
    pub(crate) revision: Revision,
    pub(crate) subject: CachedSubject,
}

pub(crate) enum CachedSubject {
    /// No subject has the identity.
    Unknown,
    /// Its current records.
    Current(Arc<[CurrentRecord]>),
    /// It has too many current records to keep: read the tables.
    TooMany(Uuid),
}
