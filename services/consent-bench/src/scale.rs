//! The scale run: the same workloads on a fresh database and on one holding
//! millions of records, in one run, so the ratio says whether cost grows with
//! the log.
//!
//! The large database is loaded first, in this process, through the store's
//! own write path (validation, identity links, group commit of 1000 writes a
//! transaction, the bulk statements): a tenth as many subjects as records,
//! each with five purposes decided twice (the second round, collected later,
//! after every subject's first, so a subject's records are spread over the
//! log as they are in a store that has run for years). Then one `consentd`
//! serves it with its check cache off, so the reads measure the storage path,
//! and the workloads run against it; the fresh database gets the same.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consent_core::{ConsentService, Decision, Evidence, Identity, PurposeDecision, RecordConsent, TenantId};
use consent_proto::v1 as pb;
use consent_store::StoreOptions;
use consent_store::testing::Backend;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde::Serialize;
use tokio::time::Instant;

use crate::load::Window;
use crate::run::{Results, Run};
use crate::workloads::{self, Client, Deployment, Workload};

/// The workloads compared, with their concurrency; record-unique last (it
/// adds records).
const RUNS: [(Workload, usize); 5] = [
    (Workload::CheckMiss, 64),
    (Workload::CheckHit, 64),
    (Workload::QueryPage, 16),
    (Workload::QuerySubject, 16),
    (Workload::RecordUnique, 64),
];

const PURPOSES: [&str; 5] = ["marketing", "analytics", "ads", "personalisation", "support"];

/// Events a Subscribe resume reads.
const RESUME_EVENTS: u64 = 10_000;

/// What one backend's scale run saw beside its closed-loop runs.
#[derive(Debug, Serialize)]
pub(crate) struct Scale {
    pub(crate) backend: String,
    pub(crate) records: u64,
    pub(crate) load_seconds: f64,
    pub(crate) disk_bytes: u64,
    pub(crate) disk_bytes_per_record: f64,
    /// Subscribe from an old revision, reading `RESUME_EVENTS` events: fresh
    /// database, then the loaded one.
    pub(crate) resume: [Resume; 2],
}

/// One Subscribe resume.
#[derive(Debug, Serialize)]
pub(crate) struct Resume {
    /// The revision the stream started after.
    pub(crate) after_revision: i64,
    pub(crate) events: u64,
    pub(crate) seconds: f64,
    pub(crate) events_per_second: f64,
    /// A stream filtered to one subject, from the beginning: until its
    /// subject's every record arrived.
    pub(crate) subject_ms: f64,
}

/// The labels of the two databases in the report.
pub(crate) const FRESH: &str = "consentd, fresh, no cache";

pub(crate) fn loaded_label(records: u64) -> String {
    format!("consentd, {} records, no cache", millions(records))
}

fn millions(records: u64) -> String {
    if records >= 1_000_000 && records.is_multiple_of(1_000_000) {
        format!("{}M", records / 1_000_000)
    } else {
        records.to_string()
    }
}

/// Runs the comparison on `backend`, handing each run to `results`.
pub(crate) async fn scale(
    binary: &Path,
    backend: Backend,
    backend_name: &str,
    records: u64,
    connections: usize,
    window: Window,
    results: &mut impl Results,
) -> Scale {
    eprintln!("scale on {backend_name}: fresh database …");
    let fresh = Deployment::start_with(binary, backend, false).await;
    let fresh_resume = measure(&fresh, FRESH, backend_name, connections, window, results).await;
    drop(fresh);

    eprintln!("scale on {backend_name}: loading {records} records …");
    let loaded = Deployment::start_with(binary, backend, false).await;
    let load_seconds = load(loaded.database_url(), records).await;
    settle(loaded.database_url(), backend).await;
    let disk_bytes = disk_bytes(loaded.database_url(), backend).await;
    eprintln!(
        "  loaded in {load_seconds:.0} s ({:.0} records/s), {:.1} GB on disk",
        records as f64 / load_seconds,
        disk_bytes as f64 / 1e9
    );
    let label = loaded_label(records);
    let loaded_resume = measure(&loaded, &label, backend_name, connections, window, results).await;
    Scale {
        backend: backend_name.to_owned(),
        records,
        load_seconds,
        disk_bytes,
        disk_bytes_per_record: disk_bytes as f64 / records.max(1) as f64,
        resume: [fresh_resume, loaded_resume],
    }
}

/// The workloads against one deployment, then the Subscribe resumes.
async fn measure(
    deployment: &Deployment,
    system: &str,
    backend: &str,
    connections: usize,
    window: Window,
    results: &mut impl Results,
) -> Resume {
    let clients = deployment.clients(connections).await;
    workloads::preload(&clients).await;
    for (workload, concurrency) in RUNS {
        eprintln!("  {} at concurrency {concurrency} ({system}) …", workload.name());
        let statistics = if matches!(workload, Workload::RecordUnique) {
            crate::pg_activity::before(deployment.database_url()).await
        } else {
            None
        };
        let measured = crate::load::closed_loop(
            concurrency,
            window,
            Some(deployment.server.stats()),
            workload.call(clients.clone()),
        )
        .await;
        if let Some(statistics) = statistics {
            results.database_activity(statistics.after(workload.name(), system, measured.sent).await);
        }
        results.run(Run::new(
            workload.name(),
            system,
            Some(backend),
            concurrency,
            &measured,
            deployment.server.stats(),
        ));
    }
    resume(&clients[0], head(deployment.database_url()).await).await
}

/// Subscribes after an old revision (a tenth into the log) and reads
/// `RESUME_EVENTS` events; then one subject's stream from the beginning.
async fn resume(client: &Client, head: i64) -> Resume {
    let mut client = client.clone();
    let after_revision = (head / 10).min(head - i64::try_from(RESUME_EVENTS).unwrap_or(0)).max(0);
    let wanted = RESUME_EVENTS.min(u64::try_from(head - after_revision).unwrap_or(0));
    let started = Instant::now();
    let mut stream = client
        .subscribe(pb::SubscribeRequest {
            after_revision,
            from_beginning: after_revision == 0,
            ..Default::default()
        })
        .await
        .expect("subscribe")
        .into_inner();
    let mut events = 0;
    while events < wanted {
        match stream.message().await {
            Ok(Some(pb::SubscribeResponse { payload: Some(pb::subscribe_response::Payload::Event(_)) })) => {
                events += 1;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(stream);

    // One preloaded subject, recorded once: the stream of its records from
    // the beginning of the log, until the first arrives.
    let subject = pb::Identity { namespace: "user_id".into(), value: "s7".into() };
    let started = Instant::now();
    let mut stream = client
        .subscribe(pb::SubscribeRequest {
            identity: Some(subject),
            from_beginning: true,
            ..Default::default()
        })
        .await
        .expect("subscribe")
        .into_inner();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.message()).await {
            Ok(Ok(Some(pb::SubscribeResponse {
                payload: Some(pb::subscribe_response::Payload::Event(_)),
            }))) => {
                break;
            }
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None) | Err(_)) | Err(_) => break,
        }
    }
    let subject_ms = started.elapsed().as_secs_f64() * 1000.0;
    Resume {
        after_revision,
        events,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        subject_ms,
    }
}

/// The tenant's head revision, read from the database.
async fn head(url: &str) -> i64 {
    let db = Database::connect(url).await.expect("connect");
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT head FROM tenant_heads WHERE tenant = 'bench'",
        ))
        .await
        .expect("head");
    row.and_then(|row| row.try_get::<i64>("", "head").ok()).unwrap_or(0)
}

/// Loads `records` records into the tenant `bench` of the database at `url`.
async fn load(url: &str, records: u64) -> f64 {
    let mut options = StoreOptions::new(url.to_owned());
    options.max_batch = 1000;
    options.cache_max_bytes = 0;
    options.max_connections = 4;
    let service = ConsentService::new(consent_store::open(&options).await.expect("connect the loader"));
    let subjects = records / (2 * PURPOSES.len() as u64);
    let tenant = TenantId::new("bench");
    let started = Instant::now();
    for round in 0..2u64 {
        let next = Arc::new(AtomicU64::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..64 {
            let (service, next, tenant) = (service.clone(), Arc::clone(&next), tenant.clone());
            workers.spawn(async move {
                loop {
                    let subject = next.fetch_add(1, Ordering::Relaxed);
                    if subject >= subjects {
                        return;
                    }
                    service.record(&tenant, loaded_record(subject, round)).await.expect("load");
                }
            });
        }
        let progress = {
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    let done = (round * subjects + next.load(Ordering::Relaxed)) * PURPOSES.len() as u64;
                    eprintln!("  … {done} records, {:.0}/s", done as f64 / started.elapsed().as_secs_f64());
                }
            })
        };
        while let Some(done) = workers.join_next().await {
            done.expect("loader");
        }
        progress.abort();
    }
    started.elapsed().as_secs_f64()
}

fn loaded_record(subject: u64, round: u64) -> RecordConsent {
    let decision = if (subject + round).is_multiple_of(3) { Decision::Denied } else { Decision::Granted };
    RecordConsent {
        identities: vec![Identity::new("user_id", format!("L{subject}"))],
        decisions: PURPOSES
            .iter()
            .map(|purpose| PurposeDecision::stated(*purpose, String::new(), decision))
            .collect(),
        // The second round is collected a day after the first.
        collected_at: Some(
            consent_core::Timestamp::now()
                .saturating_add_micros(-i64::try_from((2 - round) * 86_400_000_000).unwrap_or(0)),
        ),
        expires_at: None,
        source: "load".into(),
        evidence: Evidence {
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) consent-bench".into(),
            ip: "203.0.113.7".into(),
            policy_version: "2026-01".into(),
            ..Evidence::default()
        },
        idempotency_key: String::new(),
    }
}

/// What autovacuum does after a bulk load on PostgreSQL (statistics, the
/// visibility map); nothing on SQLite, which keeps no statistics unless
/// asked.
async fn settle(url: &str, backend: Backend) {
    if backend == Backend::Postgres {
        let db = Database::connect(url).await.expect("connect");
        db.execute_unprepared("VACUUM ANALYZE").await.expect("vacuum analyze");
    }
}

/// The database's size on disk.
async fn disk_bytes(url: &str, backend: Backend) -> u64 {
    match backend {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default();
            ["", "-wal"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{path}{suffix}")).ok())
                .map(|meta| meta.len())
                .sum()
        }
        Backend::Postgres => {
            let db = Database::connect(url).await.expect("connect");
            let row = db
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_database_size(current_database()) AS size",
                ))
                .await
                .expect("size")
                .expect("a row");
            u64::try_from(row.try_get::<i64>("", "size").expect("size")).unwrap_or(0)
        }
    }
}
