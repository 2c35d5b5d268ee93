//! The relay's gauges, read at each metrics collection:
//!
//! - `consentd.webhook.backlog`: how many revisions the subscriptions this
//!   replica delivers are behind their tenant's head, summed. Each worker
//!   says how far it has read (every revision up to there is delivered or
//!   not its subscription's); the head is read from the tenant's shared tail
//!   at collection time, so a worker asleep in a receiver's backoff still
//!   shows its backlog growing. Revisions its filter does not take count
//!   too, until the worker has read past them: the number says how much is
//!   left to read, which is what a stuck receiver piles up.
//! - `consentd.webhook.parked`: how many subscriptions are parked, in the
//!   whole database (so every replica reports the same number: take the
//!   max, not the sum). The relay counts them at each poll; a scrape never
//!   queries the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use consent_core::Revision;
use consentd_feed::tail::TailHead;
use uuid::Uuid;

/// What the gauges report, shared by the relay and its workers.
#[derive(Debug, Default)]
pub(super) struct Gauges {
    /// Per subscription delivered here: its tenant's head and how far the
    /// worker has read.
    positions: Mutex<HashMap<Uuid, (TailHead, Revision)>>,
    /// The last count of parked subscriptions; `None` before the first.
    parked: Mutex<Option<u64>>,
}

impl Gauges {
    /// New gauges, registered with the meter. The callbacks hold them
    /// weakly: once the relay is gone they report nothing.
    pub(super) fn registered() -> Arc<Self> {
        let gauges = Arc::new(Self::default());
        let meter = consentd_telemetry::meter();
        let backlog = Arc::downgrade(&gauges);
        meter
            .u64_observable_gauge("consentd.webhook.backlog")
            .with_unit("{revision}")
            .with_description(
                "Revisions the webhook subscriptions this replica delivers are behind their tenant's head",
            )
            .with_callback(move |observer| {
                if let Some(total) = Weak::upgrade(&backlog).map(|gauges| gauges.backlog()) {
                    observer.observe(total, &[]);
                }
            })
            .build();
        let parked = Arc::downgrade(&gauges);
        meter
            .u64_observable_gauge("consentd.webhook.parked")
            .with_unit("{subscription}")
            .with_description("Webhook subscriptions parked after too many failures, in the whole database")
            .with_callback(move |observer| {
                if let Some(count) = Weak::upgrade(&parked).and_then(|gauges| *lock(&gauges.parked)) {
                    observer.observe(count, &[]);
                }
            })
            .build();
        gauges
    }

    /// Subscription `id` has read up to `scanned` of the tenant whose head
    /// `head` follows.
    pub(super) fn read_up_to(&self, id: Uuid, head: TailHead, scanned: Revision) {
        lock(&self.positions).insert(id, (head, scanned));
    }

    /// Subscription `id` is no longer delivered here.
    pub(super) fn forget(&self, id: Uuid) {
        lock(&self.positions).remove(&id);
    }

    pub(super) fn set_parked(&self, count: u64) {
        *lock(&self.parked) = Some(count);
    }

    fn backlog(&self) -> u64 {
        let positions = lock(&self.positions);
        positions
            .values()
            .filter_map(|(head, scanned)| head.revision().map(|head| head.saturating_sub(*scanned)))
            .map(|behind| u64::try_from(behind).unwrap_or(0))
            .sum()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
