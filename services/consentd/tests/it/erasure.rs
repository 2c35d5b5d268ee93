//! Erasure, legal holds and retention through the public interfaces:
//! `EraseSubject` over gRPC, then checks, queries, the feed, the evidence
//! service, `consentd verify` of a receipt issued before, the database files
//! searched for the subject's values; `consentd holds` and `consentd
//! retention apply` from the command line.

use std::process::Command;

use consent_proto::v1 as pb;
use consent_proto::v1::evidence_service_client::EvidenceServiceClient;
use sea_orm::ConnectionTrait as _;
use tonic::Code;
use tonic_types::StatusExt as _;

use consentd::config::AuthMode;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::auth::{BearerKey, KeyedClient, create_key, keyed_client};
use crate::subscriber::Subscriber;
use crate::support::{TestServer, by_id, by_identity, identity};

type EvidenceClient = EvidenceServiceClient<InterceptedService<Channel, BearerKey>>;

/// A server requiring keys, and clients with an admin key (erasure is an
/// administrator's act: the anonymous caller of a server without
/// authentication holds the consent scopes only).
async fn admin_server() -> (TestServer, KeyedClient, EvidenceClient) {
    let server = TestServer::start_with(|config| config.auth = AuthMode::Required).await;
    let key = create_key(&server.database_url(), "default", &["admin"]);
    let client = keyed_client(&server.url(), &key).await;
    let bearer = BearerKey(format!("Bearer {key}").parse().unwrap());
    let evidence = EvidenceServiceClient::with_interceptor(server.channel().await, bearer);
    (server, client, evidence)
}

/// Values no other test writes.
struct Person {
    email: String,
    ip: String,
    user_agent: String,
    uri: String,
    note: String,
}

impl Person {
    fn new() -> Self {
        let tag: String = uuid::Uuid::now_v7().simple().to_string().chars().rev().collect();
        Self {
            email: format!("erin-{tag}@example.com"),
            ip: format!("2001:db8::{}", &tag[..4]),
            user_agent: format!("Agent/{tag}"),
            uri: format!("https://shop.example/{tag}"),
            note: format!("note-{tag}"),
        }
    }

    fn values(&self) -> [&str; 5] {
        [&self.email, &self.ip, &self.user_agent, &self.uri, &self.note]
    }

    fn record(&self, purpose: &str, decision: pb::Decision) -> pb::RecordConsentRequest {
        pb::RecordConsentRequest {
            identities: vec![identity("email", &self.email)],
            decisions: vec![pb::PurposeDecision {
                purpose: purpose.into(),
                decision: decision.into(),
                ..Default::default()
            }],
            evidence: Some(pb::Evidence {
                ip: self.ip.clone(),
                user_agent: self.user_agent.clone(),
                uri: self.uri.clone(),
                metadata_json: format!("{{\"note\":\"{}\"}}", self.note),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn subject(&self) -> Option<pb::SubjectRef> {
        by_identity(identity("email", &self.email))
    }
}

fn consentd(args: &[&str], database_url: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap()
}

async fn status(
    client: &mut KeyedClient,
    subject: Option<pb::SubjectRef>,
    purpose: &str,
) -> pb::ConsentStatus {
    let request = pb::CheckConsentRequest { subject, purpose: purpose.into(), ..Default::default() };
    client.check_consent(request).await.unwrap().into_inner().status()
}

async fn history(client: &mut KeyedClient) -> Vec<pb::ConsentRecord> {
    let request = pb::QueryConsentsRequest { history: true, page_size: 1000, ..Default::default() };
    client.query_consents(request).await.unwrap().into_inner().records
}

#[tokio::test]
async fn an_erased_subject_is_gone_and_its_receipts_still_verify() {
    let (server, mut client, mut evidence) = admin_server().await;
    let (erin, other) = (Person::new(), Person::new());
    let first = client.record_consent(erin.record("ads", pb::Decision::Granted)).await.unwrap().into_inner();
    client.record_consent(erin.record("analytics", pb::Decision::Denied)).await.unwrap();
    client.record_consent(other.record("ads", pb::Decision::Granted)).await.unwrap();
    let (record_id, subject_id) = (first.records[0].id.clone(), first.subject_id.clone());
    let receipt = evidence
        .get_receipt(pb::GetReceiptRequest { record_id: record_id.clone() })
        .await
        .unwrap()
        .into_inner();
    let checkpoint =
        evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: true }).await.unwrap().into_inner();

    let refused = client.erase_subject(pb::EraseSubjectRequest { subject: None }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(refused.get_details_bad_request().unwrap().field_violations[0].field, "subject");
    let erased = client.erase_subject(pb::EraseSubjectRequest { subject: erin.subject() }).await.unwrap();
    let revision = erased.into_inner().revision;

    assert_eq!(status(&mut client, erin.subject(), "ads").await, pb::ConsentStatus::Unknown);
    assert_eq!(status(&mut client, by_id(&subject_id), "ads").await, pb::ConsentStatus::Unknown);
    assert_eq!(status(&mut client, other.subject(), "ads").await, pb::ConsentStatus::Granted);
    let records = history(&mut client).await;
    let gone: Vec<&pb::ConsentRecord> =
        records.iter().filter(|r| r.subject_id == uuid::Uuid::nil().to_string()).collect();
    assert_eq!(gone.len(), 2);
    for record in gone {
        let e = record.evidence.clone().unwrap_or_default();
        assert!(
            record.identities.is_empty() && e.ip.is_empty() && e.user_agent.is_empty() && e.uri.is_empty()
        );
        assert!(e.metadata_json.is_empty(), "{record:?}");
    }
    let again =
        client.erase_subject(pb::EraseSubjectRequest { subject: by_id(&subject_id) }).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);

    // The feed announces it, naming the subject and nothing else of it.
    let mut feed = Subscriber::open_keyed(
        &mut client,
        pb::SubscribeRequest { from_beginning: true, ..Default::default() },
    )
    .await
    .unwrap();
    let events = feed.events_through(revision).await;
    let announced = events.iter().find(|e| e.kind() == pb::EventKind::Erased).expect("an erased event");
    let record = announced.record.clone().unwrap();
    assert_eq!((record.subject_id.as_str(), record.revision), (subject_id.as_str(), revision));
    assert!(record.identities.is_empty());

    // Evidence: no new receipt (nothing left to disclose), the inclusion
    // proof still served, and the receipt issued before still verifies.
    let refused =
        evidence.get_receipt(pb::GetReceiptRequest { record_id: record_id.clone() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let proof = evidence
        .get_inclusion_proof(pb::GetInclusionProofRequest { record_id, tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    assert!(proof.leaf.contains(&subject_id) && !proof.leaf.contains(&erin.email));
    let dir = tempfile::tempdir().unwrap();
    let (key_file, receipt_file) = (dir.path().join("keys.txt"), dir.path().join("receipt.jws"));
    std::fs::write(&key_file, checkpoint.public_keys.join("\n")).unwrap();
    std::fs::write(&receipt_file, &receipt.receipt).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args([
            "verify",
            "--public-key",
            key_file.to_str().unwrap(),
            "--receipt",
            receipt_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The whole log, exported after the erasure, verifies too.
    let out = dir.path().join("export");
    let output = consentd(
        &["evidence", "export", "--tenant", "default", "--out", out.to_str().unwrap()],
        &server.database_url(),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let checkpoints: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with("checkpoint-"))
        .flat_map(|path| ["--checkpoint".to_owned(), path.to_string_lossy().into_owned()])
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_consentd"))
        .args([
            "verify",
            "--public-key",
            key_file.to_str().unwrap(),
            "--log",
            out.join("log.jsonl").to_str().unwrap(),
        ])
        .args(&checkpoints)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // None of the subject's values is in the database file or its WAL,
    // flushed by a checkpoint.
    let db = sea_orm::Database::connect(server.database_url().as_str()).await.unwrap();
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.unwrap();
    let file = server.database_file();
    for path in [file.clone(), file.with_extension("db-wal")] {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for value in erin.values() {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value} in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn holds_and_retention_from_the_command_line() {
    let (server, mut client, mut evidence) = admin_server().await;
    let erin = Person::new();
    let url = server.database_url();
    let subject_id = client
        .record_consent(erin.record("ads", pb::Decision::Granted))
        .await
        .unwrap()
        .into_inner()
        .subject_id;
    client.record_consent(erin.record("ads", pb::Decision::Denied)).await.unwrap();
    // In the log (so retention has the commitments to keep).
    evidence.get_checkpoint(pb::GetCheckpointRequest { fresh: true }).await.unwrap();
    let who = format!("email:{}", erin.email);

    let placed =
        consentd(&["holds", "place", "--tenant", "default", "--identity", &who, "--reason", "case 7"], &url);
    assert!(placed.status.success(), "{}", String::from_utf8_lossy(&placed.stderr));
    assert_eq!(String::from_utf8_lossy(&placed.stdout).trim(), subject_id);
    let listed = consentd(&["holds", "list", "--tenant", "default"], &url);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.starts_with(&subject_id) && listed.trim_end().ends_with("case 7"), "{listed}");
    let refused =
        client.erase_subject(pb::EraseSubjectRequest { subject: erin.subject() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.get_details_error_info().unwrap().reason, "LEGAL_HOLD");
    let applied = consentd(&["retention", "apply", "--tenant", "default", "--days", "0"], &url);
    assert!(String::from_utf8_lossy(&applied.stderr).contains("of 0 records"), "{applied:?}");

    let released = consentd(&["holds", "release", "--tenant", "default", "--subject-id", &subject_id], &url);
    assert!(released.status.success(), "{}", String::from_utf8_lossy(&released.stderr));
    let applied = consentd(&["retention", "apply", "--tenant", "default", "--days", "0"], &url);
    assert!(String::from_utf8_lossy(&applied.stderr).contains("of 1 records"), "{applied:?}");
    let records = history(&mut client).await;
    let [replaced, current] = &records[..] else { panic!("{records:?}") };
    assert_eq!(replaced.subject_id, subject_id, "retention keeps the record with its subject");
    assert!(replaced.identities.is_empty() && replaced.evidence.clone().unwrap_or_default().ip.is_empty());
    assert_eq!(current.identities.len(), 1);
    assert_eq!(status(&mut client, erin.subject(), "ads").await, pb::ConsentStatus::Denied);
    let again = consentd(&["holds", "release", "--tenant", "default", "--subject-id", &subject_id], &url);
    assert_eq!(again.status.code(), Some(1));
}
