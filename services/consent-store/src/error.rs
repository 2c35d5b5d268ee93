//! Database errors to consent errors. Driver detail never reaches clients: it
//! is logged, and the client gets a code it can act on (SpiceDB's
//! `sanitizeDatastoreDriverError`).

use consent_core::ConsentError;
use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};

/// SQLSTATE / SQLite codes that mean "a concurrent transaction won; retry".
const RETRYABLE_CODES: &[&str] = &[
    "40001", // PostgreSQL serialization_failure
    "40P01", // PostgreSQL deadlock_detected
    "55P03", // PostgreSQL lock_not_available
    "5",     // SQLITE_BUSY
    "6",     // SQLITE_LOCKED
    "517",   // SQLITE_BUSY_SNAPSHOT
];

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
        if let Some(code) = inner.as_database_error().and_then(|db| db.code())
            && RETRYABLE_CODES.contains(&code.as_ref())
        {
            tracing::warn!(error = %err, "transaction conflict");
            return ConsentError::Aborted(
                "a concurrent transaction conflicted; retry the request".to_owned(),
            );
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
