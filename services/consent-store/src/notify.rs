//! Cross-replica commit notices on PostgreSQL. Every committing batch sends,
//! per tenant, a notice naming the subjects it touched and the tenant's new
//! head; each replica LISTENs, bumps its local commit signal (subscribers on
//! one replica see writes made through another at once) and hands the notice
//! to its check cache. PostgreSQL delivers notices at commit, in commit order.
//!
//! The log in the database stays the truth for the change feed: a lost notice
//! only delays a subscriber until its poll timer. The check cache cannot wait
//! for a timer, so it goes offline whenever the listener is not connected and
//! drops everything when it connects again. A connection can also stop
//! delivering without reporting anything (a half-open socket, a frozen proxy):
//! a heartbeat sends a marker notice through the database every interval, the
//! cache answers only while a recent one has come back (see `cache.rs`), and
//! a listener that hears nothing at all for the staleness bound drops its
//! connection and listens afresh.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use consent_core::{ConsentError, Revision, TenantId};
use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::cache::CheckCache;
use crate::error::db_error;
use crate::vitals::Vitals;

/// What one tenant's writes in a batch changed: the subjects touched and the
/// tenant's head after them (what a commit notice carries).
#[derive(Debug, Default)]
pub(crate) struct TenantChanges {
    pub(crate) subjects: Vec<Uuid>,
    pub(crate) head: Revision,
    /// Whether a subject was erased (its identities unlinked).
    pub(crate) unlinked: bool,
}

const CHANNEL: &str = "consentd_commits";

/// Subjects per notice: a notice payload must stay under 8000 bytes.
const SUBJECTS_PER_NOTICE: usize = 150;

/// Sends the notices of a batch inside its transaction (delivered at commit).
/// A tenant with many subjects gets several notices; only the last carries
/// the head, so no replica advances past a subject it has not dropped yet.
pub(crate) async fn send<C: ConnectionTrait>(
    txn: &C,
    changes: &BTreeMap<TenantId, TenantChanges>,
) -> Result<(), ConsentError> {
    for (tenant, changed) in changes {
        let chunks: Vec<&[Uuid]> = changed.subjects.chunks(SUBJECTS_PER_NOTICE).collect();
        let last = chunks.len().saturating_sub(1);
        for (index, subjects) in chunks.into_iter().enumerate() {
            let head = (index == last).then_some(changed.head);
            let mut payload = json!({ "t": tenant.as_str(), "h": head, "s": subjects });
            if changed.unlinked {
                payload["u"] = json!(true);
            }
            let payload = payload.to_string();
            notify(txn, payload).await?;
        }
    }
    Ok(())
}

async fn notify<C: ConnectionTrait>(db: &C, payload: String) -> Result<(), ConsentError> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    );
    db.execute_raw(statement).await.map_err(db_error)?;
    Ok(())
}

/// A barrier: sends a marker notice (in its own transaction) and waits until
/// it comes back. Every commit made before it has had its notice handled by
/// then. False when it did not come back within `limit`.
pub(crate) async fn barrier<C: ConnectionTrait>(
    db: &C,
    cache: &CheckCache,
    limit: Duration,
) -> Result<bool, ConsentError> {
    let number = send_marker(db, cache).await?;
    Ok(cache.marker_returned(number, limit).await)
}

/// Sends a new marker of this process (in its own transaction); its number.
async fn send_marker<C: ConnectionTrait>(db: &C, cache: &CheckCache) -> Result<u64, ConsentError> {
    let (marker, number) = cache.new_marker();
    notify(db, json!({ "m": marker }).to_string()).await?;
    Ok(number)
}

/// How the commit-notice channel proves it is alive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    /// How often a marker is sent.
    pub(crate) heartbeat: Duration,
    /// How long the listener may hear nothing before it reconnects (and how
    /// old the newest returned marker may be before the cache stops
    /// answering).
    pub(crate) max_silence: Duration,
}

/// Starts the task that sends a marker every heartbeat, for as long as
/// anyone holds a receiver of `committed`.
pub(crate) fn heartbeat(
    db: DatabaseConnection,
    cache: CheckCache,
    liveness: Liveness,
    committed: Arc<watch::Sender<u64>>,
    vitals: &Vitals,
) {
    let _ended = vitals.spawn("commit notice heartbeat", async move {
        let mut ticks = tokio::time::interval(liveness.heartbeat);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if committed.is_closed() {
                return;
            }
            // A send that hangs (a frozen pool connection) is given up at
            // the next beat; the cache then goes stale, as it should.
            match tokio::time::timeout(liveness.heartbeat, send_marker(&db, &cache)).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => tracing::debug!(error = %err, "cannot send a commit-notice heartbeat"),
                Err(_) => tracing::debug!("a commit-notice heartbeat took longer than its interval"),
            }
        }
    });
}

/// What one notice says.
fn handle(payload: &str, cache: Option<&CheckCache>) {
    let Some(cache) = cache else { return };
    let notice: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    if let Some(marker) = notice["m"].as_str() {
        cache.marker_seen(marker);
        return;
    }
    let subjects: Option<Vec<Uuid>> = notice["s"].as_array().map(|subjects| {
        subjects.iter().filter_map(|s| s.as_str().and_then(|s| Uuid::parse_str(s).ok())).collect()
    });
    match (notice["t"].as_str(), subjects) {
        (Some(tenant), Some(subjects)) => {
            if notice["u"].as_bool() == Some(true) {
                cache.forget_links();
            }
            cache.committed(&TenantId::new(tenant), subjects, notice["h"].as_i64());
        }
        // A notice this version cannot read (an older replica's, during a
        // rolling upgrade): something changed, it is not known what.
        _ => cache.reset(),
    }
}

/// Starts a task that bumps `committed` on every notice and feeds the notices
/// to `cache`, for as long as anyone holds a receiver of `committed`.
/// With `liveness` (a heartbeat runs), a connection that delivers nothing
/// for its silence bound is taken for dead and replaced.
pub(crate) fn listen(
    pool: PgPool,
    committed: Arc<watch::Sender<u64>>,
    cache: Option<CheckCache>,
    liveness: Option<Liveness>,
    vitals: &Vitals,
) {
    // Ends by itself once nobody follows the commits.
    let _ended = vitals.spawn("commit notice listener", async move {
        let bump = || committed.send_modify(|count| *count = count.wrapping_add(1));
        let offline = || {
            if let Some(cache) = &cache {
                cache.set_online(false);
                cache.reset();
            }
        };
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
            // Notices sent while not listening are lost: wake everyone to
            // re-read, and start the cache afresh.
            if let Some(cache) = &cache {
                cache.reset();
                cache.set_online(true);
            }
            bump();
            loop {
                let received = match liveness {
                    Some(liveness) => tokio::time::timeout(liveness.max_silence, listener.try_recv()).await,
                    None => Ok(listener.try_recv().await),
                };
                let Ok(received) = received else {
                    // Not even this process's own heartbeat came back: the
                    // connection stopped delivering without saying so.
                    tracing::warn!("commit listener heard nothing, not even its heartbeat; reconnecting");
                    offline();
                    bump();
                    break;
                };
                match received {
                    Ok(Some(notification)) => {
                        fail::fail_point!("store::notice");
                        handle(notification.payload(), cache.as_ref());
                        bump();
                    }
                    // The connection dropped: notices may be lost until a
                    // new one listens.
                    Ok(None) => {
                        offline();
                        bump();
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "commit listener failed; reconnecting");
                        offline();
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
