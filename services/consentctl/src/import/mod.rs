//! `import`: JSONL or CSV rows into RecordConsent calls.
//!
//! A reader thread parses the file and groups rows into requests
//! ([`groups`]); each request goes to one of `--concurrency` lanes chosen
//! by its subject, so one person's rows are written in file order while
//! different people's are written at once (and the server commits them in
//! shared batches). A request the server has seen before (the same content,
//! so the same idempotency key) returns its first result, whose revision
//! is at or below the tenant's head when the import began: such rows are
//! counted as skipped. Memory stays bounded by the lanes' queues.

mod groups;
mod rows;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;

use clap::Args;
use consent_client::Client;
use tokio::sync::mpsc;
use tonic::Code;

use crate::export::FileFormat;
use crate::format::RecordRow;
use crate::output::Format;
use crate::progress::Progress;
use crate::{Failure, Outcome};
use groups::Group;
use rows::{Mapping, NotImported, Row};

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file to import
    file: PathBuf,
    /// jsonl or csv [default: csv for a .csv file, else jsonl]
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// For another platform's CSV: where a column goes, COLUMN=FIELD, with
    /// FIELD one of identity.<namespace>, purpose, target, decision,
    /// collected_at, expires_at, source, evidence.<field> (repeatable;
    /// other columns are ignored)
    #[arg(long = "map", value_parser = rows::parse_map)]
    map: Vec<(String, String)>,
    /// With --map: the purpose of rows without a purpose column
    #[arg(long, default_value = "")]
    purpose: String,
    /// With --map: the source of rows without a source column
    #[arg(long, default_value = "import")]
    source: String,
    /// Requests in flight at once (one connection carries them; the server
    /// refuses more than its limits.concurrency_per_connection, 128)
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// What became of rows.
#[derive(Debug)]
enum Report {
    Written(u64),
    Skipped(u64, &'static str),
    Refused {
        line: u64,
        field: String,
        message: String,
    },
    /// The reader got this far into the file (bytes).
    Read(u64),
    /// The import cannot go on.
    Fatal(Failure),
}

#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    written: u64,
    skipped: u64,
    refused: u64,
    #[serde(skip)]
    reasons: std::collections::BTreeMap<&'static str, u64>,
}

impl Summary {
    fn rows(&self) -> u64 {
        self.written + self.skipped + self.refused
    }

    fn line(&self) -> String {
        format!("{} written, {} skipped, {} refused", self.written, self.skipped, self.refused)
    }
}

pub(crate) async fn run(client: &Client, args: ImportArgs, output: Format) -> Result<Outcome, Failure> {
    let file = std::fs::File::open(&args.file)
        .map_err(|err| Failure::new(format!("cannot open {}: {err}", args.file.display())))?;
    let size = file.metadata()?.len();
    let format = args.format.unwrap_or_else(|| FileFormat::of(&args.file));
    let mapping =
        Mapping { columns: args.map.into_iter().collect(), purpose: args.purpose, source: args.source };
    if !mapping.columns.is_empty() && format != FileFormat::Csv {
        return Err(Failure::new("--map applies to CSV files".to_owned()));
    }
    // Written before the import began: what a replayed request returns.
    let head = client.head_revision().await?;
    let (reports, mut received) = mpsc::channel(1024);
    let lanes: Vec<_> =
        (0..args.concurrency.max(1)).map(|_| lane(client.clone(), head, reports.clone())).collect();
    let reader = std::thread::spawn(move || read(file, format, &mapping, &lanes, &reports));

    let progress = Progress::new(size, 0, 0);
    let mut summary = Summary::default();
    while let Some(report) = received.recv().await {
        match report {
            Report::Written(rows) => summary.written += rows,
            Report::Skipped(rows, reason) => {
                summary.skipped += rows;
                *summary.reasons.entry(reason).or_default() += rows;
            }
            Report::Refused { line, field, message } => {
                summary.refused += 1;
                progress.println(format!("line {line}: {field}: {message}"));
            }
            Report::Read(bytes) => progress.update(bytes, summary.rows(), &summary.line()),
            Report::Fatal(failure) => return Err(failure),
        }
    }
    reader.join().map_err(|_| Failure::new("the file reader stopped".to_owned()))??;
    progress.finish(summary.rows(), &summary.line());
    for (reason, rows) in &summary.reasons {
        eprintln!("consentctl: skipped {rows}: {reason}");
    }
    match output {
        Format::Json => println!("{}", serde_json::to_string(&summary).unwrap_or_default()),
        Format::Table | Format::Csv => println!("{}", summary.line()),
    }
    Ok(if summary.refused == 0 { Outcome::Done } else { Outcome::Negative })
}

/// Reads the file, grouping rows and handing each group to its lane.
fn read(
    file: std::fs::File,
    format: FileFormat,
    mapping: &Mapping,
    lanes: &[mpsc::Sender<Group>],
    reports: &mpsc::Sender<Report>,
) -> Result<(), Failure> {
    let mut group = Group::default();
    let dispatch = |group: Group| {
        let lane = lane_of(group.subject_key(), lanes.len());
        // A closed lane ended on a fatal error, which is already reported.
        let _ = lanes[lane].blocking_send(group);
    };
    let mut reported = 0_u64;
    let mut take = |offset: u64, row: Result<Row, NotImported>| {
        match row {
            Ok(row) => {
                if !group.takes(&row) {
                    dispatch(std::mem::take(&mut group));
                }
                group.rows.push(row);
            }
            Err(NotImported::Skipped(reason)) => {
                let _ = reports.blocking_send(Report::Skipped(1, reason));
            }
            Err(NotImported::Refused { line, field, message }) => {
                let _ = reports.blocking_send(Report::Refused { line, field, message });
            }
        }
        // The bar moves every 64 KiB, not every row.
        if offset >= reported + 64 * 1024 {
            reported = offset;
            let _ = reports.blocking_send(Report::Read(offset));
        }
    };
    match format {
        FileFormat::Jsonl => {
            let mut reader = BufReader::new(file);
            let (mut bytes, mut number, mut offset) = (Vec::new(), 0_u64, 0_u64);
            loop {
                bytes.clear();
                // A file that cannot be read (a directory, an I/O error)
                // ends the import: it is not a refused row.
                let read = reader
                    .read_until(b'\n', &mut bytes)
                    .map_err(|err| Failure::new(format!("cannot read the file: {err}")))?;
                if read == 0 {
                    break;
                }
                number += 1;
                offset += read as u64;
                if !bytes.iter().all(u8::is_ascii_whitespace) {
                    take(offset, rows::jsonl_row(number, &bytes));
                }
            }
        }
        FileFormat::Csv => {
            let newlines = std::rc::Rc::new(std::cell::RefCell::new(Newlines::default()));
            let counting = CountingReader { file, newlines: std::rc::Rc::clone(&newlines) };
            let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(counting);
            let header = reader
                .headers()
                .map_err(|err| Failure::new(format!("cannot read the header: {err}")))?
                .clone();
            let ours = mapping.columns.is_empty();
            if ours && !(header.iter().any(|c| c == "identities") && header.iter().any(|c| c == "decision")) {
                return Err(Failure::new(
                    "the CSV has no identities and decision columns: map another platform's columns with --map"
                        .to_owned(),
                ));
            }
            let mut cells = csv::StringRecord::new();
            loop {
                let before = reader.position().line();
                match reader.read_record(&mut cells) {
                    Ok(false) => break,
                    Ok(true) => {
                        let start = cells.position().map_or(0, csv::Position::byte);
                        let line = newlines.borrow_mut().line_at(start);
                        let row = if ours {
                            RecordRow::from_csv(&header, &cells)
                                .map_err(|(field, message)| NotImported::Refused { line, field, message })
                                .and_then(|record| rows::from_record(line, record))
                        } else {
                            rows::from_mapped(line, mapping, &header, &cells)
                        };
                        take(reader.position().byte(), row);
                    }
                    Err(err) => take(
                        reader.position().byte(),
                        Err(NotImported::Refused {
                            line: before,
                            field: String::new(),
                            message: err.to_string(),
                        }),
                    ),
                }
            }
        }
    }
    if !group.rows.is_empty() {
        dispatch(group);
    }
    Ok(())
}

/// The line a CSV record starting at a byte offset is on. The csv reader's
/// own count is one short after a CRLF line (it takes the LF as the start of
/// the next record), so the newlines are counted as the reader reads the
/// file: [`CountingReader`] notes where each one is, and a record's line is
/// the count of those before its start (a leading LF left from a CRLF
/// belongs to the line before). Only the reader's lookahead is kept.
#[derive(Debug, Default)]
struct Newlines {
    /// Bytes read so far.
    read: u64,
    /// Offsets of the newlines read but not yet passed by a record.
    ahead: std::collections::VecDeque<u64>,
    /// Newlines passed.
    passed: u64,
}

impl Newlines {
    /// The 1-based line of the record that starts at `start` (offsets only
    /// grow).
    fn line_at(&mut self, start: u64) -> u64 {
        while self.ahead.front().is_some_and(|&at| at < start) {
            self.ahead.pop_front();
            self.passed += 1;
        }
        1 + self.passed + u64::from(self.ahead.front() == Some(&start))
    }
}

/// The file, noting its newlines in a shared [`Newlines`] as it is read.
struct CountingReader {
    file: std::fs::File,
    newlines: std::rc::Rc<std::cell::RefCell<Newlines>>,
}

impl std::io::Read for CountingReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.file.read(buffer)?;
        let mut newlines = self.newlines.borrow_mut();
        let base = newlines.read;
        let found = buffer[..read].iter().enumerate().filter(|(_, byte)| **byte == b'\n');
        newlines.ahead.extend(found.map(|(index, _)| base + index as u64));
        newlines.read += read as u64;
        Ok(read)
    }
}

/// The lane for a subject key: a stable hash, so one person's rows share
/// one lane.
fn lane_of(key: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// A lane: writes its groups one after another.
fn lane(client: Client, head: i64, reports: mpsc::Sender<Report>) -> mpsc::Sender<Group> {
    let (groups, mut received) = mpsc::channel::<Group>(64);
    tokio::spawn(async move {
        while let Some(group) = received.recv().await {
            if let Err(failure) = write(&client, head, group, &reports).await {
                let _ = reports.send(Report::Fatal(failure)).await;
                return;
            }
        }
    });
    groups
}

/// Writes one group; a refused group is tried row by row to name the row.
/// While the server keeps answering RESOURCE_EXHAUSTED after the client's
/// own retries (the key's rate limit), the lane waits and sends again: a
/// bulk load goes at the rate the key is allowed.
async fn write(
    client: &Client,
    head: i64,
    group: Group,
    reports: &mpsc::Sender<Report>,
) -> Result<(), Failure> {
    loop {
        match write_once(client, head, &group, reports).await {
            Err(status) if status.code() == Code::ResourceExhausted => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(status) => return Err(status.into()),
            Ok(None) => return Ok(()),
            Ok(Some(singles)) => {
                for single in singles {
                    Box::pin(write(client, head, single, reports)).await?;
                }
                return Ok(());
            }
        }
    }
}

/// One attempt at a group: `Ok(Some(rows))` when it must be tried row by
/// row.
async fn write_once(
    client: &Client,
    head: i64,
    group: &Group,
    reports: &mpsc::Sender<Report>,
) -> Result<Option<Vec<Group>>, tonic::Status> {
    let rows = group.rows.len() as u64;
    let written = match group.update() {
        Some(update) => {
            let key = update.idempotency_key.clone();
            match client.update(update).await {
                Ok(response) => Ok(response.revision),
                // Nothing to update (a current-state export): the row is
                // recorded instead, under the update's key, so that a rerun's
                // update finds the key taken by this record and records
                // (that is, replays) too.
                Err(status) if status.code() == Code::NotFound || key_taken(&status) => {
                    let mut record = group.request();
                    record.idempotency_key = key;
                    client.record(record).await.map(|response| response.revision)
                }
                Err(status) => Err(status),
            }
        }
        None => client.record(group.request()).await.map(|response| response.revision),
    };
    let report = match written {
        Ok(revision) if revision <= head => Report::Skipped(rows, "already imported"),
        Ok(_) => Report::Written(rows),
        Err(status) if refusal(status.code()) && rows > 1 => return Ok(Some(group.clone().split())),
        Err(status) if refusal(status.code()) => {
            let line = group.rows[0].line;
            let (field, message) = first_violation(&status);
            Report::Refused { line, field, message }
        }
        Err(status) => return Err(status),
    };
    let _ = reports.send(report).await;
    Ok(None)
}

/// The server refused the idempotency key as used by another request.
fn key_taken(status: &tonic::Status) -> bool {
    status.code() == Code::InvalidArgument && first_violation(status).0 == "idempotency_key"
}

/// A code that refuses the row, not the import.
fn refusal(code: Code) -> bool {
    matches!(code, Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange | Code::AlreadyExists)
}

/// The field a refusal names (without the request's `decisions[i].`
/// prefix: a row is one decision), and its description.
fn first_violation(status: &tonic::Status) -> (String, String) {
    use tonic_types::StatusExt as _;
    let violation = status.get_details_bad_request().and_then(|bad| bad.field_violations.into_iter().next());
    match violation {
        Some(violation) => {
            let field = match violation.field.split_once("].") {
                Some((prefix, rest)) if prefix.starts_with("decisions[") => rest.to_owned(),
                _ => violation.field,
            };
            (field, violation.description)
        }
        None => (String::new(), status.message().to_owned()),
    }
}
