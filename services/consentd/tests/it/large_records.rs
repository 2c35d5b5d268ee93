//! Memory is bounded by bytes, not counts: records as large as validation
//! allows, through every path. A request whose records would be too large
//! is refused naming `decisions`; a page of large records ends early with a
//! next page token before its response passes the limit clients accept; a
//! Subscribe stream's buffer (and all streams' together) is bounded in
//! bytes — a subscriber that does not read ends RESOURCE_EXHAUSTED and
//! resumes without losing anything, and the budget it held is given back.

use consent_proto::v1 as pb;
use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt;

use crate::subscriber::{Message, Subscriber, last_revision};
use crate::support::{Client, TestServer, decision, history, identity, query_all};

/// Records per request, and requests.
const DECISIONS: usize = 100;
const REQUESTS: usize = 8;

/// Evidence of about `bytes` bytes of text, within every field's limit.
fn evidence(bytes: usize) -> pb::Evidence {
    let metadata = format!("{{\"note\":\"{}\"}}", "m".repeat(bytes.min(16 * 1024 - 16)));
    let rest = bytes.saturating_sub(metadata.len());
    pb::Evidence {
        user_agent: "u".repeat(rest.min(2048)),
        message: "n".repeat(rest.saturating_sub(2048).min(2048)),
        metadata_json: metadata,
        ..Default::default()
    }
}

fn large_request(n: usize, evidence_bytes: usize) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        identities: (0..16)
            .map(|i| identity(&format!("ns{i}"), &format!("{n}-{}", "v".repeat(200))))
            .collect(),
        decisions: (0..DECISIONS)
            .map(|d| decision(&format!("purpose-{d}"), "", pb::Decision::Granted))
            .collect(),
        source: "web".into(),
        evidence: Some(evidence(evidence_bytes)),
        ..Default::default()
    }
}

/// Writes `REQUESTS` requests of records of about 24 KB each: about 19 MB.
async fn write_large(client: &mut Client) -> Vec<i64> {
    let mut revisions = Vec::new();
    for n in 0..REQUESTS {
        let response = client.record_consent(large_request(n, 20 * 1024)).await.unwrap().into_inner();
        revisions.extend(response.records.iter().map(|record| record.revision));
    }
    revisions
}

#[tokio::test]
async fn a_request_whose_records_would_be_too_large_is_refused_naming_decisions() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    // 100 decisions, each carrying about 40 KB of identities and evidence
    // in four-byte characters: about 4 MB of records from a 60 KB request.
    let mut request = large_request(0, 16 * 1024 - 32);
    let wide = "𝄞".repeat(2000);
    if let Some(evidence) = request.evidence.as_mut() {
        evidence.user_agent = wide.clone();
        evidence.uri = wide.clone();
        evidence.message = wide;
    }
    let status = client.record_consent(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    assert_eq!(fields, ["decisions"], "{status:?}");
    assert!(history(&mut client).await.is_empty(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_large_records_end_before_the_response_limit_and_lose_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let written = write_large(&mut client).await;

    let limit = consentd::config::ServerLimits::default().max_response_bytes;
    let mut token = String::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client
            .query_consents(pb::QueryConsentsRequest {
                history: true,
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.encoded_len() <= limit, "page {pages}: {} bytes", page.encoded_len());
        assert!(page.records.len() < 1000, "the page ended early by bytes, not by count");
        seen.extend(page.records.iter().map(|record| record.revision));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(pages >= 4, "{pages} pages for about 19 MB of records");
    assert_eq!(seen, written, "every record once, in order, across pages");
    // The paging helper the other tests use agrees.
    assert_eq!(
        query_all(&mut client, pb::QueryConsentsRequest { history: true, ..Default::default() }).await.len(),
        written.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_do_not_read_are_ended_by_bytes_and_resume_without_loss() {
    // One stream may buffer 1 MiB (about 40 of these records), all streams
    // together 2 MiB.
    let server = TestServer::start_with(|config| {
        config.feed.buffer_bytes = 1024 * 1024;
        config.feed.total_buffer_bytes = 2 * 1024 * 1024;
    })
    .await;
    let mut client = server.client().await;
    let written = write_large(&mut client).await;

    // Three subscribers from the beginning that never read: each fills its
    // buffer (and the server's) and is ended as too slow, resumably.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let request = pb::SubscribeRequest { from_beginning: true, ..Default::default() };
        stalled.push(Subscriber::open(&mut client, request).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for mut subscriber in stalled {
        let mut received = Vec::new();
        let status = loop {
            match subscriber.next().await {
                Message::Event(event) => received.push(event.revision),
                Message::Heartbeat(beat) => {
                    assert!(
                        beat.revision < *written.last().unwrap(),
                        "a subscriber that never read was never ended"
                    )
                }
                Message::End(status) => break status,
                Message::Closed => panic!("closed without a status"),
            }
        };
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        // Nothing was lost: resuming after the last revision it was given
        // yields the rest, in order.
        let resume_after = last_revision(&status);
        let mut resumed = Subscriber::open(
            &mut client,
            pb::SubscribeRequest { after_revision: resume_after, ..Default::default() },
        )
        .await
        .unwrap();
        let head = *written.last().unwrap();
        let rest: Vec<i64> = resumed.events_through(head).await.iter().map(|event| event.revision).collect();
        let delivered: Vec<i64> = received.into_iter().filter(|r| *r <= resume_after).chain(rest).collect();
        let expected: Vec<i64> = written.iter().copied().filter(|r| *r > 0).collect();
        assert_eq!(delivered.len(), expected.len(), "stalled subscriber: lost or repeated events");
        assert_eq!(delivered, expected);
    }

    // The bytes the ended streams held were given back: a reading
    // subscriber receives everything in one stream.
    let mut reader =
        Subscriber::open(&mut client, pb::SubscribeRequest { from_beginning: true, ..Default::default() })
            .await
            .unwrap();
    let all: Vec<i64> =
        reader.events_through(*written.last().unwrap()).await.iter().map(|e| e.revision).collect();
    assert_eq!(all, written);
}

/// A subscriber attached before the writes takes them from the tenant's
/// shared tail in memory — about 1 MiB at a time — and receives every one,
/// in order, in one stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscriber_takes_large_records_from_the_tail_piece_by_piece() {
    let server =
        TestServer::start_with(|config| config.feed.send_timeout = std::time::Duration::from_secs(10)).await;
    let mut client = server.client().await;
    let mut live = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.unwrap();
    let written = write_large(&mut client).await;
    let received: Vec<i64> =
        live.events_through(*written.last().unwrap()).await.iter().map(|event| event.revision).collect();
    assert_eq!(received, written);
}
