//! Opening the store's pools: the connection options of each backend (WAL
//! and full sync on SQLite; the statement timeout, durable commits and the
//! statement cache on PostgreSQL), the read standbys' lazy pools, a start
//! that waits for the database to come up, and a warning for a server that
//! does not flush its WAL.

use std::str::FromStr;
use std::time::Duration;

use consent_core::ConsentError;
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::StoreOptions;
use crate::error::db_error;
use crate::replicas::Standby;
use crate::statements::Statements;

/// Prepared statements kept per connection. On SQLite a batch's multi-row
/// statements differ in text by row count (up to `max_batch`), and
/// re-preparing a large insert costs more than running it: keep every size
/// the committer uses. (PostgreSQL's batch statements are of fixed text.)
const STATEMENT_CACHE: usize = 1024;

/// How to open a pool on `url` (the primary or a standby).
pub(crate) fn connect_options(options: &StoreOptions, url: &str) -> ConnectOptions {
    let statement_timeout = options.statement_timeout.as_millis().max(1);
    let mut connect = ConnectOptions::new(url.to_owned());
    connect
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_timeout(options.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .statement_cache_capacity(STATEMENT_CACHE)
                // Deleted content is overwritten, not left in free space:
                // an erased subject's wrapped key must not outlive its row
                // in the file (docs/evidence.md#erasure).
                .pragma("secure_delete", "on")
        })
        .map_sqlx_postgres_opts(move |postgres| {
            postgres
                .statement_cache_capacity(STATEMENT_CACHE)
                .options([("statement_timeout", statement_timeout)])
        })
        .map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|connection, _| {
                Box::pin(async move {
                    sea_orm::sqlx::Executor::execute(connection, DURABLE_COMMITS).await.map(drop)
                })
            })
        });
    connect
}

/// Run on every new PostgreSQL connection: its commits wait at least for
/// the WAL flush, whatever the role's, database's or server's default says.
/// A write acknowledged under `synchronous_commit = off` (or `local` with
/// synchronous standbys) can vanish in a crash or a failover. A stronger
/// setting (`remote_write`, `remote_apply`) is kept. Once per connection
/// rather than once per write transaction: a round trip less per batch.
const DURABLE_COMMITS: &str = "SELECT set_config('synchronous_commit', 'on', false) \
     WHERE current_setting('synchronous_commit') IN ('off', 'local')";

/// The read standbys' pools, opened lazily: one that is down at start is
/// simply not in use until it answers.
pub(crate) async fn standbys(
    options: &StoreOptions,
    shared: bool,
    statements: &Statements,
) -> Result<Vec<Standby>, ConsentError> {
    if !options.read_database_urls.is_empty() && !shared {
        return Err(ConsentError::invalid("read_database_url", "read replicas need a PostgreSQL primary"));
    }
    let mut standbys = Vec::with_capacity(options.read_database_urls.len());
    for url in &options.read_database_urls {
        let parsed = PgConnectOptions::from_str(url)
            .map_err(|_| ConsentError::invalid("read_database_url", "must be a postgres:// URL"))?;
        // Logs name it without the credentials.
        let name = format!(
            "{}:{}/{}",
            parsed.get_host(),
            parsed.get_port(),
            parsed.get_database().unwrap_or_default()
        );
        let mut connect = connect_options(options, url);
        connect.connect_lazy(true);
        let mut db = Database::connect(connect).await.map_err(db_error)?;
        statements.observe(&mut db, "standby");
        standbys.push(Standby::new(name, db));
    }
    Ok(standbys)
}

/// Says loudly when the PostgreSQL server does not flush its WAL to disk
/// (`fsync = off`): every acknowledged write is then at the mercy of the
/// host's page cache, whatever consentd does. A server setting, so only
/// logged; the check itself failing is not fatal.
pub(crate) async fn warn_if_not_durable(db: &DatabaseConnection) {
    let statement = Statement::from_string(DbBackend::Postgres, "SELECT current_setting('fsync') AS fsync");
    match db.query_one_raw(statement).await {
        Ok(Some(row)) => {
            if row.try_get::<String>("", "fsync").is_ok_and(|fsync| fsync == "off") {
                tracing::error!(
                    "the PostgreSQL server runs with fsync = off: a crash of its host can lose \
                     acknowledged consent records; set fsync = on"
                );
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "cannot read the PostgreSQL fsync setting"),
    }
}

/// Connects, retrying briefly: several processes opening a new SQLite file at
/// once (a replica starting while `consentd migrate` runs) can find it locked
/// while one of them switches it to WAL.
pub(crate) async fn connect_with_retry(options: ConnectOptions) -> Result<DatabaseConnection, ConsentError> {
    let mut attempt = 0;
    loop {
        match Database::connect(options.clone()).await {
            Ok(db) => return Ok(db),
            Err(err) if attempt < 3 && options.get_url().starts_with("sqlite:") => {
                tracing::debug!(error = %err, attempt, "sqlite connect failed; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Err(err) => return Err(db_error(err)),
        }
    }
}
