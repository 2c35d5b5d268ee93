//! `consent.v1.WebhookService`: the tenant's webhook subscriptions and their
//! delivery log, over gRPC. Subscriptions are created through a vendor route;
//! here they are listed, inspected, redelivered and deleted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consent_core::webhooks::{
    DeliveryAttempt, DeliveryOutcome, WebhookState, WebhookStore, WebhookSubscription,
};
use consent_core::{ConsentError, ConsentService, ConsentStore, TenantId};
use consent_proto::v1 as pb;
use consent_proto::v1::webhook_service_server::WebhookService as WebhookServiceApi;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::authorize::authorize;
use super::convert::{subject_pb, timestamp_pb};
use super::to_status;
use consentd_auth::Scope;

/// Implements `consent.v1.WebhookService` over the store.
#[derive(Debug, Clone)]
pub struct GrpcWebhookService<S> {
    service: ConsentService<S>,
}

impl<S: ConsentStore + WebhookStore + Clone> GrpcWebhookService<S> {
    /// Serves the subscriptions in `service`'s store.
    pub fn new(service: ConsentService<S>) -> Self {
        Self { service }
    }

    fn store(&self) -> &S {
        self.service.store()
    }

    async fn subscription(&self, tenant: &TenantId, id: &str) -> Result<WebhookSubscription, Status> {
        let id = subscription_id(id, "id")?;
        self.store()
            .webhook(tenant, id)
            .await
            .map_err(to_status)?
            .ok_or_else(|| Status::not_found("no such webhook subscription"))
    }
}

#[tonic::async_trait]
impl<S: ConsentStore + WebhookStore + Clone> WebhookServiceApi for GrpcWebhookService<S> {
    #[tracing::instrument(skip_all)]
    async fn list_webhook_subscriptions(
        &self,
        request: Request<pb::ListWebhookSubscriptionsRequest>,
    ) -> Result<Response<pb::ListWebhookSubscriptionsResponse>, Status> {
        let tenant = authorize(&request, Scope::Subscribe)?.tenant;
        let request = request.into_inner();
        let limit = consent_core::page::page_size(request.page_size).map_err(to_status)?;
        let after = page_position(&request.page_token)?;
        let mut found = self.store().webhooks(&tenant, after, limit + 1).await.map_err(to_status)?;
        let next_page_token = next_token(&mut found, limit, |s| s.id);
        Ok(Response::new(pb::ListWebhookSubscriptionsResponse {
            subscriptions: found.into_iter().map(subscription_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_webhook_subscription(
        &self,
        request: Request<pb::GetWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::GetWebhookSubscriptionResponse>, Status> {
        let tenant = authorize(&request, Scope::Subscribe)?.tenant;
        let subscription = self.subscription(&tenant, &request.get_ref().id).await?;
        Ok(Response::new(pb::GetWebhookSubscriptionResponse {
            subscription: Some(subscription_pb(subscription)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_webhook_subscription(
        &self,
        request: Request<pb::DeleteWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteWebhookSubscriptionResponse>, Status> {
        let tenant = authorize(&request, Scope::Subscribe)?.tenant;
        let id = subscription_id(&request.get_ref().id, "id")?;
        if !self.store().delete_webhook(&tenant, id).await.map_err(to_status)? {
            return Err(Status::not_found("no such webhook subscription"));
        }
        tracing::info!(subscription_id = %id, tenant = tenant.as_str(), "webhook subscription deleted");
        Ok(Response::new(pb::DeleteWebhookSubscriptionResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn redeliver_webhook_subscription(
        &self,
        request: Request<pb::RedeliverWebhookSubscriptionRequest>,
    ) -> Result<Response<pb::RedeliverWebhookSubscriptionResponse>, Status> {
        let tenant = authorize(&request, Scope::Subscribe)?.tenant;
        let request = request.into_inner();
        let id = subscription_id(&request.id, "id")?;
        if let Some(after) = request.after_revision {
            let head = self.service.store().head_revision(&tenant, 0).await.map_err(to_status)?;
            if !(0..=head).contains(&after) {
                return Err(to_status(ConsentError::invalid(
                    "after_revision",
                    format!("must be between 0 and the head revision {head}"),
                )));
            }
        }
        let subscription = self
            .store()
            .redeliver_webhook(&tenant, id, request.after_revision)
            .await
            .map_err(to_status)?
            .ok_or_else(|| Status::not_found("no such webhook subscription"))?;
        tracing::info!(
            subscription_id = %id,
            cursor = subscription.cursor,
            "webhook subscription redelivered"
        );
        Ok(Response::new(pb::RedeliverWebhookSubscriptionResponse {
            subscription: Some(subscription_pb(subscription)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let tenant = authorize(&request, Scope::Subscribe)?.tenant;
        let request = request.into_inner();
        let subscription = self.subscription(&tenant, &request.subscription_id).await?;
        let limit = consent_core::page::page_size(request.page_size).map_err(to_status)?;
        let before = page_position(&request.page_token)?;
        let mut found = self
            .store()
            .webhook_deliveries(&tenant, subscription.id, before, limit + 1)
            .await
            .map_err(to_status)?;
        let next_page_token = next_token(&mut found, limit, |d| d.id);
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: found.into_iter().map(delivery_pb).collect(),
            next_page_token,
        }))
    }
}

fn subscription_id(text: &str, field: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text)
        .map_err(|_| to_status(ConsentError::invalid(field, "must be a webhook subscription id")))
}

/// The id a page continues from; page tokens are the last id of the
/// previous page, opaque to clients.
fn page_position(token: &str) -> Result<Option<Uuid>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| to_status(ConsentError::invalid("page_token", "is not a token this service issued")))
}

/// Cuts the extra row read to tell whether another page follows, and returns
/// the next page's token.
fn next_token<T>(found: &mut Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> String {
    let more = found.len() as u64 > limit;
    found.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    match found.last() {
        Some(last) if more => URL_SAFE_NO_PAD.encode(id(last).as_bytes()),
        Some(_) | None => String::new(),
    }
}

fn subscription_pb(subscription: WebhookSubscription) -> pb::WebhookSubscription {
    pb::WebhookSubscription {
        id: subscription.id.to_string(),
        url: subscription.url,
        format: subscription.format,
        subject: subscription.filter.subject.map(subject_pb),
        purposes: subscription.filter.purposes,
        targets: subscription.filter.targets,
        cursor_revision: subscription.cursor,
        state: match subscription.state {
            WebhookState::Active => pb::WebhookState::Active,
            WebhookState::Parked => pb::WebhookState::Parked,
        }
        .into(),
        failures: subscription.failures,
        next_attempt_time: subscription.next_attempt_at.map(timestamp_pb),
        last_error: subscription.last_error,
        create_time: Some(timestamp_pb(subscription.created_at)),
        park_time: subscription.parked_at.map(timestamp_pb),
    }
}

fn delivery_pb(delivery: DeliveryAttempt) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        id: delivery.id.to_string(),
        subscription_id: delivery.subscription_id.to_string(),
        event_id: delivery.event_id.to_string(),
        revision: delivery.revision,
        attempt: delivery.attempt,
        outcome: match delivery.outcome {
            DeliveryOutcome::Delivered => pb::DeliveryOutcome::Delivered,
            DeliveryOutcome::Failed => pb::DeliveryOutcome::Failed,
            DeliveryOutcome::Refused => pb::DeliveryOutcome::Refused,
        }
        .into(),
        status_code: delivery.status_code.map_or(0, u32::from),
        error: delivery.error,
        latency_ms: delivery.latency_ms,
        attempt_time: Some(timestamp_pb(delivery.attempted_at)),
    }
}
