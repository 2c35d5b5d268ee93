//! What the store says about the statements it runs: a slow one is logged
//! with its SQL (never its values, which may identify a person), and tests
//! can see every statement issued, to check the plan of each.

#[cfg(feature = "testing")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "testing")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
#[cfg(feature = "testing")]
use sea_orm::Statement;

/// A statement that takes this long is logged.
const SLOW: Duration = Duration::from_millis(500);

/// The statements a store's connections ran.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statements {
    #[cfg(feature = "testing")]
    issued: Arc<Mutex<Vec<(&'static str, Statement)>>>,
    /// Off until a test asks: a store built with the testing feature (the
    /// benchmark's loader) would otherwise keep every statement it ran.
    #[cfg(feature = "testing")]
    recording: Arc<AtomicBool>,
}

impl Statements {
    /// Watches every statement `db` runs. Set before `db` is cloned: each
    /// handle keeps its own observer.
    pub(crate) fn observe(&self, db: &mut DatabaseConnection, database: &'static str) {
        #[cfg(feature = "testing")]
        let (issued, recording) = (Arc::clone(&self.issued), Arc::clone(&self.recording));
        db.set_metric_callback(move |info| {
            if info.elapsed >= SLOW {
                tracing::warn!(
                    database,
                    elapsed_ms = info.elapsed.as_millis(),
                    failed = info.failed,
                    sql = %info.statement.sql,
                    "slow statement"
                );
            }
            #[cfg(feature = "testing")]
            if recording.load(Ordering::Relaxed) {
                issued
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push((database, info.statement.clone()));
            }
        });
    }

    /// Starts keeping the statements run from now on.
    #[cfg(feature = "testing")]
    pub(crate) fn record(&self) {
        self.recording.store(true, Ordering::Relaxed);
    }

    /// Every statement run since recording began or the last call, in
    /// order, with the database it ran on (`primary` or `standby`), and
    /// forgets them.
    #[cfg(feature = "testing")]
    pub(crate) fn take(&self) -> Vec<(&'static str, Statement)> {
        std::mem::take(&mut *self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
