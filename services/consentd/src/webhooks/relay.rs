//! The webhook relay: every replica runs one. It claims the subscriptions no
//! replica holds (a lease row in the database, renewed while it delivers) and
//! runs one worker per claimed subscription. A worker reads the change log
//! after the subscription's cursor — the same revision-ordered log the
//! `Subscribe` stream reads — and delivers one change at a time: the cursor
//! moves, in the same transaction as the delivery log entry, only after the
//! receiver acknowledged the change. A crash therefore repeats at most the
//! change in flight (with the same event id), and never skips one.
//!
//! Workers stop when their lease is lost (another replica took over after it
//! expired, an operator redelivered or deleted the subscription, or it was
//! parked); the relay claims again what is free.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use consent_adapter::{Notification, VendorAdapter};
use consent_core::{ConsentRecord, ConsentService, ConsentStore, Timestamp};
use consent_store::{
    DeliveryAttempt, DeliveryOutcome, Lease, Progress, SqlStore, WebhookSubscription, event_id,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::deliver::{Deliverer, SigningKeys};
use super::{WebhookSettings, retry_at};

/// Changes read from the log at a time.
const PAGE: u64 = 32;

/// How often the delivery log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What every worker shares.
struct Context {
    store: SqlStore,
    service: ConsentService<SqlStore>,
    deliverer: Deliverer,
    keys: SigningKeys,
    adapters: HashMap<&'static str, Arc<dyn VendorAdapter>>,
    settings: WebhookSettings,
    /// This replica's id in lease rows.
    owner: String,
    shutdown: watch::Receiver<bool>,
}

impl Context {
    fn lease(&self, now: Timestamp) -> Lease<'_> {
        Lease { owner: &self.owner, now, until: now.saturating_add_micros(micros(self.settings.lease)) }
    }

    /// A lease must still hold this long when an attempt starts, so it holds
    /// until the attempt ends: then no other replica can have claimed it.
    fn attempt_budget(&self) -> i64 {
        micros(self.settings.connect_timeout + self.settings.response_timeout + Duration::from_secs(2))
    }
}

/// The relay of one replica.
pub struct Relay {
    context: Arc<Context>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("owner", &self.context.owner).finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay delivering the subscriptions in `store` with `deliverer`,
    /// formatting notifications with `adapters`; `shutdown` turning true
    /// stops it.
    pub fn new(
        service: ConsentService<SqlStore>,
        store: SqlStore,
        deliverer: Deliverer,
        keys: SigningKeys,
        adapters: Vec<Arc<dyn VendorAdapter>>,
        settings: WebhookSettings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let adapters = adapters.into_iter().map(|adapter| (adapter.name(), adapter)).collect();
        let owner = Uuid::now_v7().to_string();
        Self {
            context: Arc::new(Context {
                store,
                service,
                deliverer,
                keys,
                adapters,
                settings,
                owner,
                shutdown,
            }),
        }
    }

    /// Claims and delivers until shutdown, then stops its workers and gives
    /// up its leases so another replica takes over at once.
    pub async fn run(self) {
        let context = self.context;
        let mut shutdown = context.shutdown.clone();
        let mut workers: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        let mut next_prune = Instant::now();
        tracing::info!(owner = %context.owner, "webhook relay started");
        loop {
            workers.retain(|_, worker| !worker.is_finished());
            if *shutdown.borrow() {
                break;
            }
            claim_free(&context, &mut workers).await;
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                let before = Timestamp::now().saturating_add_micros(-micros(context.settings.log_retention));
                match context.store.prune_deliveries(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "pruned the webhook delivery log"),
                    Err(err) => tracing::warn!(error = %err, "cannot prune the webhook delivery log"),
                }
            }
            tokio::select! {
                () = tokio::time::sleep(context.settings.poll_interval) => {}
                _ = shutdown.wait_for(|stop| *stop) => {}
            }
        }
        // Workers see the shutdown too and end their attempt in flight.
        for (_, worker) in workers {
            let _ = worker.await;
        }
        if let Err(err) = context.store.release_webhooks(&context.owner).await {
            tracing::warn!(error = %err, "cannot release webhook leases; they expire on their own");
        }
        tracing::info!(owner = %context.owner, "webhook relay stopped");
    }
}

/// Claims every subscription no replica holds and starts its worker.
async fn claim_free(context: &Arc<Context>, workers: &mut HashMap<Uuid, JoinHandle<()>>) {
    let now = Timestamp::now();
    let candidates = match context.store.claimable_webhooks(context.lease(now)).await {
        Ok(candidates) => candidates,
        Err(err) => {
            tracing::warn!(error = %err, "cannot look for webhook subscriptions to deliver");
            return;
        }
    };
    for candidate in candidates {
        if workers.contains_key(&candidate.id) {
            continue;
        }
        let now = Timestamp::now();
        match context.store.claim_webhook(candidate.id, context.lease(now)).await {
            Ok(Some(subscription)) => {
                let lease_until = context.lease(now).until;
                let worker = Worker { context: Arc::clone(context), subscription, lease_until };
                workers.insert(candidate.id, tokio::spawn(worker.run()));
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, subscription_id = %candidate.id, "cannot claim"),
        }
    }
}

/// Delivers one subscription while this replica holds its lease.
struct Worker {
    context: Arc<Context>,
    subscription: WebhookSubscription,
    lease_until: Timestamp,
}

/// Why a worker stops.
#[derive(Debug)]
enum Stop {
    /// The lease is no longer ours (or the subscription is gone or parked).
    LeaseLost,
    /// The server is shutting down.
    Shutdown,
}

impl Worker {
    async fn run(mut self) {
        let id = self.subscription.id;
        let stop = self.deliver_until_stopped().await;
        tracing::debug!(subscription_id = %id, ?stop, "webhook worker stopped");
    }

    async fn deliver_until_stopped(&mut self) -> Stop {
        let context = Arc::clone(&self.context);
        let mut shutdown = context.shutdown.clone();
        let mut commits = context.service.store().commits();
        // Every revision up to here was read: none after the cursor matched.
        let mut scanned = self.subscription.cursor;
        loop {
            if *shutdown.borrow() {
                return Stop::Shutdown;
            }
            let now = Timestamp::now();
            let renew_at = self.renew_at();
            if now >= renew_at {
                match self.renew().await {
                    Ok(true) => {}
                    Ok(false) => return Stop::LeaseLost,
                    Err(()) => {
                        // The store cannot be reached: wait, and never deliver
                        // once the lease might have run out.
                        if self.lease_until.as_micros() - now.as_micros() < context.attempt_budget() {
                            return Stop::LeaseLost;
                        }
                        self.wait(&mut shutdown, None, context.settings.poll_interval).await;
                        continue;
                    }
                }
            }
            if let Some(due) = self.subscription.next_attempt_at
                && due > now
            {
                self.wait(&mut shutdown, None, duration_until(now, due.min(self.renew_at()))).await;
                continue;
            }
            commits.borrow_and_update();
            let page = match context
                .service
                .read_changes(&self.subscription.tenant, &self.subscription.filter, scanned, PAGE)
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(error = %err, subscription_id = %self.subscription.id, "cannot read the change log");
                    self.wait(&mut shutdown, None, context.settings.poll_interval).await;
                    continue;
                }
            };
            if page.records.is_empty() {
                scanned = page.cursor;
                let until_renewal = duration_until(Timestamp::now(), self.renew_at());
                self.wait(
                    &mut shutdown,
                    Some(&mut commits),
                    context.settings.poll_interval.min(until_renewal),
                )
                .await;
                continue;
            }
            let mut all_delivered = true;
            for record in page.records {
                let revision = record.revision;
                match self.attempt(record).await {
                    Ok(true) => scanned = revision,
                    Ok(false) => {
                        all_delivered = false;
                        break;
                    }
                    Err(stop) => return stop,
                }
            }
            if all_delivered {
                scanned = scanned.max(page.cursor);
            }
        }
    }

    /// When the lease must be renewed: at half its life, and always early
    /// enough that a whole attempt fits before it ends.
    fn renew_at(&self) -> Timestamp {
        let half = micros(self.context.settings.lease) / 2;
        let budget = self.context.attempt_budget();
        self.lease_until.saturating_add_micros(-half.max(budget))
    }

    /// Renews the lease: `Ok(false)` when it is no longer ours (then the
    /// relay claims it afresh, reading the cursor a redelivery may have
    /// moved), `Err` when the store cannot say.
    async fn renew(&mut self) -> Result<bool, ()> {
        let now = Timestamp::now();
        let lease = self.context.lease(now);
        match self.context.store.renew_webhook(self.subscription.id, lease).await {
            Ok(true) => {
                self.lease_until = lease.until;
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(err) => {
                tracing::warn!(error = %err, subscription_id = %self.subscription.id, "cannot renew the lease");
                Err(())
            }
        }
    }

    /// One attempt at one change: `Ok(true)` when delivered, `Ok(false)` when
    /// it failed and waits for its retry.
    async fn attempt(&mut self, record: ConsentRecord) -> Result<bool, Stop> {
        let context = Arc::clone(&self.context);
        let subscription = &self.subscription;
        let revision = record.revision;
        let event = event_id(subscription.id, revision);
        let attempt_number = subscription.failures + 1;
        let started_at = Timestamp::now();
        let result = match self.notification_body(record, event).await {
            Ok(body) => {
                let key = match context.keys.key(subscription.id).await {
                    Ok(key) => key,
                    Err(err) => {
                        // Unsigned deliveries are never sent; try again later.
                        tracing::warn!(error = %err, "cannot read the server secret");
                        let later =
                            Timestamp::now().saturating_add_micros(micros(context.settings.poll_interval));
                        self.subscription.next_attempt_at = Some(later);
                        return Ok(false);
                    }
                };
                let delivery =
                    context.deliverer.deliver(&subscription.url, &key, event, subscription.id, body);
                let mut shutdown = context.shutdown.clone();
                tokio::select! {
                    result = delivery => result,
                    // The change is delivered again after the restart, with
                    // the same event id.
                    _ = shutdown.wait_for(|stop| *stop) => return Err(Stop::Shutdown),
                }
            }
            Err(error) => super::deliver::AttemptResult {
                outcome: DeliveryOutcome::Failed,
                status_code: None,
                error,
                latency: Duration::ZERO,
            },
        };
        let delivered = result.outcome == DeliveryOutcome::Delivered;
        let progress = if delivered {
            Progress::Delivered
        } else if attempt_number >= context.settings.max_attempts {
            Progress::Park
        } else {
            let now = Timestamp::now();
            Progress::Retry {
                next_attempt_at: retry_at(
                    now,
                    attempt_number,
                    context.settings.retry_initial,
                    context.settings.retry_max,
                ),
            }
        };
        let attempt = DeliveryAttempt {
            id: Uuid::now_v7(),
            subscription_id: subscription.id,
            event_id: event,
            revision,
            attempt: attempt_number,
            outcome: result.outcome,
            status_code: result.status_code,
            error: result.error,
            latency_ms: u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
            attempted_at: started_at,
        };
        let held = context
            .store
            .record_delivery(&attempt, &subscription.tenant, &context.owner, &progress)
            .await
            .map_err(|err| {
                // Unrecorded: the change is attempted again by whoever holds
                // the lease next, with the same event id.
                tracing::warn!(error = %err, subscription_id = %subscription.id, "cannot record a delivery");
                Stop::LeaseLost
            })?;
        if !held {
            return Err(Stop::LeaseLost);
        }
        match progress {
            Progress::Delivered => {
                tracing::debug!(subscription_id = %subscription.id, revision, "webhook delivered");
                self.subscription.cursor = revision;
                self.subscription.failures = 0;
                self.subscription.next_attempt_at = None;
                Ok(true)
            }
            Progress::Retry { next_attempt_at } => {
                tracing::info!(
                    subscription_id = %subscription.id,
                    revision,
                    attempt = attempt_number,
                    error = %attempt.error,
                    "webhook delivery failed; will retry"
                );
                self.subscription.failures = attempt_number;
                self.subscription.next_attempt_at = Some(next_attempt_at);
                Ok(false)
            }
            Progress::Park => {
                tracing::warn!(
                    subscription_id = %subscription.id,
                    revision,
                    attempts = attempt_number,
                    error = %attempt.error,
                    "webhook subscription parked after repeated failures"
                );
                Err(Stop::LeaseLost)
            }
        }
    }

    /// The notification body of a change in the subscription's format.
    async fn notification_body(&self, record: ConsentRecord, event: Uuid) -> Result<Vec<u8>, String> {
        let subscription = &self.subscription;
        let adapter = self
            .context
            .adapters
            .get(subscription.format.as_str())
            .ok_or_else(|| format!("this build has no {} notification format", subscription.format))?;
        let view = self
            .context
            .service
            .view(&subscription.tenant, record)
            .await
            .map_err(|err| format!("cannot read the change: {err}"))?;
        let event = event.to_string();
        let subscription_id = subscription.id.to_string();
        let body = adapter
            .encode_notification(&Notification {
                event_id: &event,
                subscription_id: &subscription_id,
                view: &view,
            })
            .ok_or_else(|| format!("the {} format has no webhook notifications", subscription.format))?;
        serde_json::to_vec(&body).map_err(|err| format!("cannot encode the notification: {err}"))
    }

    /// Sleeps for `timeout`, or until a commit (when `commits` is given) or
    /// shutdown.
    async fn wait(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        commits: Option<&mut watch::Receiver<u64>>,
        timeout: Duration,
    ) {
        let commit = async {
            match commits {
                Some(commits) => {
                    if commits.changed().await.is_err() {
                        // No more commit signals: the timer alone wakes.
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = commit => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn duration_until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::from_micros(u64::try_from(at.as_micros() - now.as_micros()).unwrap_or(0))
}
