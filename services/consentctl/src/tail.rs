//! `tail`: the change feed, a line per event, resuming by itself; with
//! `--resume-file` across restarts of consentctl too.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use consent_client::proto::SubscribeRequest;
use consent_client::{Client, FeedItem};
use futures_util::StreamExt;

use crate::format::RecordRow;
use crate::output::{Format, RecordSink};
use crate::subject::SubjectFilterArgs;
use crate::{Failure, Outcome};

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    subject: SubjectFilterArgs,
    /// Only these purposes (records for every purpose match too)
    #[arg(long = "purpose")]
    purposes: Vec<String>,
    /// Only these targets (records for any target match too)
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Only these sources
    #[arg(long = "source")]
    sources: Vec<String>,
    /// Replay the whole history first
    #[arg(long, conflicts_with = "after_revision")]
    from_beginning: bool,
    /// Start after this revision [default: live events only]
    #[arg(long)]
    after_revision: Option<i64>,
    /// Keep the resume point in this file: a rerun continues after the last
    /// event printed (it wins over --from-beginning and --after-revision)
    #[arg(long)]
    resume_file: Option<PathBuf>,
    /// Print heartbeats too
    #[arg(long)]
    heartbeats: bool,
    /// Stop after this many events
    #[arg(long)]
    count: Option<u64>,
}

pub(crate) async fn run(client: &Client, args: TailArgs, output: Format) -> Result<Outcome, Failure> {
    let mut request = SubscribeRequest {
        subject_id: args.subject.subject_id.clone().unwrap_or_default(),
        identity: args.subject.identity.clone(),
        purposes: args.purposes,
        targets: args.targets,
        sources: args.sources,
        after_revision: args.after_revision.unwrap_or_default(),
        from_beginning: args.from_beginning,
        resume_token: String::new(),
    };
    if let Some(token) = args.resume_file.as_deref().map(read_token).transpose()?.flatten() {
        request.resume_token = token;
        request.after_revision = 0;
        request.from_beginning = false;
    }
    let mut feed = client.subscribe(request);
    let mut events = 0;
    while args.count.is_none_or(|count| events < count) {
        let Some(item) = feed.next().await else { break };
        let item = item?;
        let line = match &item {
            FeedItem::Event(event) => {
                events += 1;
                event_line(output, event)?
            }
            FeedItem::Heartbeat(heartbeat) if args.heartbeats => match output {
                Format::Json => serde_json::json!({ "heartbeat": heartbeat.revision }).to_string(),
                Format::Table | Format::Csv => format!("heartbeat {}", heartbeat.revision),
            },
            FeedItem::Heartbeat(_) => String::new(),
        };
        if !line.is_empty() {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        // Written after the line is out: a crash in between prints the
        // event again on the rerun rather than never.
        if let Some(path) = &args.resume_file {
            write_token(path, item.resume_token())?;
        }
    }
    Ok(Outcome::Done)
}

fn event_line(output: Format, event: &consent_client::proto::ConsentEvent) -> Result<String, Failure> {
    let row = event.record.as_ref().map(RecordRow::from).unwrap_or_default();
    Ok(match output {
        Format::Json => {
            serde_json::json!({ "kind": row.kind, "revision": event.revision, "record": row }).to_string()
        }
        Format::Csv => {
            let mut sink = RecordSink::new(Format::Csv, false)?;
            if let Some(record) = &event.record {
                sink.write(record)?;
            }
            String::from_utf8_lossy(&sink.finish()?).trim_end().to_owned()
        }
        Format::Table => {
            let or_any = |text: &str| if text.is_empty() { "*".to_owned() } else { text.to_owned() };
            format!(
                "{:>8}  {:<9} {}  {}/{}  {:<8} {}",
                event.revision,
                row.kind,
                row.subject_id,
                or_any(&row.purpose),
                or_any(&row.target),
                row.decision,
                row.collected_at
            )
        }
    })
}

fn read_token(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Failure::new(format!("cannot read {}: {err}", path.display()))),
    }
}

/// Replaces the file whole (a rename), so a crash never leaves half a token.
fn write_token(path: &Path, token: &str) -> Result<(), Failure> {
    crate::progress::replace_file(path, token.as_bytes())
}
