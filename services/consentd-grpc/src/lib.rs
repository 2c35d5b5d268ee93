//! The gRPC face of the consent service: each handler converts, calls the
//! service, and converts back.

mod authorize;
pub mod connection;
mod convert;
mod evidence;
mod observe;
mod port;
pub mod readiness;
mod status;
mod subscribe;
mod transport;
mod webhooks;

use consent_core::{ConsentService, ConsentStore};
use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_server::ConsentService as ConsentServiceApi;
use tonic::{Request, Response, Status};

use authorize::authorize;
use consentd_auth::Scope;
use consentd_feed::Feeds;

pub use evidence::GrpcEvidenceService;
pub use observe::TelemetryLayer;
pub use port::{PortError, PortSettings, serve};
use status::to_status;
pub use subscribe::SubscribeStream;
pub use transport::{Admitted, GrpcTransport};
pub use webhooks::GrpcWebhookService;

/// About the most a page of records weighs unless configured
/// (`[limits] max_response_bytes`): clients accept 4 MiB messages by
/// default.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4_000_000;

/// Implements `consent.v1.ConsentService` over a [`ConsentService`].
#[derive(Debug, Clone)]
pub struct GrpcConsentService<S> {
    service: ConsentService<S>,
    feeds: Feeds<S>,
    /// About the most a page of records may weigh (see `[limits]
    /// max_response_bytes`).
    max_response_bytes: usize,
}

impl<S> GrpcConsentService<S> {
    /// Serves `service`, and its change feed through `feeds`, over gRPC.
    pub fn new(service: ConsentService<S>, feeds: Feeds<S>) -> Self {
        Self { service, feeds, max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES }
    }

    /// With pages of records ending before they weigh `max_bytes`.
    #[must_use]
    pub fn with_max_response_bytes(mut self, max_bytes: usize) -> Self {
        self.max_response_bytes = max_bytes;
        self
    }
}

#[tonic::async_trait]
impl<S: ConsentStore + Clone> ConsentServiceApi for GrpcConsentService<S> {
    #[tracing::instrument(skip_all)]
    async fn record_consent(
        &self,
        request: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        let tenant = authorize(&request, Scope::Write)?.tenant;
        let cmd = convert::record_request(request.into_inner()).map_err(to_status)?;
        let outcome = self.service.record(&tenant, cmd).await.map_err(to_status)?;
        Ok(Response::new(convert::record_response(outcome)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_consent(
        &self,
        request: Request<pb::UpdateConsentRequest>,
    ) -> Result<Response<pb::UpdateConsentResponse>, Status> {
        let tenant = authorize(&request, Scope::Write)?.tenant;
        let cmd = convert::update_request(request.into_inner()).map_err(to_status)?;
        let outcome = self.service.update(&tenant, cmd).await.map_err(to_status)?;
        Ok(Response::new(convert::update_response(outcome)))
    }

    #[tracing::instrument(skip_all)]
    async fn erase_subject(
        &self,
        request: Request<pb::EraseSubjectRequest>,
    ) -> Result<Response<pb::EraseSubjectResponse>, Status> {
        let tenant = authorize(&request, Scope::Admin)?.tenant;
        let cmd = convert::erase_request(request.into_inner()).map_err(to_status)?;
        let revision = self.service.erase(&tenant, cmd).await.map_err(to_status)?;
        Ok(Response::new(pb::EraseSubjectResponse { revision }))
    }

    #[tracing::instrument(skip_all)]
    async fn check_consent(
        &self,
        request: Request<pb::CheckConsentRequest>,
    ) -> Result<Response<pb::CheckConsentResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let cmd = convert::check_request(request.into_inner()).map_err(to_status)?;
        let outcome = self.service.check(&tenant, cmd).await.map_err(to_status)?;
        Ok(Response::new(convert::check_response(outcome)))
    }

    #[tracing::instrument(skip_all)]
    async fn batch_check_consent(
        &self,
        request: Request<pb::BatchCheckConsentRequest>,
    ) -> Result<Response<pb::BatchCheckConsentResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let cmd = convert::batch_check_request(request.into_inner()).map_err(to_status)?;
        let outcome = self.service.batch_check(&tenant, cmd).await.map_err(to_status)?;
        Ok(Response::new(convert::batch_check_response(outcome)))
    }

    #[tracing::instrument(skip_all)]
    async fn query_consents(
        &self,
        request: Request<pb::QueryConsentsRequest>,
    ) -> Result<Response<pb::QueryConsentsResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let cmd = convert::query_request(request.into_inner()).map_err(to_status)?;
        let page = self.service.query(&tenant, cmd, self.max_response_bytes).await.map_err(to_status)?;
        Ok(Response::new(convert::query_response(page)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_consent(
        &self,
        request: Request<pb::GetConsentRequest>,
    ) -> Result<Response<pb::GetConsentResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let cmd = convert::get_request(request.into_inner()).map_err(to_status)?;
        let record = self.service.get(&tenant, cmd).await.map_err(to_status)?;
        let decoded = self.service.decoded_signals(&record);
        Ok(Response::new(pb::GetConsentResponse {
            record: Some(convert::record(record)),
            tcf: convert::signal_struct(decoded.tcf),
            gpp: convert::signal_struct(decoded.gpp),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_consent_mode_state(
        &self,
        request: Request<pb::GetConsentModeStateRequest>,
    ) -> Result<Response<pb::GetConsentModeStateResponse>, Status> {
        let tenant = authorize(&request, Scope::Read)?.tenant;
        let (subject, min_revision) =
            convert::consent_mode_request(request.into_inner()).map_err(to_status)?;
        let outcome = self.service.consent_mode(&tenant, subject, min_revision).await.map_err(to_status)?;
        Ok(Response::new(convert::consent_mode_response(outcome)))
    }

    type SubscribeStream = SubscribeStream;

    #[tracing::instrument(skip_all)]
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let principal = authorize(&request, Scope::Subscribe)?;
        let cmd = convert::subscribe_request(request.into_inner()).map_err(to_status)?;
        let feed = self.feeds.open(principal, cmd).await.map_err(to_status)?;
        Ok(Response::new(SubscribeStream::new(feed)))
    }
}
