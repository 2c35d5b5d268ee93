//! Cross-replica wake-ups on PostgreSQL: every commit sends a NOTIFY, and
//! each replica LISTENs and bumps its local commit signal, so subscribers on
//! one replica see writes made through another at once. The log in the
//! database stays the truth; a lost notification only delays a subscriber
//! until its poll timer.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::PgListener;
use tokio::sync::watch;

const CHANNEL: &str = "consentd_commits";

/// The statement a committing transaction runs.
pub(crate) const NOTIFY_COMMITS: &str = "NOTIFY consentd_commits";

/// Starts a task that bumps `committed` on every notification, for as long as
/// anyone holds a receiver.
pub(crate) fn listen(pool: PgPool, committed: Arc<watch::Sender<u64>>) {
    tokio::spawn(async move {
        let bump = || committed.send_modify(|count| *count = count.wrapping_add(1));
        loop {
            if committed.is_closed() {
                return;
            }
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for commits; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %err, "cannot listen for commits; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // Notifications sent while not listening are lost: wake everyone
            // to re-read.
            bump();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => bump(),
                    // The connection dropped; sqlx reconnects on the next call.
                    Ok(None) => bump(),
                    Err(err) => {
                        tracing::warn!(error = %err, "commit listener failed; reconnecting");
                        break;
                    }
                }
                if committed.is_closed() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
