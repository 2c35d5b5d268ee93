//! The workloads, each against a fresh deployment (`deployment.rs`), and
//! the calls they make.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_store::testing::Backend;
use hdrhistogram::Histogram;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tokio::time::Instant;

pub(crate) use crate::deployment::{Client, Deployment, anonymous, clients};
use crate::load::{Call, Latency, Measured, Window, closed_loop, histogram};
use crate::process::ProcStats;

/// Subjects recorded before the read workloads start.
pub(crate) const PRELOADED: u64 = 1000;

fn identity(value: String) -> pb::Identity {
    pb::Identity { namespace: "user_id".into(), value }
}

pub(crate) fn record(value: String, decision: pb::Decision, source: &str) -> pb::RecordConsentRequest {
    pb::RecordConsentRequest {
        identities: vec![identity(value)],
        decisions: vec![pb::PurposeDecision {
            purpose: "marketing".into(),
            target: String::new(),
            decision: decision.into(),
        }],
        source: source.into(),
        evidence: Some(pb::Evidence {
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) consent-bench".into(),
            ip: "203.0.113.7".into(),
            policy_version: "2026-01".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn check(value: String) -> pb::CheckConsentRequest {
    pb::CheckConsentRequest {
        subject: Some(pb::SubjectRef { subject: Some(pb::subject_ref::Subject::Identity(identity(value))) }),
        purpose: "marketing".into(),
        ..Default::default()
    }
}

/// Records subjects `s0` … `s{PRELOADED-1}` (granted), 16 at a time.
pub(crate) async fn preload(clients: &[Client]) {
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..16)
        .map(|worker| {
            let mut client = clients[worker % clients.len()].clone();
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= PRELOADED {
                        return;
                    }
                    client
                        .record_consent(record(format!("s{n}"), pb::Decision::Granted, "preload"))
                        .await
                        .expect("preload");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("preload worker");
    }
}

fn failed(status: tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// The closed-loop workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Workload {
    /// CheckConsent of a preloaded subject (GRANTED).
    CheckHit,
    /// CheckConsent of a subject never recorded (UNKNOWN).
    CheckMiss,
    /// RecordConsent of a new subject each call.
    RecordUnique,
    /// RecordConsent of one subject, every call.
    RecordHot,
    /// 95% check-hit, 5% RecordConsent of a preloaded subject.
    Mixed,
    /// QueryConsents: the first page of 100 current records.
    QueryPage,
    /// QueryConsents: the whole history of one preloaded subject, by
    /// identity ("what did this person consent to?").
    QuerySubject,
    /// BatchCheckConsent of a preloaded subject: the eight purposes of
    /// [`EIGHT_PURPOSES`] in one call.
    BatchCheck8,
    /// The same eight answers as eight CheckConsent calls, one after
    /// another: the comparison for `batch-check8`.
    CheckEight,
}

/// The purposes the batch workloads ask about: the preloaded grant's first,
/// then seven never recorded (UNKNOWN).
const EIGHT_PURPOSES: [&str; 8] =
    ["marketing", "analytics", "ads", "personalization", "email", "sms", "profiling", "sale"];

impl Workload {
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::CheckHit => "check-hit",
            Self::CheckMiss => "check-miss",
            Self::RecordUnique => "record-unique",
            Self::RecordHot => "record-hot",
            Self::Mixed => "mixed",
            Self::QueryPage => "query-page",
            Self::QuerySubject => "query-subject",
            Self::BatchCheck8 => "batch-check8",
            Self::CheckEight => "check-eight",
        }
    }

    pub(crate) const fn needs_preload(self) -> bool {
        matches!(
            self,
            Self::CheckHit
                | Self::Mixed
                | Self::QueryPage
                | Self::QuerySubject
                | Self::BatchCheck8
                | Self::CheckEight
        )
    }

    /// The call this workload sends, spread over `clients`.
    pub(crate) fn call(self, clients: Vec<Client>) -> Call {
        let clients = Arc::new(clients);
        Arc::new(move |worker, n| {
            let mut client = clients[worker % clients.len()].clone();
            Box::pin(async move {
                let mut rng = rand::rngs::SmallRng::seed_from_u64((worker as u64) << 32 | n);
                match self {
                    Self::CheckHit => check_granted(&mut client, rng.random_range(0..PRELOADED)).await,
                    Self::CheckMiss => {
                        let answer = client
                            .check_consent(check(format!("miss-{worker}-{n}")))
                            .await
                            .map_err(failed)?;
                        expect_status(answer.get_ref().status(), pb::ConsentStatus::Unknown)
                    }
                    Self::RecordUnique => client
                        .record_consent(record(format!("u{worker}-{n}"), pb::Decision::Granted, "bench"))
                        .await
                        .map(drop)
                        .map_err(failed),
                    Self::RecordHot => {
                        let decision = if n % 2 == 0 { pb::Decision::Denied } else { pb::Decision::Granted };
                        client
                            .record_consent(record("hot".into(), decision, "bench"))
                            .await
                            .map(drop)
                            .map_err(failed)
                    }
                    Self::Mixed if rng.random_ratio(1, 20) => client
                        // Re-grants: the check-hit answers stay GRANTED.
                        .record_consent(record(
                            format!("s{}", rng.random_range(0..PRELOADED)),
                            pb::Decision::Granted,
                            "bench",
                        ))
                        .await
                        .map(drop)
                        .map_err(failed),
                    Self::Mixed => check_granted(&mut client, rng.random_range(0..PRELOADED)).await,
                    Self::QueryPage => {
                        let page = client
                            .query_consents(pb::QueryConsentsRequest { page_size: 100, ..Default::default() })
                            .await
                            .map_err(failed)?;
                        if page.get_ref().records.len() == 100 {
                            Ok(())
                        } else {
                            Err("short page".to_owned())
                        }
                    }
                    Self::QuerySubject => {
                        let page = client
                            .query_consents(pb::QueryConsentsRequest {
                                identity: Some(identity(format!("s{}", rng.random_range(0..PRELOADED)))),
                                history: true,
                                page_size: 100,
                                ..Default::default()
                            })
                            .await
                            .map_err(failed)?;
                        if page.get_ref().records.is_empty() { Err("no records".to_owned()) } else { Ok(()) }
                    }
                    Self::BatchCheck8 => batch_check_eight(&mut client, rng.random_range(0..PRELOADED)).await,
                    Self::CheckEight => check_eight(&mut client, rng.random_range(0..PRELOADED)).await,
                }
            })
        })
    }
}

async fn check_granted(client: &mut Client, subject: u64) -> Result<(), String> {
    let answer = client.check_consent(check(format!("s{subject}"))).await.map_err(failed)?;
    expect_status(answer.get_ref().status(), pb::ConsentStatus::Granted)
}

/// The answer a preloaded subject gets for the purpose at `index` of
/// [`EIGHT_PURPOSES`].
fn eight_expected(index: usize) -> pb::ConsentStatus {
    if index == 0 { pb::ConsentStatus::Granted } else { pb::ConsentStatus::Unknown }
}

async fn batch_check_eight(client: &mut Client, subject: u64) -> Result<(), String> {
    use pb::batch_check_consent_request::Check;
    let request = pb::BatchCheckConsentRequest {
        subject: check(format!("s{subject}")).subject,
        checks: EIGHT_PURPOSES
            .iter()
            .map(|p| Check { purpose: (*p).into(), target: String::new() })
            .collect(),
        ..Default::default()
    };
    let answer = client.batch_check_consent(request).await.map_err(failed)?;
    for (index, result) in answer.get_ref().results.iter().enumerate() {
        expect_status(result.status(), eight_expected(index))?;
    }
    Ok(())
}

async fn check_eight(client: &mut Client, subject: u64) -> Result<(), String> {
    for (index, purpose) in EIGHT_PURPOSES.iter().enumerate() {
        let mut request = check(format!("s{subject}"));
        (*purpose).clone_into(&mut request.purpose);
        let answer = client.check_consent(request).await.map_err(failed)?;
        expect_status(answer.get_ref().status(), eight_expected(index))?;
    }
    Ok(())
}

fn expect_status(got: pb::ConsentStatus, want: pb::ConsentStatus) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("answered {got:?}, expected {want:?}")) }
}

/// Runs one closed-loop workload against `deployment`.
pub(crate) async fn run(
    deployment: &Deployment,
    workload: Workload,
    concurrency: usize,
    connections: usize,
    window: Window,
) -> Measured {
    let clients = deployment.clients(connections).await;
    if workload.needs_preload() {
        preload(&clients).await;
    }
    closed_loop(concurrency, window, Some(deployment.server.stats()), workload.call(clients)).await
}

/// What the Subscribe fan-out saw.
#[derive(Debug, Serialize)]
pub(crate) struct FanOut {
    pub(crate) subscribers: usize,
    /// Writes cycle through this many purposes; subscriber `i` watches
    /// purpose `i % purposes` (1: every subscriber sees every write).
    pub(crate) purposes: usize,
    pub(crate) writes_per_second: u64,
    pub(crate) writes: u64,
    pub(crate) write_errors: u64,
    /// Events the subscribers should have received, all together.
    pub(crate) expected_deliveries: u64,
    pub(crate) deliveries: u64,
    /// Streams that ended or failed before the end.
    pub(crate) dropped_subscribers: usize,
    /// From the moment a write was sent to its arrival at a subscriber.
    pub(crate) write_to_delivery_ms: Latency,
    /// From the moment a write was sent to its acknowledgement (the part of
    /// the above that is the write itself).
    pub(crate) write_ms: Latency,
    pub(crate) peak_rss_mib: f64,
    pub(crate) server_cpu_seconds: f64,
}

/// Opens `subscribers` Subscribe streams over `clients`, each watching one
/// of `purposes` purposes, with the number of the `total` writes it is to
/// receive.
async fn open_streams(
    clients: &[crate::deployment::Client],
    subscribers: usize,
    purposes: usize,
    total: u64,
) -> Vec<(tonic::Streaming<pb::SubscribeResponse>, u64)> {
    let mut streams = Vec::with_capacity(subscribers);
    for index in 0..subscribers {
        let mut client = clients[index % clients.len()].clone();
        let purpose = index % purposes;
        let stream = client
            .subscribe(pb::SubscribeRequest {
                sources: vec!["fan".into()],
                purposes: vec![format!("fan-{purpose}")],
                ..Default::default()
            })
            .await
            .expect("subscribe opens")
            .into_inner();
        // The writes of this purpose: n ≡ purpose (mod purposes).
        let expected = (total + (purposes - purpose) as u64 - 1) / purposes as u64;
        streams.push((stream, expected));
    }
    streams
}

/// `subscribers` live streams (100 per connection), each watching one of
/// `purposes` purposes, while one tenant's writes (cycling through the
/// purposes) arrive at `rate` per second for the window.
pub(crate) async fn subscribe_fan_out(
    deployment: &Deployment,
    subscribers: usize,
    purposes: usize,
    rate: u64,
    window: Window,
) -> FanOut {
    let purposes = purposes.max(1);
    let connections = subscribers.div_ceil(100).max(1);
    let clients = deployment.clients(connections).await;
    let total = rate * (window.warmup + window.measured).as_secs().max(1);
    // Send times of the writes, by write number (microseconds since `base`).
    let base = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(u64::MAX)).collect());
    let measure_from = window.warmup.as_micros() as u64;

    let streams = open_streams(&clients, subscribers, purposes, total).await;
    let expected_deliveries: u64 = streams.iter().map(|(_, expected)| expected).sum();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|(stream, expected)| {
            tokio::spawn(read_deliveries(stream, expected, Arc::clone(&sent), base, measure_from))
        })
        .collect();

    // The writer: one write every 1/rate s, each in its own task (an open
    // loop: a slow write does not hold back the next).
    let cpu_before = deployment.server.stats().cpu_seconds();
    let write_errors = Arc::new(AtomicU64::new(0));
    let write_latencies = Arc::new(std::sync::Mutex::new(histogram()));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut writes = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticker.tick().await;
        let mut client = clients[n as usize % clients.len()].clone();
        let sent = Arc::clone(&sent);
        let write_errors = Arc::clone(&write_errors);
        let write_latencies = Arc::clone(&write_latencies);
        writes.push(tokio::spawn(async move {
            let mut request = record(format!("f{n}"), pb::Decision::Granted, "fan");
            request.decisions[0].purpose = format!("fan-{}", n % purposes as u64);
            if let Some(evidence) = request.evidence.as_mut() {
                evidence.message = n.to_string();
            }
            let at = base.elapsed().as_micros() as u64;
            sent[n as usize].store(at, Ordering::Release);
            if client.record_consent(request).await.is_err() {
                write_errors.fetch_add(1, Ordering::Relaxed);
            } else if at >= measure_from {
                let took = (base.elapsed().as_micros() as u64).saturating_sub(at).max(1);
                write_latencies
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .saturating_record(took);
            }
        }));
    }
    for write in writes {
        write.await.expect("write task");
    }
    let (latencies, deliveries, dropped_subscribers) = gather(readers).await;
    let stats: ProcStats = deployment.server.stats();
    FanOut {
        subscribers,
        purposes,
        writes_per_second: rate,
        writes: total,
        write_errors: write_errors.load(Ordering::Relaxed),
        expected_deliveries,
        deliveries,
        dropped_subscribers,
        write_to_delivery_ms: Latency::of(&latencies),
        write_ms: Latency::of(&write_latencies.lock().unwrap_or_else(std::sync::PoisonError::into_inner)),
        peak_rss_mib: stats.memory_mib().1,
        server_cpu_seconds: stats.cpu_seconds() - cpu_before,
    }
}

/// One subscriber's stream until it has had `expected` events: the
/// write-to-delivery latency of each write sent after `measure_from` (µs
/// since `base`; `sent` holds each write's send time by number), how many
/// arrived, and whether the stream ended first.
async fn read_deliveries(
    mut stream: tonic::Streaming<pb::SubscribeResponse>,
    expected: u64,
    sent: Arc<Vec<AtomicU64>>,
    base: Instant,
    measure_from: u64,
) -> (Histogram<u64>, u64, bool) {
    let mut latencies = histogram();
    let mut received = 0u64;
    loop {
        match stream.message().await {
            Ok(Some(pb::SubscribeResponse {
                payload: Some(pb::subscribe_response::Payload::Event(event)),
            })) => {
                received += 1;
                let arrived = base.elapsed().as_micros() as u64;
                let number = event
                    .record
                    .as_ref()
                    .and_then(|r| r.evidence.as_ref())
                    .and_then(|e| e.message.parse::<usize>().ok());
                if let Some(at) = number.and_then(|n| sent.get(n)).map(|at| at.load(Ordering::Acquire))
                    && at != u64::MAX
                    && at >= measure_from
                {
                    latencies.saturating_record(arrived.saturating_sub(at).max(1));
                }
                if received == expected {
                    return (latencies, received, false);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return (latencies, received, true),
        }
    }
}

/// The subscribers' results, given 30 s to finish: the latencies together,
/// the deliveries, and how many subscribers were dropped (or never
/// finished).
async fn gather(
    readers: Vec<tokio::task::JoinHandle<(Histogram<u64>, u64, bool)>>,
) -> (Histogram<u64>, u64, usize) {
    let mut latencies = histogram();
    let (mut deliveries, mut dropped_subscribers) = (0u64, 0usize);
    let give_up = Instant::now() + Duration::from_secs(30);
    for reader in readers {
        match tokio::time::timeout_at(give_up, reader).await {
            Ok(Ok((reader_latencies, received, dropped))) => {
                latencies.add(&reader_latencies).expect("same bounds");
                deliveries += received;
                dropped_subscribers += usize::from(dropped);
            }
            Ok(Err(_)) | Err(_) => dropped_subscribers += 1,
        }
    }
    (latencies, deliveries, dropped_subscribers)
}

/// The resident set of a consentd that has started and served nothing.
pub(crate) async fn idle_rss(binary: &Path, backend: Backend) -> f64 {
    let deployment = Deployment::start(binary, backend).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    deployment.server.stats().memory_mib().0
}

/// One real CheckConsent answer (encoded), for the bare server to repeat.
pub(crate) async fn sample_check_response(binary: &Path, backend: Backend) -> Vec<u8> {
    let deployment = Deployment::start(binary, backend).await;
    let mut clients = deployment.clients(1).await;
    preload(&clients).await;
    let answer = clients[0].check_consent(check("s0".into())).await.expect("check answers").into_inner();
    prost::Message::encode_to_vec(&answer)
}
