//! The `consentd` command: `serve` and `migrate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use consent_store::{SqlStore, StoreOptions};
use consentd::config::{self, Config, DatabaseArgs, ServeArgs};
use consentd::{server, telemetry};

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
    Migrate(DatabaseArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => serve(&args).await,
        Command::Migrate(args) => migrate(&args).await,
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
    telemetry::init(config.log_format);
    let running = match server::start(&config).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let trigger = running.shutdown_trigger();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = trigger.send(true);
    });
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(args: &DatabaseArgs) -> ExitCode {
    telemetry::init(None);
    let url = args.database_url.clone().unwrap_or_else(|| config::DEFAULT_DATABASE_URL.to_owned());
    if let Err(err) = config::validate_database_url(&url) {
        eprintln!("consentd: {err}");
        return ExitCode::from(2);
    }
    let result = async {
        let store = SqlStore::connect(&StoreOptions::new(url.clone())).await?;
        store.migrate().await
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!(database_url = %config::redact_url(&url), "migrations applied");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "migration failed");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut terminate) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return interrupt.await.unwrap_or(());
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
