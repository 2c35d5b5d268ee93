//! The change-feed checker, after etcd's watch validators: concurrent
//! writers, subscribers that drop their stream at random points and resume,
//! then every stream is checked for order, uniqueness, reliability,
//! resumability, bookmarks and agreement.

use std::collections::BTreeSet;

use consent_proto::v1 as pb;
use tokio::sync::watch;

use crate::subscriber::{Message, Subscriber};
use crate::support::{Client, TestServer, decision, history, identity};

/// A small deterministic generator (xorshift), so a failure replays.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    pub(crate) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[usize::try_from(self.below(from.len() as u64)).unwrap()]
    }
}

const PURPOSES: [&str; 3] = ["", "marketing", "analytics"];
const TARGETS: [&str; 2] = ["", "vendor-1"];
const SOURCES: [&str; 2] = ["web", "app"];

#[derive(Clone)]
pub(crate) struct Filter {
    pub(crate) purposes: Vec<String>,
    pub(crate) targets: Vec<String>,
    pub(crate) sources: Vec<String>,
}

impl Filter {
    fn request(&self) -> pb::SubscribeRequest {
        pb::SubscribeRequest {
            purposes: self.purposes.clone(),
            targets: self.targets.clone(),
            sources: self.sources.clone(),
            ..Default::default()
        }
    }

    /// docs/semantics.md#the-change-feed, restated: wildcard records match purpose and target filters.
    pub(crate) fn matches(&self, record: &pb::ConsentRecord) -> bool {
        let listed = |list: &[String], value: &str| {
            list.is_empty() || value.is_empty() || list.iter().any(|v| v == value)
        };
        listed(&self.purposes, &record.purpose)
            && listed(&self.targets, &record.target)
            && (self.sources.is_empty() || self.sources.contains(&record.source))
    }
}

/// What one connection of a subscriber saw.
pub(crate) struct Segment {
    /// The position it resumed after.
    start: i64,
    messages: Vec<Message>,
}

/// Writes `count` requests; every fourth is a grant that expired a second
/// ago, so the feed announces its expiry at once. Returns how many
/// decisions will expire.
pub(crate) async fn write(mut client: Client, seed: u64, count: usize, done: watch::Sender<i64>) -> usize {
    let mut rng = Rng(seed);
    let mut expiring = 0;
    for i in 0..count {
        let mut purposes: Vec<&str> = PURPOSES.to_vec();
        let take = 1 + usize::try_from(rng.below(3)).unwrap();
        purposes.truncate(take);
        let target = rng.pick(&TARGETS);
        let mut request = pb::RecordConsentRequest {
            identities: vec![identity("user_id", &format!("w{seed}-{i}"))],
            decisions: purposes.iter().map(|p| decision(p, target, pb::Decision::Granted)).collect(),
            source: rng.pick(&SOURCES).to_owned(),
            ..Default::default()
        };
        if i % 4 == 0 {
            request.collected_at = Some(crate::support::seconds_ago(60));
            request.expires_at = Some(crate::support::seconds_ago(1));
            expiring += request.decisions.len();
        }
        let revision = client.record_consent(request).await.unwrap().into_inner().revision;
        done.send_modify(|head| *head = (*head).max(revision));
    }
    expiring
}

/// The whole log once the `expiring` expiries the writers caused are all
/// announced (they are part of what the streams must agree on), with `head`
/// moved to its end.
pub(crate) async fn with_expiries(
    client: &mut Client,
    expiring: usize,
    head: &watch::Sender<i64>,
) -> Vec<pb::ConsentRecord> {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let stored = loop {
        let stored = history(client).await;
        let announced = stored.iter().filter(|r| r.kind() == pb::EventKind::Expired).count();
        assert!(announced <= expiring, "an expiry announced twice");
        if announced == expiring {
            break stored;
        }
        assert!(std::time::Instant::now() < give_up, "{announced} of {expiring} expiries announced");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let end = stored.iter().map(|r| r.revision).max().unwrap_or(0);
    head.send_modify(|head| *head = (*head).max(end));
    stored
}

/// Reads, drops the stream after a random number of messages, resumes from
/// the last position seen (by revision or by token, alternately), until the
/// writers are done and a heartbeat has passed the final head.
pub(crate) async fn subscribe(
    mut client: Client,
    filter: Filter,
    seed: u64,
    writers_done: watch::Receiver<bool>,
    head: watch::Receiver<i64>,
) -> Vec<Segment> {
    let mut rng = Rng(seed);
    let mut segments = Vec::new();
    let mut position = 0i64;
    let mut token = String::new();
    loop {
        let mut request = filter.request();
        if position == 0 {
            request.from_beginning = true;
        } else if segments.len() % 2 == 0 {
            request.after_revision = position;
        } else {
            request.resume_token = token.clone();
        }
        let mut stream = Subscriber::open(&mut client, request).await.unwrap();
        let mut segment = Segment { start: position, messages: Vec::new() };
        let budget = 1 + rng.below(12);
        let mut finished = false;
        for _ in 0..budget {
            let message = stream.next().await;
            match &message {
                Message::Event(event) => {
                    position = event.revision;
                    token = event.resume_token.clone();
                }
                Message::Heartbeat(beat) => {
                    position = beat.revision;
                    token = beat.resume_token.clone();
                    if *writers_done.borrow() && beat.revision >= *head.borrow() {
                        finished = true;
                    }
                }
                Message::End(status) => panic!("stream ended: {status:?}"),
                Message::Closed => panic!("stream closed"),
            }
            segment.messages.push(message);
            if finished {
                break;
            }
        }
        segments.push(segment);
        if finished {
            return segments;
        }
    }
}

pub(crate) fn check_stream(name: &str, segments: &[Segment], matching: &[i64]) -> Vec<i64> {
    let events: Vec<i64> = segments
        .iter()
        .flat_map(|s| s.messages.iter())
        .filter_map(|m| match m {
            Message::Event(e) => Some(e.revision),
            Message::Heartbeat(_) | Message::End(_) | Message::Closed => None,
        })
        .collect();
    // Ordered and unique.
    assert!(events.windows(2).all(|w| w[0] < w[1]), "{name}: not strictly increasing: {events:?}");
    // Reliable: exactly the matching committed events.
    assert_eq!(events, matching, "{name}: delivered events differ from the matching history");
    for (i, segment) in segments.iter().enumerate() {
        // Resumable: the first event after resuming from r is the first matching event > r.
        let first_event = segment.messages.iter().find_map(|m| match m {
            Message::Event(e) => Some(e.revision),
            Message::Heartbeat(_) | Message::End(_) | Message::Closed => None,
        });
        if let Some(first) = first_event {
            let expected = matching.iter().copied().find(|r| *r > segment.start);
            assert_eq!(Some(first), expected, "{name}: segment {i} resumed after {} wrongly", segment.start);
        }
        // Bookmarkable: nothing at or below a heartbeat follows it.
        let mut bookmark = segment.start;
        for message in &segment.messages {
            match message {
                Message::Heartbeat(beat) => bookmark = bookmark.max(beat.revision),
                Message::Event(event) => assert!(
                    event.revision > bookmark,
                    "{name}: event {} after bookmark {bookmark}",
                    event.revision
                ),
                Message::End(_) | Message::Closed => {}
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_is_ordered_reliable_resumable_bookmarkable_and_in_agreement() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let (head_sender, head) = watch::channel(0i64);
    let (done_sender, writers_done) = watch::channel(false);

    let marketing = Filter { purposes: vec!["marketing".into()], targets: vec![], sources: vec![] };
    let filters = [
        ("all", Filter { purposes: vec![], targets: vec![], sources: vec![] }),
        ("marketing-1", marketing.clone()),
        ("marketing-2", marketing),
        (
            "app-vendor-1",
            Filter { purposes: vec![], targets: vec!["vendor-1".into()], sources: vec!["app".into()] },
        ),
    ];
    let subscribers: Vec<_> = filters
        .iter()
        .enumerate()
        .map(|(i, (name, filter))| {
            let task = tokio::spawn(subscribe(
                client.clone(),
                filter.clone(),
                7919 * (i as u64 + 1),
                writers_done.clone(),
                head.clone(),
            ));
            (*name, filter.clone(), task)
        })
        .collect();

    let writers: Vec<_> = (1..=3u64)
        .map(|seed| tokio::spawn(write(client.clone(), seed * 104_729, 40, head_sender.clone())))
        .collect();
    let mut expiring = 0;
    for writer in writers {
        expiring += writer.await.unwrap();
    }
    let mut client = client;
    let stored = with_expiries(&mut client, expiring, &head_sender).await;
    done_sender.send(true).unwrap();

    let mut sequences = Vec::new();
    for (name, filter, task) in subscribers {
        let segments = task.await.unwrap();
        assert!(segments.len() > 1, "{name} never resumed");
        let matching: Vec<i64> = stored.iter().filter(|r| filter.matches(r)).map(|r| r.revision).collect();
        sequences.push((name, check_stream(name, &segments, &matching)));
    }
    // Agreement: the same filter saw the same sequence.
    assert_eq!(sequences[1].1, sequences[2].1);
    let all: BTreeSet<i64> = stored.iter().map(|r| r.revision).collect();
    assert_eq!(sequences[0].1, all.into_iter().collect::<Vec<_>>());
}
