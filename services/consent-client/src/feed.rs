//! `Subscribe` as a stream that resumes by itself.
//!
//! A task owns the call. Each event and heartbeat carries a resume token;
//! the task keeps the last one it handed over and, when the stream breaks
//! (the connection was cut, the server restarted or shut down, the stream
//! was ended for a slow consumer), it calls again with that token after a
//! jittered backoff, for as long as the failures are transient. The server
//! delivers everything after the token, so the consumer sees every event
//! exactly once and in revision order across reconnects. Only a final error
//! (a bad filter, a revoked key) ends the stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use backon::BackoffBuilder;
use consent_proto::v1::subscribe_response::Payload;
use consent_proto::v1::{ConsentEvent, Heartbeat, SubscribeRequest};
use futures_util::Stream;
use tokio::sync::mpsc;
use tonic::Code;

use crate::{RetryPolicy, Stub};

/// What the feed delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// A change (boxed: an event is large, a heartbeat small).
    Event(Box<ConsentEvent>),
    /// The feed is idle up to this revision; its token is a resume point.
    Heartbeat(Heartbeat),
}

impl FeedItem {
    /// The token that resumes the feed after this item.
    pub fn resume_token(&self) -> &str {
        match self {
            Self::Event(event) => &event.resume_token,
            Self::Heartbeat(heartbeat) => &heartbeat.resume_token,
        }
    }
}

/// A self-resuming `Subscribe` stream. Dropping it ends the call.
#[derive(Debug)]
pub struct Feed {
    items: mpsc::Receiver<Result<FeedItem, tonic::Status>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for Feed {
    type Item = Result<FeedItem, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_recv(cx)
    }
}

impl Feed {
    pub(crate) fn start(stub: Stub, retry: RetryPolicy, first: SubscribeRequest) -> Self {
        // A small buffer: the server's own buffer and flow control hold the
        // rest while the consumer is slow.
        let (sender, items) = mpsc::channel(16);
        let task = tokio::spawn(follow(stub, retry, first, sender));
        Self { items, task }
    }
}

/// The request that continues after `token` (or starts as asked).
fn resume(first: &SubscribeRequest, token: Option<&str>) -> SubscribeRequest {
    let mut request = first.clone();
    if let Some(token) = token {
        request.resume_token = token.to_owned();
        request.after_revision = 0;
        request.from_beginning = false;
    }
    request
}

async fn follow(
    mut stub: Stub,
    retry: RetryPolicy,
    mut first: SubscribeRequest,
    sender: mpsc::Sender<Result<FeedItem, tonic::Status>>,
) {
    let schedule = || retry.backoff().without_max_times().build();
    let mut waits = schedule();
    let mut token: Option<String> = None;
    // A live start ("from now") is pinned to the tenant's head first: a
    // stream that broke before its first message would otherwise start
    // again from a later "now" and miss what came between. A key without
    // `consent:read` cannot read the head and follows live, unpinned.
    let mut pinned = first.after_revision != 0 || first.from_beginning || !first.resume_token.is_empty();
    loop {
        // Whether the call was answered (a stream opened), and whether the
        // stream delivered something.
        let (mut opened, mut delivered) = (false, false);
        let cause = if !pinned {
            match head(&mut stub).await {
                Ok(revision) => {
                    // After revision 0 is spelled "from the beginning": 0
                    // itself means live.
                    if revision == 0 {
                        first.from_beginning = true;
                    } else {
                        first.after_revision = revision;
                    }
                    pinned = true;
                    continue;
                }
                Err(status) if status.code() == Code::PermissionDenied => {
                    pinned = true;
                    continue;
                }
                Err(status) => status,
            }
        } else {
            match stub.subscribe(resume(&first, token.as_deref())).await {
                Ok(response) => {
                    opened = true;
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(message)) => {
                                let item = match message.payload {
                                    Some(Payload::Event(event)) => FeedItem::Event(Box::new(event)),
                                    Some(Payload::Heartbeat(heartbeat)) => FeedItem::Heartbeat(heartbeat),
                                    None => continue,
                                };
                                token = Some(item.resume_token().to_owned());
                                if !delivered {
                                    delivered = true;
                                    waits = schedule();
                                }
                                if sender.send(Ok(item)).await.is_err() {
                                    return; // the consumer is gone
                                }
                            }
                            // The server closed the stream cleanly (it is
                            // shutting down): resume elsewhere or after it.
                            Ok(None) => break tonic::Status::unavailable("the server ended the stream"),
                            Err(status) => break status,
                        }
                    }
                }
                Err(status) => status,
            }
        };
        if !resumable(&cause, opened) {
            let _ = sender.send(Err(cause)).await;
            return;
        }
        let wait = waits.next().unwrap_or(retry.max_backoff);
        tracing::warn!(code = ?cause.code(), message = cause.message(), ?wait, "the change feed broke; resuming");
        tokio::time::sleep(wait).await;
    }
}

/// The tenant's head revision (a check of a subject nobody has).
async fn head(stub: &mut Stub) -> Result<i64, tonic::Status> {
    Ok(stub.check_consent(crate::head_check()).await?.into_inner().revision)
}

/// Whether the feed should call again after `cause`. A stream cut after it
/// opened is resumed whatever code the transport gave the cut (hyper's
/// "error reading a body" comes as `UNKNOWN`; the server's own refusals,
/// such as a bad filter or a revoked key, have codes of their own); a call
/// that failed outright is retried only for the codes a retry can outlast.
fn resumable(cause: &tonic::Status, opened: bool) -> bool {
    crate::retry::transient(cause)
        || (opened && matches!(cause.code(), Code::Unknown | Code::Internal | Code::Cancelled))
}
