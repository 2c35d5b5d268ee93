//! Subscribe: replay, live events, heartbeats, resumption, slow subscribers,
//! stream limits and shutdown.

use consent_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use crate::subscriber::{Message, Subscriber, last_revision, revisions};
use crate::support::{TestServer, decision, history, identity, record, record_request};

fn from_beginning() -> pb::SubscribeRequest {
    pb::SubscribeRequest { from_beginning: true, ..Default::default() }
}

#[tokio::test]
async fn replay_hands_over_to_live_events_without_gap_or_duplicate() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for i in 0..20 {
        record(&mut client, identity("user_id", &format!("old-{i}")), "marketing", "", pb::Decision::Granted)
            .await;
    }
    let mut subscriber = Subscriber::open(&mut client, from_beginning()).await.unwrap();
    let writer = {
        let mut client = client.clone();
        tokio::spawn(async move {
            for i in 0..20 {
                record(
                    &mut client,
                    identity("user_id", &format!("new-{i}")),
                    "marketing",
                    "",
                    pb::Decision::Denied,
                )
                .await;
            }
        })
    };
    writer.await.unwrap();
    let events = subscriber.events_through(40).await;
    assert_eq!(revisions(&events), (1..=40).collect::<Vec<_>>());
    let stored = history(&mut client).await;
    let delivered: Vec<_> = events.into_iter().map(|e| e.record.unwrap()).collect();
    assert_eq!(delivered, stored);
}

#[tokio::test]
async fn live_subscription_starts_at_the_head() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    record(&mut client, identity("user_id", "before"), "marketing", "", pb::Decision::Granted).await;
    let mut subscriber = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.unwrap();
    let written =
        record(&mut client, identity("user_id", "after"), "marketing", "", pb::Decision::Granted).await;
    let events = subscriber.events_through(written.revision).await;
    assert_eq!(revisions(&events), [written.revision]);
    assert_eq!(events[0].kind(), pb::EventKind::Recorded);
    assert!(!events[0].resume_token.is_empty());
}

#[tokio::test]
async fn a_requests_records_arrive_together_in_order() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut subscriber = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.unwrap();
    let response = client
        .record_consent(pb::RecordConsentRequest {
            identities: vec![identity("email", "many@example.com")],
            decisions: (0..5).map(|i| decision(&format!("p{i}"), "", pb::Decision::Granted)).collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while events.len() < 5 {
        match subscriber.next().await {
            Message::Event(event) => events.push(event),
            Message::Heartbeat(beat) => {
                assert!(events.is_empty(), "heartbeat {beat:?} split a request's records")
            }
            other @ (Message::End(_) | Message::Closed) => panic!("{other:?}"),
        }
    }
    let delivered: Vec<_> = events.into_iter().map(|e| e.record.unwrap()).collect();
    assert_eq!(delivered, response.records);
}

#[tokio::test]
async fn heartbeats_carry_the_head_while_no_event_matches() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let mut subscriber = Subscriber::open(
        &mut client,
        pb::SubscribeRequest { purposes: vec!["analytics".into()], ..from_beginning() },
    )
    .await
    .unwrap();
    let written = record(&mut client, identity("user_id", "h"), "marketing", "", pb::Decision::Granted).await;
    loop {
        match subscriber.next().await {
            Message::Heartbeat(beat) if beat.revision == written.revision => break,
            Message::Heartbeat(beat) => assert!(beat.revision < written.revision),
            other @ (Message::Event(_) | Message::End(_) | Message::Closed) => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn resume_after_a_revision_or_token_continues_exactly_there() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    for i in 0..6 {
        record(&mut client, identity("user_id", &format!("r-{i}")), "marketing", "", pb::Decision::Granted)
            .await;
    }
    let mut first = Subscriber::open(&mut client, from_beginning()).await.unwrap();
    let seen = first.events_through(6).await;
    drop(first);

    let mut by_revision =
        Subscriber::open(&mut client, pb::SubscribeRequest { after_revision: 3, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(revisions(&by_revision.events_through(6).await), [4, 5, 6]);

    let token = seen[3].resume_token.clone();
    let mut by_token =
        Subscriber::open(&mut client, pb::SubscribeRequest { resume_token: token, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(revisions(&by_token.events_through(6).await), [5, 6]);
}

#[tokio::test]
async fn positions_from_elsewhere_are_rejected() {
    let server = TestServer::start().await;
    let other = TestServer::start().await;
    let mut client = server.client().await;
    let mut other_client = other.client().await;
    record(&mut other_client, identity("user_id", "x"), "marketing", "", pb::Decision::Granted).await;
    let mut elsewhere = Subscriber::open(&mut other_client, from_beginning()).await.unwrap();
    let foreign_token = elsewhere.events_through(1).await[0].resume_token.clone();
    record(&mut client, identity("user_id", "x"), "marketing", "", pb::Decision::Granted).await;

    let err = Subscriber::open(
        &mut client,
        pb::SubscribeRequest { resume_token: foreign_token, ..Default::default() },
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.get_details_bad_request().unwrap().field_violations[0].field, "resume_token");

    let err =
        Subscriber::open(&mut client, pb::SubscribeRequest { after_revision: 99, ..Default::default() })
            .await
            .err()
            .unwrap();
    assert_eq!(err.code(), Code::FailedPrecondition);

    let err = Subscriber::open(&mut client, pb::SubscribeRequest { after_revision: 1, ..from_beginning() })
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn resume_works_across_a_server_restart() {
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    for i in 0..3 {
        record(&mut client, identity("user_id", &format!("a-{i}")), "marketing", "", pb::Decision::Granted)
            .await;
    }
    let mut subscriber = Subscriber::open(&mut client, from_beginning()).await.unwrap();
    let before = subscriber.events_through(3).await;
    let token = before.last().unwrap().resume_token.clone();
    drop(subscriber);
    drop(client);

    server.restart().await;
    let mut client = server.client().await;
    for i in 0..3 {
        record(&mut client, identity("user_id", &format!("b-{i}")), "marketing", "", pb::Decision::Granted)
            .await;
    }
    let mut resumed =
        Subscriber::open(&mut client, pb::SubscribeRequest { resume_token: token, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(revisions(&resumed.events_through(6).await), [4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_is_ended_and_resumes_without_loss() {
    let server = TestServer::start_with(|config| config.feed.buffer = 16).await;
    let mut client = server.client().await;
    // Small HTTP/2 windows, so the stalled stream's backlog cannot hide in
    // transport buffers.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.running().grpc_addr))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut stalled_client = consent_proto::v1::consent_service_client::ConsentServiceClient::new(channel);
    let mut stalled = Subscriber::open(&mut stalled_client, from_beginning()).await.unwrap();

    // Far more than the buffer and the windows hold. The writes complete
    // although the subscriber reads nothing: writers never wait for readers.
    let total = 5000;
    for batch in 0..50 {
        client
            .record_consent(pb::RecordConsentRequest {
                identities: vec![identity("user_id", &format!("bulk-{batch}"))],
                decisions: (0..100).map(|i| decision(&format!("p{i}"), "", pb::Decision::Granted)).collect(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // Let the producer find the buffer full for longer than its send timeout.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let mut received = Vec::new();
    let status = loop {
        match stalled.next().await {
            Message::Event(event) => received.push(event.revision),
            Message::Heartbeat(beat) => {
                assert!(beat.revision < total, "the stream kept up; nothing stalled it")
            }
            Message::End(status) => break status,
            Message::Closed => panic!("stream closed without a status"),
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.get_details_error_info().unwrap().reason, "SUBSCRIBER_TOO_SLOW");
    let last = last_revision(&status);
    assert!(last < total, "the stalled stream cannot have received everything");
    assert_eq!(received.last().copied().unwrap_or(0), last, "last_revision names the last event sent");
    assert_eq!(received, (1..=last).collect::<Vec<_>>());

    let mut resumed =
        Subscriber::open(&mut client, pb::SubscribeRequest { after_revision: last, ..Default::default() })
            .await
            .unwrap();
    let rest = resumed.events_through(total).await;
    assert_eq!(revisions(&rest), (last + 1..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn streams_beyond_the_cap_are_refused() {
    let server = TestServer::start_with(|config| config.feed.max_streams = 2).await;
    let mut client = server.client().await;
    let first = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.unwrap();
    let _second = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.unwrap();
    let err = Subscriber::open(&mut client, pb::SubscribeRequest::default()).await.err().unwrap();
    assert_eq!(err.code(), Code::ResourceExhausted);

    // Closing a stream frees its place.
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        match Subscriber::open(&mut client, pb::SubscribeRequest::default()).await {
            Ok(subscriber) => {
                reopened = Some(subscriber);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert!(reopened.is_some(), "a closed stream's place was never freed");
}

#[tokio::test]
async fn shutdown_ends_streams_with_unavailable_and_their_position() {
    let mut server = TestServer::start().await;
    let mut client = server.client().await;
    let written = record(&mut client, identity("user_id", "s"), "marketing", "", pb::Decision::Granted).await;
    let mut subscriber = Subscriber::open(&mut client, from_beginning()).await.unwrap();
    assert_eq!(revisions(&subscriber.events_through(written.revision).await), [written.revision]);

    let running = server.running.take().unwrap();
    let stopping = tokio::spawn(running.shutdown());
    let status = loop {
        match subscriber.next().await {
            Message::End(status) => break status,
            Message::Heartbeat(_) => {}
            other @ (Message::Event(_) | Message::Closed) => panic!("{other:?}"),
        }
    };
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(last_revision(&status), written.revision);
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn invalid_filters_are_rejected() {
    let server = TestServer::start().await;
    let mut client = server.client().await;
    let cases = [
        (pb::SubscribeRequest { subject_id: "nope".into(), ..Default::default() }, "subject_id"),
        (
            pb::SubscribeRequest { identity: Some(identity("Bad", "x")), ..Default::default() },
            "identity.namespace",
        ),
        (pb::SubscribeRequest { purposes: vec!["x".repeat(200)], ..Default::default() }, "purposes[0]"),
        (pb::SubscribeRequest { sources: vec!["web\n".into()], ..Default::default() }, "sources[0]"),
        (pb::SubscribeRequest { after_revision: -1, ..Default::default() }, "after_revision"),
    ];
    for (request, field) in cases {
        let err = Subscriber::open(&mut client, request).await.err().unwrap();
        assert_eq!(err.code(), Code::InvalidArgument);
        let fields: Vec<_> =
            err.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
        assert!(fields.contains(&field.to_owned()), "expected {field} in {fields:?}");
    }
    let _ = record_request;
}
