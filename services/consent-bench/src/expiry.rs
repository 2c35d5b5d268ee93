//! Expiry on the feed under load: `records` grants (100 purposes a person)
//! whose expiries fall evenly across one minute, a subscriber on the feed
//! from before the first, and how long after its `expires_at` each
//! `EXPIRED` event reached it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consent_proto::v1 as pb;
use consent_store::testing::Backend;
use pb::subscribe_response::Payload;

use crate::workloads::Deployment;

/// Purposes per person (one call writes them all).
const PURPOSES: usize = 100;

/// Time to write the records before the first expires.
const LEAD: Duration = Duration::from_secs(30);

/// The window the expiries fall in.
const WINDOW: Duration = Duration::from_secs(60);

/// One run's result.
#[derive(Debug)]
pub(crate) struct ExpiryDelay {
    pub(crate) records: usize,
    pub(crate) announced: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

impl ExpiryDelay {
    pub(crate) fn markdown(&self) -> String {
        format!(
            "| records expiring in one minute | announced | delay p50 | p99 | max |\n|---|---|---|---|---|\n| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms |\n",
            self.records, self.announced, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

fn micros_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros()).unwrap_or(0)
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1000).unwrap_or(0),
    }
}

pub(crate) async fn expiry_delay(binary: &std::path::Path, backend: Backend, records: usize) -> ExpiryDelay {
    let deployment = Deployment::start(binary, backend).await;
    let people = records.div_ceil(PURPOSES);
    let first = micros_now() + i64::try_from(LEAD.as_micros()).unwrap_or(0);
    let step = i64::try_from(WINDOW.as_micros()).unwrap_or(0) / i64::try_from(people.max(1)).unwrap_or(1);
    let expires = move |person: usize| Some(timestamp(first + step * i64::try_from(person).unwrap_or(0)));
    crate::people::write(&deployment, people, PURPOSES, expires).await;
    assert!(micros_now() < first, "writing took longer than the lead: raise LEAD");
    // From the head on: the grants themselves are not what is measured.
    let mut client = deployment.clients(1).await.remove(0);
    let mut stream =
        client.subscribe(pb::SubscribeRequest::default()).await.expect("subscribes").into_inner();
    let mut delays_ms = Vec::with_capacity(people * PURPOSES);
    let deadline = tokio::time::Instant::now() + LEAD + WINDOW + Duration::from_secs(120);
    while delays_ms.len() < people * PURPOSES && tokio::time::Instant::now() < deadline {
        let message = match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(message))) => message,
            ended => {
                eprintln!("  the subscriber's stream ended: {ended:?}");
                break;
            }
        };
        if let Some(Payload::Event(event)) = message.payload
            && event.kind() == pb::EventKind::Expired
            && let Some(expires_at) = event.record.and_then(|record| record.expires_at)
        {
            let expired = expires_at.seconds * 1_000_000 + i64::from(expires_at.nanos) / 1000;
            let delay = (micros_now() - expired) as f64 / 1000.0;
            if delay > 1000.0 {
                eprintln!("  {:.1} s into the window: {delay:.0} ms", (expired - first) as f64 / 1e6);
            }
            delays_ms.push(delay);
        }
    }
    delays_ms.sort_by(f64::total_cmp);
    let at =
        |q: f64| delays_ms.get(((delays_ms.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    let result = ExpiryDelay {
        records: people * PURPOSES,
        announced: delays_ms.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: delays_ms.last().copied().unwrap_or(f64::NAN),
    };
    eprintln!("  {result:?}");
    result
}
