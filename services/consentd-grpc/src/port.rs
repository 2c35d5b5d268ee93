//! The gRPC port: tonic's server, with the consent and webhook services
//! behind the request pipeline, health and reflection beside it, each
//! connection's call slots, and TLS when configured.

use std::future::Future;
use std::time::Duration;

use consent_core::webhooks::WebhookStore;
use consent_core::{ConsentService, ConsentStore};
use consent_proto::v1::consent_service_server::ConsentServiceServer;
use consent_proto::v1::evidence_service_server::EvidenceServiceServer;
use consent_proto::v1::webhook_service_server::WebhookServiceServer;
use consentd_feed::Feeds;
use consentd_pipeline::{Admission, Gate, TlsPem, request_ids};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tower::Layer as _;

use crate::connection::GrpcConnection;
use crate::readiness::Health;
use crate::{
    Admitted, GrpcConsentService, GrpcEvidenceService, GrpcTransport, GrpcWebhookService, TelemetryLayer,
};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A failure to start or run the gRPC port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// tonic failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// What the gRPC port is held to (from `[limits]`).
#[derive(Debug, Clone)]
pub struct PortSettings {
    /// The largest message a client may send.
    pub max_message_bytes: usize,
    /// About the most a page of records may weigh.
    pub max_response_bytes: usize,
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// Calls one connection may have running.
    pub concurrency_per_connection: usize,
    /// HTTP/2 PINGs to find dead peers, and how long one may go unanswered.
    pub keepalive_interval: Duration,
    /// See `keepalive_interval`.
    pub keepalive_timeout: Duration,
    /// The HTTP/2 rapid-reset bound.
    pub max_pending_resets: usize,
    /// Streams the server may reset for a client's protocol errors on one
    /// connection.
    pub max_error_resets: usize,
    /// The port's certificate, if it speaks TLS.
    pub tls: Option<TlsPem>,
}

/// Serves the consent and webhook APIs of `service` (Subscribe through
/// `feeds`) on `listener` behind the request pipeline that spends `gate`,
/// with `health` and reflection beside them, until `shutdown`.
#[allow(clippy::too_many_arguments)]
pub fn serve<S>(
    listener: TcpListener,
    service: ConsentService<S>,
    feeds: Feeds<S>,
    evidence: consent_evidence::EvidenceLog<S>,
    gate: Gate,
    health: &Health,
    settings: &PortSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<impl Future<Output = Result<(), PortError>> + Send + 'static, PortError>
where
    S: ConsentStore + WebhookStore + consent_evidence::LogStore + Clone + 'static,
{
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(consent_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let admission = Admission::new(GrpcTransport, gate);
    let consent_api = ConsentServiceServer::new(
        GrpcConsentService::new(service.clone(), feeds).with_max_response_bytes(settings.max_response_bytes),
    )
    .max_decoding_message_size(settings.max_message_bytes);
    let consent_api =
        Admitted::<_, ConsentServiceServer<GrpcConsentService<S>>>::new(admission.layer(consent_api));
    let webhook_api = WebhookServiceServer::new(GrpcWebhookService::new(service))
        .max_decoding_message_size(settings.max_message_bytes);
    let webhook_api =
        Admitted::<_, WebhookServiceServer<GrpcWebhookService<S>>>::new(admission.layer(webhook_api));
    let evidence_api = EvidenceServiceServer::new(GrpcEvidenceService::new(evidence))
        .max_decoding_message_size(settings.max_message_bytes);
    let evidence_api =
        Admitted::<_, EvidenceServiceServer<GrpcEvidenceService<S>>>::new(admission.layer(evidence_api));
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &settings.tls {
        let identity = tonic::transport::Identity::from_pem(&tls.cert, &tls.key);
        let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &tls.client_ca {
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(ca));
        }
        builder = builder.tls_config(config.timeout(HANDSHAKE_TIMEOUT))?;
    }
    // A connection with as many calls running as it may have gets the next
    // one refused at once (RESOURCE_EXHAUSTED, by the request pipeline from
    // the connection's slots, see `connection.rs`) instead of queued: a
    // queue there grows without bound under overload, and its calls wait
    // seconds only to be refused or to time out. The limit is below the
    // streams a client may open, so the refusal comes from here and not
    // from a client queueing for a stream.
    let serving = builder
        .max_concurrent_streams(settings.max_concurrent_streams)
        .http2_keepalive_interval(Some(settings.keepalive_interval))
        .http2_keepalive_timeout(Some(settings.keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(settings.max_pending_resets))
        // tonic's default (None) switches h2's bound off.
        .http2_max_local_error_reset_streams(Some(settings.max_error_resets))
        // Outermost: every call has a request id, and is traced and
        // measured, refused ones too. Probes and reflection are outside the
        // pipeline (no key, never shed); the consent services behind it.
        .layer(request_ids())
        .layer(TelemetryLayer)
        .add_service(health.service())
        .add_service(reflection)
        .add_service(consent_api)
        .add_service(webhook_api)
        .add_service(evidence_api)
        .serve_with_incoming_shutdown(incoming(listener, settings.concurrency_per_connection), shutdown);
    Ok(async move { serving.await.map_err(PortError::from) })
}

/// The port's connections, with TCP_NODELAY: a reply is written in pieces
/// (headers, message, trailers), and with Nagle's algorithm on, the later
/// pieces wait for the client's delayed ACK — about 40 ms a call on Linux.
/// (tonic sets it only on listeners it binds itself.) Each connection gets
/// `concurrency` call slots of its own.
fn incoming(
    listener: TcpListener,
    concurrency: usize,
) -> impl tokio_stream::Stream<Item = Result<GrpcConnection, std::io::Error>> {
    tokio_stream::StreamExt::map(TcpIncoming::from(listener).with_nodelay(Some(true)), move |accepted| {
        accepted.map(|tcp| GrpcConnection::new(tcp, concurrency))
    })
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    /// The ~40 ms a call that Nagle's algorithm and delayed ACKs cost was
    /// found by the benchmark harness; this pins the cause.
    #[tokio::test]
    async fn accepted_connections_have_tcp_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut incoming = std::pin::pin!(incoming(listener, 1));
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.tcp().nodelay().unwrap(), "gRPC connection without TCP_NODELAY");
    }
}
