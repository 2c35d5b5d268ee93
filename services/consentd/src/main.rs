//! The `consentd` command: `serve`, `migrate`, `config print`, `keys`,
//! `tenants`, `evidence export`, `verify`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use consent_store::ServingStore as _;
use consentd::config::{AdminArgs, Config, ServeArgs};
use consentd::server;
use consentd_telemetry as telemetry;
use consentd_telemetry::Telemetry;

/// jemalloc instead of glibc's malloc: a call allocates many small,
/// short-lived objects on whichever worker thread runs it, and glibc's
/// arenas and their locks were about a sixth of a cached vendor check's
/// CPU (docs/benchmarks.md, "Vendor routes").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// consentd: a consent-record service (gRPC API, change feed, vendor adapters).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (applies pending migrations first unless --no-migrate)
    Serve(ServeArgs),
    /// Apply pending database migrations and exit
    Migrate(AdminArgs),
    /// Manage API keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage tenants' vendor account bindings
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Show the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Export a tenant's verifiable log
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Place, release and list legal holds
    #[command(subcommand)]
    Holds(retention::HoldsCommand),
    /// Apply retention now
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Verify a receipt, or an exported log against checkpoints, offline,
    /// with public keys alone; exits 0 only when everything verifies
    Verify(VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// Write the tenant's log (DIR/log.jsonl: each record re-encoded from
    /// the database with the leaf hash the log stored) and its checkpoints
    /// (DIR/checkpoint-<size>.txt), for `consentd verify --log`
    Export {
        /// The tenant
        #[arg(long)]
        tenant: String,
        /// The directory to write to (created if missing)
        #[arg(long)]
        out: std::path::PathBuf,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["receipt", "log"])))]
struct VerifyArgs {
    /// A file of public keys, one `<name>+<id>+<base64>` a line (from
    /// /.well-known/consentd/log-keys or GetCheckpoint; repeatable)
    #[arg(long = "public-key", required = true)]
    public_keys: Vec<std::path::PathBuf>,
    /// A receipt (the JWS GetReceipt returns)
    #[arg(long, conflicts_with_all = ["log", "checkpoints"])]
    receipt: Option<std::path::PathBuf>,
    /// An exported log (`consentd evidence export`'s log.jsonl)
    #[arg(long, requires = "checkpoints")]
    log: Option<std::path::PathBuf>,
    /// A signed checkpoint to verify the log against (repeatable)
    #[arg(long = "checkpoint")]
    checkpoints: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration of `serve` with these flags,
    /// environment and file, as TOML (secrets redacted), and exit
    Print(ServeArgs),
}

/// The vendors a key or binding may name.
const VENDORS: [&str; 4] = ["adobe", "intempt", "jentis", "secureprivacy"];

#[derive(Debug, Clone, Subcommand)]
enum KeysCommand {
    /// Create a key and print it, alone, on stdout (the only time it is shown)
    Create {
        /// The tenant the key acts for
        #[arg(long)]
        tenant: String,
        /// A scope: consent:write, consent:read, consent:subscribe or admin
        /// (repeatable) [default: consent:write consent:read consent:subscribe]
        #[arg(long = "scope", conflicts_with = "publishable")]
        scopes: Vec<String>,
        /// A publishable key, for web pages: it only records consent, for
        /// the vendor account --vendor/--external-id (bound to the tenant),
        /// from the browser origins --origin, and reads nothing
        #[arg(long, requires_all = ["vendor", "external_id", "origins"])]
        publishable: bool,
        /// The vendor of a publishable key's account
        #[arg(long, value_parser = VENDORS, requires = "publishable")]
        vendor: Option<String>,
        /// The vendor account id of a publishable key
        #[arg(long, requires = "publishable")]
        external_id: Option<String>,
        /// A browser origin a publishable key may be used from
        /// (`https://shop.example`; repeatable)
        #[arg(long = "origin", requires = "publishable")]
        origins: Vec<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Store a client's existing vendor key (hashed), so the client changes
    /// only its base URL; prints the key's id
    Import {
        /// The tenant the key acts for
        #[arg(long)]
        tenant: String,
        /// The vendor whose routes the key is used on (and gRPC)
        #[arg(long, value_parser = VENDORS)]
        vendor: String,
        /// The key as the client sends it (Intempt: `<prefix>.<secret>` or
        /// its apiKey; JENTIS: the bearer token; Secure Privacy: its key)
        #[arg(long, env = "CONSENTD_IMPORT_KEY", hide_env_values = true)]
        key: String,
        /// The vendor account the key is for [default: any account of the
        /// vendor bound to the tenant]
        #[arg(long)]
        external_id: Option<String>,
        /// A scope (repeatable) [default: consent:write — a vendor key often
        /// sits in a web page; grant reads only to a key that does not]
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List keys (ids, tenants, scopes, state; never secrets)
    List {
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Revoke a key by its id (the part before the dot)
    Revoke {
        /// The key id
        key_id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum TenantsCommand {
    /// Declare that a vendor account id belongs to a tenant
    Bind {
        /// The tenant
        #[arg(long)]
        tenant: String,
        /// The vendor
        #[arg(long, value_parser = VENDORS)]
        vendor: String,
        /// The vendor's account id (Adobe IMS org, Intempt org/project,
        /// JENTIS container/environment, Secure Privacy integration id)
        #[arg(long)]
        external_id: String,
        /// A browser origin allowed on the account (`https://shop.example`;
        /// repeatable; added to those it has): CORS answers it
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// How long the runtime waits, after the command finished, for work still
/// running on blocking threads (a database call the grace period cut short)
/// before the process exits anyway.
const RUNTIME_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Test builds only: fault injection configured by the FAILPOINTS
    // environment variable (`name=action;…`), for the whole process's life.
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("consentd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(cli));
    runtime.shutdown_timeout(RUNTIME_LINGER);
    code
}

/// Runs an admin command again when a concurrent transaction conflicted
/// with it (on SQLite, a serving process's write can take the file between
/// the command's read and its write): the conflict rolled the command back
/// whole, so running it again does it once.
async fn again_after_conflicts<Run, Fut>(mut run: Run) -> Result<(), String>
where
    Run: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut waits = [50, 100, 200, 400, 800].into_iter();
    loop {
        match run().await {
            Err(message) if message.contains("conflicted; retry") => match waits.next() {
                Some(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
                None => return Err(message),
            },
            done => return done,
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve(&args).await,
        Command::Migrate(args) => migrate(&args).await,
        Command::Keys(command) => report(again_after_conflicts(|| admin::keys(command.clone())).await),
        Command::Tenants(command) => report(again_after_conflicts(|| admin::tenants(command.clone())).await),
        Command::Evidence(EvidenceCommand::Export { tenant, out, admin }) => {
            report(admin::export_log(&tenant, &out, &admin).await)
        }
        Command::Holds(command) => report(retention::holds(command).await),
        Command::Retention(command) => report(retention::retention(command).await),
        Command::Verify(args) => verify(&args),
        Command::Config(ConfigCommand::Print(args)) => match Config::load(&args) {
            Ok(config) => {
                print!("{}", config.to_toml());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("consentd: {err}");
                ExitCode::from(2)
            }
        },
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("consentd: {message}");
            ExitCode::FAILURE
        }
    }
}

mod admin;
mod retention;

/// `consentd verify`: what verified on stdout, the first thing that did
/// not on stderr (exit 1); unreadable input exits 2.
fn verify(args: &VerifyArgs) -> ExitCode {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
    };
    let inputs = || -> Result<(Vec<consent_evidence::PublicKey>, Vec<String>), String> {
        let mut keys = Vec::new();
        for path in &args.public_keys {
            for line in read(path)?.lines().map(str::trim).filter(|line| !line.is_empty()) {
                keys.push(
                    consent_evidence::PublicKey::parse(line)
                        .map_err(|err| format!("{}: {err}", path.display()))?,
                );
            }
        }
        let checkpoints = args.checkpoints.iter().map(|path| read(path)).collect::<Result<_, _>>()?;
        Ok((keys, checkpoints))
    };
    let (keys, checkpoints) = match inputs() {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("consentd: {message}");
            return ExitCode::from(2);
        }
    };
    let outcome = match (&args.receipt, &args.log) {
        (Some(receipt), _) => read(receipt).map(|jws| {
            consent_evidence::verify_receipt(&jws, &keys).map(|receipt| {
                format!(
                    "receipt verified: record {} of tenant {}",
                    receipt.consent_receipt_id, receipt.evidence.leaf.tenant
                )
            })
        }),
        (None, Some(log)) => read(log).map(|text| {
            consent_evidence::verify_log(&text, &checkpoints, &keys).map(|report| {
                format!(
                    "log verified: {} records, checkpoints of sizes {:?}",
                    report.records, report.checkpoints
                )
            })
        }),
        (None, None) => Err("--receipt or --log is required".to_owned()),
    };
    match outcome {
        Ok(Ok(summary)) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Ok(Err(failure)) => {
            eprintln!("consentd verify: {failure}");
            ExitCode::FAILURE
        }
        Err(message) => {
            eprintln!("consentd: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("consentd: {err}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match Telemetry::init(config.log_format) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("consentd: {err}");
            return ExitCode::from(2);
        }
    };
    // Handlers go in before the server says it is serving: a SIGTERM that
    // arrives right after that line must start a graceful stop, not take the
    // default action and kill the process.
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            eprintln!("consentd: cannot install signal handlers: {err}");
            return ExitCode::FAILURE;
        }
    };
    let running = match server::start(&config).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            flush(telemetry).await;
            return ExitCode::FAILURE;
        }
    };
    let stopper = running.stopper();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        stopper.stop().await;
    });
    let result = running.wait().await;
    let code = match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    };
    flush(telemetry).await;
    code
}

/// How long the last telemetry export may take: the exporters' own timeouts
/// (10 s each by default) would outlast what Kubernetes leaves after the
/// grace period before it kills the pod.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Exports buffered telemetry before the process exits, for at most
/// [`FLUSH_LIMIT`].
async fn flush(telemetry: Telemetry) {
    let flushing = tokio::task::spawn_blocking(move || telemetry.shutdown());
    if tokio::time::timeout(FLUSH_LIMIT, flushing).await.is_err() {
        eprintln!("consentd: telemetry not flushed within {FLUSH_LIMIT:?}; exiting without it");
    }
}

async fn migrate(args: &AdminArgs) -> ExitCode {
    telemetry::init_logs(None);
    let options = match args.resolve() {
        Ok((options, _)) => options,
        Err(err) => {
            eprintln!("consentd: {err}");
            return ExitCode::from(2);
        }
    };
    let result = async {
        let store = consent_store::open(&options).await?;
        store.migrate().await
    }
    .await;
    match result {
        Ok(()) => {
            let url = consentd::config::redact_url(&options.database_url);
            tracing::info!(database_url = %url, "migrations applied");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "migration failed");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the returned future is first polled.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
