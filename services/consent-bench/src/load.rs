//! A closed-loop load generator: `concurrency` workers each send one call,
//! wait for its answer and send the next, for a warm-up and then a measured
//! window. Latencies go into an HDR histogram (microseconds).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::process::ProcStats;

/// One call of a workload: worker index and the worker's call number in,
/// success or a short error out.
pub(crate) type Call =
    Arc<dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How long to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) warmup: Duration,
    pub(crate) measured: Duration,
}

/// Percentiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Latency {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// What a measured window saw.
#[derive(Debug)]
pub(crate) struct Measured {
    pub(crate) calls: u64,
    /// Calls sent, the warm-up's included: what the server did in all.
    pub(crate) sent: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) seconds: f64,
    pub(crate) latency: Latency,
    /// Server CPU seconds used in the measured window.
    pub(crate) server_cpu: Option<f64>,
}

impl Measured {
    pub(crate) fn throughput(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs to 100 s at three significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds")
}

/// Runs `call` from `concurrency` workers for the window; `server` (if any)
/// is sampled for CPU time at the start and end of the measured part.
pub(crate) async fn closed_loop(
    concurrency: usize,
    window: Window,
    server: Option<ProcStats>,
    call: Call,
) -> Measured {
    let started = Instant::now();
    let measure_from = started + window.warmup;
    let stop_at = measure_from + window.measured;
    let cpu_at_start = server.map(|stats| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            stats.cpu_seconds()
        })
    });
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let mut latencies = histogram();
                let (mut errors, mut first_error) = (0u64, None);
                let mut n = 0u64;
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break;
                    }
                    let result = call(worker, n).await;
                    n += 1;
                    if sent < measure_from {
                        continue;
                    }
                    match result {
                        Ok(()) => latencies.saturating_record(sent.elapsed().as_micros() as u64),
                        Err(err) => {
                            errors += 1;
                            first_error.get_or_insert(err);
                        }
                    }
                }
                (latencies, errors, first_error, n)
            })
        })
        .collect();
    let mut latencies = histogram();
    let (mut errors, mut first_error, mut sent) = (0u64, None, 0u64);
    for worker in workers {
        let (worker_latencies, worker_errors, worker_error, worker_sent) =
            worker.await.expect("worker finishes");
        sent += worker_sent;
        latencies.add(&worker_latencies).expect("same bounds");
        errors += worker_errors;
        first_error = first_error.or(worker_error);
    }
    let ended = Instant::now();
    let server_cpu = match (cpu_at_start, server) {
        (Some(start), Some(stats)) => Some(stats.cpu_seconds() - start.await.expect("sampler finishes")),
        _ => None,
    };
    Measured {
        calls: latencies.len(),
        sent,
        errors,
        first_error,
        // Calls answered after stop_at still count: the window is measured
        // to the last answer.
        seconds: (ended - measure_from).as_secs_f64(),
        latency: Latency::of(&latencies),
        server_cpu,
    }
}
