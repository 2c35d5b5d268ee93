//! TLS files from flags or the environment: a private CA, and a client
//! certificate for a server that requires one (mTLS).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::support::Server;

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_and_a_client_certificate_reach_an_mtls_server() {
    let pki = tempfile::tempdir().expect("dir");
    let path = |name: &str| pki.path().join(name);
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "consentctl test ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let client_key = KeyPair::generate().expect("key");
    let client_cert = CertificateParams::new(vec!["client.test".to_owned()])
        .expect("params")
        .signed_by(&client_key, &ca)
        .expect("client");
    for (name, pem) in [
        ("ca.pem", ca.pem()),
        ("server.pem", server_cert.pem()),
        ("server.key", server_key.serialize_pem()),
        ("client.pem", client_cert.pem()),
        ("client.key", client_key.serialize_pem()),
    ] {
        std::fs::write(path(name), pem).expect("written");
    }
    let server = Server::start_with(|args| {
        args.tls_cert = Some(path("server.pem"));
        args.tls_key = Some(path("server.key"));
        args.tls_client_ca = Some(path("ca.pem"));
    })
    .await;
    let addr = format!("https://{}", server.addr);
    let text = |p: std::path::PathBuf| p.to_str().expect("path").to_owned();

    // The CA and the client certificate as flags.
    let flags = [
        "--addr",
        &addr,
        "--tls-ca",
        &text(path("ca.pem")),
        "--tls-cert",
        &text(path("client.pem")),
        "--tls-key",
        &text(path("client.key")),
    ];
    let mut args = flags.to_vec();
    args.extend(["record", "--identity", "user_id=1", "--grant", "analytics"]);
    server.ctl(&args).await.expect(0);
    // The same from the environment, with the address's scheme implied by them.
    let mut command = server.command();
    command
        .env("CONSENTD_ADDR", server.addr.to_string())
        .env("CONSENTCTL_TLS_CA", path("ca.pem"))
        .env("CONSENTCTL_TLS_CERT", path("client.pem"))
        .env("CONSENTCTL_TLS_KEY", path("client.key"))
        .args(["check", "--identity", "user_id=1", "--purpose", "analytics"]);
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    // Without the client certificate the server refuses the handshake; with
    // the system's roots the server's certificate is not trusted.
    let refused = server
        .ctl(&[
            "--addr",
            &addr,
            "--tls-ca",
            &text(path("ca.pem")),
            "check",
            "--identity",
            "user_id=1",
            "--purpose",
            "x",
        ])
        .await
        .expect(2);
    // The transport's failure, under whichever code it surfaces as.
    assert!(
        ["UNAVAILABLE", "UNKNOWN", "CANCELLED"].iter().any(|code| refused.stderr().contains(code)),
        "{}",
        refused.stderr()
    );
    server
        .ctl(&["--addr", &addr, "--retries", "0", "check", "--identity", "user_id=1", "--purpose", "x"])
        .await
        .expect(2);
}
