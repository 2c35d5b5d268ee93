//! How answers are shown: a table for people at a terminal, JSON (a line
//! per record) or CSV for programs (`--output`).

use std::io::{IsTerminal, Write};

use clap::{Args, ValueEnum};
use comfy_table::{ContentArrangement, Table, presets};
use consent_client::proto::ConsentRecord;

use crate::Failure;
use crate::format::{CSV_COLUMNS, RecordRow};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns.
    Table,
    /// JSON: one object per line.
    Json,
    /// CSV with a header row.
    Csv,
}

#[derive(Debug, Clone, Default, Args)]
pub(crate) struct OutputArgs {
    /// Output format [default: table on a terminal, json otherwise]
    #[arg(long, short = 'o', global = true, value_enum)]
    output: Option<Format>,
}

impl OutputArgs {
    pub(crate) fn format(&self) -> Format {
        self.output
            .unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Table } else { Format::Json })
    }
}

/// The table's columns: what a person asks first.
const TABLE_COLUMNS: &[&str] = &[
    "revision",
    "subject",
    "identities",
    "purpose",
    "target",
    "decision",
    "collected_at",
    "expires_at",
    "source",
    "kind",
];

fn table_cells(row: &RecordRow) -> Vec<String> {
    let identities: Vec<String> =
        row.identities.iter().map(|identity| format!("{}={}", identity.namespace, identity.value)).collect();
    let or_any = |text: &str, any: &str| if text.is_empty() { any.to_owned() } else { text.to_owned() };
    vec![
        row.revision.to_string(),
        row.subject_id.clone(),
        identities.join(" "),
        or_any(&row.purpose, "*"),
        or_any(&row.target, "*"),
        row.decision.clone(),
        row.collected_at.clone(),
        row.expires_at.clone().unwrap_or_default(),
        row.source.clone(),
        row.kind.clone(),
    ]
}

fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(header.iter().copied());
    table
}

/// Turns records into the bytes of a format, a batch at a time (a table
/// is drawn at the end, once its column widths are known).
pub(crate) struct RecordSink {
    format: Format,
    table: Option<Table>,
    csv: Option<csv::Writer<Vec<u8>>>,
    json: Vec<u8>,
}

impl std::fmt::Debug for RecordSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSink").field("format", &self.format).finish_non_exhaustive()
    }
}

impl RecordSink {
    /// A sink; with `header` false a CSV sink writes no header row (a
    /// resumed export appends to a file that has one).
    pub(crate) fn new(format: Format, header: bool) -> Result<Self, Failure> {
        let mut sink = Self { format, table: None, csv: None, json: Vec::new() };
        match format {
            Format::Table => sink.table = Some(new_table(TABLE_COLUMNS)),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(Vec::new());
                if header {
                    writer.write_record(CSV_COLUMNS).map_err(csv_failure)?;
                }
                sink.csv = Some(writer);
            }
            Format::Json => {}
        }
        Ok(sink)
    }

    pub(crate) fn write(&mut self, record: &ConsentRecord) -> Result<(), Failure> {
        let row = RecordRow::from(record);
        match (&mut self.table, &mut self.csv) {
            (Some(table), _) => {
                table.add_row(table_cells(&row));
            }
            (None, Some(csv)) => csv.write_record(row.csv_cells()).map_err(csv_failure)?,
            (None, None) => {
                serde_json::to_writer(&mut self.json, &row).map_err(|err| Failure::new(err.to_string()))?;
                self.json.push(b'\n');
            }
        }
        Ok(())
    }

    /// The bytes of the records written since the last take (none for a
    /// table, which is drawn by [`RecordSink::finish`]).
    pub(crate) fn take(&mut self) -> Result<Vec<u8>, Failure> {
        match self.csv.take() {
            Some(csv) => {
                let bytes = csv.into_inner().map_err(|err| Failure::new(err.to_string()))?;
                self.csv = Some(csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new()));
                Ok(bytes)
            }
            None => Ok(std::mem::take(&mut self.json)),
        }
    }

    /// The rest of the bytes: what is left, or the whole table.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, Failure> {
        match self.table.take() {
            Some(table) => Ok(format!("{table}\n").into_bytes()),
            None => self.take(),
        }
    }
}

fn csv_failure(err: csv::Error) -> Failure {
    Failure::new(format!("cannot write CSV: {err}"))
}

/// Writes bytes to standard output.
pub(crate) fn emit(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// The records a write returned, with its revision.
pub(crate) fn print_written(format: Format, records: &[ConsentRecord], revision: i64) -> Result<(), Failure> {
    match format {
        Format::Json => {
            let rows: Vec<RecordRow> = records.iter().map(RecordRow::from).collect();
            let answer = serde_json::json!({ "revision": revision, "records": rows });
            println!("{answer}");
        }
        Format::Table | Format::Csv => {
            let mut sink = RecordSink::new(format, true)?;
            for record in records {
                sink.write(record)?;
            }
            emit(&sink.finish()?)?;
            if format == Format::Table {
                println!("revision {revision}");
            }
        }
    }
    Ok(())
}

/// A check's answer.
pub(crate) fn print_check(
    format: Format,
    status: &str,
    revision: i64,
    record: Option<&ConsentRecord>,
) -> Result<(), Failure> {
    let row = record.map(RecordRow::from);
    match format {
        Format::Json => {
            println!("{}", serde_json::json!({ "status": status, "revision": revision, "record": row }));
        }
        Format::Csv | Format::Table => {
            let header =
                ["status", "revision", "record_id", "purpose", "target", "collected_at", "expires_at"];
            let row = row.unwrap_or_default();
            let cells = [
                status.to_owned(),
                revision.to_string(),
                row.id,
                row.purpose,
                row.target,
                row.collected_at,
                row.expires_at.unwrap_or_default(),
            ];
            if format == Format::Csv {
                let mut csv = csv::Writer::from_writer(Vec::new());
                csv.write_record(header).map_err(csv_failure)?;
                csv.write_record(&cells).map_err(csv_failure)?;
                emit(&csv.into_inner().map_err(|err| Failure::new(err.to_string()))?)?;
            } else {
                let mut table = new_table(&header);
                table.add_row(cells);
                println!("{table}");
            }
        }
    }
    Ok(())
}
