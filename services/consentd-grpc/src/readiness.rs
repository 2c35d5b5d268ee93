//! Readiness as gRPC health reports it: the server's liveness (`""`) and
//! the consent service's readiness, checked at an interval, and both
//! withdrawn at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consent_core::ConsentService;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

/// The name health checks use for the consent API.
pub const CONSENT_SERVICE_NAME: &str = "consent.v1.ConsentService";

/// gRPC health: the statuses, and the `grpc.health.v1.Health` service
/// that serves them.
#[derive(Debug, Clone)]
pub struct Health {
    reporter: HealthReporter,
}

impl Default for Health {
    fn default() -> Self {
        Self { reporter: HealthReporter::new() }
    }
}

impl Health {
    /// The service that answers health checks and watches.
    pub(crate) fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }

    /// Turns the server and the consent service NOT_SERVING (shutdown
    /// began: probes and load balancers stop sending).
    pub async fn withdraw(&self) {
        for name in ["", CONSENT_SERVICE_NAME] {
            self.reporter.set_service_status(name, ServingStatus::NotServing).await;
        }
    }
}

/// Keeps the gRPC health statuses in line with the process and the store
/// (see [`Statuses`]). The first statuses are set before the listeners
/// accept, so a probe never sees an unknown service.
pub async fn watch_readiness<S: consent_core::ConsentStore>(
    service: ConsentService<S>,
    mut health: Health,
    first: Statuses,
    interval: Duration,
    draining: Arc<AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut last = first;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        last = report_readiness(&service, &health, Some(last), &draining).await;
    }
    // NOT_SERVING, then no status at all: forgetting a service ends its
    // Watch streams (after they saw NOT_SERVING), which the graceful stop
    // would otherwise wait for until the grace period ran out.
    for name in ["", CONSENT_SERVICE_NAME] {
        health.reporter.set_service_status(name, ServingStatus::NotServing).await;
        health.reporter.clear_service_status(name).await;
    }
}

/// The statuses health reports: `""` is the server's liveness (its vital
/// tasks run and it is not shutting down; a database outage does not touch
/// it, so a liveness probe never restarts a pod for one), and the consent
/// service's is readiness (alive, and the store answers and is migrated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statuses {
    server: ServingStatus,
    consent: ServingStatus,
}

/// Checks the process and the store and publishes what changed.
pub async fn report_readiness<S: consent_core::ConsentStore>(
    service: &ConsentService<S>,
    health: &Health,
    last: Option<Statuses>,
    draining: &AtomicBool,
) -> Statuses {
    let serving = |up: bool| if up { ServingStatus::Serving } else { ServingStatus::NotServing };
    let draining = draining.load(Ordering::Acquire);
    let alive = service.alive();
    let ready = match &alive {
        Ok(()) if !draining => match service.ready().await {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, "store not ready");
                false
            }
        },
        Ok(()) | Err(_) => false,
    };
    let statuses = Statuses { server: serving(alive.is_ok() && !draining), consent: serving(ready) };
    if last.map(|last| last.server) != Some(statuses.server) {
        health.reporter.set_service_status("", statuses.server).await;
    }
    if last.map(|last| last.consent) != Some(statuses.consent) {
        health.reporter.set_service_status(CONSENT_SERVICE_NAME, statuses.consent).await;
    }
    statuses
}
