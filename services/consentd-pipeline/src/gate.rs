//! What one server lets all its callers spend, shared by every transport so
//! that a key has one budget and the server one capacity.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use consentd_auth::{Authenticator, KeyRate};

/// The limits of `[limits]` the pipeline enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Calls per second per key (the budget's refill rate).
    pub rate_per_key: u32,
    /// The burst a key may make at once.
    pub burst_per_key: u32,
    /// Calls in flight on this server before new ones are shed.
    pub max_in_flight: usize,
    /// The longest a unary call may run, whatever the client asks.
    pub max_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rate_per_key: 500,
            burst_per_key: 1000,
            max_in_flight: 2048,
            max_deadline: Duration::from_secs(30),
        }
    }
}

/// The shared state of every [`super::Admission`] of one server (cheap to
/// clone: every layer of every call holds one).
#[derive(Debug, Clone)]
pub struct Gate {
    state: Arc<GateState>,
}

#[derive(Debug)]
struct GateState {
    /// `None`: authentication disabled, every keyed call acts as
    /// [`consentd_auth::Principal::anonymous`].
    authenticator: Option<Authenticator>,
    rate: Arc<KeyRate>,
    in_flight: Arc<Semaphore>,
    max_deadline: Duration,
    draining: Arc<AtomicBool>,
}

impl Gate {
    /// A gate with `limits`, checking credentials with `authenticator`.
    pub fn new(limits: &Limits, authenticator: Option<Authenticator>) -> Self {
        let state = GateState {
            authenticator,
            rate: Arc::new(KeyRate::new(limits.rate_per_key, limits.burst_per_key)),
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
            max_deadline: limits.max_deadline,
            draining: Arc::default(),
        };
        Self { state: Arc::new(state) }
    }

    /// Whether shutdown began and new calls are refused.
    pub fn draining(&self) -> bool {
        self.state.draining.load(Ordering::Acquire)
    }

    /// The flag shutdown sets (the readiness reports read it too).
    pub fn draining_flag(&self) -> &Arc<AtomicBool> {
        &self.state.draining
    }

    /// The authenticator, unless authentication is disabled.
    pub fn authenticator(&self) -> Option<&Authenticator> {
        self.state.authenticator.as_ref()
    }

    /// The per-key budgets (vendor routes also charge the accounts they
    /// decode).
    pub fn rate(&self) -> &KeyRate {
        &self.state.rate
    }

    pub(super) fn in_flight(&self) -> Arc<Semaphore> {
        Arc::clone(&self.state.in_flight)
    }

    /// Calls that may still start before the server sheds.
    pub fn in_flight_available(&self) -> usize {
        self.state.in_flight.available_permits()
    }

    pub(super) fn max_deadline(&self) -> Duration {
        self.state.max_deadline
    }
}
