//! Database errors to consent errors. Driver detail never reaches clients: it
//! is logged, and the client gets a code it can act on (SpiceDB's
//! `sanitizeDatastoreDriverError`).

use consent_core::ConsentError;
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

/// What a database error code means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// A concurrent transaction won; retrying may succeed.
    Conflict,
    /// The store is down, full, read-only or restarting.
    Unavailable,
    /// Anything else: a bug or corruption.
    Other,
}

/// Classifies a PostgreSQL SQLSTATE (always five characters) or a SQLite
/// result code (at most four digits; sqlx reports SQLite's extended code,
/// whose low byte is the primary code).
fn meaning(code: &str) -> Meaning {
    if code.len() < 5
        && let Ok(sqlite) = code.parse::<u32>()
    {
        return match sqlite & 0xff {
            5 | 6 => Meaning::Conflict,               // BUSY, LOCKED (and their extended forms)
            8 | 10 | 13 | 14 => Meaning::Unavailable, // READONLY, IOERR, FULL, CANTOPEN
            _ => Meaning::Other,
        };
    }
    match code {
        "40001" | "40P01" | "55P03" => Meaning::Conflict, // serialization, deadlock, lock not available
        "25006" | "57014" | "53100" | "53200" | "53300" => Meaning::Unavailable, // read-only, timeout, resources
        _ if code.starts_with("08") || code.starts_with("57P") => Meaning::Unavailable, // connection, shutdown
        _ => Meaning::Other,
    }
}

pub(crate) fn db_error(err: DbErr) -> ConsentError {
    if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
        tracing::warn!(error = %err, "concurrent write conflict");
        return ConsentError::Aborted("a concurrent write conflicted; retry the request".to_owned());
    }
    if let DbErr::ConnectionAcquire(_) | DbErr::Conn(_) = err {
        tracing::warn!(error = %err, "store unreachable");
        return ConsentError::Unavailable("the store cannot be reached".to_owned());
    }
    if let DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) = &err {
        let code_meaning = inner.as_database_error().and_then(|db| db.code()).map(|code| meaning(&code));
        if code_meaning == Some(Meaning::Conflict) {
            tracing::warn!(error = %err, "transaction conflict");
            return ConsentError::Aborted(
                "a concurrent transaction conflicted; retry the request".to_owned(),
            );
        }
        if code_meaning == Some(Meaning::Unavailable) {
            tracing::warn!(error = %err, "store unavailable");
            return ConsentError::Unavailable("the store cannot serve requests right now".to_owned());
        }
        if matches!(
            inner.as_ref(),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_)
        ) {
            tracing::warn!(error = %err, "store unreachable");
            return ConsentError::Unavailable("the store cannot be reached".to_owned());
        }
    }
    tracing::error!(error = %err, "store error");
    ConsentError::Internal("store error".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(meaning("40001"), Meaning::Conflict);
        assert_eq!(meaning("773"), Meaning::Conflict); // SQLITE_BUSY_TIMEOUT
        assert_eq!(meaning("57P01"), Meaning::Unavailable); // admin shutdown
        assert_eq!(meaning("08006"), Meaning::Unavailable);
        assert_eq!(meaning("13"), Meaning::Unavailable); // SQLITE_FULL
        assert_eq!(meaning("23505"), Meaning::Other);
        assert_eq!(meaning("19"), Meaning::Other); // SQLITE_CONSTRAINT
    }
}
