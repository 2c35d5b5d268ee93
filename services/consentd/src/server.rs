//! Starts the gRPC and HTTP listeners over one store and stops them cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use consent_core::ConsentService;
use consent_proto::v1::consent_service_server::ConsentServiceServer;
use consent_proto::v1::webhook_service_server::WebhookServiceServer;
use consent_store::SqlStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthLayer, Authenticator, Budget, KeyError, Scope};
use crate::config::{AuthMode, Config, redact_url};
use crate::feed::Feeds;
use crate::gateway::{self, Gateway};
use crate::grpc::{GrpcConsentService, GrpcWebhookService};
use crate::http;
use crate::tls::{TlsListener, TlsMaterial};
use crate::webhooks::Webhooks;
use crate::webhooks::deliver::Deliverer;
use crate::webhooks::relay::Relay;

/// The name health checks use for the consent API.
const CONSENT_SERVICE_NAME: &str = "consent.v1.ConsentService";

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
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
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
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<(), ServerError>>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight calls finish, and waits for the end.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the server stops (after [`RunningServer::shutdown`] or a
    /// failure).
    pub async fn wait(self) -> Result<(), ServerError> {
        for task in self.tasks {
            match task.await {
                Ok(result) => result?,
                Err(join) => return Err(ServerError::Http(std::io::Error::other(join))),
            }
        }
        Ok(())
    }

    /// A handle that triggers shutdown from elsewhere (a signal handler).
    pub fn shutdown_trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the store, applies migrations unless told not to, binds both
/// listeners and starts serving.
pub async fn start(config: &Config) -> Result<RunningServer, ServerError> {
    tracing::info!(
        database_url = %redact_url(&config.store.database_url),
        grpc_listen = %config.grpc_listen,
        http_listen = %config.http_listen,
        auth = ?config.auth,
        migrate_on_start = config.migrate_on_start,
        max_connections = config.store.max_connections,
        max_batch = config.store.max_batch,
        subscribe = ?config.feed,
        limits = ?config.limits,
        key_secret = if config.key_secret.is_some() { "configured" } else { "kept in the database" },
        tls = ?config.tls,
        webhooks = ?config.webhooks,
        health_listen = ?config.health_listen,
        "starting consentd"
    );
    let store = SqlStore::connect(&config.store).await?;
    if config.migrate_on_start {
        store.migrate().await?;
    }
    let authenticator = match config.auth {
        AuthMode::Required => {
            let authenticator = Authenticator::new(store.clone(), config.key_secret.as_deref()).await?;
            bootstrap_key(&store, &authenticator).await?;
            Some(authenticator)
        }
        AuthMode::Disabled => {
            tracing::warn!("authentication is disabled: every call acts for tenant default");
            None
        }
    };
    let store_handle = store.clone();
    let gateway_authenticator = authenticator.clone();
    let webhooks = Webhooks::new(store.clone(), &config.webhooks, config.key_secret.clone());
    let deliverer = Deliverer::new(
        std::sync::Arc::clone(webhooks.policy()),
        config.webhooks.connect_timeout,
        config.webhooks.response_timeout,
    )
    .map_err(|err| ServerError::Webhooks(err.to_string()))?;
    let service = ConsentService::new(store);

    let grpc_listener = bind(config.grpc_listen).await?;
    let http_listener = bind(config.http_listen).await?;
    let grpc_addr = local_addr(&grpc_listener, config.grpc_listen)?;
    let http_addr = local_addr(&http_listener, config.http_listen)?;
    let (shutdown, stopped) = watch::channel(false);

    let feeds = Feeds::new(service.clone(), config.feed.clone(), authenticator.clone(), stopped.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(consent_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let first = report_readiness(&service, &health, None).await;
    let health_task = tokio::spawn(watch_readiness(
        service.clone(),
        health,
        first,
        config.health_interval,
        stopped.clone(),
    ));
    let limits = &config.limits;
    // One budget per key and one capacity per server, for gRPC and vendor routes alike.
    let budget = Budget::new(&limits.calls);
    let consent_api = ConsentServiceServer::new(GrpcConsentService::new(service.clone(), feeds))
        .max_decoding_message_size(limits.max_message_bytes);
    let webhook_api = WebhookServiceServer::new(GrpcWebhookService::new(service.clone()))
        .max_decoding_message_size(limits.max_message_bytes);
    let relay = Relay::new(
        service.clone(),
        deliverer,
        webhooks.keys().clone(),
        gateway::registry(),
        config.webhooks.clone(),
        stopped.clone(),
    );
    let tls = config.tls.as_ref().map(TlsMaterial::read).transpose().map_err(ServerError::Tls)?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.grpc().timeout(crate::tls::HANDSHAKE_TIMEOUT))?;
    }
    let grpc = builder
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(limits.max_pending_resets))
        .layer(AuthLayer::new(authenticator, budget.clone()))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(consent_api)
        .add_service(webhook_api)
        .serve_with_incoming_shutdown(TcpListenerStream::new(grpc_listener), signalled(stopped.clone()));
    let grpc_task = tokio::spawn(async move { grpc.await.map_err(ServerError::from) });
    let relay_task = tokio::spawn(async move {
        relay.run().await;
        Ok(())
    });
    let mut tasks = vec![grpc_task, health_task, relay_task];
    let mut health_addr = None;
    if let Some(addr) = config.health_listen {
        let listener = bind(addr).await?;
        health_addr = Some(local_addr(&listener, addr)?);
        let app = http::health_routes(service.clone());
        tasks.push(tokio::spawn(http::serve(
            listener,
            app,
            limits.http_header_timeout,
            signalled(stopped.clone()),
        )));
    }
    let vendor_gateway = Gateway {
        service: service.clone(),
        store: store_handle,
        authenticator: gateway_authenticator,
        budget,
        trusted_proxies: Arc::new(config.gateway.trusted_proxies.clone()),
        webhooks,
    };
    let app = http::health_routes(service)
        .merge(gateway::routes(vendor_gateway, &config.gateway.adapters))
        .layer(axum::extract::DefaultBodyLimit::max(config.gateway.max_body_bytes));
    let http_task = match &tls {
        Some(tls) => {
            let acceptor = tls.http().map_err(ServerError::Tls)?;
            let listener = TlsListener::new(http_listener, acceptor).map_err(ServerError::Http)?;
            tokio::spawn(http::serve(listener, app, limits.http_header_timeout, signalled(stopped)))
        }
        None => tokio::spawn(http::serve(http_listener, app, limits.http_header_timeout, signalled(stopped))),
    };
    tasks.push(http_task);

    tracing::info!(%grpc_addr, %http_addr, "consentd is serving");
    Ok(RunningServer { grpc_addr, http_addr, health_addr, shutdown, tasks })
}

/// With authentication required and no key ever created, creates one for
/// tenant `default` and prints it once on stderr: the way into a fresh
/// installation. Only its hash is stored. (Revoking every key does not
/// reopen this door on the next restart.)
async fn bootstrap_key(store: &SqlStore, authenticator: &Authenticator) -> Result<(), ServerError> {
    if store.has_keys().await? {
        return Ok(());
    }
    let key = authenticator.create(&consent_core::TenantId::default_tenant(), &Scope::DEFAULT).await?;
    tracing::warn!(key_id = %key.id, "no api key existed: created one for tenant default (printed once on stderr)");
    eprintln!("consentd: created API key for tenant default (shown only now): {}", key.key);
    Ok(())
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

/// Keeps the gRPC health status in line with the store: NOT_SERVING while it
/// is unreachable or unmigrated, SERVING otherwise. The first status is set
/// before the listeners accept, so a probe never sees an unknown service.
async fn watch_readiness<S: consent_core::ConsentStore>(
    service: ConsentService<S>,
    health: HealthReporter,
    first: ServingStatus,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let mut last = first;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        last = report_readiness(&service, &health, Some(last)).await;
    }
    for name in ["", CONSENT_SERVICE_NAME] {
        health.set_service_status(name, ServingStatus::NotServing).await;
    }
    Ok(())
}

/// Checks the store and publishes the status if it changed.
async fn report_readiness<S: consent_core::ConsentStore>(
    service: &ConsentService<S>,
    health: &HealthReporter,
    last: Option<ServingStatus>,
) -> ServingStatus {
    let status = match service.ready().await {
        Ok(()) => ServingStatus::Serving,
        Err(err) => {
            tracing::warn!(error = %err, "store not ready");
            ServingStatus::NotServing
        }
    };
    if last != Some(status) {
        for name in ["", CONSENT_SERVICE_NAME] {
            health.set_service_status(name, status).await;
        }
    }
    status
}
