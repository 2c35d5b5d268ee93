//! The common tasks with `consent-client`: record a decision, check it
//! (carrying the write's revision, so the answer includes it on any
//! replica), change it, and follow the change feed, which resumes by itself
//! if the connection breaks.
//!
//! ```sh
//! cargo run -p consentd -- serve --auth disabled &
//! cargo run -p consent-client --example quickstart
//! CONSENTD_ADDR=https://consentd:50051 CONSENTD_KEY=ck_… cargo run -p consent-client --example quickstart
//! ```

use consent_client::proto::{
    CheckConsentRequest, ConsentStatus, Decision, Identity, PurposeDecision, RecordConsentRequest,
    SubjectRef, SubscribeRequest, UpdateConsentRequest, subject_ref,
};
use consent_client::{Client, ConnectOptions, Credentials, FeedItem};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("CONSENTD_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".to_owned());
    let credentials = std::env::var("CONSENTD_KEY").map_or(Credentials::None, Credentials::ApiKey);
    let client = Client::connect(&ConnectOptions::new(addr, credentials))?;
    for line in run(&client, "ann@example.com").await? {
        println!("{line}");
    }
    Ok(())
}

/// Runs the tasks for the person with `email`; returns what each did.
pub(crate) async fn run(client: &Client, email: &str) -> Result<Vec<String>, tonic::Status> {
    let mut said = Vec::new();
    let person = Identity { namespace: "email".into(), value: email.into() };
    let subject = SubjectRef { subject: Some(subject_ref::Subject::Identity(person.clone())) };

    // Record: granted marketing. No idempotency key is given, so the client
    // adds one and may retry the call safely.
    let written = client
        .record(RecordConsentRequest {
            identities: vec![person],
            decisions: vec![PurposeDecision {
                purpose: "marketing".into(),
                target: String::new(),
                decision: Decision::Granted as i32,
            }],
            source: "web".into(),
            ..RecordConsentRequest::default()
        })
        .await?;
    said.push(format!("recorded at revision {}", written.revision));

    // Follow the feed from here on, for this subject.
    let mut feed = client.subscribe(SubscribeRequest {
        subject_id: written.subject_id.clone(),
        after_revision: written.revision,
        ..SubscribeRequest::default()
    });

    // Check: the client sends the write's revision as min_revision.
    let check = CheckConsentRequest {
        subject: Some(subject.clone()),
        purpose: "marketing".into(),
        ..CheckConsentRequest::default()
    };
    let answer = client.check(check.clone()).await?;
    said.push(format!("marketing: {:?}", ConsentStatus::try_from(answer.status).unwrap_or_default()));

    // Change it: denied now.
    let updated = client
        .update(UpdateConsentRequest {
            subject: Some(subject),
            purpose: "marketing".into(),
            decision: Decision::Denied as i32,
            ..UpdateConsentRequest::default()
        })
        .await?;
    said.push(format!("updated at revision {}", updated.revision));
    let answer = client.check(check).await?;
    said.push(format!("marketing: {:?}", ConsentStatus::try_from(answer.status).unwrap_or_default()));

    // The feed delivers the update (heartbeats in between say it is idle).
    while let Some(item) = feed.next().await {
        if let FeedItem::Event(event) = item? {
            said.push(format!("feed: revision {} {:?}", event.revision, event.kind()));
            break;
        }
    }
    Ok(said)
}
