//! A Subscribe client for tests: typed messages, bounded waits.

use std::time::Duration;

use consent_proto::v1 as pb;
use pb::subscribe_response::Payload;
use tonic::Status;
use tonic_types::StatusExt;

use crate::support::Client;

/// One thing a stream can yield.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // test-only values, moved rarely
pub(crate) enum Message {
    Event(pb::ConsentEvent),
    Heartbeat(pb::Heartbeat),
    End(Status),
    Closed,
}

pub(crate) struct Subscriber {
    stream: tonic::Streaming<pb::SubscribeResponse>,
}

impl Subscriber {
    pub(crate) async fn open(client: &mut Client, request: pb::SubscribeRequest) -> Result<Self, Status> {
        let stream = client.subscribe(request).await?.into_inner();
        Ok(Self { stream })
    }

    pub(crate) async fn open_keyed(
        client: &mut crate::auth::KeyedClient,
        request: pb::SubscribeRequest,
    ) -> Result<Self, Status> {
        let stream = client.subscribe(request).await?.into_inner();
        Ok(Self { stream })
    }

    /// The next message; a stream silent for 30 s fails the test (heartbeats
    /// in tests come every 100 ms, so silence means a hang).
    pub(crate) async fn next(&mut self) -> Message {
        let next = tokio::time::timeout(Duration::from_secs(30), self.stream.message())
            .await
            .expect("subscriber waited 30 s for a message");
        match next {
            Ok(Some(pb::SubscribeResponse { payload: Some(Payload::Event(event)) })) => Message::Event(event),
            Ok(Some(pb::SubscribeResponse { payload: Some(Payload::Heartbeat(beat)) })) => {
                Message::Heartbeat(beat)
            }
            Ok(Some(pb::SubscribeResponse { payload: None })) => panic!("empty subscribe response"),
            Ok(None) => Message::Closed,
            Err(status) => Message::End(status),
        }
    }

    /// Events until a heartbeat at or above `head` (so no event at or below
    /// `head` is still to come).
    pub(crate) async fn events_through(&mut self, head: i64) -> Vec<pb::ConsentEvent> {
        let mut events = Vec::new();
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            assert!(tokio::time::Instant::now() < give_up, "no heartbeat reached revision {head}");
            match self.next().await {
                Message::Event(event) => events.push(event),
                Message::Heartbeat(beat) if beat.revision >= head => return events,
                Message::Heartbeat(_) => {}
                other @ (Message::End(_) | Message::Closed) => panic!("stream ended early: {other:?}"),
            }
        }
    }
}

/// The `last_revision` an ending status carries in its ErrorInfo.
pub(crate) fn last_revision(status: &Status) -> i64 {
    let info = status.get_details_error_info().expect("ErrorInfo details");
    info.metadata["last_revision"].parse().expect("numeric last_revision")
}

pub(crate) fn revisions(events: &[pb::ConsentEvent]) -> Vec<i64> {
    events.iter().map(|e| e.revision).collect()
}
