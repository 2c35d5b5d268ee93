//! Streams of one tenant opening and closing in a tight loop while writes
//! arrive: every stream receives every event after its starting point. The
//! tenant's shared tail stops as soon as no stream follows it (linger 0),
//! and a fail point holds it at the moment it decides to stop, so a stream
//! that attached to it then — waiting forever on a tail nobody reads — would
//! be caught.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;

use crate::process::ConsentdProcess;
use crate::subscriber::{Message, Subscriber};
use crate::support::{identity, record};

const STREAMS: usize = 30;
const EVENTS_PER_STREAM: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_opening_and_closing_while_writes_arrive_receive_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let process = ConsentdProcess::start(
        dir.path(),
        "[subscribe]\ntail_linger_ms = 0\nheartbeat_interval_ms = 100\npoll_interval_ms = 200\n",
        &[("CONSENTD_AUTH", "disabled"), ("FAILPOINTS", "feed::tail_retire=sleep(200)")],
    )
    .await;
    let client = ConsentServiceClient::connect(process.url()).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut client, stop) = (client.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let who = identity("user_id", &format!("w{n}"));
                record(&mut client, who, "marketing", "", pb::Decision::Granted).await;
            }
        })
    };

    for stream in 0..STREAMS {
        let mut client = client.clone();
        let start = record(&mut client, identity("user_id", "opener"), "marketing", "", pb::Decision::Denied)
            .await
            .revision;
        let request = pb::SubscribeRequest { after_revision: start, ..Default::default() };
        let mut subscriber = Subscriber::open(&mut client, request).await.unwrap();
        let mut revisions = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while revisions.len() < EVENTS_PER_STREAM && tokio::time::Instant::now() < deadline {
            match subscriber.next().await {
                Message::Event(event) => revisions.push(event.revision),
                Message::Heartbeat(_) => {}
                other @ (Message::End(_) | Message::Closed) => panic!("stream {stream} ended: {other:?}"),
            }
        }
        let expected: Vec<i64> = (1..=EVENTS_PER_STREAM as i64).map(|k| start + k).collect();
        assert_eq!(revisions, expected, "stream {stream} (after revision {start}) missed events");
    }
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    process.stop().await;
}
