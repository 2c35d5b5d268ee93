//! The pipeline's admission steps: each looks at a request before its
//! handler and either lets it pass (holding what it admitted, a slot or a
//! permit, until the response is ready) or refuses it. [`crate::Admission`]
//! runs them in their order.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Gate;
use super::refusal::{Arrival, Credential, Refusal};
use consentd_auth::Principal;

/// One admission step.
pub trait Step: Send + Sync + 'static {
    /// What a passing request holds until its response is ready.
    type Pass: Send + 'static;

    /// Admits the request that presented `arrival` and carries
    /// `extensions` (where a step leaves what it established), or refuses
    /// it.
    fn admit<'a>(
        &'a self,
        arrival: &'a Arrival,
        extensions: &'a mut http::Extensions,
    ) -> impl Future<Output = Result<Self::Pass, Refusal>> + Send + 'a;
}

/// Connection slots and draining: a call beyond its connection's slots is
/// refused at once rather than queued, and so is every new call once
/// shutdown began (clients retry on another replica; calls in flight
/// finish).
#[derive(Debug)]
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

    async fn admit(
        &self,
        arrival: &Arrival,
        _extensions: &mut http::Extensions,
    ) -> Result<Self::Pass, Refusal> {
        let slot = match arrival.connection_slots.as_ref() {
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
#[derive(Debug)]
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

    async fn admit(&self, arrival: &Arrival, extensions: &mut http::Extensions) -> Result<(), Refusal> {
        let principal = match (self.gate.authenticator(), &arrival.credential) {
            (_, Credential::Keyless { .. }) => return Ok(()),
            (None, Credential::Key(_)) => Principal::anonymous(),
            (Some(_), Credential::Key(None)) => {
                return Err(Refusal::Auth(consentd_auth::AuthError::Unauthenticated));
            }
            (Some(authenticator), Credential::Key(Some(key))) => {
                authenticator.authenticate_key(key, &arrival.client).await?
            }
        };
        extensions.insert(principal);
        Ok(())
    }
}

/// The caller's rate budget: the key's, or for a keyless route the client
/// address's (with authentication on; without, there is nobody to charge
/// and the in-flight cap still bounds the load).
#[derive(Debug)]
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

    async fn admit(&self, arrival: &Arrival, extensions: &mut http::Extensions) -> Result<(), Refusal> {
        // A publishable key is every visitor's of a site: each address
        // spends its own share of it, so one copier cannot spend it for all.
        let per_address;
        let budget = match (extensions.get::<Principal>(), &arrival.credential) {
            (Some(principal), _) if principal.publishable => {
                per_address = principal.key_id.as_deref().map(|id| format!("{id}:ip:{}", arrival.client));
                per_address.as_deref()
            }
            (Some(principal), _) => principal.key_id.as_deref(),
            (None, Credential::Keyless { budget }) => self.gate.authenticator().map(|_| budget.as_str()),
            (None, Credential::Key(_)) => None,
        };
        match budget {
            Some(budget) => {
                self.gate.rate().take(budget).map_err(|retry_after| Refusal::RateLimited { retry_after })
            }
            None => Ok(()),
        }
    }
}

/// The server's cap on calls in flight, refused at once when reached.
#[derive(Debug)]
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

    async fn admit(
        &self,
        _arrival: &Arrival,
        _extensions: &mut http::Extensions,
    ) -> Result<Self::Pass, Refusal> {
        Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| Refusal::Overloaded)
    }
}
