//! Webhook rows as the domain's webhook types.

use consent_core::webhooks::{DeliveryAttempt, DeliveryOutcome, WebhookState, WebhookSubscription};
use consent_core::{ConsentError, TenantId, Timestamp};
use uuid::Uuid;

use crate::entity::{webhook_delivery, webhook_subscription};

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
