//! One claimed subscription's worker: it follows the tenant's changes after
//! the subscription's cursor and delivers them one at a time, renewing its
//! lease before every attempt, until the lease is lost or the server stops.

use std::sync::Arc;
use std::time::Duration;

use consent_adapter::Notification;
use consent_core::webhooks::{DeliveryAttempt, DeliveryOutcome, Progress, WebhookSubscription, event_id};
use consent_core::{ConsentError, ConsentRecord, ConsentStatus, EventKind, Timestamp};
use tokio::sync::watch;
use uuid::Uuid;

use super::super::deliver::AttemptResult;
use super::super::{WebhookSettings, retry_at};
use super::{Context, RelayStore, duration_until, micros, stopped, stopping};
use consentd_feed::tail::Follower;

/// Delivers one subscription while this replica holds its lease.
pub(super) struct Worker<S> {
    context: Arc<Context<S>>,
    subscription: WebhookSubscription,
    lease_until: Timestamp,
    /// Consecutive store failures (the attempt's own failures are the
    /// subscription's `failures`): they delay, but never park.
    store_failures: u32,
}

/// Why a worker stops.
#[derive(Debug)]
enum Stop {
    /// The lease is no longer ours (or the subscription is gone or parked).
    LeaseLost,
    /// The server is shutting down.
    Shutdown,
}

/// What became of one change.
enum Step {
    /// Delivered: on to the next.
    Delivered,
    /// Not delivered; `next_attempt_at` says when to try again.
    Later,
}

impl<S: RelayStore> Worker<S> {
    pub(super) fn new(
        context: Arc<Context<S>>,
        subscription: WebhookSubscription,
        lease_until: Timestamp,
    ) -> Self {
        Self { context, subscription, lease_until, store_failures: 0 }
    }

    pub(super) async fn run(mut self) {
        let id = self.subscription.id;
        let Err(stop) = self.deliver_until_stopped().await;
        self.context.gauges.forget(id);
        tracing::debug!(subscription_id = %id, ?stop, "webhook worker stopped");
    }

    async fn deliver_until_stopped(&mut self) -> Result<std::convert::Infallible, Stop> {
        let context = Arc::clone(&self.context);
        let mut shutdown = context.shutdown.clone();
        // Every revision up to here was read: none after the cursor matched.
        let mut scanned = self.subscription.cursor;
        let mut follower = None;
        loop {
            if stopping(&shutdown) {
                return Err(Stop::Shutdown);
            }
            let now = Timestamp::now();
            if now >= self.renew_at() {
                self.keep_lease().await?;
            }
            if let Some(due) = self.subscription.next_attempt_at
                && due > now
            {
                // Followed while backed off too, so the backlog gauge shows a
                // subscription claimed in backoff; a failure here is left
                // for the attempt to report.
                if follower.is_none() {
                    follower = self.follow().await.ok();
                }
                self.read_up_to(follower.as_ref(), scanned);
                self.wait(&mut shutdown, None, duration_until(now, due.min(self.renew_at()))).await;
                continue;
            }
            let following = match &mut follower {
                Some(following) => following,
                None => match self.follow().await {
                    Ok(following) => follower.insert(following),
                    Err(err) => {
                        self.store_failed("follow the change log", &err);
                        continue;
                    }
                },
            };
            self.read_up_to(Some(&*following), scanned);
            following.seen();
            let page = match following.read(scanned).await {
                Ok(page) => page,
                Err(err) => {
                    // A failed tail is left for a fresh one once it reads again.
                    follower = None;
                    self.store_failed("read the change log", &err);
                    continue;
                }
            };
            if page.records.is_empty() {
                scanned = page.cursor;
                self.read_up_to(Some(&*following), scanned);
                if page.full {
                    // More to read at once, none of it this subscription's.
                    continue;
                }
                let until_renewal = duration_until(Timestamp::now(), self.renew_at());
                let timeout = context.settings.poll_interval.min(until_renewal);
                self.wait(&mut shutdown, follower.as_mut(), timeout).await;
                continue;
            }
            let mut all_delivered = true;
            for record in page.records {
                let revision = record.revision;
                match self.attempt(record).await? {
                    Step::Delivered => {
                        scanned = revision;
                        self.read_up_to(Some(&*following), scanned);
                    }
                    Step::Later => {
                        all_delivered = false;
                        break;
                    }
                }
            }
            if all_delivered {
                scanned = scanned.max(page.cursor);
            }
        }
    }

    /// A reader of the subscription's changes, on the tenant's shared tail.
    async fn follow(&self) -> Result<Follower<S>, ConsentError> {
        let subscription = &self.subscription;
        self.context.feeds.follower(&subscription.tenant, subscription.filter.clone()).await
    }

    /// Tells the backlog gauge how far the worker has read (nothing while
    /// it follows no tail: the head is unknown).
    fn read_up_to(&self, follower: Option<&Follower<S>>, scanned: consent_core::Revision) {
        if let Some(follower) = follower {
            self.context.gauges.read_up_to(self.subscription.id, follower.head(), scanned);
        }
    }

    /// When the lease must be renewed while idle: at half its life, and
    /// always early enough that a whole attempt fits before it ends.
    fn renew_at(&self) -> Timestamp {
        let half = micros(self.context.settings.lease) / 2;
        let budget = self.context.attempt_budget();
        self.lease_until.saturating_add_micros(-half.max(budget))
    }

    /// Renews the lease. `Err(LeaseLost)` when it is no longer ours — the
    /// relay then claims afresh, from the cursor a redelivery may have
    /// moved — or when the store cannot say and the lease could run out
    /// before an attempt ends.
    async fn keep_lease(&mut self) -> Result<(), Stop> {
        let now = Timestamp::now();
        let lease = self.context.lease(now);
        match self.context.store().renew_webhook(self.subscription.id, lease).await {
            Ok(true) => {
                self.lease_until = lease.until;
                Ok(())
            }
            Ok(false) => Err(Stop::LeaseLost),
            Err(err) => {
                tracing::warn!(error = %err, subscription_id = %self.subscription.id, "cannot renew the lease");
                if self.lease_until.as_micros() - now.as_micros() < self.context.attempt_budget() {
                    Err(Stop::LeaseLost)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The store failed: try again later, with backoff, without counting it
    /// against the receiver.
    fn store_failed(&mut self, what: &str, err: &ConsentError) {
        self.store_failures += 1;
        tracing::warn!(error = %err, subscription_id = %self.subscription.id, "cannot {what}");
        let settings = &self.context.settings;
        let later =
            retry_at(Timestamp::now(), self.store_failures, settings.retry_initial, settings.retry_max);
        self.subscription.next_attempt_at = Some(later);
    }

    /// One attempt at one change.
    async fn attempt(&mut self, record: ConsentRecord) -> Result<Step, Stop> {
        let context = Arc::clone(&self.context);
        let revision = record.revision;
        let event = event_id(self.subscription.id, revision);
        let body = match self.notification_body(record, event).await {
            Ok(Ok(body)) => body,
            Ok(Err(unencodable)) => {
                let result = AttemptResult::unsendable(unencodable);
                return self.finish(revision, event, Timestamp::now(), result).await;
            }
            Err(err) => {
                self.store_failed("read the change", &err);
                return Ok(Step::Later);
            }
        };
        let key = match context.keys.key(self.subscription.id).await {
            Ok(key) => key,
            Err(err) => {
                // Unsigned deliveries are never sent.
                self.store_failed("read the server secret", &err);
                return Ok(Step::Later);
            }
        };
        // The lease must hold until this attempt ends, and must still be
        // ours: a deletion or redelivery since the last renewal stops here.
        self.keep_lease().await?;
        let started_at = Timestamp::now();
        // An attempt in flight is let finish (its timeouts bound it), so a
        // shutdown repeats nothing the receiver already has.
        let result =
            context.deliverer.deliver(&self.subscription.url, &key, event, self.subscription.id, body).await;
        self.finish(revision, event, started_at, result).await
    }

    /// Logs an attempt and applies its consequence to the subscription.
    async fn finish(
        &mut self,
        revision: consent_core::Revision,
        event: Uuid,
        started_at: Timestamp,
        result: AttemptResult,
    ) -> Result<Step, Stop> {
        let context = Arc::clone(&self.context);
        let subscription = &self.subscription;
        let attempt_number = subscription.failures + 1;
        let delivered = result.outcome == DeliveryOutcome::Delivered;
        consentd_telemetry::instruments()
            .webhook_attempts
            .add(1, &[opentelemetry::KeyValue::new("outcome", result.outcome.as_str())]);
        let progress = progress_after(&context.settings, delivered, result.permanent, attempt_number);
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
        let held = match context
            .store()
            .record_delivery(&attempt, &subscription.tenant, &context.owner, &progress)
            .await
        {
            Ok(held) => held,
            Err(err) => {
                // Unrecorded: the change is attempted again, with the same
                // event id, once the store answers.
                self.store_failed("record a delivery", &err);
                return Ok(Step::Later);
            }
        };
        if !held {
            return Err(Stop::LeaseLost);
        }
        self.store_failures = 0;
        match progress {
            Progress::Delivered => {
                tracing::debug!(subscription_id = %subscription.id, revision, "webhook delivered");
                self.subscription.cursor = revision;
                self.subscription.failures = 0;
                self.subscription.next_attempt_at = None;
                Ok(Step::Delivered)
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
                Ok(Step::Later)
            }
            Progress::Park => {
                tracing::warn!(
                    subscription_id = %subscription.id,
                    revision,
                    attempts = attempt_number,
                    error = %attempt.error,
                    "webhook subscription parked"
                );
                Err(Stop::LeaseLost)
            }
        }
    }

    /// The notification body of a change in the subscription's format:
    /// `Err` when the store fails, `Ok(Err)` when the format cannot encode it.
    async fn notification_body(
        &self,
        record: ConsentRecord,
        event: Uuid,
    ) -> Result<Result<Vec<u8>, String>, ConsentError> {
        let subscription = &self.subscription;
        let Some(adapter) = self.context.adapters.get(subscription.format.as_str()) else {
            return Ok(Err(format!("this build has no {} notification format", subscription.format)));
        };
        let Some(mut view) = self.context.service.views(&subscription.tenant, vec![record]).await?.pop()
        else {
            return Err(ConsentError::Internal("a change without a view".to_owned()));
        };
        // The change as it was made, the same on every attempt: not what a
        // check would answer at the time of delivery. An expiry's change is
        // the expiry.
        view.status = match view.record.kind {
            EventKind::Expired => ConsentStatus::Expired,
            // The subject is gone: nothing is known of its consent.
            EventKind::Erased => ConsentStatus::Unknown,
            EventKind::Recorded | EventKind::Updated => view.record.decision.into(),
        };
        let event = event.to_string();
        let subscription_id = subscription.id.to_string();
        let notification = Notification { event_id: &event, subscription_id: &subscription_id, view: &view };
        Ok(match adapter.encode_notification(&notification) {
            Some(body) => {
                serde_json::to_vec(&body).map_err(|err| format!("cannot encode the notification: {err}"))
            }
            None => Err(format!("the {} format has no webhook notifications", subscription.format)),
        })
    }

    /// Sleeps for `timeout`, or until the tail advances (when `follower` is
    /// given) or shutdown.
    async fn wait(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        follower: Option<&mut Follower<S>>,
        timeout: Duration,
    ) {
        let commit = async {
            let signalled = match follower {
                Some(follower) => follower.advanced().await.is_ok(),
                None => false,
            };
            if !signalled {
                // No commit signal (or no more): the timer alone wakes.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = tokio::time::sleep(timeout) => {}
            () = commit => {}
            () = stopped(shutdown) => {}
        }
    }
}

/// What an attempt does to its subscription: delivered, retried later with
/// backoff, or parked after a permanent failure or too many attempts.
fn progress_after(settings: &WebhookSettings, delivered: bool, permanent: bool, attempt: u32) -> Progress {
    if delivered {
        Progress::Delivered
    } else if permanent || attempt >= settings.max_attempts {
        Progress::Park
    } else {
        Progress::Retry {
            next_attempt_at: retry_at(Timestamp::now(), attempt, settings.retry_initial, settings.retry_max),
        }
    }
}
