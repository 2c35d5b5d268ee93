//! Webhook fan-out: many subscriptions of one tenant delivered to a receiver
//! on loopback while writes arrive, on PostgreSQL. What it measures is what
//! the database does per commit — PostgreSQL's own statistics (index and
//! sequential scans by table), read before and after — beside the same
//! writes with no subscription: the relay's workers follow the tenant's
//! shared tail, so the head and the log are read once per commit however
//! many subscriptions there are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_store::testing::Backend;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

use crate::workloads::{Deployment, record};

/// Webhooks to the receiver on loopback are allowed.
const CONFIG: &str = r#"
[webhooks]
allowed_urls = ["http://127.0.0.1:*"]
allowed_networks = ["127.0.0.0/8"]
"#;

/// PostgreSQL flushes a backend's table statistics at most every second,
/// and an idle one's after 10 s: wait this long before reading them.
const STATS_SETTLE: Duration = Duration::from_secs(11);

/// One side of the comparison.
#[derive(Debug, Serialize)]
pub(crate) struct Side {
    pub(crate) subscriptions: usize,
    pub(crate) writes: u64,
    pub(crate) deliveries: u64,
    /// Scans of `tenant_heads` (the head) per commit.
    pub(crate) head_reads_per_commit: f64,
    /// Scans of `consent_records` (the log, and first-collected lookups of
    /// notifications) per commit.
    pub(crate) record_reads_per_commit: f64,
    pub(crate) seconds: f64,
}

/// The webhook fan-out, with and without subscriptions.
#[derive(Debug, Serialize)]
pub(crate) struct WebhookFanOut {
    pub(crate) without: Side,
    pub(crate) with: Side,
}

pub(crate) async fn webhook_fan_out(
    binary: &std::path::Path,
    subscriptions: usize,
    writes: u64,
) -> WebhookFanOut {
    WebhookFanOut {
        without: measure(binary, 0, writes).await,
        with: measure(binary, subscriptions, writes).await,
    }
}

async fn measure(binary: &std::path::Path, subscriptions: usize, writes: u64) -> Side {
    let deployment = Deployment::start_configured(binary, Backend::Postgres, CONFIG).await;
    let http = deployment.server.http.expect("consentd announces its HTTP port");
    let (receiver, received) = receiver().await;
    for _ in 0..subscriptions {
        let body = serde_json::json!({ "WebhookUrl": format!("http://{receiver}/hook") }).to_string();
        let status = post(http, "/api/universalconsent/subscribe", deployment.bearer(), &body).await;
        assert_eq!(status, 200, "subscribing failed");
    }
    // The relay claims them at its next poll; then the statistics settle.
    tokio::time::sleep(STATS_SETTLE).await;
    let database = Database::connect(deployment.database_url()).await.expect("statistics connection");
    let before = scans(&database).await;
    let started = Instant::now();
    let mut client = deployment.clients(1).await.remove(0);
    for n in 0..writes {
        client.record_consent(record(format!("w{n}"), pb::Decision::Granted, "hook")).await.expect("write");
    }
    let expected = writes * subscriptions as u64;
    let give_up = Instant::now() + Duration::from_secs(300);
    while received.load(Ordering::Acquire) < expected && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(STATS_SETTLE).await;
    let after = scans(&database).await;
    let per_commit = |table: &str| {
        let delta = after.get(table).copied().unwrap_or(0) - before.get(table).copied().unwrap_or(0);
        delta as f64 / writes as f64
    };
    let side = Side {
        subscriptions,
        writes,
        deliveries: received.load(Ordering::Acquire),
        head_reads_per_commit: per_commit("tenant_heads"),
        record_reads_per_commit: per_commit("consent_records"),
        seconds,
    };
    eprintln!("  {side:?}");
    side
}

/// Index plus sequential scans by table, as PostgreSQL counts them.
async fn scans(database: &sea_orm::DatabaseConnection) -> std::collections::HashMap<String, i64> {
    let rows = database
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::bigint AS scans \
             FROM pg_stat_user_tables",
        ))
        .await
        .expect("table statistics");
    rows.iter()
        .filter_map(|row| {
            Some((row.try_get::<String>("", "relname").ok()?, row.try_get::<i64>("", "scans").ok()?))
        })
        .collect()
}

/// A webhook receiver on loopback that answers 200 to everything and
/// counts the requests (HTTP/1.1 with keep-alive).
async fn receiver() -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("receiver binds");
    let addr = listener.local_addr().expect("receiver address");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, Arc::clone(&counter)));
        }
    });
    (addr, received)
}

async fn answer(stream: TcpStream, received: Arc<AtomicU64>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        // Headers up to the empty line.
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        received.fetch_add(1, Ordering::AcqRel);
        if write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
            return;
        }
    }
}

/// POSTs a JSON body with the bearer header; the response status.
async fn post(addr: std::net::SocketAddr, path: &str, bearer: &str, body: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("consentd HTTP port");
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: consentd\r\nauthorization: {bearer}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}
