//! The pipeline's admission steps: each looks at a request before its
//! handler and either lets it pass (holding what it admitted, a slot or a
//! permit, until the response is ready) or refuses it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service, ServiceExt as _};

use super::Gate;
use super::refusal::{Arrival, Credential, Refusal, drained};
use consentd_auth::Principal;

/// One admission step.
pub trait Step: Clone + Send + Sync + 'static {
    /// What a passing request holds until its response is ready.
    type Pass: Send + 'static;

    /// Admits the request whose extensions are `extensions` (where the
    /// transport's [`Arrival`] is), or refuses it.
    fn admit<'a>(
        &'a self,
        extensions: &'a mut http::Extensions,
    ) -> impl Future<Output = Result<Self::Pass, Refusal>> + Send + 'a;
}

/// A [`Step`] as a tower layer.
#[derive(Debug, Clone)]
pub struct StepLayer<St> {
    step: St,
}

impl<St> StepLayer<St> {
    pub(super) fn new(step: St) -> Self {
        Self { step }
    }
}

impl<St: Clone, S> Layer<S> for StepLayer<St> {
    type Service = StepService<St, S>;

    fn layer(&self, inner: S) -> Self::Service {
        StepService { step: self.step.clone(), inner }
    }
}

/// See [`StepLayer`].
#[derive(Debug, Clone)]
pub struct StepService<St, S> {
    step: St,
    inner: S,
}

impl<St, S, B> Service<http::Request<B>> for StepService<St, S>
where
    St: Step,
    S: Service<http::Request<B>, Error = Refusal> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    B: http_body::Body<Data = Bytes> + Unpin + Send + 'static,
{
    type Response = S::Response;
    type Error = Refusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner service is made ready once this step admitted the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let step = self.step.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            match step.admit(request.extensions_mut()).await {
                Ok(pass) => {
                    let response = inner.oneshot(request).await;
                    drop(pass);
                    response
                }
                Err(refusal) => Err(drained(request, refusal).await),
            }
        })
    }
}

fn arrival(extensions: &http::Extensions) -> Arrival {
    extensions.get::<Arrival>().cloned().unwrap_or_default()
}

/// Connection slots and draining: a call beyond its connection's slots is
/// refused at once rather than queued, and so is every new call once
/// shutdown began (clients retry on another replica; calls in flight
/// finish).
#[derive(Debug, Clone)]
pub struct Admit {
    gate: Gate,
}

impl Admit {
    pub(super) fn new(gate: &Gate) -> Self {
        Self { gate: gate.clone() }
    }
}

impl Step for Admit {
    type Pass = Option<OwnedSemaphorePermit>;

    async fn admit(&self, extensions: &mut http::Extensions) -> Result<Self::Pass, Refusal> {
        let slot = match extensions.get::<Arrival>().and_then(|a| a.connection_slots.as_ref()) {
            Some(slots) => Some(Arc::clone(slots).try_acquire_owned().map_err(|_| Refusal::ConnectionFull)?),
            None => None,
        };
        if self.gate.draining() {
            return Err(Refusal::Draining);
        }
        Ok(slot)
    }
}

/// The credential → a [`Principal`] in the request's extensions (none for a
/// keyless route, whose handler establishes the tenant from the account).
#[derive(Debug, Clone)]
pub struct Authenticate {
    gate: Gate,
}

impl Authenticate {
    pub(super) fn new(gate: &Gate) -> Self {
        Self { gate: gate.clone() }
    }
}

impl Step for Authenticate {
    type Pass = ();

    async fn admit(&self, extensions: &mut http::Extensions) -> Result<(), Refusal> {
        let arrival = arrival(extensions);
        let principal = match (self.gate.authenticator(), arrival.credential) {
            (_, Credential::Keyless { .. }) => return Ok(()),
            (None, Credential::Key(_)) => Principal::anonymous(),
            (Some(_), Credential::Key(None)) => {
                return Err(Refusal::Auth(consentd_auth::AuthError::Unauthenticated));
            }
            (Some(authenticator), Credential::Key(Some(key))) => {
                authenticator.authenticate_key(&key, &arrival.client).await?
            }
        };
        extensions.insert(principal);
        Ok(())
    }
}

/// The caller's rate budget: the key's, or for a keyless route the client
/// address's (with authentication on; without, there is nobody to charge
/// and the in-flight cap still bounds the load).
#[derive(Debug, Clone)]
pub struct Rate {
    gate: Gate,
}

impl Rate {
    pub(super) fn new(gate: &Gate) -> Self {
        Self { gate: gate.clone() }
    }
}

impl Step for Rate {
    type Pass = ();

    async fn admit(&self, extensions: &mut http::Extensions) -> Result<(), Refusal> {
        let budget = match (extensions.get::<Principal>(), extensions.get::<Arrival>()) {
            (Some(principal), _) => principal.key_id.clone(),
            (None, Some(Arrival { credential: Credential::Keyless { budget }, .. })) => {
                self.gate.authenticator().map(|_| budget.clone())
            }
            (None, _) => None,
        };
        match budget {
            Some(budget) => {
                self.gate.rate().take(&budget).map_err(|retry_after| Refusal::RateLimited { retry_after })
            }
            None => Ok(()),
        }
    }
}

/// The server's cap on calls in flight, refused at once when reached.
#[derive(Debug, Clone)]
pub struct Shed {
    in_flight: Arc<Semaphore>,
}

impl Shed {
    pub(super) fn new(gate: &Gate) -> Self {
        Self { in_flight: gate.in_flight() }
    }
}

impl Step for Shed {
    type Pass = OwnedSemaphorePermit;

    async fn admit(&self, _extensions: &mut http::Extensions) -> Result<Self::Pass, Refusal> {
        Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| Refusal::Overloaded)
    }
}
