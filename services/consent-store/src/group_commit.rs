//! Group commit: concurrent writes share one transaction and one fsync.
//!
//! Writers queue their command and wait; one committer task drains the queue,
//! applies the commands, commits once, and only then answers every writer.
//! On PostgreSQL the next batch is applied while the last one commits (see
//! [`run`]).
//! A batch is first applied in one go (each tenant's revisions taken in one
//! step, no savepoints); if any write fails or replays an idempotency key,
//! that attempt is rolled back and the batch is applied again with a savepoint
//! per write, so one request's failure rolls back only that request.
//! Durable throughput therefore grows with concurrency while each
//! acknowledgement still means "committed".

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use consent_core::{ConsentError, EventKind, RecordConsent, TenantId, Timestamp, WriteCommand, WriteOutcome};

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cache::CheckCache;
use crate::dialect::Dialect;
use crate::error::db_error;
use crate::head::advance_head;
use crate::keys::{Sealing, VaultCell};
use crate::notify::{self, TenantChanges};
use crate::vitals::Vitals;
use crate::write::{Applied, apply, apply_at, merged, plain_records, record_together, revisions_needed};

type Reply = oneshot::Sender<Result<WriteOutcome, ConsentError>>;

/// The largest batch: bounds the queue and the transaction size.
pub const MAX_BATCH: usize = 10_000;

struct Job {
    tenant: TenantId,
    command: WriteCommand,
    reply: Reply,
}

/// The writers' side of the committer.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommitter {
    queue: mpsc::Sender<Job>,
    commits: watch::Receiver<u64>,
    /// How long a writer waits for room in a full queue before the write is
    /// refused as overload.
    queue_timeout: Duration,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Starts the committer task over `db`, taking at most `max_batch` writes
    /// per transaction.
    /// `committed` is bumped after every commit (the change feed's wake-up).
    pub(crate) fn start(
        db: DatabaseConnection,
        vault: Arc<VaultCell>,
        max_batch: usize,
        queue_timeout: Duration,
        committed: Arc<watch::Sender<u64>>,
        cache: Option<CheckCache>,
        vitals: &Vitals,
    ) -> Self {
        let max_batch = max_batch.clamp(1, MAX_BATCH);
        let (queue, jobs) = mpsc::channel(max_batch * 4);
        let commits = committed.subscribe();
        // Ends by itself once every writer's handle is dropped.
        let _ended = vitals.spawn("group committer", run(db, vault, jobs, max_batch, committed, cache));
        Self { queue, commits, queue_timeout }
    }

    /// Whether the committer task is still running.
    pub(crate) fn is_running(&self) -> bool {
        !self.queue.is_closed()
    }

    /// Changes after every commit.
    pub(crate) fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Queues a write and waits until its batch committed.
    pub(crate) async fn write(
        &self,
        tenant: &TenantId,
        command: WriteCommand,
    ) -> Result<WriteOutcome, ConsentError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { tenant: tenant.clone(), command, reply };
        let stopped = || ConsentError::Unavailable("the store's writer has stopped".to_owned());
        match self.queue.send_timeout(job, self.queue_timeout).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                return Err(ConsentError::ResourceExhausted(
                    "too many writes are waiting to commit; retry with backoff".to_owned(),
                ));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Err(stopped()),
        }
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    db: DatabaseConnection,
    vault: Arc<VaultCell>,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    committed: Arc<watch::Sender<u64>>,
    cache: Option<CheckCache>,
) {
    let batch_sizes = opentelemetry::global::meter("consentd")
        .u64_histogram("consentd.store.write_batch.size")
        .with_unit("{write}")
        .with_description("Writes committed together in one group-commit transaction")
        .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0])
        .build();
    // PostgreSQL: the next batch gathers and is applied while the last one
    // commits. Its writes wait on the tenant head rows the committing batch
    // still holds, so each tenant's batches commit in order; commits (and
    // answers) stay one at a time, in batch order. SQLite has one writer: a
    // batch at a time.
    let pipelined = Dialect::of(&db).pipelines_commits();
    let mut batch = Vec::with_capacity(max_batch);
    let mut committing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let received = match committing.as_mut() {
            // A commit in flight ends (or dies) while no write comes: noticed
            // at once, not when the next batch arrives.
            Some(commit) => tokio::select! {
                received = jobs.recv_many(&mut batch, max_batch) => Some(received),
                ended = commit => {
                    committing = None;
                    rethrow(ended);
                    None
                }
            },
            None => Some(jobs.recv_many(&mut batch, max_batch).await),
        };
        match received {
            None => continue,
            Some(0) => break,
            Some(_) => {}
        }
        batch_sizes.record(batch.len() as u64, &[]);
        let prepared = prepare(&db, &vault, std::mem::take(&mut batch)).await;
        if let Some(earlier) = committing.take() {
            rethrow(earlier.await);
        }
        match prepared {
            Ok(prepared) => {
                let finishing = finish(prepared, cache.clone(), Arc::clone(&committed));
                if pipelined {
                    committing = Some(tokio::spawn(finishing));
                } else {
                    finishing.await;
                }
            }
            // Answered only now: after every earlier batch's answers.
            Err((batch, err)) => fail_all(batch, &err),
        }
    }
    if let Some(earlier) = committing {
        rethrow(earlier.await);
    }
}

/// A commit task's end. Its panic stops the committer, as a panic of the
/// committer itself would: its writers (and every later one) hear that the
/// writer stopped, and liveness and health report it.
fn rethrow(ended: Result<(), tokio::task::JoinError>) {
    if let Err(err) = ended
        && err.is_panic()
    {
        std::panic::resume_unwind(err.into_panic());
    }
}

fn changes_of<'a>(
    written: impl Iterator<Item = (&'a TenantId, &'a WriteOutcome)>,
) -> BTreeMap<TenantId, TenantChanges> {
    let mut changes: BTreeMap<TenantId, TenantChanges> = BTreeMap::new();
    for (tenant, outcome) in written {
        let entry = changes.entry(tenant.clone()).or_default();
        entry.subjects.push(outcome.subject_id);
        entry.subjects.extend(outcome.records.iter().map(|record| record.subject_id));
        entry.head = entry.head.max(outcome.revision);
        entry.unlinked |= outcome.records.iter().any(|record| record.kind == EventKind::Erased);
    }
    for entry in changes.values_mut() {
        entry.subjects.sort_unstable();
        entry.subjects.dedup();
    }
    changes
}

/// A batch applied in its transaction, not yet committed.
struct Prepared {
    txn: DatabaseTransaction,
    batch: Vec<Job>,
    answers: Answers,
    changes: BTreeMap<TenantId, TenantChanges>,
}

/// Applies one batch (and, on PostgreSQL, queues its commit notices). When
/// the transaction broke, the batch back with the error, for the caller to
/// answer every writer with.
async fn prepare(
    db: &DatabaseConnection,
    vault: &VaultCell,
    mut batch: Vec<Job>,
) -> Result<Prepared, (Vec<Job>, ConsentError)> {
    tracing::debug!(writes = batch.len(), "applying batch");
    let vault = match vault.get(db).await {
        Ok(vault) => vault,
        Err(err) => return Err((batch, err)),
    };
    // Every write locks its tenant's head row until commit. Taking those locks
    // in one order (a stable sort keeps each tenant's arrival order) means two
    // batches, of this replica or another, can never deadlock on each other.
    // A tenant's expiry announcement comes after its other writes: it takes
    // its revisions under the lock, after theirs (see `expiry.rs`).
    batch.sort_by(|a, b| a.tenant.cmp(&b.tenant).then(announces(a).cmp(&announces(b))));
    let applied = match apply_together(db, vault, &batch).await {
        Ok(Some(applied)) => Ok(applied),
        // A write failed or replayed: one savepoint per write, from the top.
        Ok(None) => apply_one_by_one(db, vault, &batch).await,
        Err(err) => Err(err),
    };
    let (txn, answers) = match applied {
        Ok(applied) => applied,
        // The transaction itself is broken: nothing of the batch commits.
        Err(err) => return Err((batch, err)),
    };
    let changes = changes_of(
        batch.iter().zip(&answers).filter_map(|(job, answer)| answer.as_ref().ok().map(|o| (&job.tenant, o))),
    );
    // Other replicas' subscribers wake on these, and their caches drop what
    // changed; they are delivered at commit, in commit order.
    if Dialect::of(&txn).shared()
        && let Err(err) = notify::send(&txn, &changes).await
    {
        return Err((batch, err));
    }
    Ok(Prepared { txn, batch, answers, changes })
}

/// Whether a job announces expiries.
const fn announces(job: &Job) -> bool {
    matches!(job.command, WriteCommand::Expire(_) | WriteCommand::Retain(_))
}

/// Commits an applied batch, then (only then) answers its writers and wakes
/// the change feed.
async fn finish(prepared: Prepared, cache: Option<CheckCache>, committed: Arc<watch::Sender<u64>>) {
    let Prepared { txn, batch, answers, changes } = prepared;
    let shared = Dialect::of(&txn).shared();
    // SQLite: seeding a tenant's cached revision waits until this commit's
    // invalidations are done (see cache.rs).
    let gate = match &cache {
        Some(cache) if !shared => Some(cache.commit_gate().lock().await),
        _ => None,
    };
    fail::fail_point!("store::commit");
    if let Err(err) = txn.commit().await {
        // The commit may or may not have happened: nothing cached can be
        // trusted to reflect it.
        if let Some(cache) = &cache {
            cache.reset();
        }
        fail_all(batch, &db_error(err));
        return;
    }
    if let Some(cache) = &cache {
        // Before any writer hears back: a check after the acknowledgement
        // never sees the state the write replaced. On SQLite this committer
        // sees every commit, so the applied revision advances here; on
        // PostgreSQL it advances with the notices, in commit order.
        for (tenant, changed) in &changes {
            if changed.unlinked {
                cache.forget_links();
            }
            cache.committed(tenant, changed.subjects.iter().copied(), (!shared).then_some(changed.head));
        }
    }
    drop(gate);
    for (job, answer) in batch.into_iter().zip(answers) {
        // A writer that gave up waiting no longer listens; its write stands.
        let _ = job.reply.send(answer);
    }
    committed.send_modify(|count| *count = count.wrapping_add(1));
}

type Answers = Vec<Result<WriteOutcome, ConsentError>>;

/// The common case, fast: every write of the batch in one transaction with
/// no savepoints, each tenant's revisions taken from its head in one step.
/// `None` (rolled back) when a write failed or replayed an idempotency key:
/// those need a savepoint of their own, so the caller starts over with one
/// per write.
async fn apply_together(
    db: &DatabaseConnection,
    vault: &Sealing,
    batch: &[Job],
) -> Result<Option<(DatabaseTransaction, Answers)>, ConsentError> {
    // Durable on PostgreSQL whatever its defaults: every connection raised
    // `synchronous_commit` when it opened (`DURABLE_COMMITS` in connect.rs).
    let txn = db.begin().await.map_err(db_error)?;
    let now = Timestamp::now();
    let mut answers = Vec::with_capacity(batch.len());
    // The batch is sorted by tenant: one group per tenant.
    for group in batch.chunk_by(|a, b| a.tenant == b.tenant) {
        let total: usize = group.iter().map(|job| revisions_needed(&job.command)).sum();
        let head = advance_head(&txn, &group[0].tenant, total).await?;
        let mut next = head - i64::try_from(total).unwrap_or(i64::MAX) + 1;
        // Only plain records (the bulk of the traffic, vendor requests
        // naming several people included): a few statements for the whole
        // group.
        let plain: Option<Vec<&[RecordConsent]>> =
            group.iter().map(|job| plain_records(&job.command)).collect();
        if let Some(writes) = plain {
            let cmds: Vec<&RecordConsent> = writes.iter().flat_map(|cmds| cmds.iter()).collect();
            match record_together(&txn, vault, &group[0].tenant, &cmds, next, now).await {
                Ok(outcomes) => answers.extend(per_write(&writes, outcomes)),
                Err(_) => {
                    txn.rollback().await.map_err(db_error)?;
                    return Ok(None);
                }
            }
            continue;
        }
        for job in group {
            match apply_at(&txn, vault, &job.tenant, &job.command, next, now).await {
                Ok(Applied::Written(outcome)) => {
                    next = outcome.revision + 1;
                    answers.push(Ok(outcome));
                }
                Ok(Applied::Replayed(_)) | Err(_) => {
                    txn.rollback().await.map_err(db_error)?;
                    return Ok(None);
                }
            }
        }
    }
    Ok(Some((txn, answers)))
}

/// The outcomes of record requests applied together, one answer per write
/// (`writes`: each write's requests, in the order applied).
fn per_write(
    writes: &[&[RecordConsent]],
    outcomes: Vec<WriteOutcome>,
) -> Vec<Result<WriteOutcome, ConsentError>> {
    let mut outcomes = outcomes.into_iter();
    writes
        .iter()
        .map(|cmds| {
            merged(outcomes.by_ref().take(cmds.len()))
                .ok_or_else(|| ConsentError::Internal("a record write produced no outcome".to_owned()))
        })
        .collect()
}

/// Every write in a savepoint of its own: one write's failure (or replay)
/// rolls back only that write, and revisions stay gapless.
async fn apply_one_by_one(
    db: &DatabaseConnection,
    vault: &Sealing,
    batch: &[Job],
) -> Result<(DatabaseTransaction, Answers), ConsentError> {
    // Durable on PostgreSQL whatever its defaults: every connection raised
    // `synchronous_commit` when it opened (`DURABLE_COMMITS` in connect.rs).
    let txn = db.begin().await.map_err(db_error)?;
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        answers.push(apply_in_savepoint(&txn, vault, job).await?);
    }
    Ok((txn, answers))
}

/// Applies one job in a savepoint. The outer `Result` fails the whole batch
/// (the transaction is unusable); the inner one is the job's own answer.
async fn apply_in_savepoint(
    txn: &DatabaseTransaction,
    vault: &Sealing,
    job: &Job,
) -> Result<Result<WriteOutcome, ConsentError>, ConsentError> {
    let savepoint = txn.begin().await.map_err(db_error)?;
    match apply(&savepoint, vault, &job.tenant, &job.command, Timestamp::now()).await {
        Ok(Applied::Written(outcome)) => {
            savepoint.commit().await.map_err(db_error)?;
            Ok(Ok(outcome))
        }
        Ok(Applied::Replayed(outcome)) => {
            savepoint.rollback().await.map_err(db_error)?;
            Ok(Ok(outcome))
        }
        Err(err) => {
            savepoint.rollback().await.map_err(db_error)?;
            Ok(Err(err))
        }
    }
}

/// Answers every writer of the batch with `err`; the batch did not commit.
fn fail_all(batch: Vec<Job>, err: &ConsentError) {
    for job in batch {
        let _ = job.reply.send(Err(err.clone()));
    }
}
