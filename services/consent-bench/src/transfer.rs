//! Export and import throughput (docs/cli.md): `consentctl import` of a
//! JSONL file of `records` records into a fresh consentd, then `consentctl
//! export --history` of them back out, each timed with consentctl's peak
//! resident set, beside a bare copy of the same rows through the database
//! driver alone (PostgreSQL's `COPY … FROM STDIN` / `COPY … TO STDOUT`;
//! SQLite's multi-row inserts in transactions of 1,000 with the same
//! durability, and a `SELECT` written out): the floor of moving those bytes
//! in and out of the database.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use consent_store::testing::{Backend, TestDatabase};
use sea_orm::sqlx::postgres::{PgPoolCopyExt as _, PgPoolOptions};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::sqlx::{self, QueryBuilder, Sqlite};
use tokio_stream::StreamExt as _;

use crate::process::ProcStats;
use crate::workloads::Deployment;

/// Decisions per person: one banner's purposes, recorded together.
const PURPOSES: [(&str, &str, &str); 4] = [
    ("analytics", "", "granted"),
    ("marketing", "", "denied"),
    ("personalization", "", "limited"),
    ("ads", "google", "granted"),
];

/// One direction's measurement.
#[derive(Debug)]
pub(crate) struct Transfer {
    pub(crate) what: &'static str,
    pub(crate) by: &'static str,
    pub(crate) records: u64,
    pub(crate) seconds: f64,
    /// consentctl's peak resident set; none for the bare copy.
    pub(crate) peak_rss_mib: Option<f64>,
}

impl Transfer {
    pub(crate) fn markdown(backend: &str, results: &[Self]) -> String {
        let mut out = format!(
            "{backend}:\n\n| direction | by | records | seconds | records/s | client peak RSS |\n|---|---|---|---|---|---|\n"
        );
        for r in results {
            let rss = r.peak_rss_mib.map_or_else(|| "—".to_owned(), |mib| format!("{mib:.1} MiB"));
            out.push_str(&format!(
                "| {} | {} | {} | {:.1} | {:.0} | {rss} |\n",
                r.what,
                r.by,
                r.records,
                r.seconds,
                r.records as f64 / r.seconds
            ));
        }
        out
    }
}

/// Both directions through consentd and through the bare copy.
pub(crate) async fn transfer(
    consentd: &Path,
    consentctl: &Path,
    backend: Backend,
    records: u64,
) -> Vec<Transfer> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("records.jsonl");
    write_records(&input, records);

    let deployment = Deployment::start(consentd, backend).await;
    let ctl = |args: &[&str]| {
        let mut command = Command::new(consentctl);
        command
            .args(args)
            .env("CONSENTD_ADDR", &deployment.server.url)
            .env("CONSENTD_KEY", deployment.key())
            .current_dir(dir.path());
        command
    };
    let (seconds, peak) = timed(ctl(&["import", "records.jsonl", "-o", "json"]));
    let imported = Transfer { what: "import", by: "consentctl", records, seconds, peak_rss_mib: Some(peak) };
    let (seconds, peak) = timed(ctl(&["export", "--history", "--out", "exported.jsonl"]));
    let exported_lines =
        std::io::BufReader::new(std::fs::File::open(dir.path().join("exported.jsonl")).expect("export"))
            .lines()
            .count() as u64;
    assert_eq!(exported_lines, records, "the export holds every record imported");
    let exported = Transfer { what: "export", by: "consentctl", records, seconds, peak_rss_mib: Some(peak) };
    drop(deployment);

    let (copied_in, copied_out) = bare_copy(backend, &input, &dir.path().join("bare.jsonl")).await;
    vec![
        imported,
        Transfer { what: "import", by: "bare copy", records, seconds: copied_in, peak_rss_mib: None },
        exported,
        Transfer { what: "export", by: "bare copy", records, seconds: copied_out, peak_rss_mib: None },
    ]
}

/// `records` records in the export format, four decisions a person.
fn write_records(path: &Path, records: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("records file"));
    for index in 0..records {
        let person = index / PURPOSES.len() as u64;
        let (purpose, target, decision) = PURPOSES[(index % PURPOSES.len() as u64) as usize];
        let line = serde_json::json!({
            "identities": [
                {"namespace": "email", "value": format!("person{person}@bench.example")},
                {"namespace": "user_id", "value": person.to_string()},
            ],
            "purpose": purpose,
            "target": target,
            "decision": decision,
            "collected_at": "2026-01-01T00:00:00Z",
            "source": "web",
            "kind": "recorded",
            "evidence": {"ip": format!("198.51.{}.{}", person / 250 % 250, person % 250), "user_agent": "Mozilla/5.0 (bench)"},
        });
        writeln!(out, "{line}").expect("record written");
    }
    out.flush().expect("records flushed");
}

/// Runs a consentctl command to its end: seconds, and its peak resident set
/// (sampled until it exits).
fn timed(mut command: Command) -> (f64, f64) {
    let started = Instant::now();
    let mut child = command.stdout(std::process::Stdio::null()).spawn().expect("consentctl starts");
    let stats = ProcStats::of(child.id());
    let mut peak: f64 = 0.0;
    let status = loop {
        peak = peak.max(stats.memory_mib().1);
        if let Some(status) = child.try_wait().expect("consentctl waits") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "consentctl {command:?} failed");
    (started.elapsed().as_secs_f64(), peak)
}

/// The same lines into a one-column table and back out to a file: seconds
/// each way.
async fn bare_copy(backend: Backend, input: &Path, output: &PathBuf) -> (f64, f64) {
    let database = TestDatabase::new(backend).await;
    let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(input).expect("records"))
        .lines()
        .map(|line| line.expect("a line"))
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(output).expect("output file"));
    match backend {
        Backend::Postgres => {
            let pool =
                PgPoolOptions::new().max_connections(1).connect(&database.url).await.expect("connects");
            sqlx::query("CREATE TABLE bare_records (doc jsonb NOT NULL)")
                .execute(&pool)
                .await
                .expect("table");
            let started = Instant::now();
            let mut copy = pool.copy_in_raw("COPY bare_records (doc) FROM STDIN").await.expect("copy in");
            let mut chunk = Vec::with_capacity(1 << 20);
            for line in &lines {
                // COPY's text format: a backslash is written twice.
                chunk.extend_from_slice(line.replace('\\', "\\\\").as_bytes());
                chunk.push(b'\n');
                if chunk.len() >= 1 << 20 {
                    copy.send(std::mem::take(&mut chunk)).await.expect("copy data");
                }
            }
            copy.send(chunk).await.expect("copy data");
            copy.finish().await.expect("copy finished");
            let copied_in = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let mut stream = pool.copy_out_raw("COPY bare_records (doc) TO STDOUT").await.expect("copy out");
            while let Some(bytes) = stream.next().await {
                out.write_all(&bytes.expect("copy data")).expect("written");
            }
            out.flush().expect("flushed");
            (copied_in, started.elapsed().as_secs_f64())
        }
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&database.url)
                .expect("sqlite url")
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let pool =
                SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("connects");
            sqlx::query("CREATE TABLE bare_records (doc TEXT NOT NULL)").execute(&pool).await.expect("table");
            let started = Instant::now();
            for batch in lines.chunks(1000) {
                let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO bare_records (doc) ");
                insert.push_values(batch, |mut row, line| {
                    row.push_bind(line);
                });
                insert.build().execute(&pool).await.expect("inserted");
            }
            let copied_in = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let mut rows = sqlx::query_scalar::<_, String>("SELECT doc FROM bare_records").fetch(&pool);
            while let Some(doc) = rows.next().await {
                out.write_all(doc.expect("a row").as_bytes()).expect("written");
                out.write_all(b"\n").expect("written");
            }
            out.flush().expect("flushed");
            (copied_in, started.elapsed().as_secs_f64())
        }
    }
}
