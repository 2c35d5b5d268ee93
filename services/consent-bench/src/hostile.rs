//! Hostile-client memory: the largest RecordConsent requests validation
//! accepts, then Subscribe streams from the beginning that never read a
//! message — the worst case of buffered records. Reports the server's peak
//! resident set; before byte budgets this reached about 2 GiB.

use std::time::Duration;

use consent_proto::v1 as pb;
use consent_store::testing::Backend;
use serde::Serialize;

use crate::workloads::Deployment;

/// Large requests written first.
const REQUESTS: usize = 20;
/// Decisions per request: the most validation allows.
const DECISIONS: usize = 100;

#[derive(Debug, Serialize)]
pub(crate) struct HostileMemory {
    pub(crate) requests: usize,
    pub(crate) records_mib: f64,
    pub(crate) streams: usize,
    /// Streams the server ended as too slow (`RESOURCE_EXHAUSTED`).
    pub(crate) streams_ended: usize,
    pub(crate) idle_rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
}

/// A request whose records are as large as validation lets them be (about
/// 3 MiB together): 16 long identities, 16 KiB of metadata and long texts.
fn largest_request(n: usize) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        identities: (0..16)
            .map(|i| pb::Identity { namespace: format!("ns{i}"), value: format!("{n}-{}", "v".repeat(200)) })
            .collect(),
        decisions: (0..DECISIONS)
            .map(|d| pb::PurposeDecision {
                purpose: format!("purpose-{d}"),
                target: String::new(),
                decision: pb::Decision::Granted.into(),
            })
            .collect(),
        source: "hostile".into(),
        evidence: Some(pb::Evidence {
            user_agent: "u".repeat(2048),
            uri: "r".repeat(2048),
            message: "m".repeat(2048),
            metadata_json: format!("{{\"note\":\"{}\"}}", "x".repeat(16 * 1024 - 16)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) async fn hostile_memory(
    binary: &std::path::Path,
    backend: Backend,
    streams: usize,
) -> HostileMemory {
    let deployment = Deployment::start(binary, backend).await;
    let idle_rss_mib = deployment.server.stats().memory_mib().0;
    let mut client = deployment.clients(1).await.remove(0);
    let mut records_bytes = 0usize;
    for n in 0..REQUESTS {
        let response = client.record_consent(largest_request(n)).await.expect("largest accepted request");
        records_bytes += prost::Message::encoded_len(&response.into_inner());
    }
    let clients = deployment.clients(streams.div_ceil(16).max(1)).await;
    let mut open = Vec::with_capacity(streams);
    for index in 0..streams {
        let mut client = clients[index % clients.len()].clone();
        let request = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
        open.push(client.subscribe(request).await.expect("subscribe opens").into_inner());
    }
    // Nobody reads: every stream fills what it may buffer and is ended after
    // the send timeout (5 s); the peak is somewhere in between.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let peak_rss_mib = deployment.server.stats().memory_mib().1;
    let mut streams_ended = 0;
    for mut stream in open {
        // Drain what the connection holds; the stream must end in an error.
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
                Ok(Ok(Some(_))) => {}
                Ok(Err(status)) => {
                    streams_ended += usize::from(status.code() == tonic::Code::ResourceExhausted);
                    break;
                }
                Ok(Ok(None)) | Err(_) => break,
            }
        }
    }
    let result = HostileMemory {
        requests: REQUESTS,
        records_mib: records_bytes as f64 / (1024.0 * 1024.0),
        streams,
        streams_ended,
        idle_rss_mib,
        peak_rss_mib,
    };
    eprintln!("  {result:?}");
    result
}
