//! The sea-orm store of consentd: SQLite by default, PostgreSQL at scale, the
//! same schema and queries on both. Writes go through a group committer;
//! reads go straight to the pool.

mod admin;
mod bulk;
mod cache;
mod cached;
mod connect;
mod convert;
mod dialect;
mod entity;
mod erase;
mod error;
mod evidence;
mod expiry;
mod group_commit;
mod head;
mod holds;
mod keys;
mod new_keys;
mod notify;
mod read;
mod replicas;
mod retention;
mod rule;
mod serving;
mod statements;
#[cfg(feature = "testing")]
pub mod testing;
mod tiles;
mod vitals;
mod webhooks;
mod write;

use std::sync::Arc;
use std::time::Duration;

use consent_core::{
    ChangeFilter, ConsentError, ConsentRecord, ConsentStore, CurrentCheck, CurrentChecks, FirstCollected,
    Identity, Listed, RecordFilter, Revision, SubjectRef, TargetCheck, TenantId, Timestamp, WriteCommand,
    WriteOutcome,
};
use consent_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tokio::sync::{OnceCell, watch};
use uuid::Uuid;

use crate::admin::KnownBindings;
use crate::cache::CheckCache;
use crate::cached::{Cached, CachedSubject};
use crate::connect::{connect_options, connect_with_retry, standbys, warn_if_not_durable};
use crate::dialect::Dialect;
use crate::error::db_error;
use crate::group_commit::GroupCommitter;
pub use crate::group_commit::MAX_BATCH;
pub use crate::holds::LegalHold;
use crate::keys::VaultCell;
pub use crate::replicas::StandbyStatus;
use crate::replicas::{Reads, StandbyPolicy};
pub use crate::retention::{MAX_RETENTION_DAYS, Retention, cutoff as retention_cutoff};
pub use crate::serving::{ServingStore, open};
use crate::statements::Statements;
pub use crate::vitals::Vitals;
pub use crate::webhooks::{
    DeliveryAttempt, DeliveryOutcome, Lease, Progress, WebhookState, WebhookSubscription, event_id,
};
pub use consent_core::StoredKey;

/// The advisory lock key migrations hold on PostgreSQL ("consentd" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x636f_6e73_656e_7464;

/// How to reach and use the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub database_url: String,
    /// Pool size.
    pub max_connections: u32,
    /// How long a call waits for a pooled connection before failing
    /// `UNAVAILABLE`.
    pub acquire_timeout: Duration,
    /// Most writes committed in one transaction (at most
    /// [`MAX_BATCH`]). A write waits at most `acquire_timeout` for room in the
    /// queue before it is refused as overload.
    pub max_batch: usize,
    /// Memory for the check cache (current records of checked subjects,
    /// subjects of identities), about; 0 turns it off.
    pub cache_max_bytes: u64,
    /// PostgreSQL: how often this replica sends a marker through the
    /// commit-notice channel to prove it delivers.
    pub notice_heartbeat: Duration,
    /// PostgreSQL: how long the commit-notice channel may go without proving
    /// it delivers before the check cache stops answering (checks read the
    /// database) and the listener reconnects. The staleness bound of a check
    /// without `min_revision`.
    pub notice_max_staleness: Duration,
    /// PostgreSQL hot standbys that serve reads (checks the cache cannot
    /// answer, queries, gets, feed reads).
    pub read_database_urls: Vec<String>,
    /// How far behind the primary a standby may be and still serve reads:
    /// the staleness bound of a read without `min_revision`.
    pub standby_max_lag: Duration,
    /// How long a read that needs a revision (`min_revision`, a feed read)
    /// waits for a standby to replay it before the primary answers.
    pub standby_wait: Duration,
    /// PostgreSQL: the longest one statement may run (`statement_timeout`),
    /// so no call holds a connection and a core indefinitely.
    pub statement_timeout: Duration,
    /// How often a serving process looks for expiries to announce on the
    /// change feed (see [`SqlStore::spawn_expiry`]): about the most an
    /// `expired` event comes after its `expires_at`, while the store keeps up.
    pub expiry_interval: Duration,
    /// The master key subject data keys are wrapped under; `None` keeps a
    /// generated one in the database (docs/evidence.md#erasure).
    pub master_key: Option<consent_vault::MasterKey>,
    /// Whether each write computes its records' log leaf hashes, which the
    /// log builder appends (the verifiable log on; docs/evidence.md). Off,
    /// the log is built only when asked, from the records.
    pub leaf_hashes: bool,
}

impl StoreOptions {
    /// Defaults for `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            max_batch: 256,
            cache_max_bytes: 64 * 1024 * 1024,
            notice_heartbeat: Duration::from_secs(1),
            notice_max_staleness: Duration::from_secs(3),
            read_database_urls: Vec::new(),
            standby_max_lag: Duration::from_secs(1),
            standby_wait: Duration::from_millis(50),
            statement_timeout: Duration::from_secs(10),
            expiry_interval: Duration::from_millis(250),
            master_key: None,
            leaf_hashes: true,
        }
    }
}

/// How busy the connection pool is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most it opens (`store.max_connections`): a pool with none idle
    /// and `open == max` makes calls wait for a connection.
    pub max: u32,
}

/// The consent store on a SQL database. Cheap to clone (one shared
/// state): every request's handlers and layers hold one, and a clone of
/// each part (a pool handle, the committer's channels) cost atomic
/// increments on counters every core shares — a third of the CPU of a
/// cached vendor check, by the benchmark's profile.
#[derive(Debug, Clone)]
pub struct SqlStore {
    parts: Arc<Parts>,
}

/// What a [`SqlStore`] shares among its clones.
#[derive(Debug)]
struct Parts {
    db: DatabaseConnection,
    reads: Arc<Reads>,
    writer: GroupCommitter,
    database_id: Arc<OnceCell<String>>,
    cache: Option<CheckCache>,
    vitals: Vitals,
    bindings: KnownBindings,
    vault: Arc<VaultCell>,
    #[cfg(feature = "testing")]
    statements: Statements,
}

impl SqlStore {
    /// Connects (creating a SQLite file if needed). Must run inside a Tokio
    /// runtime: it starts the group committer.
    ///
    /// SQLite runs in WAL mode with `synchronous=FULL`: a write is acknowledged
    /// only once it is on disk, and readers never block the writer.
    pub async fn connect(options: &StoreOptions) -> Result<Self, ConsentError> {
        let connect = connect_options(options, &options.database_url);
        let mut db = connect_with_retry(connect).await?;
        let statements = Statements::default();
        statements.observe(&mut db, "primary");
        let (committed, _) = watch::channel(0);
        let committed = Arc::new(committed);
        let shared = Dialect::of(&db).shared();
        if shared {
            warn_if_not_durable(&db).await;
        }
        // On SQLite this process's committer sees every commit: the cache is
        // complete from the start. On PostgreSQL it waits for the listener.
        let max_staleness = shared.then_some(options.notice_max_staleness);
        let cache = (options.cache_max_bytes > 0)
            .then(|| CheckCache::new(options.cache_max_bytes, !shared, max_staleness));
        let vitals = Vitals::default();
        let vault = Arc::new(VaultCell::new(options.master_key.clone(), options.leaf_hashes));
        let writer = GroupCommitter::start(
            db.clone(),
            Arc::clone(&vault),
            options.max_batch,
            options.acquire_timeout,
            Arc::clone(&committed),
            cache.clone(),
            &vitals,
        );
        // Started after the committer holds a receiver: the listener stops
        // once nobody does.
        if shared {
            // Only a cache needs the channel proven alive: subscribers fall
            // back to their poll timers.
            let liveness = cache.as_ref().map(|cache| {
                let liveness = notify::Liveness {
                    heartbeat: options.notice_heartbeat,
                    max_silence: options.notice_max_staleness,
                };
                notify::heartbeat(db.clone(), cache.clone(), liveness, Arc::clone(&committed), &vitals);
                liveness
            });
            notify::listen(
                db.get_postgres_connection_pool().clone(),
                committed,
                cache.clone(),
                liveness,
                &vitals,
            );
        }
        let reads = Arc::new(Reads::new(
            db.clone(),
            standbys(options, shared, &statements).await?,
            StandbyPolicy { max_lag: options.standby_max_lag, wait: options.standby_wait },
        ));
        replicas::monitor(&reads, &vitals);
        Ok(Self {
            parts: Arc::new(Parts {
                db,
                reads,
                writer,
                database_id: Arc::default(),
                cache,
                vitals,
                bindings: KnownBindings::default(),
                vault,
                #[cfg(feature = "testing")]
                statements,
            }),
        })
    }

    /// Keeps every statement this store runs from now on, for
    /// [`SqlStore::take_statements`].
    #[cfg(feature = "testing")]
    pub fn record_statements(&self) {
        self.parts.statements.record();
    }

    /// Every statement this store ran since recording began or the last
    /// call, in order, with the database it ran on (`primary` or
    /// `standby`): tests check the plan of each read the service issues, and
    /// where reads went.
    #[cfg(feature = "testing")]
    pub fn take_statements(&self) -> Vec<(&'static str, sea_orm::Statement)> {
        self.parts.statements.take()
    }

    /// Starts announcing expiries on the change feed, looking for due ones
    /// every `interval` (see `expiry.rs`), as one of the vital tasks. Only a
    /// serving process does: a command-line tool's store announces none.
    pub fn spawn_expiry(&self, interval: Duration) {
        let _ended = self.parts.vitals.spawn("expiry sweeper", every(self, interval, expiry::sweep));
    }

    /// Starts appending committed records to their tenants' verifiable logs
    /// every `interval` (see `evidence.rs`), as one of the vital tasks.
    pub fn spawn_log_builder(&self, interval: Duration) {
        let _ended = self.parts.vitals.spawn("log builder", every(self, interval, evidence::build));
    }

    /// The read standbys' state now (none on SQLite).
    pub fn standbys(&self) -> Vec<StandbyStatus> {
        self.parts.reads.status()
    }

    /// The process's vital tasks: the store's committer and notice listener
    /// are among them, and other parts of the process add theirs.
    pub fn vitals(&self) -> &Vitals {
        &self.parts.vitals
    }

    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.parts.db
    }

    /// The vault that seals and opens the subjects' values.
    pub(crate) async fn vault(&self) -> Result<&keys::Sealing, ConsentError> {
        self.parts.vault.get(&self.parts.db).await
    }

    /// The connection pool's size now and how many of its connections are
    /// idle, for the pool-usage metric.
    pub fn pool_usage(&self) -> PoolUsage {
        Dialect::of(&self.parts.db).pool_usage(&self.parts.db)
    }

    /// Applies pending migrations, in one transaction. On PostgreSQL a
    /// transaction-scoped advisory lock makes replicas that start at once
    /// migrate one after the other: the later ones find nothing pending.
    pub async fn migrate(&self) -> Result<(), ConsentError> {
        let txn = self.parts.db.begin().await.map_err(db_error)?;
        let dialect = Dialect::of(&self.parts.db);
        if dialect.needs_explicit_locks() {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
                .await
                .map_err(db_error)?;
        }
        if dialect.limits_statement_time() {
            // Building an index on a large table may take longer than any
            // one call is allowed to.
            txn.execute_unprepared("SET LOCAL statement_timeout = 0").await.map_err(db_error)?;
        }
        Migrator::up(&txn, None).await.map_err(db_error)?;
        let vault = self.parts.vault.get(&txn).await?;
        keys::pseudonymize_identities(&txn, vault).await?;
        txn.commit().await.map_err(db_error)
    }
}

/// Runs `round` every `interval` (a late round is not made up) until the
/// store's last handle is gone: between rounds the task holds none, so it
/// never keeps the store alive.
pub(crate) fn every<F, Fut>(
    store: &SqlStore,
    interval: Duration,
    round: F,
) -> impl Future<Output = ()> + use<F, Fut>
where
    F: Fn(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let parts = Arc::downgrade(&store.parts);
    async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(parts) = parts.upgrade() else { return };
            round(SqlStore { parts }).await;
        }
    }
}

impl ConsentStore for SqlStore {
    async fn check(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        purpose: &str,
        target: &str,
        at: Option<Timestamp>,
        min_revision: Revision,
    ) -> Result<CurrentCheck, ConsentError> {
        let CurrentChecks { revision, records } =
            self.check_many(tenant, subject, &[(purpose, target)], at, min_revision).await?;
        Ok(CurrentCheck { revision, record: records.into_iter().next().flatten() })
    }

    async fn check_many(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        pairs: &[(&str, &str)],
        at: Option<Timestamp>,
        min_revision: Revision,
    ) -> Result<CurrentChecks, ConsentError> {
        let vault = self.vault().await?;
        if at.is_none()
            && let Some(cache) = &self.parts.cache
            && let Some(Cached { revision, subject }) =
                self.cached_current(cache, tenant, subject, min_revision).await?
        {
            let records = match subject {
                CachedSubject::Unknown => vec![None; pairs.len()],
                CachedSubject::Current(current) => pairs
                    .iter()
                    .map(|(purpose, target)| {
                        let records = current.iter().map(|entry| &entry.record);
                        consent_core::check::deciding_current(records, purpose, target).cloned()
                    })
                    .collect(),
                CachedSubject::TooMany(subject_id) => {
                    self.parts
                        .reads
                        .read(tenant, revision, |db| {
                            rule::deciding_records_at_once(db, vault, tenant, subject_id, pairs)
                        })
                        .await?
                }
            };
            return Ok(CurrentChecks { revision, records });
        }
        // Head, subject and records from one database: the revision is then
        // never ahead of what the records were read from.
        self.parts
            .reads
            .read(tenant, min_revision, |db| rule::check_many_at_once(db, vault, tenant, subject, pairs, at))
            .await
    }

    async fn check_target(
        &self,
        tenant: &TenantId,
        subject: &SubjectRef,
        target: &str,
        include_any_target: bool,
    ) -> Result<TargetCheck, ConsentError> {
        let vault = self.vault().await?;
        if let Some(cache) = &self.parts.cache
            && let Some(Cached { revision, subject }) = self.cached_current(cache, tenant, subject, 0).await?
        {
            let deciding = match subject {
                CachedSubject::Unknown => None,
                CachedSubject::Current(current) => {
                    let records = current.iter().map(|entry| &entry.record);
                    consent_core::check::deciding_for_target(records, target, include_any_target).and_then(
                        |deciding| {
                            let entry = current.iter().find(|entry| entry.record.id == deciding.id)?;
                            Some((entry.record.clone(), entry.first_collected_at))
                        },
                    )
                }
                CachedSubject::TooMany(subject_id) => {
                    self.parts
                        .reads
                        .read(tenant, revision, |db| {
                            rule::target_decision(db, vault, tenant, subject_id, target, include_any_target)
                        })
                        .await?
                }
            };
            return Ok(TargetCheck { revision, deciding });
        }
        self.parts
            .reads
            .read(tenant, 0, |db| rule::check_target(db, vault, tenant, subject, target, include_any_target))
            .await
    }

    async fn write(&self, tenant: &TenantId, command: WriteCommand) -> Result<WriteOutcome, ConsentError> {
        self.parts.writer.write(tenant, command).await
    }

    async fn subject_of(&self, tenant: &TenantId, identity: &Identity) -> Result<Option<Uuid>, ConsentError> {
        let vault = self.vault().await?;
        self.parts.reads.read(tenant, 0, |db| read::subject_of(db, vault, tenant, identity)).await
    }

    async fn current_record(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        purpose: &str,
        target: &str,
    ) -> Result<Option<ConsentRecord>, ConsentError> {
        let vault = self.vault().await?;
        self.parts
            .reads
            .read(tenant, 0, |db| read::current_record(db, vault, tenant, subject_id, purpose, target))
            .await
    }

    async fn latest_for_target(
        &self,
        tenant: &TenantId,
        subject_id: Uuid,
        target: &str,
        include_any_target: bool,
    ) -> Result<Option<ConsentRecord>, ConsentError> {
        // Updates build on it (with an expected revision): the primary's.
        let vault = self.vault().await?;
        rule::latest_for_target(&self.parts.db, vault, tenant, subject_id, target, include_any_target).await
    }

    async fn first_collected(
        &self,
        tenant: &TenantId,
        subject_ids: &[Uuid],
    ) -> Result<Vec<FirstCollected>, ConsentError> {
        self.parts.reads.read(tenant, 0, |db| read::first_collected(db, tenant, subject_ids)).await
    }

    async fn record_by_id(&self, tenant: &TenantId, id: Uuid) -> Result<Option<ConsentRecord>, ConsentError> {
        let vault = self.vault().await?;
        self.parts.reads.read(tenant, 0, |db| read::record_by_id(db, vault, tenant, id)).await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &RecordFilter,
        after: Revision,
        up_to: Revision,
        limit: u64,
    ) -> Result<Listed, ConsentError> {
        let vault = self.vault().await?;
        self.parts
            .reads
            .read(tenant, up_to, |db| read::list(db, vault, tenant, filter, after, up_to, limit))
            .await
    }

    async fn changes(
        &self,
        tenant: &TenantId,
        filter: &ChangeFilter,
        after: Revision,
        up_to: Revision,
        limit: u64,
    ) -> Result<Vec<ConsentRecord>, ConsentError> {
        let vault = self.vault().await?;
        self.parts
            .reads
            .read(tenant, up_to, |db| read::changes(db, vault, tenant, filter, after, up_to, limit))
            .await
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.parts.writer.commits()
    }

    async fn database_id(&self) -> Result<String, ConsentError> {
        self.parts.database_id.get_or_try_init(|| read::database_id(&self.parts.db)).await.cloned()
    }

    async fn head_revision(&self, tenant: &TenantId, at_least: Revision) -> Result<Revision, ConsentError> {
        self.parts.reads.head(tenant, at_least).await
    }

    fn alive(&self) -> Result<(), ConsentError> {
        self.parts.vitals.check().map_err(ConsentError::Unavailable)
    }

    async fn ready(&self) -> Result<(), ConsentError> {
        if !self.parts.writer.is_running() {
            return Err(ConsentError::Unavailable("the store's writer has stopped".to_owned()));
        }
        self.parts.db.execute_unprepared("SELECT 1").await.map_err(db_error)?;
        let pending = Migrator::get_pending_migrations(&self.parts.db).await.map_err(db_error)?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(ConsentError::Unavailable(format!("{} migrations are pending", pending.len())))
        }
    }
}
