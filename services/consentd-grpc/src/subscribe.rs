//! Subscribe over gRPC: the feed's items as `SubscribeResponse` messages,
//! and the end of a stream as a status whose `ErrorInfo` says where to
//! resume.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use consent_proto::v1 as pb;
use tokio_stream::Stream;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::convert;
use super::status::{ERROR_DOMAIN, to_status};
use consentd_feed::{FeedEnd, FeedEnded, FeedItem, FeedStream};

/// A change feed as tonic streams it.
#[derive(Debug)]
pub struct SubscribeStream {
    feed: FeedStream,
}

impl SubscribeStream {
    pub(crate) fn new(feed: FeedStream) -> Self {
        Self { feed }
    }
}

impl Stream for SubscribeStream {
    type Item = Result<pb::SubscribeResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.feed)
            .poll_next(cx)
            .map(|next| next.map(|item| item.map(response).map_err(end_status)))
    }
}

fn response(item: FeedItem) -> pb::SubscribeResponse {
    let payload = match item {
        FeedItem::Event { record, resume_token } => {
            let kind = convert::event_kind_pb(record.kind);
            pb::subscribe_response::Payload::Event(pb::ConsentEvent {
                kind: kind.into(),
                revision: record.revision,
                record: Some(convert::record(*record)),
                resume_token,
            })
        }
        FeedItem::Heartbeat { revision, resume_token } => {
            pb::subscribe_response::Payload::Heartbeat(pb::Heartbeat { revision, resume_token })
        }
    };
    pb::SubscribeResponse { payload: Some(payload) }
}

/// The status a stream ends with: its code, a reason, and where to resume.
fn end_status(ended: FeedEnded) -> Status {
    let (code, reason, message) = match ended.reason {
        FeedEnd::TooSlow => (
            Code::ResourceExhausted,
            "SUBSCRIBER_TOO_SLOW",
            "the subscriber did not keep up; resume after last_revision".to_owned(),
        ),
        FeedEnd::ShuttingDown => (
            Code::Unavailable,
            "SERVER_SHUTTING_DOWN",
            "the server is shutting down; resume after last_revision".to_owned(),
        ),
        FeedEnd::Revoked => {
            (Code::Unauthenticated, "KEY_REVOKED", "the API key of this stream was revoked".to_owned())
        }
        FeedEnd::Failed(err) => {
            let status = to_status(err);
            (status.code(), "FEED_FAILED", status.message().to_owned())
        }
    };
    let metadata = HashMap::from([
        ("last_revision".to_owned(), ended.last_revision.to_string()),
        ("resume_token".to_owned(), ended.resume_token),
    ]);
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata))
}
