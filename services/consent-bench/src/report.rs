//! The results: JSON for machines, an SVG chart, and the markdown tables of
//! `docs/benchmarks.md` with the targets and the ratios to the baselines.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

pub(crate) use crate::run::{Results, Run, Target};
use crate::workloads::FanOut;

/// Everything one harness run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) command: String,
    pub(crate) commit: String,
    pub(crate) unix_time: u64,
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) idle_rss_mib: Option<f64>,
    pub(crate) runs: Vec<Run>,
    pub(crate) fan_out: Option<FanOut>,
    pub(crate) webhook_fan_out: Option<crate::webhooks::WebhookFanOut>,
    pub(crate) hostile_memory: Option<crate::hostile::HostileMemory>,
    pub(crate) scale: Vec<crate::scale::Scale>,
    pub(crate) overload: Vec<crate::overload::Overload>,
    /// What PostgreSQL did during the write runs: where a write's time goes.
    pub(crate) database_activity: Vec<crate::pg_activity::Activity>,
    pub(crate) targets: Vec<Target>,
}

impl Report {
    pub(crate) fn new(command: String) -> Self {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
            .unwrap_or_default();
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_default();
        Self {
            command,
            commit,
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            idle_rss_mib: None,
            runs: Vec::new(),
            fan_out: None,
            webhook_fan_out: None,
            hostile_memory: None,
            scale: Vec::new(),
            database_activity: Vec::new(),
            overload: Vec::new(),
            targets: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, run: Run) {
        if let Some(error) = &run.first_error {
            eprintln!("  {} errors in {}; first: {error}", run.errors, run.label());
        }
        eprintln!("  {}: {:.0}/s, p99 {:.2} ms", run.label(), run.throughput, run.latency_ms.p99);
        self.runs.push(run);
    }

    fn find(&self, workload: &str, system: &str, backend: Option<&str>, concurrency: usize) -> Option<&Run> {
        self.runs.iter().find(|run| {
            run.workload == workload
                && run.system == system
                && run.concurrency == concurrency
                && (backend.is_none() || run.backend.as_deref() == backend)
        })
    }

    /// The targets, from what was measured.
    fn evaluate(&mut self) {
        let mut targets = Vec::new();
        let ratio = |name: &str, goal: f64, ours: Option<&Run>, limit: Option<&Run>| {
            let (Some(ours), Some(limit)) = (ours, limit) else { return None };
            let ratio = ours.throughput / limit.throughput;
            Some(Target {
                name: name.to_owned(),
                goal: format!("≥ {goal} × baseline"),
                measured: format!("{ratio:.3} × ({:.0}/s vs {:.0}/s)", ours.throughput, limit.throughput),
                met: ratio >= goal,
            })
        };
        targets.extend(ratio(
            "check-hit throughput, c64, vs bare tonic",
            0.5,
            self.find("check-hit", "consentd", None, 64),
            self.find("check-hit", "bare tonic", None, 64),
        ));
        if let Some(run) = self.find("check-hit", "consentd", None, 16) {
            targets.push(Target {
                name: "check-hit p99, c16".to_owned(),
                goal: "≤ 2 ms".to_owned(),
                measured: format!("{:.2} ms", run.latency_ms.p99),
                met: run.latency_ms.p99 <= 2.0,
            });
        }
        for backend in ["sqlite", "postgres"] {
            targets.extend(ratio(
                &format!("record-unique throughput, c64, {backend}, vs bare insert"),
                0.4,
                self.find("record-unique", "consentd", Some(backend), 64),
                self.find("record-unique", "bare insert", Some(backend), WRITE_BATCH),
            ));
        }
        if let Some(fan_out) = &self.fan_out {
            targets.push(Target {
                name: format!(
                    "Subscribe: {} subscribers ({} purposes) at {} writes/s, p99 write-to-delivery",
                    fan_out.subscribers, fan_out.purposes, fan_out.writes_per_second
                ),
                goal: "≤ 50 ms".to_owned(),
                measured: format!("{:.2} ms", fan_out.write_to_delivery_ms.p99),
                met: fan_out.write_to_delivery_ms.p99 <= 50.0,
            });
            targets.push(Target {
                name: "Subscribe: subscribers dropped, deliveries missing".to_owned(),
                goal: "0, 0".to_owned(),
                measured: format!(
                    "{}, {}",
                    fan_out.dropped_subscribers,
                    fan_out.expected_deliveries.saturating_sub(fan_out.deliveries)
                ),
                met: fan_out.dropped_subscribers == 0 && fan_out.deliveries >= fan_out.expected_deliveries,
            });
            targets.push(Target {
                name: "Subscribe: server peak RSS".to_owned(),
                goal: "≤ 256 MiB".to_owned(),
                measured: format!("{:.1} MiB", fan_out.peak_rss_mib),
                met: fan_out.peak_rss_mib <= 256.0,
            });
        }
        targets.extend(ratio(
            "Intempt record over HTTP, c32, vs RecordConsent over gRPC, c32",
            0.8,
            self.find("intempt-record (HTTP)", "consentd", None, 32),
            self.find("record-unique", "consentd", None, 32),
        ));
        targets.extend(self.scale_targets());
        targets.extend(self.overload_targets());
        if let Some(idle) = self.idle_rss_mib {
            targets.push(Target {
                name: "idle RSS".to_owned(),
                goal: "≤ 40 MiB".to_owned(),
                measured: format!("{idle:.1} MiB"),
                met: idle <= 40.0,
            });
        }
        self.targets = targets;
    }

    /// Each workload at scale within 1.3 × of its fresh-database cost:
    /// throughput, and server CPU per call.
    fn scale_targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        for scale in &self.scale {
            let loaded = crate::scale::loaded_label(scale.records);
            for fresh in self.runs.iter().filter(|run| {
                run.system == crate::scale::FRESH && run.backend.as_deref() == Some(scale.backend.as_str())
            }) {
                let Some(big) = self.find(&fresh.workload, &loaded, Some(&scale.backend), fresh.concurrency)
                else {
                    continue;
                };
                let slower = fresh.throughput / big.throughput.max(1e-9);
                let costlier =
                    match (fresh.server_cpu_seconds_per_1000_calls, big.server_cpu_seconds_per_1000_calls) {
                        (Some(fresh), Some(big)) if fresh > 0.0 => big / fresh,
                        _ => f64::NAN,
                    };
                targets.push(Target {
                    name: format!(
                        "{}, c{}, {} at {} records vs fresh",
                        fresh.workload, fresh.concurrency, scale.backend, scale.records
                    ),
                    goal: "≤ 1.3 × (throughput and CPU per call)".to_owned(),
                    measured: format!(
                        "{slower:.2} × slower ({:.0}/s vs {:.0}/s), {costlier:.2} × CPU per call",
                        big.throughput, fresh.throughput
                    ),
                    met: slower <= 1.3 && (costlier.is_nan() || costlier <= 1.3),
                });
            }
            let [fresh, big] = &scale.resume;
            let slower = fresh.events_per_second / big.events_per_second.max(1e-9);
            targets.push(Target {
                name: format!("Subscribe resume from an old revision, {} at {} records vs fresh", scale.backend, scale.records),
                goal: "≤ 1.3 ×".to_owned(),
                measured: format!(
                    "{slower:.2} × slower ({:.0} vs {:.0} events/s); one subject from the beginning {:.1} ms vs {:.1} ms",
                    big.events_per_second, fresh.events_per_second, big.subject_ms, fresh.subject_ms
                ),
                met: slower <= 1.3,
            });
        }
        targets
    }

    /// Under twice the maximum: goodput ≥ 0.9 × the maximum, refusals
    /// answered within 5 ms at p99.
    fn overload_targets(&self) -> Vec<Target> {
        self.overload
            .iter()
            .flat_map(|run| {
                let name = format!(
                    "{}{}, {}: offered 2 × max",
                    run.workload,
                    if run.cache { "" } else { " (no cache)" },
                    run.backend
                );
                let goodput = run.goodput_per_second / run.max_per_second.max(1e-9);
                [
                    Target {
                        name: format!("{name}, goodput"),
                        goal: "≥ 0.9 × max".to_owned(),
                        measured: format!(
                            "{goodput:.2} × ({:.0}/s of max {:.0}/s; admitted p50 {:.2} ms, p99 {:.2} ms)",
                            run.goodput_per_second,
                            run.max_per_second,
                            run.admitted_ms.p50,
                            run.admitted_ms.p99
                        ),
                        met: goodput >= 0.9,
                    },
                    Target {
                        name: format!("{name}, refusals"),
                        goal: "RESOURCE_EXHAUSTED, p99 ≤ 5 ms".to_owned(),
                        measured: format!(
                            "{} refused, p99 {:.2} ms; {} other failures",
                            run.refused, run.refused_ms.p99, run.failed
                        ),
                        met: run.refused > 0 && run.refused_ms.p99 <= 5.0 && run.failed == 0,
                    },
                ]
            })
            .collect()
    }

    /// Writes `latest.json` and `latest.svg` into `dir`.
    pub(crate) fn write(&mut self, dir: &Path) {
        self.evaluate();
        std::fs::create_dir_all(dir).expect("output directory");
        let json = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(dir.join("latest.json"), json + "\n").expect("latest.json written");
        self.chart(&dir.join("latest.svg")).expect("latest.svg drawn");
        eprintln!("wrote {}/latest.json and latest.svg", dir.display());
    }

    /// Throughput of every run as horizontal bars (log scale), baselines in
    /// grey.
    fn chart(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let rows = self.runs.len().max(1);
        let root = SVGBackend::new(path, (1100, 120 + 34 * rows as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let top = self.runs.iter().map(|run| run.throughput).fold(10.0, f64::max) * 2.0;
        let labels: Vec<String> = self.runs.iter().map(Run::label).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("consent-bench {} — calls per second (log scale)", self.commit),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(380)
            .build_cartesian_2d((1.0..top).log_scale(), 0.0..rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows)
            .y_label_formatter(&|y| {
                let index = y.floor() as usize;
                labels.get(rows.saturating_sub(index + 1)).cloned().unwrap_or_default()
            })
            .x_desc("calls/s (bare insert: writes/s)")
            .draw()?;
        chart.draw_series(self.runs.iter().enumerate().map(|(index, run)| {
            let y = (rows - index - 1) as f64;
            let colour = if run.system.starts_with("consentd") { BLUE.mix(0.7) } else { BLACK.mix(0.35) };
            Rectangle::new([(1.0, y + 0.15), (run.throughput.max(1.0), y + 0.85)], colour.filled())
        }))?;
        root.present()?;
        Ok(())
    }

    /// The tables of `docs/benchmarks.md`.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        self.write_header_and_targets(&mut out);
        self.write_runs(&mut out);
        self.write_fan_out(&mut out);
        self.write_hostile(&mut out);
        self.write_webhooks(&mut out);
        self.write_scale(&mut out);
        self.write_activity(&mut out);
        self.write_overload(&mut out);
        self.write_idle(&mut out);
        out
    }

    /// The command, the machine and the targets.
    fn write_header_and_targets(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Command: `{}` at commit {}, {} × {}",
            self.command, self.commit, self.cpus, self.cpu_model
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "| target | goal | measured | met |");
        let _ = writeln!(out, "|---|---|---|---|");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                target.name,
                target.goal,
                target.measured,
                if target.met { "yes" } else { "**no**" }
            );
        }
        let _ = writeln!(out);
    }

    /// Every run, a row each.
    fn write_runs(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| workload | system | backend | concurrency | calls/s | p50 ms | p90 ms | p99 ms | max ms | server CPU s / 1000 calls | server peak RSS MiB | errors |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for run in &self.runs {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                run.workload,
                run.system,
                run.backend.as_deref().unwrap_or("—"),
                run.concurrency,
                run.throughput,
                run.latency_ms.p50,
                run.latency_ms.p90,
                run.latency_ms.p99,
                run.latency_ms.max,
                run.server_cpu_seconds_per_1000_calls.map_or("—".to_owned(), |cpu| format!("{cpu:.3}")),
                run.server_peak_rss_mib.map_or("—".to_owned(), |rss| format!("{rss:.1}")),
                run.errors,
            );
        }
    }

    /// The Subscribe fan-out.
    fn write_fan_out(&self, out: &mut String) {
        if let Some(fan_out) = &self.fan_out {
            let _ = writeln!(out);
            let latency = fan_out.write_to_delivery_ms;
            let _ = writeln!(
                out,
                "Subscribe fan-out: {} subscribers, each watching one of {} purposes; {} writes at {}/s ({} failed): {} of {} deliveries, {} subscribers dropped; write-to-delivery p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms (of which the write's own acknowledgement: p50 {:.2} ms, p99 {:.2} ms); server peak RSS {:.1} MiB, CPU {:.1} s.",
                fan_out.subscribers,
                fan_out.purposes,
                fan_out.writes,
                fan_out.writes_per_second,
                fan_out.write_errors,
                fan_out.deliveries,
                fan_out.expected_deliveries,
                fan_out.dropped_subscribers,
                latency.p50,
                latency.p90,
                latency.p99,
                latency.max,
                fan_out.write_ms.p50,
                fan_out.write_ms.p99,
                fan_out.peak_rss_mib,
                fan_out.server_cpu_seconds,
            );
        }
    }

    /// The hostile-memory run.
    fn write_hostile(&self, out: &mut String) {
        if let Some(hostile) = &self.hostile_memory {
            let _ = writeln!(
                out,
                "\nHostile memory: {} of the largest accepted RecordConsent requests ({:.1} MiB of records), then {} Subscribe streams from the beginning that never read ({} ended RESOURCE_EXHAUSTED): server RSS {:.1} MiB before, peak {:.1} MiB.",
                hostile.requests,
                hostile.records_mib,
                hostile.streams,
                hostile.streams_ended,
                hostile.idle_rss_mib,
                hostile.peak_rss_mib
            );
        }
    }

    /// The webhook fan-out.
    fn write_webhooks(&self, out: &mut String) {
        if let Some(hooks) = &self.webhook_fan_out {
            let _ = writeln!(
                out,
                "\nWebhook fan-out on PostgreSQL (table scans per commit, from `pg_stat_user_tables`):\n"
            );
            let _ = writeln!(
                out,
                "| subscriptions | writes | deliveries | head reads / commit | record reads / commit | seconds |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for side in [&hooks.without, &hooks.with] {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                    side.subscriptions,
                    side.writes,
                    side.deliveries,
                    side.head_reads_per_commit,
                    side.record_reads_per_commit,
                    side.seconds
                );
            }
        }
    }

    /// The scale runs.
    fn write_scale(&self, out: &mut String) {
        for scale in &self.scale {
            let [fresh, big] = &scale.resume;
            let _ = writeln!(
                out,
                "\nScale, {}: {} records loaded in {:.0} s ({:.0} records/s) through the store's write path; \
                 {:.2} GB on disk, {:.0} bytes per record. Subscribe after revision {} (fresh) / {} (loaded): \
                 {} events in {:.2} s / {} in {:.2} s; one subject's stream from the beginning: first event after \
                 {:.1} ms / {:.1} ms.",
                scale.backend,
                scale.records,
                scale.load_seconds,
                scale.records as f64 / scale.load_seconds.max(1e-9),
                scale.disk_bytes as f64 / 1e9,
                scale.disk_bytes_per_record,
                fresh.after_revision,
                big.after_revision,
                fresh.events,
                fresh.seconds,
                big.events,
                big.seconds,
                fresh.subject_ms,
                big.subject_ms
            );
        }
    }

    /// What PostgreSQL did per call.
    fn write_activity(&self, out: &mut String) {
        for activity in &self.database_activity {
            let _ = writeln!(
                out,
                "\nPostgreSQL per {} call ({}, shared_buffers {:.0} MiB): {:.3} ms of PostgreSQL CPU, {:.3} ms of \
                 load generator CPU; {:.1} blocks read, {:.1} hit; {:.0} WAL bytes, {:.2} full-page images; \
                 {:.2} buffers written by backends.",
                activity.workload,
                activity.system,
                activity.shared_buffers_mib,
                activity.postgres_cpu_ms_per_call,
                activity.generator_cpu_ms_per_call,
                activity.blocks_read_per_call,
                activity.blocks_hit_per_call,
                activity.wal_bytes_per_call,
                activity.full_page_images_per_call,
                activity.buffers_written_by_backends_per_call
            );
        }
    }

    /// The overload runs.
    fn write_overload(&self, out: &mut String) {
        for run in &self.overload {
            let _ = writeln!(
                out,
                "\nOverload, {}{} on {}: maximum {:.0}/s (closed loop, c64); offered {:.0}/s for {:.0} s: \
                 goodput {:.0}/s, admitted p50 {:.2} ms p99 {:.2} ms max {:.2} ms; {} refused with \
                 RESOURCE_EXHAUSTED, p50 {:.2} ms p99 {:.2} ms; {} other failures{}. CPU: server {:.2} cores, \
                 load generator {:.2} cores.",
                run.workload,
                if run.cache { "" } else { " (check cache off)" },
                run.backend,
                run.max_per_second,
                run.offered_per_second,
                run.seconds,
                run.goodput_per_second,
                run.admitted_ms.p50,
                run.admitted_ms.p99,
                run.admitted_ms.max,
                run.refused,
                run.refused_ms.p50,
                run.refused_ms.p99,
                run.failed,
                run.first_failure.as_deref().map(|error| format!(" (first: {error})")).unwrap_or_default(),
                run.server_cpu_per_second,
                run.generator_cpu_per_second
            );
        }
    }

    /// The idle RSS.
    fn write_idle(&self, out: &mut String) {
        if let Some(idle) = self.idle_rss_mib {
            let _ = writeln!(out, "\nIdle RSS: {idle:.1} MiB.");
        }
    }
}

/// The batch size of the insert baseline the record runs are compared with.
const WRITE_BATCH: usize = crate::WRITE_CONCURRENCY;

impl Results for Report {
    fn run(&mut self, run: Run) {
        self.push(run);
    }

    fn database_activity(&mut self, activity: crate::pg_activity::Activity) {
        self.database_activity.push(activity);
    }
}
