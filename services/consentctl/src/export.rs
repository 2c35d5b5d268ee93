//! `export`: a query's every page to JSONL or CSV, a page in memory at a
//! time, resumable.
//!
//! With `--out FILE`, after each page is written and synced a state file
//! beside it (`FILE.export-state`) records the next page token and the
//! file's length. An interrupted export run again with the same flags
//! truncates the file to that length and goes on from that token, so the
//! result is the file an uninterrupted run writes.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::{Args, ValueEnum};
use consent_client::Client;
use consent_client::proto::{QueryConsentsRequest, QueryConsentsResponse};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::output::{Format, RecordSink, emit};
use crate::progress::{Progress, replace_file};
use crate::read::FilterArgs;
use crate::{Failure, Outcome};

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FileFormat {
    /// A JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

impl FileFormat {
    /// The format a file's name suggests: CSV for `.csv`, else JSONL.
    pub(crate) fn of(path: &Path) -> Self {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::Jsonl,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// The file to write (resumable); none: standard output
    #[arg(long)]
    out: Option<PathBuf>,
    /// jsonl or csv [default: csv for a .csv file, else jsonl]
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// Records per page (at most 1000)
    #[arg(long, default_value_t = 1000)]
    page_size: i32,
}

/// What an interrupted export leaves to resume from.
#[derive(Debug, Serialize, Deserialize)]
struct ExportState {
    /// The query's and the format's fingerprint: a resume must be of the
    /// same export.
    query: String,
    /// The token of the next page to fetch.
    page_token: String,
    /// The length of the file up to the end of the last page written.
    bytes: u64,
    records: u64,
    /// The tenant's head revision when the export began (the bar's end).
    head: i64,
    /// The revision of the last record written.
    position: i64,
}

pub(crate) async fn run(client: &Client, args: ExportArgs) -> Result<Outcome, Failure> {
    let mut request = args.filter.request();
    request.page_size = args.page_size.clamp(1, 1000);
    let format = args.format.unwrap_or_else(|| args.out.as_deref().map_or(FileFormat::Jsonl, FileFormat::of));
    let sink_format = match format {
        FileFormat::Jsonl => Format::Json,
        FileFormat::Csv => Format::Csv,
    };
    let Some(out) = args.out else {
        // Standard output: streamed, not resumable.
        let mut sink = RecordSink::new(sink_format, true)?;
        let mut pages = fetch(client, request);
        while let Some(page) = pages.recv().await {
            for record in &page?.records {
                sink.write(record)?;
            }
            emit(&sink.take()?)?;
        }
        return Ok(Outcome::Done);
    };
    let state_path = state_path(&out);
    let query = fingerprint(&request, format);
    let (mut state, mut file) = match read_state(&state_path)? {
        Some(state) if state.query == query => {
            let file = std::fs::OpenOptions::new().write(true).open(&out)?;
            file.set_len(state.bytes)?;
            eprintln!(
                "consentctl: resuming the export into {} after {} records",
                out.display(),
                state.records
            );
            (state, file)
        }
        Some(_) => {
            return Err(Failure::new(format!(
                "{} is from an export with other flags; delete it to start this one afresh",
                state_path.display()
            )));
        }
        None => {
            let head = client.head_revision().await?;
            let state =
                ExportState { query, page_token: String::new(), bytes: 0, records: 0, head, position: 0 };
            (state, std::fs::File::create(&out)?)
        }
    };
    file.seek(std::io::SeekFrom::End(0))?;
    let mut sink = RecordSink::new(sink_format, state.bytes == 0)?;
    let progress = Progress::new(revision(state.head), revision(state.position), state.records);
    request.page_token = state.page_token.clone();
    let mut pages = fetch(client, request);
    while let Some(page) = pages.recv().await {
        let page = page?;
        for record in &page.records {
            sink.write(record)?;
            state.position = record.revision;
        }
        let bytes = sink.take()?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        state.bytes += bytes.len() as u64;
        state.records += page.records.len() as u64;
        state.page_token = page.next_page_token;
        if state.page_token.is_empty() {
            break;
        }
        replace_file(&state_path, &serde_json::to_vec(&state).unwrap_or_default())?;
        progress.update(revision(state.position), state.records, &format!("{} records", state.records));
    }
    progress.finish(state.records, &format!("{} records", state.records));
    match std::fs::remove_file(&state_path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
        _ => {}
    }
    eprintln!("consentctl: exported {} records to {}", state.records, out.display());
    Ok(Outcome::Done)
}

fn revision(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Fetches pages one after another, a page ahead of the writer.
fn fetch(
    client: &Client,
    mut request: QueryConsentsRequest,
) -> mpsc::Receiver<Result<QueryConsentsResponse, Failure>> {
    let (pages, receiver) = mpsc::channel(1);
    let client = client.clone();
    tokio::spawn(async move {
        loop {
            let page = client.query(request.clone()).await.map_err(Failure::from);
            let next = page.as_ref().map(|page| page.next_page_token.clone()).unwrap_or_default();
            if pages.send(page).await.is_err() || next.is_empty() {
                return;
            }
            request.page_token = next;
        }
    });
    receiver
}

fn state_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".export-state");
    PathBuf::from(name)
}

/// The query and format, hashed: what must match for a resume.
fn fingerprint(request: &QueryConsentsRequest, format: FileFormat) -> String {
    let mut hash = Sha256::new();
    hash.update(request.encode_to_vec());
    hash.update(format!("{format:?}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize())
}

fn read_state(path: &Path) -> Result<Option<ExportState>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| Failure::new(format!("{} is not an export state: {err}", path.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}
