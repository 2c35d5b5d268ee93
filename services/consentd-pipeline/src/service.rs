//! The pipeline as one tower service: the transport reads the request,
//! the steps run in their order, then the handler under the deadline; a
//! refusal at any point is rendered by the transport. One boxed future and
//! one clone of the handler per call, the stages shared: the layers of a
//! stack each cloning the rest of the stack on every call cost a third of a
//! cached check's throughput (the benchmark's check-hit, 2026-12-06).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use tower::{Service, ServiceExt as _};

use crate::refusal::{Arrival, Refusal, Transport, drained};
use crate::request_id::REQUEST_ID;
use crate::steps::{Admit, Authenticate, Rate, Shed, Step};

/// The stages of one transport's pipeline, in their order.
#[derive(Debug)]
pub(crate) struct Stages<T> {
    pub(crate) transport: T,
    pub(crate) admit: Admit,
    pub(crate) authenticate: Authenticate,
    pub(crate) rate: Rate,
    pub(crate) shed: Shed,
    /// The longest a call may run, whatever its client asks.
    pub(crate) max_deadline: Duration,
}

/// A transport's handlers behind the pipeline (see [`crate::Admission`]).
#[derive(Debug)]
pub struct AdmissionService<T, S> {
    stages: Arc<Stages<T>>,
    inner: S,
}

impl<T, S> AdmissionService<T, S> {
    pub(crate) fn new(stages: Arc<Stages<T>>, inner: S) -> Self {
        Self { stages, inner }
    }
}

impl<T, S: Clone> Clone for AdmissionService<T, S> {
    fn clone(&self) -> Self {
        Self { stages: Arc::clone(&self.stages), inner: self.inner.clone() }
    }
}

impl<T, S, B> Service<http::Request<B>> for AdmissionService<T, S>
where
    T: Transport,
    S: Service<http::Request<B>, Response = http::Response<T::ResponseBody>> + Clone + Send + 'static,
    S::Error: Into<Refusal>,
    S::Future: Send,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    T::ResponseBody: Send,
{
    type Response = http::Response<T::ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The handler is made ready once the steps admitted the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let stages = Arc::clone(&self.stages);
        let inner = self.inner.clone();
        Box::pin(async move {
            let arrival = stages.transport.arrival(&request);
            // Kept for the lines below: a vendor call's span, which would
            // carry it, is at debug level without a trace exporter.
            let id = request.headers().get(REQUEST_ID).cloned();
            let request_id = || id.as_ref().and_then(|id| id.to_str().ok()).unwrap_or_default().to_owned();
            match stages.serve(&arrival, request, inner).await {
                Ok(response) => Ok(response),
                Err(refusal) => {
                    if refusal.is_servers_fault() {
                        tracing::warn!(%refusal, request_id = request_id(), "call refused");
                    } else {
                        tracing::debug!(%refusal, request_id = request_id(), "call refused");
                    }
                    Ok(stages.transport.render(&refusal))
                }
            }
        })
    }
}

impl<T: Transport> Stages<T> {
    /// The steps, then the handler under the deadline; what each step
    /// admitted is held until the response is ready.
    async fn serve<S, B>(
        &self,
        arrival: &Arrival,
        request: http::Request<B>,
        inner: S,
    ) -> Result<http::Response<T::ResponseBody>, Refusal>
    where
        S: Service<http::Request<B>, Response = http::Response<T::ResponseBody>>,
        S::Error: Into<Refusal>,
        B: Body<Data = Bytes> + Unpin,
    {
        let (_slot, request) = pass(&self.admit, arrival, request).await?;
        let ((), request) = pass(&self.authenticate, arrival, request).await?;
        let ((), request) = pass(&self.rate, arrival, request).await?;
        let (_permit, request) = pass(&self.shed, arrival, request).await?;
        let deadline = arrival.deadline.map_or(self.max_deadline, |asked| asked.min(self.max_deadline));
        match tokio::time::timeout(deadline, inner.oneshot(request)).await {
            Ok(response) => response.map_err(Into::into),
            Err(_) => {
                tracing::warn!(?deadline, "call exceeded its deadline");
                Err(Refusal::DeadlineExceeded)
            }
        }
    }
}

/// `request` through `step`: what the step admitted and the request, or
/// the refusal once the request has been read (see [`drained`]).
async fn pass<St: Step, B>(
    step: &St,
    arrival: &Arrival,
    mut request: http::Request<B>,
) -> Result<(St::Pass, http::Request<B>), Refusal>
where
    B: Body<Data = Bytes> + Unpin,
{
    match step.admit(arrival, request.extensions_mut()).await {
        Ok(pass) => Ok((pass, request)),
        Err(refusal) => Err(drained(request, refusal).await),
    }
}
