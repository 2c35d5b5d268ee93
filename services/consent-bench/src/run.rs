//! One measured run, and a target of the performance issues with what a run
//! measured for it: the rows of the report.

use serde::Serialize;

use crate::load::{Latency, Measured};
use crate::pg_activity::Activity;
use crate::process::ProcStats;

/// Where measuring code hands what it measured, as it goes (the report).
pub(crate) trait Results {
    /// A run's figures.
    fn run(&mut self, run: Run);
    /// What PostgreSQL did during a run.
    fn database_activity(&mut self, activity: Activity);
}

/// One measured run.
#[derive(Debug, Serialize)]
pub(crate) struct Run {
    pub(crate) workload: String,
    /// `consentd`, `bare tonic` or `bare insert`.
    pub(crate) system: String,
    pub(crate) backend: Option<String>,
    pub(crate) concurrency: usize,
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) seconds: f64,
    /// Calls (for `bare insert`: rows of writes) per second.
    pub(crate) throughput: f64,
    /// Per call (for `bare insert`: per batch transaction).
    pub(crate) latency_ms: Latency,
    pub(crate) server_cpu_seconds_per_1000_calls: Option<f64>,
    pub(crate) server_peak_rss_mib: Option<f64>,
}

impl Run {
    pub(crate) fn new(
        workload: &str,
        system: &str,
        backend: Option<&str>,
        concurrency: usize,
        measured: &Measured,
        server: ProcStats,
    ) -> Self {
        let mut run = Self::from(workload, system, backend, concurrency, measured);
        run.server_cpu_seconds_per_1000_calls = measured
            .server_cpu
            .filter(|_| measured.calls > 0)
            .map(|cpu| cpu * 1000.0 / measured.calls as f64);
        run.server_peak_rss_mib = Some(server.memory_mib().1);
        run
    }

    pub(crate) fn baseline(
        workload: &str,
        system: &str,
        backend: &str,
        batch: usize,
        measured: &Measured,
    ) -> Self {
        Self::from(workload, system, Some(backend), batch, measured)
    }

    fn from(
        workload: &str,
        system: &str,
        backend: Option<&str>,
        concurrency: usize,
        measured: &Measured,
    ) -> Self {
        Self {
            workload: workload.to_owned(),
            system: system.to_owned(),
            backend: backend.map(str::to_owned),
            concurrency,
            calls: measured.calls,
            errors: measured.errors,
            first_error: measured.first_error.clone(),
            seconds: measured.seconds,
            throughput: measured.throughput(),
            latency_ms: measured.latency,
            server_cpu_seconds_per_1000_calls: None,
            server_peak_rss_mib: None,
        }
    }

    pub(crate) fn label(&self) -> String {
        let backend = self.backend.as_deref().map(|b| format!(" {b}")).unwrap_or_default();
        format!("{} · {}{backend} · c{}", self.workload, self.system, self.concurrency)
    }
}

/// A target of the performance issue and what this run measured for it.
#[derive(Debug, Serialize)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) goal: String,
    pub(crate) measured: String,
    pub(crate) met: bool,
}
