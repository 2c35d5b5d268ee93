//! A change-feed consumer that never misses an event: it remembers the last
//! position it processed (an event's or a heartbeat's resume token), and
//! whenever the stream ends — slow consumer, server restart, network — it
//! reconnects with backoff and resumes after that position.
//!
//! ```sh
//! CONSENTD_KEY=ck_….… cargo run -p consentd --example subscribe -- http://127.0.0.1:50051 marketing
//! ```
//!
//! The key (`CONSENTD_KEY`) needs the `consent:subscribe` scope; leave it
//! unset against a server started with `--auth disabled`.
//!
//! A real consumer stores `position` durably together with the effect of each
//! event (in the same transaction, where it can), so a crash resumes exactly.

use std::time::Duration;

use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_proto::v1::subscribe_response::Payload;
use consent_proto::v1::{SubscribeRequest, SubscribeResponse};
use tonic::Code;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let purposes: Vec<String> = args.collect();

    // Where to resume: empty means "replay everything first".
    let mut position = String::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        let before = position.clone();
        let ended = consume(&endpoint, &purposes, &mut position).await;
        if position != before {
            // The stream made progress: it was not the server that is down.
            backoff = Duration::from_millis(100);
        }
        match ended {
            Ok(()) => eprintln!("stream closed by the server; resuming"),
            Err(status)
                if matches!(
                    status.code(),
                    Code::InvalidArgument
                        | Code::FailedPrecondition
                        | Code::Unauthenticated
                        | Code::PermissionDenied
                ) =>
            {
                // A position from another database or ahead of it, or a key
                // that is not (or no longer) good: retrying cannot help.
                eprintln!("cannot resume: {status}");
                return;
            }
            Err(status) => eprintln!("stream ended ({:?}: {}); resuming", status.code(), status.message()),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Consumes one stream until it ends, advancing `position` after every
/// processed message.
async fn consume(endpoint: &str, purposes: &[String], position: &mut String) -> Result<(), tonic::Status> {
    let mut client = ConsentServiceClient::connect(endpoint.to_owned())
        .await
        .map_err(|err| tonic::Status::unavailable(err.to_string()))?;
    let mut request = tonic::Request::new(SubscribeRequest {
        purposes: purposes.to_vec(),
        from_beginning: position.is_empty(),
        resume_token: position.clone(),
        ..Default::default()
    });
    if let Ok(key) = std::env::var("CONSENTD_KEY") {
        let bearer =
            format!("Bearer {key}").parse().map_err(|_| tonic::Status::unauthenticated("bad key"))?;
        request.metadata_mut().insert("authorization", bearer);
    }
    let mut stream = client.subscribe(request).await?.into_inner();
    while let Some(SubscribeResponse { payload }) = stream.message().await? {
        match payload {
            Some(Payload::Event(event)) => {
                let kind = event.kind();
                let record = event.record.unwrap_or_default();
                println!(
                    "{} {kind:?} subject={} purpose={:?} target={:?} decision={:?}",
                    event.revision,
                    record.subject_id,
                    record.purpose,
                    record.target,
                    record.decision()
                );
                *position = event.resume_token;
            }
            // Nothing at or below the heartbeat's revision will follow: a
            // checkpoint even when no event matches for a long time.
            Some(Payload::Heartbeat(beat)) => *position = beat.resume_token,
            None => {}
        }
    }
    Ok(())
}
