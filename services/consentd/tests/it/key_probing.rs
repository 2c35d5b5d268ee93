//! Strangers trying API keys cannot turn requests into database load: key
//! lookups are paid for by the client's address before they are made (a key
//! that exists gives its payment back), and ids found to be no key's are
//! remembered briefly. 10,000 well-formed random keys from one address cost a
//! bounded number of lookups, read from the `consentd.auth.key_lookups`
//! metric of a real process; a client at another address is served.

use std::time::Instant;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::auth::BearerKey;
use crate::http_client::send;
use crate::process::ConsentdProcess;
use crate::support::{identity, record_request};

const ATTEMPTS: usize = 10_000;
const CONCURRENCY: usize = 32;
const RATE: u32 = 5;
const BURST: u32 = 20;

/// A well-formed key (the shape the server issues) that no one issued.
fn random_key(n: usize) -> String {
    let id = format!("ck_{:016x}", n as u64 ^ 0x5eed_0000_0000_0000);
    let secret: String = format!("{n:043}").chars().map(|c| if c == '0' { 'a' } else { c }).collect();
    format!("{id}.{secret}")
}

/// The counter's value for `outcome` in the Prometheus text.
fn lookups(metrics: &str, outcome: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("consentd_auth_key_lookups") && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

/// A gRPC client whose connection comes from `local` (another loopback
/// address).
async fn client_from(
    local: &str,
    server: &str,
    key: &str,
) -> ConsentServiceClient<InterceptedService<Channel, BearerKey>> {
    let (local, server): (std::net::SocketAddr, std::net::SocketAddr) =
        (format!("{local}:0").parse().unwrap(), server.parse().unwrap());
    let channel = Endpoint::from_shared(format!("http://{server}"))
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: tonic::codegen::http::Uri| async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(local)?;
            let stream = socket.connect(server).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
        }))
        .await
        .unwrap();
    ConsentServiceClient::with_interceptor(channel, BearerKey(format!("Bearer {key}").parse().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_keys_from_one_address_cost_a_bounded_number_of_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        format!("[limits]\nkey_lookups_per_address = {RATE}\nkey_lookup_burst_per_address = {BURST}\n");
    let process = ConsentdProcess::start(dir.path(), &config, &[("CONSENTD_AUTH", "required")]).await;
    let valid = process.bootstrap_key.clone().expect("a bootstrap key");
    let request = || record_request(identity("user_id", "u"), "marketing", "", pb::Decision::Granted);

    let started = Instant::now();
    let attempts: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let url = process.url();
            tokio::spawn(async move {
                let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
                let mut codes = Vec::new();
                for n in (worker..ATTEMPTS).step_by(CONCURRENCY) {
                    let value = format!("Bearer {}", random_key(n)).parse().unwrap();
                    let mut client =
                        ConsentServiceClient::with_interceptor(channel.clone(), BearerKey(value));
                    codes.push(client.record_consent(request()).await.unwrap_err().code());
                }
                codes
            })
        })
        .collect();
    let mut codes = Vec::new();
    for attempt in attempts {
        codes.extend(attempt.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(codes.len(), ATTEMPTS);
    assert!(
        codes.iter().all(|code| matches!(code, Code::Unauthenticated | Code::ResourceExhausted)),
        "{:?}",
        codes.iter().find(|code| !matches!(code, Code::Unauthenticated | Code::ResourceExhausted))
    );

    let metrics = send(process.http_addr, "GET", "/metrics", &[], b"").await.body;
    let unknown = lookups(&metrics, "unknown");
    let bound = u64::from(BURST) + (f64::from(RATE) * elapsed.as_secs_f64()).ceil() as u64 + 1;
    eprintln!("{ATTEMPTS} random keys in {elapsed:?}: {unknown} lookups (bound {bound})");
    assert!(unknown >= 1, "the metric counts lookups:\n{metrics}");
    assert!(unknown <= bound, "{unknown} lookups for {ATTEMPTS} unknown keys, more than {bound}");

    // The same address is told to slow down on the vendor routes too. (Its
    // bucket refills 5 a second: a token that came back since the flood
    // buys one lookup, a 401, and the next attempt is refused again.)
    let mut statuses = Vec::new();
    for attempt in 1..=5 {
        let path = format!("/acme/projects/web/consents/data?apiKey={}", random_key(ATTEMPTS + attempt));
        let answer =
            send(process.http_addr, "POST", &path, &[("content-type", "application/json")], b"{}").await;
        statuses.push(answer.status);
        if answer.status == 429 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.iter().all(|status| matches!(status, 401 | 429)), "{statuses:?}");

    // A client at another address, with a real key, is served.
    let mut other = client_from("127.0.0.2", &process.grpc_addr, &valid).await;
    other.record_consent(request()).await.unwrap();
    process.stop().await;
}

/// A valid key is looked up again each time its cache entry lapses (half a
/// second): once, however many calls are in flight then (they wait for that
/// lookup), and at no cost to its address, since it found a key. Found by
/// the benchmark: with lookups of keys that exist charged, 32 calls in
/// flight from one address drained a budget of 10/s within seconds and were
/// refused. A budget of 2 is spent by one herd of misses, or by the lapses
/// of two seconds if found keys were charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_of_a_key_that_exists_cost_its_address_nothing() {
    const WORKERS: usize = 32;
    let server = crate::support::TestServer::start_with(|config| {
        config.auth = consentd::config::AuthMode::Required;
        config.limits.key_lookups = consentd_auth::LookupBudget { rate: 1, burst: 2 };
        // Out of the way: this is about lookups, not the key's own rate.
        config.limits.calls.rate_per_key = 1_000_000;
        config.limits.calls.burst_per_key = 1_000_000;
    })
    .await;
    let key = crate::auth::create_key(&server.database_url(), "acme", &[]);
    let mut client = crate::auth::keyed_client(&server.url(), &key).await;
    let person = || identity("user_id", "jane");
    client.record_consent(record_request(person(), "marketing", "", pb::Decision::Granted)).await.unwrap();
    // Four lapses of the key's cache entry, with 32 checks in flight at each.
    let until = Instant::now() + std::time::Duration::from_millis(2200);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut client = client;
                let mut calls = 0;
                while Instant::now() < until {
                    let check = pb::CheckConsentRequest {
                        subject: crate::support::by_identity(person()),
                        purpose: "marketing".into(),
                        ..Default::default()
                    };
                    client.check_consent(check).await?;
                    calls += 1;
                }
                Ok::<_, tonic::Status>(calls)
            })
        })
        .collect();
    for worker in workers {
        let calls = worker.await.unwrap().expect("a call with a valid key was refused");
        assert!(calls > 0);
    }
}
