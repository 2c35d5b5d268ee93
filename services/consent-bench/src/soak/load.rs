//! The soak's load: writers that retry every write until it is
//! acknowledged (with an idempotency key, so a retry never writes twice), and
//! subscribers that resume after every end from the last revision they were
//! given, keeping every revision delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use tokio::sync::watch;
use tonic::transport::Channel;

pub(crate) type Client = ConsentServiceClient<Channel>;

/// A client of the server at `addr` that reconnects by itself.
pub(crate) fn client(addr: std::net::SocketAddr) -> Client {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    ConsentServiceClient::new(channel)
}

/// A write the server acknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Acknowledged {
    pub(crate) identity: String,
    pub(crate) record_id: String,
}

/// The purpose of write `n`: two purposes, so filtered subscribers see half.
pub(crate) fn purpose(n: u64) -> &'static str {
    if n.is_multiple_of(2) { "marketing" } else { "analytics" }
}

/// Writes until `stop`, each write retried (on any replica, in turn) until
/// acknowledged; the write in flight when `stop` is set still finishes.
pub(crate) async fn write(
    writer: usize,
    clients: Vec<Client>,
    stop: watch::Receiver<bool>,
    acknowledged: Arc<Mutex<Vec<Acknowledged>>>,
) -> usize {
    let mut retries = 0;
    let mut n = 0u64;
    let mut turn = writer;
    while !*stop.borrow() {
        n += 1;
        let identity = format!("soak-{writer}-{n}");
        let request = pb::RecordConsentRequest {
            identities: vec![pb::Identity { namespace: "user_id".into(), value: identity.clone() }],
            decisions: vec![pb::PurposeDecision {
                purpose: purpose(n).into(),
                target: String::new(),
                decision: pb::Decision::Granted.into(),
            }],
            source: "soak".into(),
            idempotency_key: identity.clone(),
            ..Default::default()
        };
        loop {
            turn += 1;
            let mut client = clients[turn % clients.len()].clone();
            match client.record_consent(request.clone()).await {
                Ok(response) => {
                    let record_id =
                        response.into_inner().records.first().map(|r| r.id.clone()).unwrap_or_default();
                    acknowledged
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(Acknowledged { identity, record_id });
                    break;
                }
                Err(_) => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    retries
}

/// What a subscriber watches: everything, or one purpose.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Watch {
    Everything,
    Marketing,
}

/// What one subscriber received.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) name: String,
    pub(crate) watch: Watch,
    pub(crate) revisions: Vec<i64>,
    pub(crate) resumes: usize,
}

/// Follows the feed from the beginning, resuming after every end (on the
/// replicas in turn), until a heartbeat reaches the final head once it is
/// known.
pub(crate) async fn subscribe(
    name: String,
    watch: Watch,
    clients: Vec<Client>,
    final_head: watch::Receiver<Option<i64>>,
) -> Delivered {
    let mut revisions = Vec::new();
    let mut position = 0;
    let mut resumes = 0;
    let mut turn = 0;
    loop {
        turn += 1;
        let mut client = clients[turn % clients.len()].clone();
        let request = pb::SubscribeRequest {
            from_beginning: position == 0,
            after_revision: position,
            purposes: match watch {
                Watch::Everything => Vec::new(),
                Watch::Marketing => vec!["marketing".into()],
            },
            ..Default::default()
        };
        let mut stream = match client.subscribe(request).await {
            Ok(stream) => stream.into_inner(),
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        loop {
            // Ended (a kill, a restart, too slow), or silent for far longer
            // than a heartbeat: resume.
            let Ok(Ok(Some(message))) = tokio::time::timeout(Duration::from_secs(30), stream.message()).await
            else {
                break;
            };
            match message.payload {
                Some(pb::subscribe_response::Payload::Event(event)) => {
                    position = event.revision;
                    revisions.push(event.revision);
                }
                Some(pb::subscribe_response::Payload::Heartbeat(beat)) => {
                    position = position.max(beat.revision);
                    if final_head.borrow().is_some_and(|head| beat.revision >= head) {
                        return Delivered { name, watch, revisions, resumes };
                    }
                }
                None => {}
            }
        }
        resumes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
