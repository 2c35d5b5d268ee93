//! A typed client for `consent.v1.ConsentService`, over the generated stubs.
//!
//! What it adds to the stubs is what every caller would otherwise write:
//!
//! - **Credentials** ([`Credentials`]): an API key or a JWT (a fixed token,
//!   or a file re-read as it is rotated, such as a projected service-account
//!   token), sent as `authorization: Bearer …`.
//! - **Retries with backoff** ([`RetryPolicy`]) for the calls a retry cannot
//!   duplicate: reads, and writes that carry an idempotency key. A write
//!   without a key is given one ([`Client::record`]), so that a retry after a
//!   lost answer returns the first write's result instead of writing twice.
//! - **Read-your-writes** ([`Client::last_revision`]): the revision of the
//!   client's last write is carried as `min_revision` into its next checks,
//!   so a check answers from a view that holds the write, on any replica.
//! - **A change feed that resumes by itself** ([`Client::subscribe`]): after
//!   a disconnect, a restart of the server or a slow-consumer cut, it
//!   reconnects with the last resume token, so events arrive without a gap
//!   or a duplicate (the model of linkerd2-proxy's `tonic-watch`).

mod connect;
mod credentials;
mod feed;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_proto::v1::{
    BatchCheckConsentRequest, BatchCheckConsentResponse, CheckConsentRequest, CheckConsentResponse,
    EraseSubjectRequest, EraseSubjectResponse, GetConsentModeStateRequest, GetConsentModeStateResponse,
    GetConsentRequest, GetConsentResponse, QueryConsentsRequest, QueryConsentsResponse, RecordConsentRequest,
    RecordConsentResponse, SubscribeRequest, UpdateConsentRequest, UpdateConsentResponse,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use connect::{ConnectError, ConnectOptions, TlsFiles};
pub use consent_proto::v1 as proto;
pub use credentials::{Bearer, Credentials};
pub use feed::{Feed, FeedItem};
pub use retry::RetryPolicy;

/// The generated stub, with the credentials on every call.
type Stub = ConsentServiceClient<InterceptedService<Channel, Bearer>>;

/// A client of one consentd (or one load-balanced address). Cheap to clone:
/// clones share the connection and the read-your-writes revision.
#[derive(Debug, Clone)]
pub struct Client {
    stub: Stub,
    retry: RetryPolicy,
    /// The highest revision a write through this client returned.
    written: Arc<AtomicI64>,
    /// Each unary call's deadline.
    timeout: Option<std::time::Duration>,
}

impl Client {
    /// Connects (lazily: the first call opens the connection, and a lost
    /// connection is reopened by the next call).
    pub fn connect(options: &ConnectOptions) -> Result<Self, ConnectError> {
        let channel = connect::channel(options)?;
        let bearer = Bearer::new(options.credentials.clone())?;
        let stub = ConsentServiceClient::with_interceptor(channel, bearer)
            .max_decoding_message_size(options.max_message_bytes)
            .max_encoding_message_size(options.max_message_bytes);
        Ok(Self { stub, retry: options.retry.clone(), written: Arc::default(), timeout: options.timeout })
    }

    /// The highest revision a write through this client (or a clone)
    /// returned: the `min_revision` its checks carry.
    pub fn last_revision(&self) -> i64 {
        self.written.load(Ordering::Acquire)
    }

    /// A unary call of the stub, with its deadline, retried as the client's
    /// policy says (every call made through here can be repeated safely).
    async fn call<Req, Resp, Call, Fut>(&self, message: Req, call: Call) -> Result<Resp, tonic::Status>
    where
        Req: Clone,
        Call: Fn(Stub, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        self.call_with(&self.retry, message, call).await
    }

    /// A unary call of the stub, with its deadline, retried as `retry` says.
    async fn call_with<Req, Resp, Call, Fut>(
        &self,
        retry: &RetryPolicy,
        message: Req,
        call: Call,
    ) -> Result<Resp, tonic::Status>
    where
        Req: Clone,
        Call: Fn(Stub, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        retry
            .run(|| {
                let mut request = tonic::Request::new(message.clone());
                if let Some(timeout) = self.timeout {
                    request.set_timeout(timeout);
                }
                call(self.stub.clone(), request)
            })
            .await
    }

    fn wrote(&self, revision: i64) {
        self.written.fetch_max(revision, Ordering::AcqRel);
    }

    /// The read-your-writes token for a request that asked for `asked`.
    fn min_revision(&self, asked: i64) -> i64 {
        asked.max(self.last_revision())
    }

    /// `RecordConsent`. A request without an idempotency key is given a
    /// fresh one, so that it can be retried safely.
    pub async fn record(
        &self,
        mut request: RecordConsentRequest,
    ) -> Result<RecordConsentResponse, tonic::Status> {
        if request.idempotency_key.is_empty() {
            request.idempotency_key = retry::fresh_idempotency_key();
        }
        let response =
            self.call(request, |mut stub, request| async move { stub.record_consent(request).await }).await?;
        self.wrote(response.revision);
        Ok(response)
    }

    /// `UpdateConsent`; as [`Client::record`], given an idempotency key if it
    /// has none.
    pub async fn update(
        &self,
        mut request: UpdateConsentRequest,
    ) -> Result<UpdateConsentResponse, tonic::Status> {
        if request.idempotency_key.is_empty() {
            request.idempotency_key = retry::fresh_idempotency_key();
        }
        let response =
            self.call(request, |mut stub, request| async move { stub.update_consent(request).await }).await?;
        self.wrote(response.revision);
        Ok(response)
    }

    /// `CheckConsent`, at least at the client's last write.
    pub async fn check(
        &self,
        mut request: CheckConsentRequest,
    ) -> Result<CheckConsentResponse, tonic::Status> {
        request.min_revision = self.min_revision(request.min_revision);
        self.call(request, |mut stub, request| async move { stub.check_consent(request).await }).await
    }

    /// `BatchCheckConsent`, at least at the client's last write.
    pub async fn batch_check(
        &self,
        mut request: BatchCheckConsentRequest,
    ) -> Result<BatchCheckConsentResponse, tonic::Status> {
        request.min_revision = self.min_revision(request.min_revision);
        self.call(request, |mut stub, request| async move { stub.batch_check_consent(request).await }).await
    }

    /// `GetConsentModeState`, at least at the client's last write.
    pub async fn consent_mode_state(
        &self,
        mut request: GetConsentModeStateRequest,
    ) -> Result<GetConsentModeStateResponse, tonic::Status> {
        request.min_revision = self.min_revision(request.min_revision);
        self.call(request, |mut stub, request| async move { stub.get_consent_mode_state(request).await })
            .await
    }

    /// `GetConsent`.
    pub async fn get(&self, request: GetConsentRequest) -> Result<GetConsentResponse, tonic::Status> {
        self.call(request, |mut stub, request| async move { stub.get_consent(request).await }).await
    }

    /// One page of `QueryConsents`; follow `next_page_token` for the rest.
    pub async fn query(&self, request: QueryConsentsRequest) -> Result<QueryConsentsResponse, tonic::Status> {
        self.call(request, |mut stub, request| async move { stub.query_consents(request).await }).await
    }

    /// `EraseSubject` (scope `admin`). Not retried: a retry of an erasure
    /// whose answer was lost would answer `NOT_FOUND` for an erasure that
    /// went through, so the caller decides.
    pub async fn erase(&self, request: EraseSubjectRequest) -> Result<EraseSubjectResponse, tonic::Status> {
        let once = RetryPolicy::none();
        let response = self
            .call_with(&once, request, |mut stub, request| async move { stub.erase_subject(request).await })
            .await?;
        self.wrote(response.revision);
        Ok(response)
    }

    /// Follows `Subscribe`, resuming by itself (see [`Feed`]). `request`
    /// says where the feed starts the first time; afterwards it resumes
    /// after the last event or heartbeat it delivered.
    pub fn subscribe(&self, request: SubscribeRequest) -> Feed {
        Feed::start(self.stub.clone(), self.retry.clone(), request)
    }

    /// The tenant's head revision now: every write at or below it has
    /// committed. Read with a check of a subject nobody has.
    pub async fn head_revision(&self) -> Result<i64, tonic::Status> {
        Ok(self.check(head_check()).await?.revision)
    }
}

/// A check of the nil subject, which nobody has: its answer's revision is
/// the tenant's head.
pub(crate) fn head_check() -> CheckConsentRequest {
    CheckConsentRequest {
        subject: Some(proto::SubjectRef {
            subject: Some(proto::subject_ref::Subject::SubjectId(uuid::Uuid::nil().to_string())),
        }),
        purpose: String::new(),
        target: String::new(),
        at: None,
        min_revision: 0,
    }
}
