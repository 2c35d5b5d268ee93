//! Durable write throughput: RecordConsent over real gRPC on loopback against
//! a fresh database, at several concurrency levels.
//!
//! ```sh
//! cargo run --release -p consentd --example bench -- --backend sqlite --concurrency 1,16,64 --seconds 10
//! cargo run --release -p consentd --example bench -- --backend postgres
//! ```
//!
//! Every acknowledged write has committed (SQLite `synchronous=FULL`,
//! PostgreSQL `synchronous_commit=on`), so this measures what group commit
//! buys. Prints one markdown table row per level.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_client::ConsentServiceClient;
use consent_store::testing::{Backend, TestDatabase};
use consentd::config::{AuthMode, Config};
use consentd::feed::FeedSettings;
use consentd::server;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

/// RecordConsent durable-throughput benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Database engine (a fresh database per level)
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// Comma-separated concurrency levels (requests in flight)
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Seconds measured per level (after one second of warm-up)
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let backend = match args.backend {
        BackendArg::Sqlite => Backend::Sqlite,
        BackendArg::Postgres => Backend::Postgres,
    };
    println!("| backend | concurrency | writes/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for &concurrency in &args.concurrency {
        let database = TestDatabase::new(backend).await;
        let (rate, p50, p99) = measure(&database.url, concurrency, Duration::from_secs(args.seconds)).await;
        println!("| {:?} | {concurrency} | {rate:.0} | {p50:.2} | {p99:.2} |", args.backend);
    }
}

async fn measure(database_url: &str, concurrency: usize, window: Duration) -> (f64, f64, f64) {
    let config = Config {
        store: consent_store::StoreOptions::new(database_url),
        grpc_listen: "127.0.0.1:0".parse().expect("address"),
        http_listen: "127.0.0.1:0".parse().expect("address"),
        auth: AuthMode::Disabled,
        migrate_on_start: true,
        log_format: None,
        health_interval: Duration::from_secs(5),
        feed: FeedSettings::default(),
        key_secret: None,
        limits: consentd::config::ServerLimits::default(),
        tls: None,
        health_listen: None,
        gateway: consentd::config::GatewaySettings::default(),
        webhooks: consentd::webhooks::WebhookSettings::default(),
        shutdown_grace: Duration::from_secs(10),
    };
    let running = server::start(&config).await.expect("server starts");
    let url = format!("http://{}", running.grpc_addr);

    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + window;
    let counted = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let url = url.clone();
        let counted = Arc::clone(&counted);
        workers.push(tokio::spawn(async move {
            let mut client = ConsentServiceClient::connect(url).await.expect("client connects");
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < stop_at {
                let request = pb::RecordConsentRequest {
                    identities: vec![pb::Identity {
                        namespace: "user_id".into(),
                        value: format!("w{worker}-{n}"),
                    }],
                    decisions: vec![pb::PurposeDecision {
                        purpose: "marketing".into(),
                        target: String::new(),
                        decision: pb::Decision::Granted.into(),
                    }],
                    source: "bench".into(),
                    ..Default::default()
                };
                let started = Instant::now();
                client.record_consent(request).await.expect("write succeeds");
                n += 1;
                if started >= warm_until {
                    counted.fetch_add(1, Ordering::Relaxed);
                    latencies.push(started.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker finishes"));
    }
    running.shutdown().await.expect("clean shutdown");
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (counted.load(Ordering::Relaxed) as f64 / window.as_secs_f64(), percentile(0.5), percentile(0.99))
}
