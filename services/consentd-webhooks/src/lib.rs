//! Webhook subscriptions, delivered from the change feed.
//!
//! A subscription is a filter, a URL, a vendor notification format and a
//! cursor into the durable change log. The relay ([`relay`]) reads matching
//! changes after the cursor, POSTs each one signed ([`deliver`]) and moves the
//! cursor only after the receiver acknowledged it: at-least-once, in revision
//! order, resuming after a restart where it stopped. Failures are retried
//! with exponential backoff and jitter and logged; too many park the
//! subscription until an operator redelivers it. A lease in the database
//! makes one replica at a time deliver a subscription. URLs must pass the
//! [`policy`] when subscribed and at every delivery.

pub mod deliver;
pub mod policy;
pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use consent_core::KeyStore;
use consent_core::webhooks::{WebhookStore, WebhookSubscription};
use consent_core::{ConsentError, FeedFilter, FeedStart, Subscribe, TenantId, Timestamp};
use ipnet::IpNet;
use uuid::Uuid;

use self::deliver::SigningKeys;
use self::policy::{UrlPattern, UrlPolicy};

/// Webhook settings (`[webhooks]` in the config file).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// URL patterns webhooks may be delivered to; none: no webhook is allowed.
    pub allowed_urls: Vec<UrlPattern>,
    /// Non-public networks deliveries may reach anyway (such as an internal
    /// receiver's `10.0.0.0/8`, or loopback in tests).
    pub allowed_networks: Vec<IpNet>,
    /// How long connecting to a receiver may take.
    pub connect_timeout: Duration,
    /// How long a receiver may take to answer.
    pub response_timeout: Duration,
    /// Consecutive failed attempts at one change before the subscription is
    /// parked.
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles with each further one.
    pub retry_initial: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long a replica's claim on a subscription lasts unless renewed.
    pub lease: Duration,
    /// How often the relay looks for subscriptions to claim, and re-reads the
    /// log without a commit signal.
    pub poll_interval: Duration,
    /// How long the delivery log keeps an attempt.
    pub log_retention: Duration,
    /// Subscriptions one tenant may have.
    pub max_per_tenant: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allowed_urls: Vec::new(),
            allowed_networks: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            max_attempts: 15,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(600),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            log_retention: Duration::from_secs(7 * 24 * 3600),
            max_per_tenant: 100,
        }
    }
}

/// Creating subscriptions: the policy check, the store row and the secret.
#[derive(Debug, Clone)]
pub struct Webhooks<S> {
    store: S,
    policy: Arc<UrlPolicy>,
    keys: SigningKeys,
    max_per_tenant: u64,
}

impl<S: WebhookStore + KeyStore + Clone> Webhooks<S> {
    /// Subscriptions in `store`, checked against `settings`' policy, signed
    /// with keys derived from the server secret (`configured`, or the one
    /// kept in the database).
    pub fn new(store: S, settings: &WebhookSettings, configured_secret: Option<String>) -> Self {
        Self {
            keys: SigningKeys::from_store(Arc::new(store.clone()), configured_secret),
            store,
            policy: Arc::new(policy_of(settings)),
            max_per_tenant: settings.max_per_tenant,
        }
    }

    /// Creates a subscription delivering changes matching `filter` to `url`
    /// in `format`, starting with the tenant's next change. Returns it with
    /// its signing secret, shown this once. A URL the policy refuses is
    /// INVALID_ARGUMENT on `url`.
    pub async fn create(
        &self,
        tenant: &TenantId,
        format: &str,
        filter: FeedFilter,
        url: &str,
    ) -> Result<(WebhookSubscription, String), ConsentError> {
        let mut subscribe = Subscribe { filter, start: FeedStart::Now };
        consent_core::validate::subscribe(&mut subscribe)?;
        let refused = |refusal: policy::Refusal| ConsentError::invalid("url", refusal.0);
        let parsed = self.policy.check_url(url).map_err(refused)?;
        self.policy.check_resolved(&parsed).await.map_err(refused)?;
        // The secret first: a subscription nobody got the secret of must not exist.
        let id = Uuid::now_v7();
        let secret = self.keys.secret(id).await?;
        let subscription = self
            .store
            .create_webhook(id, tenant, format, url, &subscribe.filter, self.max_per_tenant)
            .await?;
        tracing::info!(
            subscription_id = %subscription.id,
            tenant = tenant.as_str(),
            format,
            cursor = subscription.cursor,
            "webhook subscription created"
        );
        Ok((subscription, secret))
    }

    /// The signing keys (the relay signs with them).
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// The delivery policy.
    pub fn policy(&self) -> &Arc<UrlPolicy> {
        &self.policy
    }
}

/// The policy the settings describe.
pub fn policy_of(settings: &WebhookSettings) -> UrlPolicy {
    UrlPolicy::new(settings.allowed_urls.clone(), settings.allowed_networks.clone())
}

/// When the attempt after `failures` failed ones is due: exponential backoff
/// from `initial`, capped at `max`, with "equal jitter" (a random point in the
/// upper half of the wait), so receivers recovering from an outage are not
/// hit by every subscription at once, and no wait is shorter than half the
/// schedule's.
pub fn retry_at(now: Timestamp, failures: u32, initial: Duration, max: Duration) -> Timestamp {
    let doubling = failures.saturating_sub(1).min(30);
    let wait = initial.saturating_mul(1 << doubling).min(max);
    let micros = i64::try_from(wait.as_micros()).unwrap_or(i64::MAX);
    let half = micros / 2;
    let mut random = [0_u8; 8];
    // Without randomness the wait is the whole schedule: still bounded.
    let jitter = match getrandom::fill(&mut random) {
        Ok(()) => {
            i64::try_from(u64::from_le_bytes(random) % u64::try_from(half + 1).unwrap_or(1)).unwrap_or(0)
        }
        Err(_) => half,
    };
    now.saturating_add_micros(half + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_bounded_jitter() {
        let now = Timestamp::from_micros(0);
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for (failures, schedule_ms) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (40, 1000)] {
            for _ in 0..50 {
                let due = retry_at(now, failures, initial, max).as_micros();
                let schedule = schedule_ms * 1000;
                assert!((schedule / 2..=schedule).contains(&due), "{failures}: {due} of {schedule}");
            }
        }
    }
}
