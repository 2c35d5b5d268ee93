//! What the webhook store holds and hands out: subscriptions, their
//! states, delivery attempts and outcomes, the relay's lease, and each
//! delivery's event id.

use consent_core::{ConsentError, FeedFilter, Revision, TenantId, Timestamp};
use uuid::Uuid;

use crate::entity::{webhook_delivery, webhook_subscription};

/// Whether a subscription is being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Deliveries proceed.
    Active,
    /// Deliveries stopped after too many failures; redelivery resumes them.
    Parked,
}

impl WebhookState {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Parked => "parked",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
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

impl TryFrom<webhook_subscription::Model> for WebhookSubscription {
    type Error = ConsentError;

    fn try_from(row: webhook_subscription::Model) -> Result<Self, ConsentError> {
        let corrupt =
            |what: &str| ConsentError::Internal(format!("webhook subscription {} has a bad {what}", row.id));
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
            tenant: TenantId::new(row.tenant.clone()),
            filter: serde_json::from_str(&row.filter_json).map_err(|_| corrupt("filter"))?,
            state: WebhookState::from_name(&row.state).ok_or_else(|| corrupt("state"))?,
            failures: u32::try_from(row.failures).map_err(|_| corrupt("failure count"))?,
            format: row.format,
            url: row.url,
            cursor: row.cursor,
            next_attempt_at: row.next_attempt_at.map(Timestamp::from_micros),
            last_error: row.last_error,
            created_at: Timestamp::from_micros(row.created_at),
            parked_at: row.parked_at.map(Timestamp::from_micros),
        })
    }
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

    fn from_name(name: &str) -> Option<Self> {
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

impl TryFrom<webhook_delivery::Model> for DeliveryAttempt {
    type Error = ConsentError;

    fn try_from(row: webhook_delivery::Model) -> Result<Self, ConsentError> {
        let corrupt =
            |what: &str| ConsentError::Internal(format!("webhook delivery {} has a bad {what}", row.id));
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
            subscription_id: Uuid::parse_str(&row.subscription_id).map_err(|_| corrupt("subscription id"))?,
            event_id: Uuid::parse_str(&row.event_id).map_err(|_| corrupt("event id"))?,
            revision: row.revision,
            attempt: u32::try_from(row.attempt).map_err(|_| corrupt("attempt"))?,
            outcome: DeliveryOutcome::from_name(&row.outcome).ok_or_else(|| corrupt("outcome"))?,
            status_code: row.status_code.map(u16::try_from).transpose().map_err(|_| corrupt("status"))?,
            error: row.error,
            latency_ms: u64::try_from(row.latency_ms).unwrap_or(0),
            attempted_at: Timestamp::from_micros(row.attempted_at),
        })
    }
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
