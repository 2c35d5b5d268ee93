//! TLS on both listeners from certificate files, client certificates
//! (mTLS), and the plain health port for probes.

use std::path::PathBuf;
use std::sync::Arc;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consentd_pipeline::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::support::{TestServer, identity, record_request};

/// A throw-away CA with a server certificate for localhost/127.0.0.1 and a
/// client certificate.
struct Pki {
    dir: TempDir,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "consentd test ca");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(vec!["client.test".to_owned()]).unwrap();
        client_params.distinguished_name.push(DnType::CommonName, "consentd test client");
        let client = client_params.signed_by(&client_key, &ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Self {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    fn files(&self, mutual: bool) -> TlsFiles {
        let path = |name: &str| -> PathBuf { self.dir.path().join(name) };
        TlsFiles {
            cert: path("server.pem"),
            key: path("server.key"),
            client_ca: mutual.then(|| path("ca.pem")),
        }
    }

    fn grpc_tls(&self, with_client_certificate: bool) -> ClientTlsConfig {
        let config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        if with_client_certificate {
            config.identity(Identity::from_pem(&self.client_cert_pem, &self.client_key_pem))
        } else {
            config
        }
    }

    /// A plain HTTP/1.1 GET over TLS; `None` if the handshake or request failed.
    async fn https_get(
        &self,
        addr: std::net::SocketAddr,
        path: &str,
        with_client_certificate: bool,
    ) -> Option<u16> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = ClientConfig::builder().with_root_certificates(roots);
        let config = if with_client_certificate {
            let certs =
                CertificateDer::pem_slice_iter(self.client_cert_pem.as_bytes()).map(Result::unwrap).collect();
            let key = PrivateKeyDer::from_pem_slice(self.client_key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(certs, key).unwrap()
        } else {
            builder.with_no_client_auth()
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        tls.read_to_string(&mut response).await.ok()?;
        response.split_whitespace().nth(1)?.parse().ok()
    }
}

async fn channel(
    server: &TestServer,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://{}", server.running().grpc_addr)).unwrap();
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint.connect().await
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_with_certificates() {
    let pki = Pki::new();
    let server = TestServer::start_with(|config| {
        config.tls = Some(pki.files(true));
        config.health_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let request = record_request(identity("user_id", "tls"), "marketing", "", pb::Decision::Granted);

    let mut client = ConsentServiceClient::new(channel(&server, Some(pki.grpc_tls(true))).await.unwrap());
    client.record_consent(request.clone()).await.unwrap();

    // Without a client certificate, or without TLS, nothing gets through.
    let without_certificate = match channel(&server, Some(pki.grpc_tls(false))).await {
        Ok(channel) => ConsentServiceClient::new(channel).record_consent(request.clone()).await.is_err(),
        Err(_) => true,
    };
    assert!(without_certificate, "a client without a certificate was served");
    let plaintext = match channel(&server, None).await {
        Ok(channel) => ConsentServiceClient::new(channel).record_consent(request).await.is_err(),
        Err(_) => true,
    };
    assert!(plaintext, "a plaintext client was served");

    // The HTTP port speaks TLS with the same rules.
    let http = server.running().http_addr;
    assert_eq!(pki.https_get(http, "/healthz", true).await, Some(200));
    assert_eq!(pki.https_get(http, "/healthz", false).await, None);
    // The probe port stays plain HTTP.
    let probe = server.running().health_addr.expect("health port bound");
    assert_eq!(crate::health::http_get(probe, "/readyz").await.0, 200);
}

#[tokio::test]
async fn server_tls_alone_accepts_any_client_that_trusts_it() {
    let pki = Pki::new();
    let server = TestServer::start_with(|config| config.tls = Some(pki.files(false))).await;
    let mut client = ConsentServiceClient::new(channel(&server, Some(pki.grpc_tls(false))).await.unwrap());
    client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap();
    assert_eq!(pki.https_get(server.running().http_addr, "/readyz", false).await, Some(200));
}
