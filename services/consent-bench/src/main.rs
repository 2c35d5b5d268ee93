//! consent-bench: drives a real `consentd` over gRPC and reports throughput,
//! latency percentiles, server CPU per call and peak RSS, beside two physical
//! baselines measured in the same run (a bare tonic server, and bare inserts
//! through the database driver), so the results read as ratios.
//!
//! ```sh
//! cargo run --release -p consent-bench            # every workload, both baselines
//! cargo run --release -p consent-bench -- --help  # durations, concurrency, backends
//! ```
//!
//! Writes `docs/benchmarks/latest.json` and `docs/benchmarks/latest.svg`
//! and prints the tables `docs/benchmarks.md` shows.

mod baseline;
mod deployment;
mod evidence_log;
mod expiry;
mod hostile;
mod list_memory;
mod load;
mod overload;
mod people;
mod pg_activity;
mod process;
mod report;
mod run;
mod scale;
mod soak;
mod transfer;
mod vendor_http;
mod webhooks;
mod workloads;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use consent_store::testing::Backend;

use crate::load::{Window, closed_loop};
use crate::process::Server;
use crate::report::{Report, Run};
use crate::workloads::{Deployment, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

impl BackendArg {
    const fn backend(self) -> Backend {
        match self {
            Self::Sqlite => Backend::Sqlite,
            Self::Postgres => Backend::Postgres,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The consentd benchmark harness.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Seconds measured per workload
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before each measurement (not counted)
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Database engines for the record workloads and the insert baseline
    /// (the read workloads run on the first)
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<BackendArg>,
    /// HTTP/2 connections the load generator spreads its calls over
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Subscribers in the Subscribe fan-out (0 skips it)
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Writes per second during the Subscribe fan-out
    #[arg(long, default_value_t = 1000)]
    subscribe_rate: u64,
    /// Purposes the fan-out's writes cycle through; each subscriber watches
    /// one (1: every subscriber receives every write)
    #[arg(long, default_value_t = 100)]
    subscribe_purposes: usize,
    /// Webhook subscriptions in the webhook fan-out (0 skips it)
    #[arg(long, default_value_t = 100)]
    webhooks: usize,
    /// Writes during the webhook fan-out
    #[arg(long, default_value_t = 200)]
    webhook_writes: u64,
    /// Subscribe streams that never read in the hostile-memory run (0 skips it)
    #[arg(long, default_value_t = 64)]
    hostile_streams: usize,
    /// Run the scale comparison instead of the closed-loop workloads: the
    /// same reads and writes on a fresh database and on one loaded with this
    /// many records, on each of --backends (e.g. 10000000)
    #[arg(long)]
    scale: Option<u64>,
    /// Run the overload runs instead of the closed-loop workloads: each
    /// workload's maximum, then twice it offered in an open loop
    #[arg(long)]
    overload: bool,
    /// Run the vendor-route comparison instead of the closed-loop workloads:
    /// Intempt's consent POST over HTTP/1.1 beside RecordConsent over gRPC,
    /// one decision a call, at concurrency 32, on the first of --backends
    #[arg(long)]
    vendor: bool,
    /// Run the whole-list memory runs instead of the benchmarks: for each of
    /// these record counts (e.g. 10000,100000), Secure Privacy's list read
    /// whole over HTTP and the server's peak resident set while it streams,
    /// on the first of --backends
    #[arg(long, value_delimiter = ',')]
    list_memory: Vec<usize>,
    /// Run the expiry run instead of the benchmarks: this many grants (e.g.
    /// 100000) whose expiries fall across one minute, and how long after
    /// its expires_at each EXPIRED event reached a subscriber, on the first
    /// of --backends
    #[arg(long)]
    expiry: Option<usize>,
    /// Run the verifiable log's cost instead of the benchmarks: record-unique
    /// at c64 with the log appended behind the commits and with it off, and
    /// the space its tables take per million records, on each of --backends
    #[arg(long)]
    evidence_log: bool,
    /// Run the export and import runs instead of the benchmarks: this many
    /// records (e.g. 1000000) imported by `consentctl import` and exported
    /// by `consentctl export`, with its peak RSS, beside a bare copy of the
    /// same rows (COPY on PostgreSQL, batched inserts on SQLite), on each of
    /// --backends
    #[arg(long)]
    transfer: Option<u64>,
    /// Run only these closed-loop workloads (default: all)
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Workload>,
    /// Skip the closed-loop workloads and their baselines (run only the
    /// fan-outs and the hostile-client runs)
    #[arg(long)]
    skip_closed_loop: bool,
    /// Directory for latest.json and latest.svg
    #[arg(long, default_value = "docs/benchmarks")]
    out: PathBuf,
    /// A consentd binary to measure (default: build the workspace's, release)
    #[arg(long)]
    consentd: Option<PathBuf>,
    /// Run the fault soak instead of the benchmarks: SIGKILLs of consentd
    /// under writes and resuming subscribers, on each of --backends
    #[arg(long)]
    soak: bool,
    /// SIGKILLs per backend in the soak
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Run consentd on these CPUs only (a `taskset` CPU list, such as `0`).
    /// With the harness itself started on the others (`taskset -c 1
    /// consent-bench …`), the load generator no longer shares a core with
    /// the server it measures
    #[arg(long)]
    server_cpus: Option<String>,
    /// Internal: serve the bare tonic baseline in this process
    #[arg(long, hide = true)]
    bare_grpc: bool,
    /// Internal: serve the bare axum baseline in this process
    #[arg(long, hide = true)]
    bare_http: bool,
}

/// The closed-loop runs: workload and concurrency.
const RUNS: [(Workload, usize); 10] = [
    (Workload::CheckHit, 16),
    (Workload::CheckHit, 64),
    (Workload::BatchCheck8, 16),
    (Workload::CheckEight, 16),
    (Workload::CheckMiss, 64),
    (Workload::Mixed, 64),
    (Workload::QueryPage, 16),
    (Workload::RecordUnique, 1),
    (Workload::RecordUnique, 64),
    (Workload::RecordHot, 64),
];

/// The concurrency (and so the largest group-commit batch) of the record
/// runs the insert baseline is compared with.
const WRITE_CONCURRENCY: usize = 64;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.bare_grpc {
        baseline::serve_bare_grpc().await;
        return;
    }
    if args.bare_http {
        vendor_http::serve_bare_http().await;
        return;
    }
    let window =
        Window { warmup: Duration::from_secs(args.warmup), measured: Duration::from_secs(args.seconds) };
    let binary = process::consentd_binary(args.consentd.clone());
    if let Some(cpus) = &args.server_cpus {
        process::run_servers_on(cpus);
    }
    if args.soak {
        for backend in &args.backends {
            eprintln!("fault soak on {} …", backend.name());
            let report = soak::soak(&binary, backend.backend(), args.kills).await;
            println!("{}", report.markdown());
        }
        return;
    }
    let Some(&primary) = args.backends.first() else {
        eprintln!("consent-bench: --backends names no backend");
        std::process::exit(2);
    };
    if let Some(records) = args.expiry {
        eprintln!("{records} expiries within a minute on {} …", primary.name());
        print!("{}", expiry::expiry_delay(&binary, primary.backend(), records).await.markdown());
        return;
    }
    if let Some(records) = args.transfer {
        let consentctl = process::release_binary("consentctl");
        for backend in &args.backends {
            eprintln!("export and import of {records} records on {} …", backend.name());
            let results = transfer::transfer(&binary, &consentctl, backend.backend(), records).await;
            print!("{}", transfer::Transfer::markdown(backend.name(), &results));
        }
        return;
    }
    if args.evidence_log {
        for backend in &args.backends {
            eprintln!("the verifiable log's cost on {} …", backend.name());
            let cost = evidence_log::evidence_log(&binary, backend.backend(), args.connections, window).await;
            print!("{}: {}", backend.name(), cost.markdown());
        }
        return;
    }
    if !args.list_memory.is_empty() {
        let mut results = Vec::new();
        for &records in &args.list_memory {
            eprintln!("whole list of {records} records on {} …", primary.name());
            results.push(list_memory::list_memory(&binary, primary.backend(), records).await);
        }
        print!("{}", list_memory::ListMemory::markdown(&results));
        return;
    }
    let mut report = Report::new(std::env::args().collect::<Vec<_>>().join(" "));
    if args.scale.is_some() || args.overload || args.vendor {
        special_runs(&args, &binary, window, &mut report).await;
        report.write(&args.out);
        print!("{}", report.markdown());
        return;
    }
    closed_loop_runs(&args, &binary, window, primary, &mut report).await;
    other_runs(&args, &binary, window, primary, &mut report).await;
    report.write(&args.out);
    print!("{}", report.markdown());
}

/// The closed-loop workloads with their baselines: idle RSS, the bare
/// tonic server, every workload, the check cache off, the bare inserts.
async fn closed_loop_runs(
    args: &Args,
    binary: &std::path::Path,
    window: Window,
    primary: BackendArg,
    report: &mut Report,
) {
    let selected = |workload: Workload| {
        !args.skip_closed_loop && (args.only.is_empty() || args.only.contains(&workload))
    };

    eprintln!("idle RSS …");
    report.idle_rss_mib = Some(workloads::idle_rss(binary, primary.backend()).await);

    if selected(Workload::CheckHit) {
        bare_grpc_runs(args.connections, binary, window, primary, report).await;
    }

    for (workload, concurrency) in RUNS {
        if !selected(workload) {
            continue;
        }
        let backends: &[BackendArg] = if matches!(workload, Workload::RecordUnique | Workload::RecordHot) {
            &args.backends
        } else {
            std::slice::from_ref(&primary)
        };
        for backend in backends {
            eprintln!("{} at concurrency {concurrency} on {} …", workload.name(), backend.name());
            let deployment = Deployment::start(binary, backend.backend()).await;
            let statistics = if matches!(workload, Workload::RecordUnique) && concurrency == WRITE_CONCURRENCY
            {
                pg_activity::before(deployment.database_url()).await
            } else {
                None
            };
            let measured = workloads::run(&deployment, workload, concurrency, args.connections, window).await;
            if let Some(statistics) = statistics {
                report
                    .database_activity
                    .push(statistics.after(workload.name(), "consentd", measured.sent).await);
            }
            let stats = deployment.server.stats();
            report.push(Run::new(
                workload.name(),
                "consentd",
                Some(backend.name()),
                concurrency,
                &measured,
                stats,
            ));
        }
    }

    if selected(Workload::CheckHit) {
        // What the check cache buys: the same run with it off.
        eprintln!("check-hit at concurrency 64 without the cache …");
        let deployment = Deployment::start_with(binary, primary.backend(), false).await;
        let measured = workloads::run(&deployment, Workload::CheckHit, 64, args.connections, window).await;
        let stats = deployment.server.stats();
        report.push(Run::new("check-hit", "consentd, no cache", Some(primary.name()), 64, &measured, stats));
    }

    if selected(Workload::RecordUnique) {
        for backend in &args.backends {
            eprintln!("bare insert baseline on {} …", backend.name());
            let (measured, activity) =
                baseline::bare_insert(backend.backend(), WRITE_CONCURRENCY, window).await;
            report.database_activity.extend(activity);
            report.push(Run::baseline(
                "record-unique",
                "bare insert",
                backend.name(),
                WRITE_CONCURRENCY,
                &measured,
            ));
        }
    }
}

/// The bare tonic server answering a real CheckConsent answer, at the
/// check-hit concurrencies.
async fn bare_grpc_runs(
    connections: usize,
    binary: &std::path::Path,
    window: Window,
    primary: BackendArg,
    report: &mut Report,
) {
    eprintln!("bare tonic baseline …");
    let response = workloads::sample_check_response(binary, primary.backend()).await;
    let bare = Server::bare_grpc(&response);
    for concurrency in [16, 64] {
        let clients = workloads::clients(&bare.url, workloads::anonymous(), connections).await;
        let measured =
            closed_loop(concurrency, window, Some(bare.stats()), Workload::CheckHit.call(clients)).await;
        report.push(Run::new("check-hit", "bare tonic", None, concurrency, &measured, bare.stats()));
    }
}

/// The Subscribe fan-out, the hostile-memory run and the webhook fan-out,
/// each when asked for.
async fn other_runs(
    args: &Args,
    binary: &std::path::Path,
    window: Window,
    primary: BackendArg,
    report: &mut Report,
) {
    if args.subscribers > 0 {
        eprintln!(
            "Subscribe fan-out: {} subscribers over {} purposes, {} writes/s …",
            args.subscribers, args.subscribe_purposes, args.subscribe_rate
        );
        let deployment = Deployment::start(binary, primary.backend()).await;
        report.fan_out = Some(
            workloads::subscribe_fan_out(
                &deployment,
                args.subscribers,
                args.subscribe_purposes,
                args.subscribe_rate,
                window,
            )
            .await,
        );
    }

    if args.hostile_streams > 0 {
        eprintln!(
            "hostile memory: the largest requests, then {} streams that never read …",
            args.hostile_streams
        );
        report.hostile_memory =
            Some(hostile::hostile_memory(binary, primary.backend(), args.hostile_streams).await);
    }

    if args.webhooks > 0 {
        eprintln!(
            "webhook fan-out: {} subscriptions, {} writes, on PostgreSQL …",
            args.webhooks, args.webhook_writes
        );
        report.webhook_fan_out =
            Some(webhooks::webhook_fan_out(binary, args.webhooks, args.webhook_writes).await);
    }
}

/// The vendor comparison, the scale comparison and the overload runs.
async fn special_runs(args: &Args, binary: &std::path::Path, window: Window, report: &mut Report) {
    if args.vendor
        && let Some(backend) = args.backends.first()
    {
        vendor_runs(binary, *backend, args.connections, window, report).await;
    }
    for backend in &args.backends {
        if let Some(records) = args.scale {
            let scale = scale::scale(
                binary,
                backend.backend(),
                backend.name(),
                records,
                args.connections,
                window,
                report,
            )
            .await;
            report.scale.push(scale);
        }
        if args.overload {
            // A read path on the database (the check cache off) and the
            // write path: the two that a database bounds.
            for (workload, cache) in [(Workload::CheckHit, false), (Workload::RecordUnique, true)] {
                eprintln!("overload: {} on {} …", workload.name(), backend.name());
                let run = overload::overload(
                    binary,
                    backend.backend(),
                    backend.name(),
                    workload,
                    cache,
                    args.connections,
                    window,
                )
                .await;
                eprintln!(
                    "  goodput {:.0}/s of {:.0}/s offered; {} refused (p99 {:.2} ms); admitted p99 {:.2} ms",
                    run.goodput_per_second,
                    run.offered_per_second,
                    run.refused,
                    run.refused_ms.p99,
                    run.admitted_ms.p99
                );
                report.overload.push(run);
            }
        }
    }
}

/// The vendor routes over HTTP, each on a fresh deployment: Intempt's POST
/// beside RecordConsent over gRPC (one decision a call, the same
/// concurrency); Adobe's POST naming 100 people; Secure Privacy's
/// `consent-given` beside a bare axum handler on the same path.
async fn vendor_runs(
    binary: &std::path::Path,
    backend: BackendArg,
    connections: usize,
    window: Window,
    report: &mut Report,
) {
    const CONCURRENCY: usize = 32;
    let name = Some(backend.name());
    let mut vendor_run = async |label: &str, call: fn(&Deployment) -> load::Call| {
        eprintln!("{label} at concurrency {CONCURRENCY} on {} …", backend.name());
        let deployment = Deployment::start(binary, backend.backend()).await;
        let call = call(&deployment);
        let measured = closed_loop(CONCURRENCY, window, Some(deployment.server.stats()), call).await;
        report.push(Run::new(label, "consentd", name, CONCURRENCY, &measured, deployment.server.stats()));
    };
    vendor_run("intempt-record (HTTP)", |d| vendor_http::intempt_record(d.http(), d.key(), CONCURRENCY))
        .await;
    vendor_run("adobe-100-people (HTTP)", |d| vendor_http::adobe_hundred(d.http(), d.key(), CONCURRENCY))
        .await;

    eprintln!("record-unique over gRPC at concurrency {CONCURRENCY} on {} …", backend.name());
    let deployment = Deployment::start(binary, backend.backend()).await;
    let measured =
        workloads::run(&deployment, Workload::RecordUnique, CONCURRENCY, connections, window).await;
    report.push(Run::new(
        Workload::RecordUnique.name(),
        "consentd",
        name,
        CONCURRENCY,
        &measured,
        deployment.server.stats(),
    ));
    drop(deployment);

    eprintln!("secureprivacy consent-given at concurrency {CONCURRENCY} on {} …", backend.name());
    let deployment = Deployment::start(binary, backend.backend()).await;
    let people = Arc::new(vendor_http::secureprivacy_people(deployment.http(), deployment.key(), 1000).await);
    let call = vendor_http::secureprivacy_check(deployment.http(), deployment.key(), people, CONCURRENCY);
    let measured = closed_loop(CONCURRENCY, window, Some(deployment.server.stats()), call).await;
    let label = "secureprivacy-consent-given (HTTP)";
    report.push(Run::new(label, "consentd", name, CONCURRENCY, &measured, deployment.server.stats()));
    drop(deployment);

    eprintln!("bare axum handler at concurrency {CONCURRENCY} …");
    let bare = Server::bare_http();
    let people = Arc::new(vec![String::new()]);
    let http = bare.http.expect("the bare server's address");
    let call = vendor_http::secureprivacy_check(http, "", people, CONCURRENCY);
    let measured = closed_loop(CONCURRENCY, window, Some(bare.stats()), call).await;
    report.push(Run::new(label, "bare axum", None, CONCURRENCY, &measured, bare.stats()));
}
