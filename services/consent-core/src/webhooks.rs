//! What webhook delivery needs from storage: subscriptions, their states,
//! delivery attempts and outcomes, the relay's lease, and each delivery's
//! event id; and the [`WebhookStore`] interface, apart from the consent
//! log's [`crate::ConsentStore`], so the webhook crate never names the
//! store that keeps them.

use std::future::Future;

use uuid::Uuid;

use crate::error::ConsentError;
use crate::feed::FeedFilter;
use crate::model::{Revision, TenantId};
use crate::time::Timestamp;

/// Whether a subscription is being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Deliveries proceed.
    Active,
    /// Deliveries stopped after too many failures; redelivery resumes them.
    Parked,
}

impl WebhookState {
    /// The stable name stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Parked => "parked",
        }
    }

    /// The value named `name`, as [`Self::as_str`] spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "active" => Some(Self::Active),
            "parked" => Some(Self::Parked),
            _ => None,
        }
    }
}

/// A webhook subscription as stored (never its signing secret, which is
/// derived from the server secret and the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    /// The subscription's id (UUIDv7).
    pub id: Uuid,
    /// The tenant whose changes it receives.
    pub tenant: TenantId,
    /// The adapter whose notification format deliveries use.
    pub format: String,
    /// Where deliveries go.
    pub url: String,
    /// Which changes.
    pub filter: FeedFilter,
    /// Every matching change up to this revision was delivered.
    pub cursor: Revision,
    /// Active or parked.
    pub state: WebhookState,
    /// Failed attempts at the change after the cursor.
    pub failures: u32,
    /// When the next attempt is due, after a failure.
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last attempt failed; empty after a success.
    pub last_error: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was parked, if it is.
    pub parked_at: Option<Timestamp>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver failed, answered otherwise, or could not be reached.
    Failed,
    /// The URL is not allowed (allowlist or address policy): nothing was sent.
    Refused,
}

impl DeliveryOutcome {
    /// The stable name stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    /// The value named `name`, as [`Self::as_str`] spells it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// One delivery attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The attempt's id (UUIDv7: ordered by time).
    pub id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// The event's id, the same on every attempt at it.
    pub event_id: Uuid,
    /// The change's revision.
    pub revision: Revision,
    /// 1 for the first attempt at this change, then 2, 3, …
    pub attempt: u32,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong; empty on success.
    pub error: String,
    /// From sending to the end of the response (or the failure).
    pub latency_ms: u64,
    /// When the attempt started.
    pub attempted_at: Timestamp,
}

/// What an attempt does to its subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The change was delivered: the cursor moves to it and the failure count
    /// resets.
    Delivered,
    /// Retry at `next_attempt_at`.
    Retry {
        /// When.
        next_attempt_at: Timestamp,
    },
    /// Too many failures: stop until redelivered.
    Park,
}

/// The relay's identity while it holds leases.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// This replica's id.
    pub owner: &'a str,
    /// Now, by this replica's clock.
    pub now: Timestamp,
    /// Until when a claim or renewal holds.
    pub until: Timestamp,
}

/// The event id of a subscription's delivery of `revision`: the same on every
/// attempt and every replica, so receivers can drop duplicates.
pub fn event_id(subscription_id: Uuid, revision: Revision) -> Uuid {
    Uuid::new_v5(&subscription_id, revision.to_string().as_bytes())
}

/// Storage of webhook subscriptions and their delivery log. Every method is
/// scoped by tenant where a caller names one; the relay's methods work
/// across tenants under a lease.
pub trait WebhookStore: Send + Sync + 'static {
    /// Creates a subscription (at the tenant's head: only later changes are
    /// delivered), unless the tenant has `max_per_tenant` already.
    fn create_webhook(
        &self,
        id: Uuid,
        tenant: &TenantId,
        format: &str,
        url: &str,
        filter: &FeedFilter,
        max_per_tenant: u64,
    ) -> impl Future<Output = Result<WebhookSubscription, ConsentError>> + Send;

    /// One subscription of the tenant.
    fn webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<WebhookSubscription>, ConsentError>> + Send;

    /// A page of the tenant's subscriptions, by id, after `after`.
    fn webhooks(
        &self,
        tenant: &TenantId,
        after: Option<Uuid>,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<WebhookSubscription>, ConsentError>> + Send;

    /// Deletes a subscription and its delivery log; whether it existed.
    fn delete_webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
    ) -> impl Future<Output = Result<bool, ConsentError>> + Send;

    /// Resumes a subscription (parked or not), from `from` if given.
    fn redeliver_webhook(
        &self,
        tenant: &TenantId,
        id: Uuid,
        from: Option<Revision>,
    ) -> impl Future<Output = Result<Option<WebhookSubscription>, ConsentError>> + Send;

    /// A page of a subscription's delivery attempts, newest first.
    fn webhook_deliveries(
        &self,
        tenant: &TenantId,
        subscription_id: Uuid,
        before: Option<Uuid>,
        limit: u64,
    ) -> impl Future<Output = Result<Vec<DeliveryAttempt>, ConsentError>> + Send;

    /// Active subscriptions no live lease holds.
    fn claimable_webhooks(
        &self,
        lease: Lease<'_>,
    ) -> impl Future<Output = Result<Vec<WebhookSubscription>, ConsentError>> + Send;

    /// Takes a subscription's lease, if no one else holds it.
    fn claim_webhook(
        &self,
        id: Uuid,
        lease: Lease<'_>,
    ) -> impl Future<Output = Result<Option<WebhookSubscription>, ConsentError>> + Send;

    /// Extends a held lease; false when it was lost.
    fn renew_webhook(
        &self,
        id: Uuid,
        lease: Lease<'_>,
    ) -> impl Future<Output = Result<bool, ConsentError>> + Send;

    /// Hands back every lease `owner` holds.
    fn release_webhooks(&self, owner: &str) -> impl Future<Output = Result<(), ConsentError>> + Send;

    /// Logs an attempt and moves its subscription on, if `owner` still
    /// holds its lease (false otherwise: nothing changed).
    fn record_delivery(
        &self,
        attempt: &DeliveryAttempt,
        tenant: &TenantId,
        owner: &str,
        progress: &Progress,
    ) -> impl Future<Output = Result<bool, ConsentError>> + Send;

    /// Forgets delivery attempts made before `before`; how many.
    fn prune_deliveries(&self, before: Timestamp) -> impl Future<Output = Result<u64, ConsentError>> + Send;

    /// How many subscriptions are parked, across tenants (the relay's
    /// `consentd.webhook.parked` gauge).
    fn parked_webhooks(&self) -> impl Future<Output = Result<u64, ConsentError>> + Send;
}
