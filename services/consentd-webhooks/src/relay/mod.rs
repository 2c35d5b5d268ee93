//! The webhook relay: every replica runs one. It claims the subscriptions no
//! replica holds (a lease row in the database) and runs one worker per
//! claimed subscription. A worker follows the tenant's changes after the
//! subscription's cursor the way a `Subscribe` stream does — from the
//! tenant's shared tail (one read of the log per commit, however many
//! subscriptions and streams follow it), or from the log itself while it is
//! behind the tail's window — and delivers one change at a time: the cursor moves, in the
//! same transaction as the delivery log entry, only after the receiver
//! acknowledged the change. A crash therefore repeats at most the change in
//! flight (with the same event id), and never skips one.
//!
//! Before every attempt the worker renews its lease (`WHERE lease_owner = me`),
//! so the lease always outlasts the attempt and a deletion or redelivery —
//! which clear the lease — stops the worker before it sends anything more.
//! The relay then claims afresh what is free.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use consent_adapter::VendorAdapter;
use consent_core::webhooks::{Lease, WebhookStore};
use consent_core::{ConsentError, ConsentService, Timestamp};
use consent_core::{ConsentStore, KeyStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use super::WebhookSettings;
use super::deliver::{Deliverer, SigningKeys};
use consentd_feed::Feeds;

mod gauges;
mod worker;

use gauges::Gauges;
use worker::Worker;

/// What the relay needs of its store: the consent log (to follow), the
/// webhook store (subscriptions, leases, the delivery log) and the key
/// store (the server secret that signing keys derive from).
pub trait RelayStore: ConsentStore + WebhookStore + KeyStore + Clone {}

impl<S: ConsentStore + WebhookStore + KeyStore + Clone> RelayStore for S {}

/// How often the delivery log is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What every worker shares.
struct Context<S> {
    service: ConsentService<S>,
    /// The Subscribe streams' feeds: workers follow the same shared tails.
    feeds: Feeds<S>,
    deliverer: Deliverer,
    keys: SigningKeys,
    adapters: HashMap<&'static str, Arc<dyn VendorAdapter>>,
    settings: WebhookSettings,
    /// This replica's id in lease rows.
    owner: String,
    shutdown: watch::Receiver<bool>,
    /// The backlog and parked gauges.
    gauges: Arc<Gauges>,
}

impl<S: RelayStore> Context<S> {
    fn store(&self) -> &S {
        self.service.store()
    }

    fn lease(&self, now: Timestamp) -> Lease<'_> {
        Lease { owner: &self.owner, now, until: now.saturating_add_micros(micros(self.settings.lease)) }
    }

    /// How long an attempt can take: the lease must still hold this long when
    /// an attempt starts, so that no other replica can claim it meanwhile.
    fn attempt_budget(&self) -> i64 {
        micros(self.settings.connect_timeout + self.settings.response_timeout + Duration::from_secs(2))
    }
}

/// Whether the server is stopping: shutdown was requested, or whoever could
/// request it is gone.
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// Resolves once the server is stopping.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The relay of one replica.
pub struct Relay<S> {
    context: Arc<Context<S>>,
}

impl<S> std::fmt::Debug for Relay<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("owner", &self.context.owner).finish_non_exhaustive()
    }
}

impl<S: RelayStore> Relay<S> {
    /// A relay delivering the subscriptions in `service`'s store with
    /// `deliverer`, formatting notifications with `adapters`; `shutdown`
    /// turning true stops it.
    pub fn new(
        service: ConsentService<S>,
        feeds: Feeds<S>,
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
                service,
                feeds,
                deliverer,
                keys,
                adapters,
                settings,
                owner,
                shutdown,
                gauges: Gauges::registered(),
            }),
        }
    }

    /// Claims and delivers until shutdown, then lets its workers finish their
    /// attempt in flight and gives up its leases, so another replica takes
    /// over at once.
    pub async fn run(self) {
        let context = self.context;
        let mut shutdown = context.shutdown.clone();
        let mut workers: HashMap<Uuid, JoinHandle<()>> = HashMap::new();
        let mut next_prune = Instant::now();
        let mut failing = false;
        tracing::info!(owner = %context.owner, "webhook relay started");
        while !stopping(&shutdown) {
            fail::fail_point!("webhooks::relay");
            workers.retain(|_, worker| !worker.is_finished());
            match claim_free(&context, &mut workers).await {
                Ok(()) => failing = false,
                // Once per outage, not once per poll.
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %err, "cannot look for webhook subscriptions to deliver");
                }
                Err(err) => tracing::debug!(error = %err, "still cannot look for webhook subscriptions"),
            }
            if !failing {
                count_parked(&context).await;
            }
            if !failing && Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                prune(&context).await;
            }
            tokio::select! {
                () = tokio::time::sleep(context.settings.poll_interval) => {}
                () = stopped(&mut shutdown) => {}
            }
        }
        for (_, worker) in workers {
            let _ = worker.await;
        }
        if let Err(err) = context.store().release_webhooks(&context.owner).await {
            tracing::warn!(error = %err, "cannot release webhook leases; they expire on their own");
        }
        tracing::info!(owner = %context.owner, "webhook relay stopped");
    }
}

async fn prune<S: RelayStore>(context: &Context<S>) {
    let before = Timestamp::now().saturating_add_micros(-micros(context.settings.log_retention));
    match context.store().prune_deliveries(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned the webhook delivery log"),
        Err(err) => tracing::warn!(error = %err, "cannot prune the webhook delivery log"),
    }
}

/// Refreshes the parked gauge, once per poll: scrapes never query the
/// database. A failed count keeps the last one (the claim's failure is what
/// the log reports).
async fn count_parked<S: RelayStore>(context: &Context<S>) {
    match context.store().parked_webhooks().await {
        Ok(count) => context.gauges.set_parked(count),
        Err(err) => tracing::debug!(error = %err, "cannot count parked webhook subscriptions"),
    }
}

/// Claims every subscription no replica holds and starts its worker.
async fn claim_free<S: RelayStore>(
    context: &Arc<Context<S>>,
    workers: &mut HashMap<Uuid, JoinHandle<()>>,
) -> Result<(), ConsentError> {
    let candidates = context.store().claimable_webhooks(context.lease(Timestamp::now())).await?;
    for candidate in candidates {
        if workers.contains_key(&candidate.id) {
            continue;
        }
        let lease = context.lease(Timestamp::now());
        if let Some(subscription) = context.store().claim_webhook(candidate.id, lease).await? {
            let worker = Worker::new(Arc::clone(context), subscription, lease.until);
            workers.insert(candidate.id, tokio::spawn(worker.run()));
        }
    }
    Ok(())
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn duration_until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::from_micros(u64::try_from(at.as_micros() - now.as_micros()).unwrap_or(0))
}
