//! The check cache: the current records of recently checked subjects and the
//! subjects of identities, in memory, so that a check is answered without a
//! database round trip — and never from a state older than the revision it
//! reports.
//!
//! How it stays consistent with every committed write:
//!
//! - **Invalidation.** A commit drops the entries of the subjects it touched
//!   and bumps its tenant's *generation* (which voids the cached "this identity
//!   has no subject" answers): this replica's commits in the group committer,
//!   before they are acknowledged; other replicas' (PostgreSQL) when their
//!   commit notice arrives — notices come in commit order.
//! - **Applied revision.** Per tenant, the revision up to which every commit's
//!   invalidation has been processed; a cached answer reports it. It advances
//!   only with the ordered stream of commits: the group committer on SQLite
//!   (the only writer of its file), the commit notices on PostgreSQL. A
//!   tenant's first value is seeded from the database head behind a barrier
//!   that guarantees every earlier commit was processed (the committer's gate
//!   on SQLite, a notice round trip on PostgreSQL).
//! - **No lost invalidation.** A load from the database is inserted only if
//!   no invalidation hit its shard while it read (a per-shard epoch), so a
//!   load racing a write cannot put back the state the write replaced.
//! - **Resets.** When a notice may have been lost (the listener reconnected,
//!   a commit's outcome is unknown), everything is dropped and every tenant
//!   must be seeded again; while the listener is down the cache does not
//!   answer at all.
//! - **Freshness (PostgreSQL).** A listener's connection can stop delivering
//!   without ever reporting an error (a half-open socket, a frozen proxy, a
//!   partition). So this process sends a marker notice through the database
//!   every heartbeat interval and notes when each was sent; notices arrive in
//!   commit order, so when a marker comes back, every commit acknowledged
//!   before it was sent has been applied. The cache answers only while the
//!   newest returned marker was sent within the staleness bound: a check it
//!   answers reflects every write acknowledged (on any replica) more than that
//!   bound before it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use consent_core::{ConsentRecord, Identity, Revision, TenantId, Timestamp};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

/// Shards of the invalidation epochs: loads and invalidations of different
/// shards never contend.
const SHARDS: usize = 64;

/// A subject with more current records than this is not cached (its checks
/// read the database): one entry stays small.
pub(crate) const MAX_CACHED_RECORDS: usize = 64;

/// Markers remembered while on their way back.
const MARKERS_IN_FLIGHT: usize = 64;

/// Per tenant: how far invalidations have been applied.
#[derive(Debug)]
struct Progress {
    /// The applied revision; -1 while unknown (not seeded).
    applied: AtomicI64,
    /// Bumped by every commit of the tenant and by resets.
    generation: AtomicU64,
}

/// When a link lookup began (see [`CheckCache::link_stamp`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkStamp {
    generation: u64,
    unlinks: u64,
}

/// What is known of an identity.
#[derive(Debug, Clone, Copy)]
enum Link {
    /// Linked, for good: a link never moves.
    Subject(Uuid),
    /// Linked to nothing, as of the tenant's generation then.
    Unlinked { generation: u64 },
}

type SubjectKey = (TenantId, Uuid);
type IdentityKey = (TenantId, Identity);

/// One current record of a cached subject, with the earliest
/// `collected_at` of its purpose and target (what a view shows as first
/// collected): a write of the subject drops both together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurrentRecord {
    pub(crate) record: ConsentRecord,
    pub(crate) first_collected_at: Timestamp,
}

/// Approximate bytes an entry holds.
#[derive(Debug, Clone, Copy)]
struct Bytes;

impl Weighter<SubjectKey, Arc<[CurrentRecord]>> for Bytes {
    fn weight(&self, _: &SubjectKey, current: &Arc<[CurrentRecord]>) -> u64 {
        current.iter().map(|entry| entry.record.approximate_bytes() as u64 + 8).sum::<u64>() + 64
    }
}

impl Weighter<IdentityKey, Link> for Bytes {
    fn weight(&self, (tenant, identity): &IdentityKey, _: &Link) -> u64 {
        (tenant.as_str().len() + identity.namespace.len() + identity.value.len()) as u64 + 64
    }
}

/// The check cache (cheap to clone: one shared state).
#[derive(Debug, Clone)]
pub(crate) struct CheckCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Whether the stream of commits is complete: false while a PostgreSQL
    /// listener is down (nothing is answered from memory then).
    online: AtomicBool,
    /// Counts resets, so a seeding that straddled one is dropped.
    resets: AtomicU64,
    /// Erasures seen: an erasure unlinks identities, so a link read from
    /// the database before one may be stale (see [`CheckCache::forget_links`]).
    unlinks: AtomicU64,
    epochs: Box<[Mutex<u64>]>,
    hasher: std::hash::RandomState,
    subjects: Cache<SubjectKey, Arc<[CurrentRecord]>, Bytes>,
    identities: Cache<IdentityKey, Link, Bytes>,
    tenants: RwLock<HashMap<TenantId, Arc<Progress>>>,
    /// Woken whenever an applied revision advances.
    advanced: Notify,
    /// The highest barrier marker this process has seen come back.
    markers: watch::Sender<u64>,
    next_marker: AtomicU64,
    /// Tells this process's markers from other replicas'.
    process: Uuid,
    /// This process's markers on their way, by number, with when each was
    /// sent (bounded: a marker that never returns is forgotten).
    in_flight: Mutex<BTreeMap<u64, Instant>>,
    /// When the newest returned marker was sent, in nanoseconds after
    /// `started` plus one; 0 while none has returned.
    fresh_as_of: AtomicU64,
    started: Instant,
    /// How old that may be before the cache stops answering; `None` when the
    /// commit stream cannot stall silently (SQLite: this process's committer
    /// is the stream).
    max_staleness: Option<Duration>,
    /// Held by the SQLite committer from its commit until the commit's
    /// invalidations are done: a seeding reads the head under it.
    commit_gate: tokio::sync::Mutex<()>,
}

impl CheckCache {
    /// A cache of about `max_bytes`; `online` when the commit stream is
    /// complete from the start (SQLite). With `max_staleness`, it answers only
    /// while a marker sent within that bound has come back.
    pub(crate) fn new(max_bytes: u64, online: bool, max_staleness: Option<Duration>) -> Self {
        let subject_bytes = max_bytes / 4 * 3;
        let identity_bytes = max_bytes - subject_bytes;
        Self {
            inner: Arc::new(Inner {
                online: AtomicBool::new(online),
                resets: AtomicU64::new(0),
                unlinks: AtomicU64::new(0),
                epochs: (0..SHARDS).map(|_| Mutex::new(0)).collect(),
                hasher: std::hash::RandomState::new(),
                subjects: Cache::with_weighter(
                    usize::try_from(subject_bytes / 1024).unwrap_or(usize::MAX).max(16),
                    subject_bytes.max(1),
                    Bytes,
                ),
                identities: Cache::with_weighter(
                    usize::try_from(identity_bytes / 128).unwrap_or(usize::MAX).max(16),
                    identity_bytes.max(1),
                    Bytes,
                ),
                tenants: RwLock::default(),
                advanced: Notify::new(),
                markers: watch::Sender::new(0),
                next_marker: AtomicU64::new(1),
                process: Uuid::now_v7(),
                in_flight: Mutex::default(),
                fresh_as_of: AtomicU64::new(0),
                started: Instant::now(),
                max_staleness,
                commit_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Whether the cache may answer: the commit stream is complete and, where
    /// it can stall silently, proven fresh within the staleness bound.
    pub(crate) fn is_online(&self) -> bool {
        self.inner.online.load(Ordering::Acquire) && self.is_fresh()
    }

    fn is_fresh(&self) -> bool {
        let Some(max_staleness) = self.inner.max_staleness else { return true };
        match self.inner.fresh_as_of.load(Ordering::Acquire) {
            0 => false,
            stamp => {
                let sent = self.inner.started + Duration::from_nanos(stamp - 1);
                sent.elapsed() <= max_staleness
            }
        }
    }

    pub(crate) fn set_online(&self, online: bool) {
        self.inner.online.store(online, Ordering::Release);
    }

    fn progress(&self, tenant: &TenantId) -> Arc<Progress> {
        if let Some(progress) = self.inner.tenants.read().unwrap_or_else(|e| e.into_inner()).get(tenant) {
            return Arc::clone(progress);
        }
        let mut tenants = self.inner.tenants.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(tenants.entry(tenant.clone()).or_insert_with(|| {
            Arc::new(Progress { applied: AtomicI64::new(-1), generation: AtomicU64::new(0) })
        }))
    }

    /// The tenant's applied revision, if seeded.
    pub(crate) fn applied(&self, tenant: &TenantId) -> Option<Revision> {
        let applied = self.progress(tenant).applied.load(Ordering::Acquire);
        (applied >= 0).then_some(applied)
    }

    /// Waits (at most `limit`) until the tenant's applied revision reaches
    /// `revision`; its value then, if it did.
    pub(crate) async fn wait_for(
        &self,
        tenant: &TenantId,
        revision: Revision,
        limit: Duration,
    ) -> Option<Revision> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.advanced.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(applied) = self.applied(tenant).filter(|applied| *applied >= revision) {
                return Some(applied);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() || !self.is_online() {
                return None;
            }
        }
    }

    fn shard<K: Hash>(&self, key: &K) -> &Mutex<u64> {
        let hash = self.inner.hasher.hash_one(key);
        &self.inner.epochs[(hash % SHARDS as u64) as usize]
    }

    fn epoch_lock<K: Hash>(&self, key: &K) -> std::sync::MutexGuard<'_, u64> {
        self.shard(key).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached link of an identity: `Some(None)` when it is known to be
    /// linked to no subject.
    pub(crate) fn subject_of(&self, tenant: &TenantId, identity: &Identity) -> Option<Option<Uuid>> {
        match self.inner.identities.get(&(tenant.clone(), identity.clone()))? {
            Link::Subject(subject) => Some(Some(subject)),
            Link::Unlinked { generation } => (generation == self.generation(tenant)).then_some(None),
        }
    }

    /// The tenant's generation: read before a database lookup of a link.
    pub(crate) fn generation(&self, tenant: &TenantId) -> u64 {
        self.progress(tenant).generation.load(Ordering::Acquire)
    }

    /// What to read before a database lookup of a link, for
    /// [`CheckCache::remember_link`].
    pub(crate) fn link_stamp(&self, tenant: &TenantId) -> LinkStamp {
        LinkStamp { generation: self.generation(tenant), unlinks: self.inner.unlinks.load(Ordering::Acquire) }
    }

    /// Remembers what the database said of an identity; `stamp` is the one
    /// read before asking it. Nothing is kept if an erasure came between.
    pub(crate) fn remember_link(
        &self,
        tenant: &TenantId,
        identity: &Identity,
        subject: Option<Uuid>,
        stamp: LinkStamp,
    ) {
        if self.inner.unlinks.load(Ordering::Acquire) != stamp.unlinks {
            return;
        }
        let link = match subject {
            Some(subject) => Link::Subject(subject),
            None => Link::Unlinked { generation: stamp.generation },
        };
        self.inner.identities.insert((tenant.clone(), identity.clone()), link);
    }

    /// An erasure removed identity links: every cached link goes (links
    /// are otherwise permanent, so nothing else drops them). Rare enough
    /// that all of them going costs nothing worth tracking.
    pub(crate) fn forget_links(&self) {
        self.inner.unlinks.fetch_add(1, Ordering::AcqRel);
        self.inner.identities.clear();
    }

    /// The cached current records of a subject.
    pub(crate) fn records(&self, tenant: &TenantId, subject: Uuid) -> Option<Arc<[CurrentRecord]>> {
        self.inner.subjects.get(&(tenant.clone(), subject))
    }

    /// The subject's shard epoch: read before a database load of its records.
    pub(crate) fn epoch(&self, tenant: &TenantId, subject: Uuid) -> u64 {
        *self.epoch_lock(&(tenant.clone(), subject))
    }

    /// Caches a subject's current records loaded from the database, unless
    /// an invalidation hit the shard since `epoch` was read (the load may
    /// predate a write).
    pub(crate) fn remember_records(
        &self,
        tenant: &TenantId,
        subject: Uuid,
        records: Arc<[CurrentRecord]>,
        epoch: u64,
    ) {
        let key = (tenant.clone(), subject);
        let current = self.epoch_lock(&key);
        if *current == epoch {
            self.inner.subjects.insert(key, records);
        }
    }

    /// A commit of `tenant` touched `subjects`: drop them and void the
    /// tenant's "unlinked" answers. With `head` (the commit stream is
    /// complete up to it), the applied revision advances to it.
    pub(crate) fn committed(
        &self,
        tenant: &TenantId,
        subjects: impl IntoIterator<Item = Uuid>,
        head: Option<Revision>,
    ) {
        for subject in subjects {
            let key = (tenant.clone(), subject);
            let mut epoch = self.epoch_lock(&key);
            *epoch = epoch.wrapping_add(1);
            self.inner.subjects.remove(&key);
        }
        let progress = self.progress(tenant);
        progress.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(head) = head {
            progress.applied.fetch_max(head, Ordering::AcqRel);
            self.inner.advanced.notify_waiters();
        }
    }

    /// The reset count: read before seeding.
    pub(crate) fn resets(&self) -> u64 {
        self.inner.resets.load(Ordering::Acquire)
    }

    /// Seeds the tenant's applied revision with a database head read behind
    /// a barrier, unless a reset happened since `resets` was read.
    pub(crate) fn seed(&self, tenant: &TenantId, head: Revision, resets: u64) -> bool {
        let progress = self.progress(tenant);
        if self.resets() != resets {
            return false;
        }
        progress.applied.fetch_max(head, Ordering::AcqRel);
        self.inner.advanced.notify_waiters();
        true
    }

    /// Drops everything: a commit may have gone unseen.
    pub(crate) fn reset(&self) {
        self.inner.resets.fetch_add(1, Ordering::AcqRel);
        for epoch in self.inner.epochs.iter() {
            let mut epoch = epoch.lock().unwrap_or_else(|e| e.into_inner());
            *epoch = epoch.wrapping_add(1);
        }
        self.inner.subjects.clear();
        self.inner.identities.clear();
        for progress in self.inner.tenants.read().unwrap_or_else(|e| e.into_inner()).values() {
            progress.applied.store(-1, Ordering::Release);
            progress.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.inner.advanced.notify_waiters();
    }

    /// The SQLite committer's gate (see [`Inner::commit_gate`]).
    pub(crate) fn commit_gate(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.commit_gate
    }

    /// A new marker of this process, to send as a notice now (its sending
    /// time is noted before it goes out).
    pub(crate) fn new_marker(&self) -> (String, u64) {
        let number = self.inner.next_marker.fetch_add(1, Ordering::AcqRel);
        let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.insert(number, Instant::now());
        while in_flight.len() > MARKERS_IN_FLIGHT {
            in_flight.pop_first();
        }
        (format!("{}:{number}", self.inner.process), number)
    }

    /// A marker came back through the notice stream: every commit made
    /// before it was sent has been applied.
    pub(crate) fn marker_seen(&self, marker: &str) {
        let Some((process, number)) = marker.split_once(':') else { return };
        if process != self.inner.process.to_string() {
            return;
        }
        if let Ok(number) = number.parse::<u64>() {
            let sent = {
                let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                let sent = in_flight.get(&number).copied();
                // Older markers still on their way prove less than this one.
                *in_flight = in_flight.split_off(&(number + 1));
                sent
            };
            if let Some(sent) = sent {
                let stamp =
                    u64::try_from(sent.duration_since(self.inner.started).as_nanos()).unwrap_or(u64::MAX - 1);
                self.inner.fresh_as_of.fetch_max(stamp + 1, Ordering::AcqRel);
            }
            self.inner.markers.send_if_modified(|seen| {
                let newer = number > *seen;
                *seen = (*seen).max(number);
                newer
            });
        }
    }

    /// Waits (at most `limit`) for marker `number` to come back.
    pub(crate) async fn marker_returned(&self, number: u64, limit: Duration) -> bool {
        let mut seen = self.inner.markers.subscribe();
        tokio::time::timeout(limit, seen.wait_for(|seen| *seen >= number)).await.is_ok_and(|r| r.is_ok())
    }
}
