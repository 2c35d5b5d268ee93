//! What the verifiable log costs: RecordConsent of a new subject each call
//! (`record-unique`, c64) with the log appended behind the commits (every
//! 250 ms, the default) and with the log off (`[evidence] log = false`:
//! writes hash nothing and nothing is appended); then, with it
//! on, the log brought up to every record and the space its tables take
//! per million records, and the server's peak resident set in both runs.

use std::path::Path;

use consent_proto::v1 as pb;
use consent_proto::v1::evidence_service_client::EvidenceServiceClient;
use consent_store::testing::Backend;
use sea_orm::ConnectionTrait;

use crate::load::Window;
use crate::workloads::{self, Deployment, Workload};

/// The log off: writes hash nothing and no replica appends.
const LOG_OFF: &str = "\n[evidence]\nlog = false\n";

/// One run's result.
#[derive(Debug)]
pub(crate) struct EvidenceLogCost {
    pub(crate) on_per_second: f64,
    pub(crate) off_per_second: f64,
    pub(crate) on_peak_rss_mib: f64,
    pub(crate) off_peak_rss_mib: f64,
    pub(crate) records: u64,
    /// Bytes of the log's tables (stored hashes, heads, salts, checkpoints)
    /// per million records: PostgreSQL's relation sizes; on SQLite the
    /// database file's bytes per record with the log less without it.
    pub(crate) bytes_per_million: Option<f64>,
}

impl EvidenceLogCost {
    pub(crate) fn markdown(&self) -> String {
        let disk = self
            .bytes_per_million
            .map_or_else(|| "n/a".to_owned(), |bytes| format!("{:.0} MiB", bytes / 1_048_576.0));
        format!(
            "| record-unique c64 | log on | log off | on/off | peak RSS on / off | log tables per 1M records (from {} records) |\n|---|---|---|---|---|---|\n| calls/s | {:.0} | {:.0} | {:.3} | {:.1} / {:.1} MiB | {disk} |\n",
            self.records,
            self.on_per_second,
            self.off_per_second,
            self.on_per_second / self.off_per_second,
            self.on_peak_rss_mib,
            self.off_peak_rss_mib,
        )
    }
}

pub(crate) async fn evidence_log(
    binary: &Path,
    backend: Backend,
    connections: usize,
    window: Window,
) -> EvidenceLogCost {
    let off = Deployment::start_configured(binary, backend, LOG_OFF).await;
    let measured_off = workloads::run(&off, Workload::RecordUnique, 64, connections, window).await;
    let off_peak_rss_mib = off.server.stats().memory_mib().1;
    let off_per_record = sqlite_bytes_per_record(off.database_url()).await;
    drop(off);

    let on = Deployment::start(binary, backend).await;
    let measured_on = workloads::run(&on, Workload::RecordUnique, 64, connections, window).await;
    let on_peak_rss_mib = on.server.stats().memory_mib().1;
    // Every record in the log (on demand, as a fresh checkpoint does), then
    // the size of its tables.
    let channel = tonic::transport::Channel::from_shared(on.server.url.clone())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    let bearer: tonic::metadata::MetadataValue<_> = on.bearer().parse().expect("a header value");
    let mut evidence =
        EvidenceServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", bearer.clone());
            Ok(request)
        });
    let checkpoint = evidence
        .get_checkpoint(pb::GetCheckpointRequest { fresh: true })
        .await
        .expect("a checkpoint")
        .into_inner();
    let records = u64::try_from(checkpoint.tree_size).unwrap_or_default();
    let bytes = match backend {
        Backend::Postgres => table_bytes(on.database_url()).await,
        // The database file with the log and without, per record written.
        Backend::Sqlite => match (sqlite_bytes_per_record(on.database_url()).await, off_per_record) {
            (Some(on), Some(off)) => Some((on - off) * records.max(1) as f64),
            _ => None,
        },
    };
    EvidenceLogCost {
        on_per_second: measured_on.throughput(),
        off_per_second: measured_off.throughput(),
        on_peak_rss_mib,
        off_peak_rss_mib,
        records,
        bytes_per_million: bytes.map(|bytes| bytes * 1_000_000.0 / records.max(1) as f64),
    }
}

/// The bytes of the log's tables on PostgreSQL (indexes and TOAST
/// included).
async fn table_bytes(url: &str) -> Option<f64> {
    let db = sea_orm::Database::connect(url).await.ok()?;
    let sql = "SELECT CAST(SUM(pg_total_relation_size(t)) AS BIGINT) AS bytes FROM \
               unnest(ARRAY['log_tiles','log_heads','subject_salts','log_checkpoints']) AS t";
    let row =
        db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.ok()??;
    let bytes: i64 = row.try_get("", "bytes").ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some(bytes as f64)
}

/// A SQLite database file's bytes per record, its WAL checkpointed into it.
async fn sqlite_bytes_per_record(url: &str) -> Option<f64> {
    let db = sea_orm::Database::connect(url).await.ok()?;
    db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await.ok()?;
    let sql = "SELECT COUNT(*) AS records FROM consent_records";
    let row =
        db.query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql)).await.ok()??;
    let records: i64 = row.try_get("", "records").ok()?;
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    let bytes = std::fs::metadata(path).ok()?.len();
    #[allow(clippy::cast_precision_loss)]
    Some(bytes as f64 / records.max(1) as f64)
}
