//! Group commit: concurrent writes share one transaction and one fsync.
//!
//! Writers queue their command and wait; one committer task drains the queue,
//! applies each command in its own savepoint (so one request's failure rolls
//! back only that request), commits once, and only then answers every writer.
//! Durable throughput therefore grows with concurrency while each
//! acknowledgement still means "committed".

use consent_core::{ConsentError, TenantId, Timestamp, WriteCommand, WriteOutcome};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::db_error;
use crate::notify::NOTIFY_COMMITS;
use crate::write::{Applied, apply};

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
    queue_timeout: std::time::Duration,
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
        max_batch: usize,
        queue_timeout: std::time::Duration,
        committed: Arc<watch::Sender<u64>>,
    ) -> Self {
        let max_batch = max_batch.clamp(1, MAX_BATCH);
        let (queue, jobs) = mpsc::channel(max_batch * 4);
        let commits = committed.subscribe();
        tokio::spawn(run(db, jobs, max_batch, committed));
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
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    committed: Arc<watch::Sender<u64>>,
) {
    let batch_sizes = opentelemetry::global::meter("consentd")
        .u64_histogram("consentd.store.write_batch.size")
        .with_unit("{write}")
        .with_description("Writes committed together in one group-commit transaction")
        .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0])
        .build();
    let mut batch = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        batch_sizes.record(batch.len() as u64, &[]);
        if commit_batch(&db, std::mem::take(&mut batch)).await {
            committed.send_modify(|count| *count = count.wrapping_add(1));
        }
    }
}

/// Commits one batch and answers its writers; true when it committed.
async fn commit_batch(db: &DatabaseConnection, mut batch: Vec<Job>) -> bool {
    tracing::debug!(writes = batch.len(), "committing batch");
    // Every write locks its tenant's head row until commit. Taking those locks
    // in one order (a stable sort keeps each tenant's arrival order) means two
    // replicas' batches can never deadlock on each other.
    batch.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let txn = match db.begin().await {
        Ok(txn) => txn,
        Err(err) => return fail_all(batch, &db_error(err)),
    };

    let mut answers = Vec::with_capacity(batch.len());
    for job in &batch {
        match apply_in_savepoint(&txn, job).await {
            Ok(answer) => answers.push(answer),
            // The transaction itself is broken: nothing of the batch commits.
            Err(err) => return fail_all(batch, &err),
        }
    }
    // Other replicas' subscribers wake on this; it is delivered at commit.
    if txn.get_database_backend() == DbBackend::Postgres
        && let Err(err) = txn.execute_unprepared(NOTIFY_COMMITS).await
    {
        return fail_all(batch, &db_error(err));
    }
    if let Err(err) = txn.commit().await {
        return fail_all(batch, &db_error(err));
    }
    for (job, answer) in batch.into_iter().zip(answers) {
        // A writer that gave up waiting no longer listens; its write stands.
        let _ = job.reply.send(answer);
    }
    true
}

/// Applies one job in a savepoint. The outer `Result` fails the whole batch
/// (the transaction is unusable); the inner one is the job's own answer.
async fn apply_in_savepoint(
    txn: &DatabaseTransaction,
    job: &Job,
) -> Result<Result<WriteOutcome, ConsentError>, ConsentError> {
    let savepoint = txn.begin().await.map_err(db_error)?;
    match apply(&savepoint, &job.tenant, &job.command, Timestamp::now()).await {
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
fn fail_all(batch: Vec<Job>, err: &ConsentError) -> bool {
    for job in batch {
        let _ = job.reply.send(Err(err.clone()));
    }
    false
}
