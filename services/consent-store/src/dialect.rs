//! What differs between the two backends, named once. Every other module
//! asks the [`Dialect`] rather than the connection's backend, so the list of
//! differences is this file.

use sea_orm::{AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel};

use crate::PoolUsage;

/// The SQL database behind the store. Only SQLite and PostgreSQL are built
/// in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// One file, one writer at a time, one process.
    Sqlite,
    /// A server shared by every replica, with row locks, advisory locks,
    /// LISTEN/NOTIFY and JSON functions.
    Postgres,
}

impl Dialect {
    /// The dialect of a connection or transaction.
    pub(crate) fn of(db: &impl ConnectionTrait) -> Self {
        if db.get_database_backend() == DbBackend::Postgres { Self::Postgres } else { Self::Sqlite }
    }

    /// Whether other processes may write the same database. They learn of
    /// this one's commits by notice (the check cache, the change feed), its
    /// cache cannot see their commits by itself, and its durability depends
    /// on server settings worth checking. A SQLite file has one writing
    /// process: this one.
    pub(crate) fn shared(self) -> bool {
        self == Self::Postgres
    }

    /// Whether the next write batch may be applied while the last one
    /// commits: PostgreSQL's writers wait on the row locks they need (the
    /// tenant heads), SQLite has a single writer.
    pub(crate) fn pipelines_commits(self) -> bool {
        self == Self::Postgres
    }

    /// Whether transactions that must not run at once (migrations from
    /// replicas starting together, a tenant's webhook creations) need a
    /// lock of their own: an advisory lock on PostgreSQL. SQLite's write
    /// lock already makes every write transaction run alone.
    pub(crate) fn needs_explicit_locks(self) -> bool {
        self == Self::Postgres
    }

    /// Whether every statement runs under a time limit
    /// (`[store] statement_timeout_ms`, set on each PostgreSQL connection),
    /// which work that may legitimately take long (migrations building
    /// indexes) lifts for its own transaction. SQLite has no statement
    /// timeout: a call is bounded by the rows it may examine.
    pub(crate) fn limits_statement_time(self) -> bool {
        self == Self::Postgres
    }

    /// How to begin a read of several statements that must see one state
    /// of the database: PostgreSQL's default (READ COMMITTED) takes a new
    /// snapshot per statement, so REPEATABLE READ, read only; a SQLite read
    /// transaction (WAL) keeps the snapshot of its first read by itself, and
    /// its driver takes no settings.
    pub(crate) fn snapshot_read(self) -> (Option<IsolationLevel>, Option<AccessMode>) {
        match self {
            Self::Postgres => (Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)),
            Self::Sqlite => (None, None),
        }
    }

    /// Whether a batch's rows go to the server as JSON in one statement of
    /// fixed text (`jsonb_populate_recordset`, `jsonb_to_recordset`): one
    /// prepared statement whatever the batch size. SQLite takes `VALUES`
    /// lists (and an `IN` list per identity namespace, which its planner
    /// answers from the primary key).
    pub(crate) fn rows_as_json(self) -> bool {
        self == Self::Postgres
    }

    /// The pool's connections: open, idle among them, and the most it opens
    /// (each driver has its own pool type).
    pub(crate) fn pool_usage(self, db: &DatabaseConnection) -> PoolUsage {
        let (open, idle, max) = match self {
            Self::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            Self::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
        };
        PoolUsage { open, idle: u32::try_from(idle).unwrap_or(u32::MAX), max }
    }
}
