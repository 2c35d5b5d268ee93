//! Loading a deployment with people who each decide many purposes: one
//! RecordConsent call a person, eight clients at once.

use consent_proto::v1 as pb;

use crate::workloads::Deployment;

/// Writes `people` people (`p-<n>`), each granting `purposes` purposes,
/// person `n`'s grants expiring at `expires_at(n)`.
pub(crate) async fn write(
    deployment: &Deployment,
    people: usize,
    purposes: usize,
    expires_at: impl Fn(usize) -> Option<prost_types::Timestamp> + Clone + Send + 'static,
) {
    let clients = deployment.clients(8).await;
    let mut writers = Vec::new();
    for (index, mut client) in clients.into_iter().enumerate() {
        let expires_at = expires_at.clone();
        writers.push(tokio::spawn(async move {
            for person in (index..people).step_by(8) {
                let request = pb::RecordConsentRequest {
                    identities: vec![pb::Identity {
                        namespace: "custom_user_id".into(),
                        value: format!("p-{person}"),
                    }],
                    decisions: (0..purposes)
                        .map(|p| pb::PurposeDecision {
                            purpose: format!("purpose-{p}"),
                            target: String::new(),
                            decision: pb::Decision::Granted.into(),
                        })
                        .collect(),
                    expires_at: expires_at(person),
                    source: "bench".into(),
                    ..Default::default()
                };
                client.record_consent(request).await.expect("record");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
}
