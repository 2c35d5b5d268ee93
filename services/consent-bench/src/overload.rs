//! The overload run: a workload's maximum measured in a closed loop, then an
//! open loop offering twice that for the window. What is admitted must keep
//! the throughput (goodput) near the maximum with bounded latency; what is
//! refused must be refused quickly (`RESOURCE_EXHAUSTED`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use consent_store::testing::Backend;
use serde::Serialize;
use tokio::time::Instant;

use crate::load::{Call, Latency, Window, closed_loop, histogram};
use crate::workloads::{self, Deployment, Workload};

/// What one overload run saw.
#[derive(Debug, Serialize)]
pub(crate) struct Overload {
    pub(crate) workload: String,
    pub(crate) backend: String,
    pub(crate) cache: bool,
    /// The closed loop's throughput at concurrency 64.
    pub(crate) max_per_second: f64,
    pub(crate) offered_per_second: f64,
    pub(crate) seconds: f64,
    /// Successful calls per second under the offered load.
    pub(crate) goodput_per_second: f64,
    pub(crate) refused: u64,
    pub(crate) failed: u64,
    pub(crate) first_failure: Option<String>,
    pub(crate) admitted_ms: Latency,
    pub(crate) refused_ms: Latency,
    /// CPU seconds per second of the open loop: the server's, and the load
    /// generator's (which shares the machine's cores with it).
    pub(crate) server_cpu_per_second: f64,
    pub(crate) generator_cpu_per_second: f64,
}

/// Measures the maximum of `workload`, then offers twice it.
pub(crate) async fn overload(
    binary: &Path,
    backend: Backend,
    backend_name: &str,
    workload: Workload,
    cache: bool,
    connections: usize,
    window: Window,
) -> Overload {
    // The server's own admission limits, as deployed; only the key's rate
    // limit is raised (one key sends everything).
    let config = format!(
        "[limits]\nrate_per_key = 100000000\nburst_per_key = 100000000\n{}",
        if cache { "" } else { "\n[store]\ncache_max_mib = 0\n" }
    );
    let deployment = Deployment::start_with_config(binary, backend, &config).await;
    let clients = deployment.clients(connections).await;
    if workload.needs_preload() {
        workloads::preload(&clients).await;
    }
    let call = workload.call(clients);
    let max = closed_loop(64, window, Some(deployment.server.stats()), Arc::clone(&call)).await.throughput();
    let offered = 2.0 * max;
    eprintln!("  {}: maximum {max:.0}/s; offering {offered:.0}/s …", workload.name());

    let tally = Arc::new(Tally::new());
    let (server, generator) = (deployment.server.stats(), crate::process::ProcStats::own());
    let cpu_before = (server.cpu_seconds(), generator.cpu_seconds());
    let elapsed = open_loop(&call, offered, window, &tally).await;
    let server_cpu_per_second = (server.cpu_seconds() - cpu_before.0) / elapsed;
    let generator_cpu_per_second = (generator.cpu_seconds() - cpu_before.1) / elapsed;
    let seconds = window.measured.as_secs_f64();
    let admitted = lock(&tally.admitted).clone();
    let refused = lock(&tally.refused).clone();
    let (failed, first_failure) = lock(&tally.failures).clone();
    Overload {
        workload: workload.name().to_owned(),
        backend: backend_name.to_owned(),
        cache,
        max_per_second: max,
        offered_per_second: offered,
        seconds,
        goodput_per_second: admitted.len() as f64 / seconds,
        refused: refused.len(),
        failed,
        first_failure,
        admitted_ms: Latency::of(&admitted),
        refused_ms: Latency::of(&refused),
        server_cpu_per_second,
        generator_cpu_per_second,
    }
}

/// Offers `offered` calls per second for the window, each in its own task
/// (a slow or refused call never holds back the next: an open loop),
/// counting in `tally` those that end within the measured part; returns
/// the seconds it ran.
async fn open_loop(call: &Call, offered: f64, window: Window, tally: &Arc<Tally>) -> f64 {
    let started = Instant::now();
    let total = window.warmup + window.measured;
    let mut tasks = tokio::task::JoinSet::new();
    let mut sent = 0u64;
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while started.elapsed() < total {
        ticks.tick().await;
        let due = (started.elapsed().as_secs_f64() * offered) as u64;
        while sent < due {
            let (call, tally) = (Arc::clone(call), Arc::clone(tally));
            let worker = usize::try_from(sent % 64).unwrap_or(0);
            tasks.spawn(async move {
                let at = Instant::now();
                let outcome = call(worker, sent).await;
                let micros = u64::try_from(at.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                // Counted when it completes within the measured window:
                // goodput is what the server finished in that time.
                let finished = started.elapsed();
                if finished < window.warmup || finished > total {
                    return;
                }
                tally.record(outcome, micros);
            });
            sent += 1;
        }
        // Reap finished calls as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    started.elapsed().as_secs_f64()
}

/// What the open loop counted, shared by its calls: latencies of the calls
/// admitted and of those refused with RESOURCE_EXHAUSTED, and the other
/// failures (how many, and the first).
struct Tally {
    admitted: Mutex<Histogram<u64>>,
    refused: Mutex<Histogram<u64>>,
    failures: Mutex<(u64, Option<String>)>,
}

impl Tally {
    fn new() -> Self {
        Self {
            admitted: Mutex::new(histogram()),
            refused: Mutex::new(histogram()),
            failures: Mutex::new((0, None)),
        }
    }

    /// Counts a call that took `micros` and ended with `outcome`.
    fn record(&self, outcome: Result<(), String>, micros: u64) {
        match outcome {
            Ok(()) => lock(&self.admitted).saturating_record(micros),
            Err(error) if error.starts_with("ResourceExhausted") => {
                lock(&self.refused).saturating_record(micros)
            }
            Err(error) => {
                let mut failures = lock(&self.failures);
                failures.0 += 1;
                failures.1.get_or_insert(error);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
