//! API keys and scopes: the credential decides the tenant; each RPC needs
//! its scope; revocation takes effect on open streams.

use std::process::Command;
use std::time::Instant;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consentd::config::AuthMode;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::subscriber::{Message, Subscriber};
use crate::support::{TestServer, by_id, decision, identity, record_request};

/// Adds `authorization: Bearer <key>` to every call.
#[derive(Clone)]
pub(crate) struct BearerKey(pub(crate) MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for BearerKey {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub(crate) type KeyedClient = ConsentServiceClient<InterceptedService<Channel, BearerKey>>;

pub(crate) async fn keyed_client(url: &str, key: &str) -> KeyedClient {
    let channel = Channel::from_shared(url.to_owned()).unwrap().connect().await.unwrap();
    let value = format!("Bearer {key}").parse().unwrap();
    ConsentServiceClient::with_interceptor(channel, BearerKey(value))
}

/// `consentd keys create` through the real binary; the key is stdout alone.
pub(crate) fn create_key(database_url: &str, tenant: &str, scopes: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consentd"));
    command.args(["keys", "create", "--tenant", tenant, "--database-url", database_url]);
    for scope in scopes {
        command.args(["--scope", scope]);
    }
    let output = command.env_remove("CONSENTD_KEY_SECRET").output().unwrap();
    assert!(output.status.success(), "keys create failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "stdout holds the key alone");
    stdout.trim().to_owned()
}

fn consentd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_consentd")).args(args).output().unwrap()
}

async fn auth_server() -> TestServer {
    TestServer::start_with(|config| config.auth = AuthMode::Required).await
}

#[tokio::test]
async fn calls_without_a_valid_key_are_unauthenticated() {
    let server = auth_server().await;
    let request = || record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted);
    let mut anonymous = server.client().await;
    assert_eq!(anonymous.record_consent(request()).await.unwrap_err().code(), Code::Unauthenticated);
    let key = create_key(&server.database_url(), "acme", &[]);
    let (id, _) = key.split_once('.').unwrap();
    for bad in [format!("{id}.wrong-secret"), "ck_nope.secret".to_owned(), "garbage".to_owned()] {
        let mut client = keyed_client(&server.url(), &bad).await;
        assert_eq!(
            client.record_consent(request()).await.unwrap_err().code(),
            Code::Unauthenticated,
            "{bad}"
        );
    }
    let mut client = keyed_client(&server.url(), &key).await;
    client.record_consent(request()).await.unwrap();

    // Health and reflection stay open to probes.
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked() {
    let server = auth_server().await;
    let url = server.database_url();
    let key = create_key(&url, "acme", &["consent:read"]);
    let (id, secret) = key.split_once('.').unwrap();
    let listing = consentd(&["keys", "list", "--database-url", &url]);
    let listing = String::from_utf8(listing.stdout).unwrap();
    let line = listing.lines().find(|l| l.starts_with(id)).expect("key listed");
    assert!(line.contains("acme") && line.contains("consent:read") && line.contains("active"), "{line}");
    assert!(!listing.contains(secret), "a secret was printed by keys list");

    let mut client = keyed_client(&server.url(), &key).await;
    let query = pb::QueryConsentsRequest::default();
    client.query_consents(query.clone()).await.unwrap();
    assert!(consentd(&["keys", "revoke", id, "--database-url", &url]).status.success());
    let listing = String::from_utf8(consentd(&["keys", "list", "--database-url", &url]).stdout).unwrap();
    assert!(listing.lines().any(|l| l.starts_with(id) && l.contains("revoked")));
    // Within the key cache's lifetime the revocation is seen.
    let mut code = Code::Ok;
    for _ in 0..40 {
        code = client.query_consents(query.clone()).await.map_or_else(|s| s.code(), |_| Code::Ok);
        if code == Code::Unauthenticated {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(code, Code::Unauthenticated);
    assert!(!consentd(&["keys", "revoke", "ck_missing", "--database-url", &url]).status.success());
}

/// One call of each RPC with a well-formed request; the code it got.
async fn call(client: &mut KeyedClient, rpc: &str) -> Code {
    let subject = || crate::support::by_identity(identity("user_id", "matrix"));
    let result = match rpc {
        "RecordConsent" => client
            .record_consent(record_request(
                identity("user_id", "matrix"),
                "marketing",
                "",
                pb::Decision::Granted,
            ))
            .await
            .map(drop),
        "UpdateConsent" => client
            .update_consent(pb::UpdateConsentRequest {
                subject: subject(),
                purpose: "marketing".into(),
                decision: pb::Decision::Denied.into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "CheckConsent" => client
            .check_consent(pb::CheckConsentRequest {
                subject: subject(),
                purpose: "marketing".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "QueryConsents" => client.query_consents(pb::QueryConsentsRequest::default()).await.map(drop),
        "GetConsent" => client
            .get_consent(pb::GetConsentRequest {
                key: Some(pb::get_consent_request::Key::RecordId(uuid::Uuid::now_v7().to_string())),
            })
            .await
            .map(drop),
        "Subscribe" => client.subscribe(pb::SubscribeRequest::default()).await.map(drop),
        "EraseSubject" => {
            client.erase_subject(pb::EraseSubjectRequest { subject: subject() }).await.map(drop)
        }
        other => panic!("unknown rpc {other}"),
    };
    result.map_or_else(|status| status.code(), |()| Code::Ok)
}

#[tokio::test]
async fn each_rpc_needs_its_scope() {
    let server = auth_server().await;
    let rpcs = [
        ("RecordConsent", "consent:write"),
        ("UpdateConsent", "consent:write"),
        ("CheckConsent", "consent:read"),
        ("QueryConsents", "consent:read"),
        ("GetConsent", "consent:read"),
        ("Subscribe", "consent:subscribe"),
        ("EraseSubject", "admin"),
    ];
    let scope_sets: [&[&str]; 5] =
        [&["consent:read"], &["consent:write"], &["consent:subscribe"], &["admin"], &[]];
    for scopes in scope_sets {
        let key = create_key(&server.database_url(), "matrix", scopes);
        let mut client = keyed_client(&server.url(), &key).await;
        for (rpc, needed) in rpcs {
            // No --scope means the three consent scopes; admin holds every scope.
            let allowed = scopes.is_empty() && needed != "admin"
                || scopes.contains(&needed)
                || scopes.contains(&"admin");
            let code = call(&mut client, rpc).await;
            if allowed {
                assert!(
                    !matches!(code, Code::PermissionDenied | Code::Unauthenticated),
                    "{rpc} with {scopes:?} was refused: {code:?}"
                );
            } else {
                assert_eq!(code, Code::PermissionDenied, "{rpc} with {scopes:?}");
            }
        }
    }
}

#[tokio::test]
async fn one_tenant_never_reaches_anothers_records() {
    let server = auth_server().await;
    let key_a = create_key(&server.database_url(), "tenant-a", &[]);
    let key_b = create_key(&server.database_url(), "tenant-b", &[]);
    let mut a = keyed_client(&server.url(), &key_a).await;
    let mut b = keyed_client(&server.url(), &key_b).await;

    // B's data, and every id B could leak to A.
    let b_identity = identity("email", "b-person@example.com");
    let written = b
        .record_consent(record_request(b_identity.clone(), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap()
        .into_inner();
    b.record_consent(record_request(identity("user_id", "b-2"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();
    let b_subject = written.subject_id.clone();
    let b_record = written.records[0].id.clone();
    let b_page = b
        .query_consents(pb::QueryConsentsRequest { page_size: 1, history: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    let mut b_feed =
        Subscriber::open_keyed(&mut b, pb::SubscribeRequest { from_beginning: true, ..Default::default() })
            .await
            .unwrap();
    let b_token = b_feed.events_through(2).await[0].resume_token.clone();
    // A has one record of its own.
    a.record_consent(record_request(identity("user_id", "a-1"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();

    let b_refs = [by_id(&b_subject), crate::support::by_identity(b_identity.clone())];
    for subject in &b_refs {
        assert_subject_unreachable(&mut a, subject).await;
    }
    let by_record = a
        .get_consent(pb::GetConsentRequest { key: Some(pb::get_consent_request::Key::RecordId(b_record)) })
        .await
        .unwrap_err();
    assert_eq!(by_record.code(), Code::NotFound);
    for query in [
        pb::QueryConsentsRequest { subject_id: b_subject.clone(), history: true, ..Default::default() },
        pb::QueryConsentsRequest { identity: Some(b_identity.clone()), history: true, ..Default::default() },
    ] {
        assert!(a.query_consents(query).await.unwrap().into_inner().records.is_empty());
    }
    let everything = a
        .query_consents(pb::QueryConsentsRequest { history: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everything.records.len(), 1, "A counts only its own records");
    let foreign_page = a
        .query_consents(pb::QueryConsentsRequest {
            history: true,
            page_token: b_page,
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(foreign_page.code(), Code::InvalidArgument);
    let foreign_token =
        Subscriber::open_keyed(&mut a, pb::SubscribeRequest { resume_token: b_token, ..Default::default() })
            .await;
    assert_eq!(foreign_token.err().unwrap().code(), Code::InvalidArgument);

    // A's feed from the beginning holds A's record only, and a feed on B's
    // subject id nothing.
    assert_feeds_hold_only_own(&mut a, b_subject).await;
}

/// Another tenant's subject, named by id or identity, is unknown to `a`:
/// checks answer UNKNOWN, updates and reads NOT_FOUND.
async fn assert_subject_unreachable(a: &mut KeyedClient, subject: &Option<pb::SubjectRef>) {
    let check = a
        .check_consent(pb::CheckConsentRequest {
            subject: subject.clone(),
            purpose: "marketing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.status(), pb::ConsentStatus::Unknown);
    assert!(check.record.is_none());
    let batch = a
        .batch_check_consent(pb::BatchCheckConsentRequest {
            subject: subject.clone(),
            checks: vec![pb::batch_check_consent_request::Check {
                purpose: "marketing".into(),
                target: String::new(),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(batch.results.iter().all(|r| r.status() == pb::ConsentStatus::Unknown && r.record.is_none()));
    let update = a
        .update_consent(pb::UpdateConsentRequest {
            subject: subject.clone(),
            purpose: "marketing".into(),
            decision: pb::Decision::Denied.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::NotFound);
    let current = a
        .get_consent(pb::GetConsentRequest {
            key: Some(pb::get_consent_request::Key::Current(pb::CurrentRecordKey {
                subject: subject.clone(),
                purpose: "marketing".into(),
                target: String::new(),
            })),
        })
        .await
        .unwrap_err();
    assert_eq!(current.code(), Code::NotFound);
}

/// `a`'s feed holds its one record (of user `a-1`), and a feed on the other
/// tenant's `b_subject` nothing.
async fn assert_feeds_hold_only_own(a: &mut KeyedClient, b_subject: String) {
    let mut a_feed =
        Subscriber::open_keyed(a, pb::SubscribeRequest { from_beginning: true, ..Default::default() })
            .await
            .unwrap();
    let events = a_feed.events_through(1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].record.as_ref().unwrap().identities[0].value, "a-1");
    let mut on_b_subject = Subscriber::open_keyed(
        a,
        pb::SubscribeRequest { subject_id: b_subject, from_beginning: true, ..Default::default() },
    )
    .await
    .unwrap();
    assert!(on_b_subject.events_through(1).await.is_empty());
}

#[tokio::test]
async fn revoking_a_key_ends_its_open_stream() {
    let server = auth_server().await;
    let key = create_key(&server.database_url(), "acme", &[]);
    let mut client = keyed_client(&server.url(), &key).await;
    client
        .record_consent(record_request(identity("user_id", "s"), "marketing", "", pb::Decision::Granted))
        .await
        .unwrap();
    let mut stream = Subscriber::open_keyed(
        &mut client,
        pb::SubscribeRequest { from_beginning: true, ..Default::default() },
    )
    .await
    .unwrap();
    assert_eq!(stream.events_through(1).await.len(), 1);

    let (id, _) = key.split_once('.').unwrap();
    let revoked_at = Instant::now();
    assert!(consentd(&["keys", "revoke", id, "--database-url", &server.database_url()]).status.success());
    let status = loop {
        match stream.next().await {
            Message::End(status) => break status,
            Message::Heartbeat(_) => {}
            other @ (Message::Event(_) | Message::Closed) => panic!("{other:?}"),
        }
    };
    eprintln!("stream ended {:?} after revocation", revoked_at.elapsed());
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(crate::subscriber::last_revision(&status), 1);
    let again = client.query_consents(pb::QueryConsentsRequest::default()).await.unwrap_err();
    assert_eq!(again.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn tenants_bind_vendor_ids_once() {
    let server = auth_server().await;
    let url = server.database_url();
    let bind = |tenant: &str, id: &str| {
        consentd(&[
            "tenants",
            "bind",
            "--tenant",
            tenant,
            "--vendor",
            "intempt",
            "--external-id",
            id,
            "--database-url",
            &url,
        ])
    };
    assert!(bind("acme", "acme-org/web").status.success());
    assert!(bind("acme", "acme-org/web").status.success(), "binding again is a no-op");
    let taken = bind("other", "acme-org/web");
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("bound to another tenant"));
    let bad_vendor = consentd(&[
        "tenants",
        "bind",
        "--tenant",
        "acme",
        "--vendor",
        "nope",
        "--external-id",
        "x",
        "--database-url",
        &url,
    ]);
    assert!(!bad_vendor.status.success());
    let _ = decision;
}
