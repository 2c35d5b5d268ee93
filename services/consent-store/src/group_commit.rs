//! Group commit: concurrent writes share one transaction and one fsync.
//!
//! Writers queue their command and wait; one committer task drains the queue,
//! applies each command in its own savepoint (so one request's failure rolls
//! back only that request), commits once, and only then answers every writer.
//! Durable throughput therefore grows with concurrency while each
//! acknowledgement still means "committed".

use consent_core::{ConsentError, TenantId, Timestamp, WriteCommand, WriteOutcome};
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::db_error;
use crate::write::{Applied, apply};

type Reply = oneshot::Sender<Result<WriteOutcome, ConsentError>>;

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
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Starts the committer task over `db`, taking at most `max_batch` writes
    /// per transaction.
    pub(crate) fn start(db: DatabaseConnection, max_batch: usize) -> Self {
        let (queue, jobs) = mpsc::channel(max_batch.max(1) * 4);
        let (committed, commits) = watch::channel(0);
        tokio::spawn(run(db, jobs, max_batch.max(1), committed));
        Self { queue, commits }
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
        let stopped = || ConsentError::Unavailable("the store is shutting down".to_owned());
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(
    db: DatabaseConnection,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    committed: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while jobs.recv_many(&mut batch, max_batch).await > 0 {
        if commit_batch(&db, std::mem::take(&mut batch)).await {
            committed.send_modify(|count| *count = count.wrapping_add(1));
        }
    }
}

/// Commits one batch and answers its writers; true when it committed.
async fn commit_batch(db: &DatabaseConnection, batch: Vec<Job>) -> bool {
    tracing::debug!(writes = batch.len(), "committing batch");
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
