//! One vendor route as a tower service: it reads what the call needs
//! straight from the request (axum's extractors would clone the headers)
//! and hands it to [`crate::call`]. Each route is this service behind its
//! telemetry and the request pipeline, boxed once by the router, so a call
//! pays for one clone of a few `Arc`s rather than a boxed service per layer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest as _, FromRequestParts as _, RawPathParams};
use axum::response::Response;
use consent_adapter::{Failure, VendorAdapter};
use consentd_auth::Principal;
use tower::Service;

use crate::{Gateway, GatewayStore, call, http_response};

/// The handler of one route of one adapter.
pub(crate) struct RouteHandler<S> {
    pub(crate) gateway: Arc<Gateway<S>>,
    pub(crate) adapter: Arc<dyn VendorAdapter>,
    /// The adapter's index of the route.
    pub(crate) route: usize,
}

impl<S> Clone for RouteHandler<S> {
    fn clone(&self) -> Self {
        Self { gateway: Arc::clone(&self.gateway), adapter: Arc::clone(&self.adapter), route: self.route }
    }
}

impl<S: GatewayStore> Service<http::Request<Body>> for RouteHandler<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(request).await) })
    }
}

impl<S: GatewayStore> RouteHandler<S> {
    async fn serve(&self, request: http::Request<Body>) -> Response {
        let (mut parts, body) = request.into_parts();
        let peer = crate::transport::peer(&parts.extensions);
        let principal = parts.extensions.get::<Principal>().cloned();
        let query = parts.uri.query().map(str::to_owned);
        // Extraction failures are answered in the vendor's shape too.
        let Ok(params) = RawPathParams::from_request_parts(&mut parts, &()).await else {
            return self.failure(&Failure::bad("path", "is not valid UTF-8"));
        };
        let headers = std::mem::take(&mut parts.headers);
        // axum's own reading, so the port's body limit holds.
        let body = match Bytes::from_request(http::Request::from_parts(parts, body), &()).await {
            Ok(body) => body,
            Err(rejection) => {
                return self.failure(&Failure::bad("body", format!("cannot be read: {rejection}")));
            }
        };
        let request = call::Parts {
            route: self.route,
            peer,
            principal,
            params: &params,
            query,
            headers: &headers,
            body,
        };
        call::handle(&self.gateway, &self.adapter, request).await
    }

    fn failure(&self, failure: &Failure) -> Response {
        http_response(self.adapter.encode_failure(failure))
    }
}
