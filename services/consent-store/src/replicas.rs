//! Reads on PostgreSQL hot standbys (streaming replication), with the
//! primary behind them.
//!
//! A standby serves reads only while it is known to be fresh: a monitor
//! samples the primary's WAL position and then each standby's replay
//! position, and a standby that has replayed past a primary sample taken at
//! instant `t` holds every write acknowledged before `t`. A standby whose
//! latest such `t` is older than the configured lag (it fell behind, its
//! replay is paused, it went away) is out of use until it catches up again.
//!
//! A read that needs a revision (a `min_revision`, the head a feed read or
//! a cache fill stands on) goes to a standby only once that standby's head
//! for the tenant has reached it, waiting a bounded time; else the primary
//! answers. Replay is monotone, so what one read on a standby saw, a later
//! read on it sees too. A read that fails on a standby is answered by the
//! primary, and the standby waits for the monitor to prove it fresh again.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use consent_core::{ConsentError, Revision, TenantId};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::read;
use crate::vitals::Vitals;

/// How reads find their database.
#[derive(Debug)]
pub(crate) struct Reads {
    primary: DatabaseConnection,
    standbys: Arc<[Standby]>,
    next: AtomicUsize,
    policy: StandbyPolicy,
}

/// When a standby may serve reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StandbyPolicy {
    /// How far behind the primary a standby may be and still serve reads.
    pub(crate) max_lag: Duration,
    /// How long a read that needs a revision waits for a standby to replay
    /// it before the primary answers.
    pub(crate) wait: Duration,
}

/// One hot standby.
#[derive(Debug)]
pub(crate) struct Standby {
    /// For logs: the URL without its password.
    name: String,
    db: DatabaseConnection,
    state: Mutex<StandbyState>,
}

#[derive(Debug, Default)]
struct StandbyState {
    /// Every write acknowledged by the primary before this instant is
    /// visible on the standby.
    fresh_as_of: Option<Instant>,
    /// Whether it served reads at the last look (for logging changes).
    in_use: bool,
    /// The highest head seen on it per tenant: replay only moves forward.
    heads: HashMap<TenantId, Revision>,
}

/// What a standby looks like now, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyStatus {
    /// The standby's URL without its password.
    pub name: String,
    /// Whether it serves reads.
    pub in_use: bool,
    /// How far behind the primary it was last proven to be; `None` when it
    /// never was (unreachable, or not a standby).
    pub lag: Option<Duration>,
}

impl Reads {
    pub(crate) fn new(primary: DatabaseConnection, standbys: Vec<Standby>, policy: StandbyPolicy) -> Self {
        Self { primary, standbys: standbys.into(), next: AtomicUsize::new(0), policy }
    }

    /// Runs `read` on a fresh standby whose head for `tenant` has reached
    /// `at_least` (waiting at most the policy's wait), else on the primary.
    /// A read that fails on a standby is run again on the primary.
    pub(crate) async fn read<'a, T, F, Fut>(
        &'a self,
        tenant: &TenantId,
        at_least: Revision,
        read: F,
    ) -> Result<T, ConsentError>
    where
        F: Fn(&'a DatabaseConnection) -> Fut,
        Fut: Future<Output = Result<T, ConsentError>>,
    {
        if let Some(standby) = self.standby_for(tenant, at_least).await {
            match read(&standby.db).await {
                Ok(value) => return Ok(value),
                Err(err) => standby.failed(&err),
            }
        }
        read(&self.primary).await
    }

    /// The tenant's head, read where [`Reads::read`] would read.
    pub(crate) async fn head(&self, tenant: &TenantId, at_least: Revision) -> Result<Revision, ConsentError> {
        if let Some(standby) = self.standby_for(tenant, at_least).await {
            match standby.head(tenant).await {
                Ok(head) => return Ok(head),
                Err(err) => standby.failed(&err),
            }
        }
        read::head_revision(&self.primary, tenant).await
    }

    /// The standbys' state now.
    pub(crate) fn status(&self) -> Vec<StandbyStatus> {
        let now = Instant::now();
        self.standbys
            .iter()
            .map(|standby| {
                let lag = standby.lock().fresh_as_of.map(|fresh| now.saturating_duration_since(fresh));
                StandbyStatus {
                    name: standby.name.clone(),
                    in_use: lag.is_some_and(|lag| lag <= self.policy.max_lag),
                    lag,
                }
            })
            .collect()
    }

    async fn standby_for(&self, tenant: &TenantId, at_least: Revision) -> Option<&Standby> {
        if self.standbys.is_empty() {
            return None;
        }
        let now = Instant::now();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.standbys.len();
        let mut behind = None;
        for offset in 0..count {
            let standby = &self.standbys[(start + offset) % count];
            if !standby.fresh(now, self.policy.max_lag) {
                continue;
            }
            if standby.known_head(tenant) >= at_least {
                return Some(standby);
            }
            behind.get_or_insert(standby);
        }
        let standby = behind?;
        // Fresh, but not known to have reached the revision: ask it, and
        // give its replay a moment.
        let deadline = Instant::now() + self.policy.wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match standby.head(tenant).await {
                Ok(head) if head >= at_least => return Some(standby),
                Ok(_) => {}
                Err(err) => {
                    standby.failed(&err);
                    return None;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(16));
        }
    }
}

impl Standby {
    pub(crate) fn new(name: String, db: DatabaseConnection) -> Self {
        Self { name, db, state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StandbyState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self, now: Instant, max_lag: Duration) -> bool {
        self.lock().fresh_as_of.is_some_and(|fresh| now.saturating_duration_since(fresh) <= max_lag)
    }

    fn known_head(&self, tenant: &TenantId) -> Revision {
        self.lock().heads.get(tenant).copied().unwrap_or(0)
    }

    async fn head(&self, tenant: &TenantId) -> Result<Revision, ConsentError> {
        let head = read::head_revision(&self.db, tenant).await?;
        let mut state = self.lock();
        let known = state.heads.entry(tenant.clone()).or_insert(0);
        *known = (*known).max(head);
        Ok(head)
    }

    /// Out of use until the monitor proves it fresh again.
    fn failed(&self, err: &ConsentError) {
        tracing::warn!(standby = %self.name, error = %err, "a read on a standby failed; the primary answers");
        let mut state = self.lock();
        state.fresh_as_of = None;
        state.heads.clear();
    }
}

/// Starts the monitor that keeps the standbys' freshness; it stops when the
/// store is dropped.
pub(crate) fn monitor(reads: &Reads, vitals: &Vitals) {
    if reads.standbys.is_empty() {
        return;
    }
    let primary = reads.primary.clone();
    let standbys: Weak<[Standby]> = Arc::downgrade(&reads.standbys);
    let max_lag = reads.policy.max_lag;
    // Four looks per allowed lag: a standby that keeps up is never taken
    // out between two of them.
    let interval = (max_lag / 4).max(Duration::from_millis(10));
    let _ended = vitals.spawn("standby monitor", async move {
        let mut samples = PrimarySamples::default();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let Some(standbys) = standbys.upgrade() else { return };
            let taken = Instant::now();
            match tokio::time::timeout(interval, wal_position(&primary, "pg_current_wal_lsn()")).await {
                Ok(Ok(Some(lsn))) => samples.push(taken, lsn, max_lag),
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::debug!(error = %err, "cannot read the primary's WAL position"),
                Err(_) => tracing::debug!("reading the primary's WAL position took longer than a probe interval"),
            }
            for standby in standbys.iter() {
                let replayed =
                    tokio::time::timeout(interval, wal_position(&standby.db, "pg_last_wal_replay_lsn()")).await;
                match replayed {
                    Ok(Ok(Some(lsn))) => {
                        if let Some(covered) = samples.covered_by(lsn) {
                            let mut state = standby.lock();
                            state.fresh_as_of = Some(state.fresh_as_of.map_or(covered, |old| old.max(covered)));
                        }
                    }
                    Ok(Ok(None)) => {
                        tracing::warn!(standby = %standby.name, "not a standby (not in recovery); it serves no reads")
                    }
                    Ok(Err(err)) => tracing::debug!(standby = %standby.name, error = %err, "cannot reach a standby"),
                    Err(_) => tracing::debug!(standby = %standby.name, "a standby did not answer within a probe interval"),
                }
                standby.log_change(Instant::now(), max_lag);
            }
        }
    });
}

impl Standby {
    fn log_change(&self, now: Instant, max_lag: Duration) {
        let mut state = self.lock();
        let lag = state.fresh_as_of.map(|fresh| now.saturating_duration_since(fresh));
        let in_use = lag.is_some_and(|lag| lag <= max_lag);
        if in_use != state.in_use {
            state.in_use = in_use;
            if in_use {
                tracing::info!(standby = %self.name, "standby caught up; it serves reads");
            } else {
                tracing::warn!(standby = %self.name, lag_ms = lag.map(|lag| lag.as_millis()), "standby is behind or unreachable; the primary serves its reads");
            }
        }
    }
}

/// The primary's WAL positions over the last allowed lag, oldest first.
#[derive(Debug, Default)]
struct PrimarySamples {
    samples: VecDeque<(Instant, i64)>,
}

impl PrimarySamples {
    fn push(&mut self, taken: Instant, lsn: i64, keep: Duration) {
        self.samples.push_back((taken, lsn));
        // One sample older than the window stays: it may be the newest one
        // a lagging standby covers, which tells how far behind it is.
        while self.samples.len() > 2 && self.samples[1].0 + keep < taken {
            self.samples.pop_front();
        }
    }

    /// The latest instant whose primary position a standby that replayed up
    /// to `replayed` has passed.
    fn covered_by(&self, replayed: i64) -> Option<Instant> {
        self.samples.iter().rev().find(|(_, lsn)| *lsn <= replayed).map(|(taken, _)| *taken)
    }
}

/// A WAL position in bytes, from `function` (`NULL` off a standby for the
/// replay position).
async fn wal_position(db: &DatabaseConnection, function: &str) -> Result<Option<i64>, ConsentError> {
    let sql = format!("SELECT ({function} - '0/0'::pg_lsn)::bigint AS lsn");
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(crate::error::db_error)?;
    Ok(row.and_then(|row| row.try_get::<Option<i64>>("", "lsn").ok().flatten()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_is_as_fresh_as_the_latest_primary_position_it_passed() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut samples = PrimarySamples::default();
        samples.push(at(0), 100, Duration::from_secs(1));
        samples.push(at(250), 100, Duration::from_secs(1));
        samples.push(at(500), 300, Duration::from_secs(1));
        // An idle primary: a standby at its position is fresh as of the last look.
        assert_eq!(samples.covered_by(100), Some(at(250)));
        assert_eq!(samples.covered_by(299), Some(at(250)));
        assert_eq!(samples.covered_by(300), Some(at(500)));
        assert_eq!(samples.covered_by(99), None);
    }

    #[test]
    fn old_samples_go_but_one_stays_to_measure_lag_against() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut samples = PrimarySamples::default();
        for (index, ms) in [0, 400, 800, 1200, 1600, 2000].into_iter().enumerate() {
            samples.push(at(ms), index as i64 * 10, Duration::from_secs(1));
        }
        assert_eq!(samples.samples.front().map(|(taken, _)| *taken), Some(at(800)));
        assert_eq!(samples.covered_by(5), None);
        assert_eq!(samples.covered_by(25), Some(at(800)));
    }
}
