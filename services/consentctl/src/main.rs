//! `consentctl`: consentd from a shell. Every command talks gRPC to a
//! running consentd through `consent-client`.
//!
//! Exit codes: 0 when the command did what was asked (and `check` answered
//! GRANTED), 1 for a negative answer (`check` answered anything else,
//! `import` refused rows), 2 for an error.

mod connection;
mod export;
mod format;
mod import;
mod output;
mod progress;
mod read;
mod subject;
mod tail;
mod write;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use connection::ConnectionArgs;
use output::OutputArgs;

/// consentctl: record, check, query, follow, export and import consent
/// records in a consentd.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Record decisions for a subject (RecordConsent)
    Record(write::RecordArgs),
    /// Change the decision for a purpose and target (UpdateConsent)
    Update(write::UpdateArgs),
    /// Ask whether a purpose is allowed; exits 0 for GRANTED, 1 for any other
    /// answer, 2 on error (CheckConsent)
    Check(read::CheckArgs),
    /// Show one record, by id or as the current one for a purpose (GetConsent)
    Get(read::GetArgs),
    /// List records matching a filter, every page (QueryConsents)
    Query(read::QueryArgs),
    /// Follow the change feed, one line per event, resuming by itself across
    /// disconnects and restarts (Subscribe)
    Tail(tail::TailArgs),
    /// Write current state or history to JSONL or CSV, streaming, resumable
    Export(export::ExportArgs),
    /// Load JSONL or CSV records (an export, or another platform's with
    /// --map); a rerun writes nothing twice
    Import(import::ImportArgs),
}

/// Why a command failed; printed on stderr, exit code 2.
#[derive(Debug)]
pub(crate) struct Failure(String);

impl Failure {
    /// A failure with this message.
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<tonic::Status> for Failure {
    /// The code, the message and, for a refused request, each field it
    /// named.
    fn from(status: tonic::Status) -> Self {
        use tonic_types::StatusExt as _;
        let mut message = format!("{}: {}", code_name(status.code()), status.message());
        if let Some(bad) = status.get_details_bad_request() {
            for violation in bad.field_violations.iter().filter(|v| !status.message().contains(&v.field)) {
                message.push_str(&format!("\n  {}: {}", violation.field, violation.description));
            }
        }
        Self(message)
    }
}

/// A gRPC code as the protocol spells it (`INVALID_ARGUMENT`).
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Self {
        Self(err.to_string())
    }
}

/// A command's outcome when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 1: a negative answer.
    Negative,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Reconnections and retries are reported on stderr; RUST_LOG tunes it.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("consentctl: cannot start: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Err(failure) => {
            eprintln!("consentctl: {failure}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<Outcome, Failure> {
    let client = cli.connection.client()?;
    let output = cli.output.format();
    match cli.command {
        Command::Record(args) => write::record(&client, args, output).await,
        Command::Update(args) => write::update(&client, args, output).await,
        Command::Check(args) => read::check(&client, args, output).await,
        Command::Get(args) => read::get(&client, args, output).await,
        Command::Query(args) => read::query(&client, args, output).await,
        Command::Tail(args) => tail::run(&client, args, output).await,
        Command::Export(args) => export::run(&client, args).await,
        Command::Import(args) => import::run(&client, args, output).await,
    }
}
