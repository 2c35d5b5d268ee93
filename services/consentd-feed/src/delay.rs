//! `consentd.subscribe.delay`: how long after it was recorded a live event
//! is handed to its Subscribe stream's transport — the feed's lag as a
//! subscriber sees it.
//!
//! Why this measure: it spans everything between a write and its reader —
//! the commit, the shared tail's read (a commit signal, or the poll interval
//! for writes made by another replica), the stream's buffer and a slow
//! client's back-pressure — where a revision count (head minus cursor) says
//! nothing about time, and a quiet tenant's stream at the head would look as
//! healthy as a stuck one. Only events a stream reads after it first caught
//! up with the log are measured: a replay from an old resume token, or the
//! backlog a stream finds when it opens, is history the client asked for,
//! not lag, and would swamp the histogram with days-old records.
//!
//! The clock is the wall clock (`recorded_at` is the writer's `now`): across
//! replicas, their clocks' skew is part of the number, and a negative delay
//! (this replica's clock behind the writer's) counts as none.

use std::sync::OnceLock;
use std::time::Duration;

use consent_core::{ConsentRecord, Timestamp};
use opentelemetry::metrics::Histogram;

/// Buckets from 5 ms to 5 minutes: a commit reaches a stream on the same
/// replica in milliseconds, one made by another replica within the poll
/// interval (1 s by default); minutes mean a stalled tail or client.
const BUCKETS: [f64; 14] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Records the delay of `record`, a live event being handed to its stream.
pub(crate) fn observe(record: &ConsentRecord) {
    static DELAY: OnceLock<Histogram<f64>> = OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        consentd_telemetry::meter()
            .f64_histogram("consentd.subscribe.delay")
            .with_unit("s")
            .with_description(
                "Time from a record's write (its recorded_at) to its Subscribe stream taking it",
            )
            .with_boundaries(BUCKETS.to_vec())
            .build()
    });
    let micros = Timestamp::now().as_micros().saturating_sub(record.recorded_at.as_micros()).max(0);
    delay.record(Duration::from_micros(micros.unsigned_abs()).as_secs_f64(), &[]);
}
