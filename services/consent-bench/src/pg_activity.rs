//! What PostgreSQL itself did during a run, from its cumulative statistics:
//! the profile that says where a write's time goes when consentd's own CPU
//! per call does not change (buffer misses, WAL volume, full-page images,
//! pages a backend had to write out itself to find a free buffer).

use crate::process::ProcStats;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;

/// The counters, summed over the database's tables and the cluster's WAL,
/// and the CPU time of the PostgreSQL server's processes and of this one.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    postgres_cpu_seconds: f64,
    generator_cpu_seconds: f64,
    blocks_read: i64,
    blocks_hit: i64,
    wal_bytes: i64,
    wal_full_page_images: i64,
    buffers_written_by_backends: i64,
}

/// The counters' growth over one run, per call.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Activity {
    pub(crate) workload: String,
    pub(crate) system: String,
    pub(crate) calls: u64,
    /// CPU of every PostgreSQL process on this machine (the cluster serves
    /// nothing else during a run).
    pub(crate) postgres_cpu_ms_per_call: f64,
    /// CPU of the load generator (for the bare insert loop: the loop itself).
    pub(crate) generator_cpu_ms_per_call: f64,
    /// Table and index blocks not found in `shared_buffers` (read from the
    /// kernel: its page cache or the disk).
    pub(crate) blocks_read_per_call: f64,
    pub(crate) blocks_hit_per_call: f64,
    pub(crate) wal_bytes_per_call: f64,
    /// Whole 8 KiB pages written to the WAL: the first change to a page
    /// after a checkpoint.
    pub(crate) full_page_images_per_call: f64,
    pub(crate) buffers_written_by_backends_per_call: f64,
    /// `shared_buffers` in force, in MiB.
    pub(crate) shared_buffers_mib: f64,
}

/// A reading taken before a run.
pub(crate) struct Before {
    db: DatabaseConnection,
    counters: Counters,
}

/// Reads the counters before a run; `None` off PostgreSQL.
pub(crate) async fn before(url: &str) -> Option<Before> {
    if !url.starts_with("postgres") {
        return None;
    }
    let db = Database::connect(url).await.expect("connect for statistics");
    let counters = counters(&db).await;
    Some(Before { db, counters })
}

impl Before {
    /// The growth since the reading, divided by `calls` (every call sent
    /// since, the warm-up's included).
    pub(crate) async fn after(self, workload: &str, system: &str, calls: u64) -> Activity {
        // Backends report their statistics at most once a second.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let now = counters(&self.db).await;
        let per_call = |after: i64, before: i64| (after - before) as f64 / calls.max(1) as f64;
        let ms_per_call = |after: f64, before: f64| (after - before) * 1000.0 / calls.max(1) as f64;
        Activity {
            workload: workload.to_owned(),
            system: system.to_owned(),
            calls,
            postgres_cpu_ms_per_call: ms_per_call(
                now.postgres_cpu_seconds,
                self.counters.postgres_cpu_seconds,
            ),
            generator_cpu_ms_per_call: ms_per_call(
                now.generator_cpu_seconds,
                self.counters.generator_cpu_seconds,
            ),
            blocks_read_per_call: per_call(now.blocks_read, self.counters.blocks_read),
            blocks_hit_per_call: per_call(now.blocks_hit, self.counters.blocks_hit),
            wal_bytes_per_call: per_call(now.wal_bytes, self.counters.wal_bytes),
            full_page_images_per_call: per_call(now.wal_full_page_images, self.counters.wal_full_page_images),
            buffers_written_by_backends_per_call: per_call(
                now.buffers_written_by_backends,
                self.counters.buffers_written_by_backends,
            ),
            shared_buffers_mib: shared_buffers_mib(&self.db).await,
        }
    }
}

async fn counters(db: &DatabaseConnection) -> Counters {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT \
               (SELECT COALESCE(sum(heap_blks_read + COALESCE(idx_blks_read, 0)), 0)::int8 \
                  FROM pg_statio_user_tables) AS blocks_read, \
               (SELECT COALESCE(sum(heap_blks_hit + COALESCE(idx_blks_hit, 0)), 0)::int8 \
                  FROM pg_statio_user_tables) AS blocks_hit, \
               (SELECT wal_bytes::int8 FROM pg_stat_wal) AS wal_bytes, \
               (SELECT wal_fpi FROM pg_stat_wal) AS wal_fpi, \
               (SELECT buffers_backend FROM pg_stat_bgwriter) AS buffers_backend",
        ))
        .await
        .expect("statistics")
        .expect("a row");
    let get = |column: &str| row.try_get::<i64>("", column).expect("a counter");
    Counters {
        postgres_cpu_seconds: postgres_cpu_seconds(),
        generator_cpu_seconds: ProcStats::own().cpu_seconds(),
        blocks_read: get("blocks_read"),
        blocks_hit: get("blocks_hit"),
        wal_bytes: get("wal_bytes"),
        wal_full_page_images: get("wal_fpi"),
        buffers_written_by_backends: get("buffers_backend"),
    }
}

async fn shared_buffers_mib(db: &DatabaseConnection) -> f64 {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (setting::int8 * 8192)::int8 AS bytes FROM pg_settings WHERE name = 'shared_buffers'",
        ))
        .await
        .expect("shared_buffers")
        .expect("a row");
    row.try_get::<i64>("", "bytes").expect("bytes") as f64 / (1024.0 * 1024.0)
}

/// CPU seconds used so far by every process named `postgres` (the
/// postmaster, its backends and its background workers).
fn postgres_cpu_seconds() -> f64 {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    processes
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|name| name.trim() == "postgres")
        })
        .map(|pid| ProcStats::of(pid).cpu_seconds())
        .sum()
}
