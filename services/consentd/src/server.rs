//! Starts the gRPC and HTTP listeners over one store and stops them cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consent_core::ConsentService;
use consent_store::ServingStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{AuthMode, Config};
use consentd_auth::{Authenticator, KeyError, Scope};
use consentd_feed::Feeds;
use consentd_gateway::http::ConnectionLimits;
use consentd_gateway::{Gateway, HttpPort};
use consentd_grpc::readiness::{Health, report_readiness, watch_readiness};
use consentd_grpc::{PortError, PortSettings};
use consentd_pipeline::Gate;
use consentd_pipeline::TlsPem;
use consentd_webhooks::Webhooks;
use consentd_webhooks::deliver::Deliverer;
use consentd_webhooks::relay::Relay;

/// A failure to start or run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] consent_core::ConsentError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The gRPC port failed.
    #[error(transparent)]
    Grpc(#[from] PortError),
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Http(std::io::Error),
    /// The TLS files are unusable.
    #[error("tls: {0}")]
    Tls(String),
    /// Keys could not be set up.
    #[error("api keys: {0}")]
    Keys(#[from] KeyError),
    /// The webhook delivery client could not be built.
    #[error("webhooks: {0}")]
    Webhooks(String),
    /// The verifiable log's key is unusable.
    #[error("evidence: {0}")]
    Evidence(String),
    /// The JWT key set (`[auth.jwt]`) could not be loaded.
    #[error("auth.jwt: {0}")]
    Jwt(#[from] consentd_jwt::JwtError),
    /// The GeoIP2 database (`[gateway.location]`) could not be opened.
    #[error("gateway.location: {0}")]
    Location(#[from] consentd_geo::GeoError),
    /// Parts of the server were still busy when the grace period ended.
    #[error("the shutdown grace period of {0:?} ended with calls in flight")]
    GraceExceeded(Duration),
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound gRPC address (useful when listening on port 0).
    pub grpc_addr: SocketAddr,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    /// The bound plain health address, if one was configured.
    pub health_addr: Option<SocketAddr>,
    stopper: Stopper,
    grace: Duration,
    tasks: JoinSet<Result<(), ServerError>>,
}

/// Starts a graceful shutdown from anywhere (a signal handler, a test).
#[derive(Debug, Clone)]
pub struct Stopper {
    health: Health,
    draining: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
}

impl Stopper {
    /// Shuts down in order: health turns NOT_SERVING first (probes and load
    /// balancers stop sending), then new calls are refused (UNAVAILABLE /
    /// 503, so clients retry elsewhere), then the listeners stop accepting,
    /// Subscribe streams end with a resumable UNAVAILABLE and the webhook
    /// relay hands its leases back; calls in flight finish meanwhile.
    pub async fn stop(&self) {
        if self.draining.swap(true, Ordering::AcqRel) {
            return;
        }
        self.health.withdraw().await;
        let _ = self.shutdown.send(true);
    }
}

impl RunningServer {
    /// Shuts down gracefully and waits for the end (at most the grace
    /// period).
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stopper.stop().await;
        self.wait().await
    }

    /// Waits until the server stops: after [`Stopper::stop`], every part has
    /// the grace period to finish, then what is left is aborted
    /// ([`ServerError::GraceExceeded`]); before it, only a failure ends the
    /// wait.
    pub async fn wait(mut self) -> Result<(), ServerError> {
        let stopping = signalled(self.stopper.shutdown.subscribe());
        tokio::pin!(stopping);
        let mut outcome = Ok(());
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    None => return outcome,
                    Some(result) => {
                        let result = result.map_err(|join| ServerError::Http(std::io::Error::other(join))).and_then(|r| r);
                        if let Err(err) = result {
                            // One part failed: stop the rest, and report the first failure.
                            self.stopper.stop().await;
                            if outcome.is_ok() {
                                outcome = Err(err);
                            }
                        }
                    }
                },
                () = &mut stopping => break,
            }
        }
        let deadline = tokio::time::Instant::now() + self.grace;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(None) => return outcome,
                Ok(Some(result)) => {
                    let result =
                        result.map_err(|join| ServerError::Http(std::io::Error::other(join))).and_then(|r| r);
                    if let (Err(err), true) = (result, outcome.is_ok()) {
                        outcome = Err(err);
                    }
                }
                Err(_) => {
                    tracing::warn!(grace = ?self.grace, "calls still in flight at the end of the grace period; aborting them");
                    self.tasks.abort_all();
                    return Err(ServerError::GraceExceeded(self.grace));
                }
            }
        }
    }

    /// A handle that starts the graceful shutdown from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }
}

/// Opens the store, applies migrations unless told not to, binds both
/// listeners and starts serving.
pub async fn start(config: &Config) -> Result<RunningServer, ServerError> {
    // The whole effective configuration, as `consentd config print` shows
    // it: every setting, secrets redacted.
    tracing::info!(config = %config.to_toml(), "starting consentd");
    let store = open_store(config).await?;
    start_on(config, store).await
}

/// Binds both listeners and starts serving over `store`.
async fn start_on<S: ServingStore>(config: &Config, store: S) -> Result<RunningServer, ServerError> {
    let authenticator = authenticator(config, &store).await?;
    let webhooks = Webhooks::new(store.clone(), &config.webhooks, config.key_secret.clone());
    let evidence = evidence_log(config, &store)?;
    let service = ConsentService::new(store).with_signals(Arc::new(config.signals.clone()));

    let grpc_listener = bind(config.grpc_listen).await?;
    let http_listener = bind(config.http_listen).await?;
    let grpc_addr = local_addr(&grpc_listener, config.grpc_listen)?;
    let http_addr = local_addr(&http_listener, config.http_listen)?;
    let (shutdown, stopped) = watch::channel(false);

    let feeds = Feeds::new(service.clone(), config.feed.clone(), authenticator.clone(), stopped.clone());
    let health = Health::default();

    // One budget per key and one capacity per server, for gRPC and vendor
    // routes alike; the gate also carries the draining flag.
    let gate = Gate::new(&config.limits.calls, authenticator);
    let draining = Arc::clone(gate.draining_flag());
    let first = report_readiness(&service, &health, None, &draining).await;
    let mut tasks = JoinSet::new();
    let watching = watch_readiness(
        service.clone(),
        health.clone(),
        first,
        config.health_interval,
        Arc::clone(&draining),
        stopped.clone(),
    );
    spawn_until_shutdown(&mut tasks, watching);
    let limits = &config.limits;
    let tls = config.tls.as_ref().map(TlsPem::read).transpose().map_err(ServerError::Tls)?;
    let port = grpc_port(config, tls.as_ref());
    if config.evidence.log {
        let checkpoints =
            evidence.clone().checkpoint_every(Duration::from_millis(config.evidence.checkpoint_interval_ms));
        let until_stopped = signalled(stopped.clone());
        spawn_until_shutdown(&mut tasks, async move {
            tokio::select! {
                () = checkpoints => {}
                () = until_stopped => {}
            }
        });
    }
    let log_keys: Arc<dyn consent_evidence::LogKeys> = Arc::new(evidence.clone());
    let grpc = consentd_grpc::serve(
        grpc_listener,
        service.clone(),
        feeds.clone(),
        evidence,
        gate.clone(),
        &health,
        &port,
        signalled(stopped.clone()),
    )?;
    tasks.spawn(async move { grpc.await.map_err(ServerError::from) });
    spawn_relay(&mut tasks, config, &service, &feeds, &webhooks, stopped.clone())?;
    let http_port = http_port(config, tls);
    let mut health_addr = None;
    if let Some(addr) = config.health_listen {
        let listener = bind(addr).await?;
        health_addr = Some(local_addr(&listener, addr)?);
        let serving = consentd_gateway::serve_health(
            listener,
            service.clone(),
            Arc::clone(&draining),
            &http_port,
            signalled(stopped.clone()),
        );
        spawn_until_shutdown(&mut tasks, serving);
    }
    let vendor_gateway = Gateway {
        service,
        gate,
        trusted_proxies: Arc::new(config.gateway.trusted_proxies.clone()),
        max_response_bytes: limits.max_response_bytes,
        webhooks,
        max_list_records: config.gateway.max_list_records,
        whole_lists: Arc::new(tokio::sync::Semaphore::new(config.gateway.max_whole_lists)),
        cors_origins: Arc::new(config.gateway.cors_origins.clone()),
        mounts: config.gateway.mounts.clone(),
        locator: consentd_geo::Locator::new(&config.gateway.location)?,
        log_keys,
    };
    let serving = consentd_gateway::serve_gateway(
        http_listener,
        vendor_gateway,
        &config.gateway.adapters,
        Arc::clone(&draining),
        &http_port,
        signalled(stopped),
    )
    .map_err(ServerError::Tls)?;
    spawn_until_shutdown(&mut tasks, serving);
    let grace = config.shutdown_grace;

    tracing::info!(%grpc_addr, %http_addr, "consentd is serving");
    let stopper = Stopper { health, draining, shutdown };
    Ok(RunningServer { grpc_addr, http_addr, health_addr, stopper, grace, tasks })
}

/// The verifiable log: its key from `[evidence] key_file`, else the one
/// kept in the database (read when first needed: the database may not be
/// migrated yet); records appended behind their commits.
fn evidence_log<S: ServingStore + 'static>(
    config: &Config,
    store: &S,
) -> Result<consent_evidence::EvidenceLog<S>, ServerError> {
    let settings = &config.evidence;
    let key = settings
        .key_file
        .as_ref()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|err| ServerError::Evidence(format!("key_file {}: {err}", path.display())))?;
            consent_evidence::LogKey::from_private(&text)
                .map_err(|err| ServerError::Evidence(err.to_string()))
        })
        .transpose()?;
    if config.store.master_key.is_none() {
        // Erasure destroys a subject's key, but a key wrapped under a
        // master key kept beside it is only as safe as the database.
        tracing::warn!(
            "no master key is configured (--master-key-file, [evidence] master_key_file): the subjects' \
             data keys are wrapped under one kept in the database (docs/evidence.md#erasure)"
        );
    }
    if settings.log {
        store.spawn_log_builder(Duration::from_millis(settings.append_interval_ms));
    }
    store.spawn_retention(settings.retention.policy(), Duration::from_millis(settings.retention.interval_ms));
    Ok(consent_evidence::EvidenceLog::new(
        store.clone(),
        key,
        &settings.name,
        settings.previous_public_keys.clone(),
    ))
}

/// The store, migrated unless told not to, its pool and standbys reported
/// as metrics.
async fn open_store(config: &Config) -> Result<impl ServingStore + use<>, ServerError> {
    let store = consent_store::open(&config.store).await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    register_pool_usage(store.clone());
    register_standbys(store.clone());
    store.spawn_expiry(config.store.expiry_interval);
    Ok(store)
}

/// Starts the webhook relay as a vital task (its death makes liveness
/// fail); the server waits for its end at shutdown, when it hands its
/// leases back.
fn spawn_relay<S: ServingStore>(
    tasks: &mut JoinSet<Result<(), ServerError>>,
    config: &Config,
    service: &ConsentService<S>,
    feeds: &Feeds<S>,
    webhooks: &Webhooks<S>,
    stopped: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let deliverer = Deliverer::new(
        Arc::clone(webhooks.policy()),
        config.webhooks.connect_timeout,
        config.webhooks.response_timeout,
    )
    .map_err(|err| ServerError::Webhooks(err.to_string()))?;
    let relay = Relay::new(
        service.clone(),
        feeds.clone(),
        deliverer,
        webhooks.keys().clone(),
        consentd_gateway::registry(),
        config.webhooks.clone(),
        stopped,
    );
    let relay = service.store().vitals().spawn("webhook relay", relay.run());
    tasks.spawn(async move {
        let _ = relay.await;
        Ok(())
    });
    Ok(())
}

/// The authenticator the configuration asks for (none with authentication
/// disabled), with the first key made if none exists.
async fn authenticator<S: ServingStore>(
    config: &Config,
    store: &S,
) -> Result<Option<Authenticator>, ServerError> {
    match config.auth {
        AuthMode::Required => {
            let mut authenticator = Authenticator::new(Arc::new(store.clone()), config.key_secret.as_deref())
                .await?
                .with_lookup_budget(config.limits.key_lookups);
            if let Some(jwt) = &config.jwt {
                authenticator = authenticator.with_jwt(consentd_jwt::JwtVerifier::start(jwt.clone()).await?);
            }
            bootstrap_key(store, &authenticator).await?;
            Ok(Some(authenticator))
        }
        AuthMode::Disabled => {
            tracing::warn!("authentication is disabled: every call acts for tenant default");
            Ok(None)
        }
    }
}

/// The gRPC port's settings from `[limits]` (and its TLS).
fn grpc_port(config: &Config, tls: Option<&TlsPem>) -> PortSettings {
    let limits = &config.limits;
    PortSettings {
        max_message_bytes: limits.max_message_bytes,
        max_response_bytes: limits.max_response_bytes,
        max_concurrent_streams: limits.max_concurrent_streams,
        concurrency_per_connection: limits.concurrency_per_connection,
        keepalive_interval: limits.keepalive_interval,
        keepalive_timeout: limits.keepalive_timeout,
        max_pending_resets: limits.max_pending_resets,
        max_error_resets: limits.max_error_resets,
        tls: tls.cloned(),
    }
}

/// The HTTP ports' settings from `[limits]` and `[gateway]` (and TLS).
fn http_port(config: &Config, tls: Option<TlsPem>) -> HttpPort {
    let limits = &config.limits;
    HttpPort {
        limits: ConnectionLimits {
            header_timeout: limits.http_header_timeout,
            max_error_resets: limits.max_error_resets,
            body_timeout: limits.http_body_timeout,
            max_connections: limits.max_http_connections,
        },
        drain: config.shutdown_grace,
        max_body_bytes: config.gateway.max_body_bytes,
        tls,
    }
}

/// Reports the store's pool usage (`consentd.store.pool.connections` by
/// `state` idle/used, and the pool's `consentd.store.pool.max_connections`,
/// which used connections are measured against) at each metrics collection.
fn register_pool_usage<S: ServingStore>(store: S) {
    let meter = consentd_telemetry::meter();
    let limit = store.clone();
    meter
        .u64_observable_gauge("consentd.store.pool.max_connections")
        .with_unit("{connection}")
        .with_description("The most database connections the pool opens")
        .with_callback(move |observer| observer.observe(u64::from(limit.pool_usage().max), &[]))
        .build();
    meter
        .u64_observable_gauge("consentd.store.pool.connections")
        .with_unit("{connection}")
        .with_description("Database connections open, by state")
        .with_callback(move |observer| {
            let usage = store.pool_usage();
            observer.observe(u64::from(usage.idle), &[opentelemetry::KeyValue::new("state", "idle")]);
            observer.observe(
                u64::from(usage.open.saturating_sub(usage.idle)),
                &[opentelemetry::KeyValue::new("state", "used")],
            );
        })
        .build();
}

/// Reports each read standby (`consentd.store.standby.in_use`, 1 or 0, and
/// `consentd.store.standby.lag`, seconds, while known) by `standby` (its
/// host, port and database) at each metrics collection.
fn register_standbys<S: ServingStore>(store: S) {
    let meter = consentd_telemetry::meter();
    let in_use = store.clone();
    meter
        .u64_observable_gauge("consentd.store.standby.in_use")
        .with_description("Whether a read standby serves reads (1) or is left for the primary (0)")
        .with_callback(move |observer| {
            for standby in in_use.standbys() {
                observer.observe(
                    u64::from(standby.in_use),
                    &[opentelemetry::KeyValue::new("standby", standby.name)],
                );
            }
        })
        .build();
    meter
        .f64_observable_gauge("consentd.store.standby.lag")
        .with_unit("s")
        .with_description("How far behind the primary a read standby was last proven to be")
        .with_callback(move |observer| {
            for standby in store.standbys() {
                if let Some(lag) = standby.lag {
                    observer
                        .observe(lag.as_secs_f64(), &[opentelemetry::KeyValue::new("standby", standby.name)]);
                }
            }
        })
        .build();
}

/// With authentication required and no key ever created, creates one for
/// tenant `default` and prints it once on stderr: the way into a fresh
/// installation. Only its hash is stored. (Revoking every key does not
/// reopen this door on the next restart.)
async fn bootstrap_key<S: ServingStore>(store: &S, authenticator: &Authenticator) -> Result<(), ServerError> {
    if store.has_keys().await? {
        return Ok(());
    }
    let key = authenticator.create(&consent_core::TenantId::default_tenant(), &Scope::DEFAULT).await?;
    tracing::warn!(key_id = %key.id, "no api key existed: created one for tenant default (printed once on stderr)");
    eprintln!("consentd: created API key for tenant default (shown only now): {}", key.key);
    Ok(())
}

/// Runs a task that cannot fail (an HTTP port, the readiness watch) among
/// the server's tasks: it ends only at shutdown.
fn spawn_until_shutdown(
    tasks: &mut JoinSet<Result<(), ServerError>>,
    serving: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tasks.spawn(async move {
        serving.await;
        Ok(())
    });
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, ServerError> {
    listener.local_addr().map_err(|source| ServerError::Bind { addr, source })
}

/// Resolves once shutdown was requested.
async fn signalled(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone: shut down as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}
