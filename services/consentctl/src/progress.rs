//! Progress on a terminal (records, rate, ETA; nothing when stderr is not a
//! terminal), and replacing small state files whole.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::Failure;

/// A bar over some measure of the work (revisions of the log for an
/// export, bytes of the file for an import), with a count of rows beside
/// it: the rows are what a person counts, the measure is what has an end.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
    rows_before: u64,
}

impl Progress {
    /// A bar of `length` units, already at `position` (a resumed run), that
    /// had counted `rows_before` rows.
    pub(crate) fn new(length: u64, position: u64, rows_before: u64) -> Self {
        let bar = ProgressBar::new(length.max(1));
        let style =
            ProgressStyle::with_template("{msg}  [{elapsed_precise}] [{wide_bar}] {percent}%  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_position(position);
        bar.reset_eta();
        Self { bar, started: Instant::now(), rows_before }
    }

    /// Moves the bar to `position`, with `summary` (counts of rows) and the
    /// rate of `rows` (all rows so far, resumed runs' included).
    pub(crate) fn update(&self, position: u64, rows: u64, summary: &str) {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (rows.saturating_sub(self.rows_before)) as f64 / seconds;
        self.bar.set_position(position);
        self.bar.set_message(format!("{summary} ({rate:.0} records/s)"));
    }

    /// A line above the bar, or on stderr when there is no bar.
    pub(crate) fn println(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Leaves the bar drawn at its end, with the final summary.
    pub(crate) fn finish(&self, rows: u64, summary: &str) {
        self.update(self.bar.length().unwrap_or(0), rows, summary);
        self.bar.abandon();
    }
}

/// Replaces `path` with `bytes` by writing a sibling and renaming it over,
/// so a crash leaves the old file or the new one, never half of either.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|err| Failure::new(format!("cannot write {}: {err}", path.display())))
}
