//! A webhook receiver on loopback for the tests: it records every delivery,
//! answers with the status the test sets (or fails the first N), can be slow,
//! and counts how many deliveries it handles at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Notify;

/// One delivery as received.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) headers: HashMap<String, String>,
    pub(crate) raw: Vec<u8>,
    pub(crate) body: serde_json::Value,
    /// What the receiver answered.
    pub(crate) answered: u16,
}

impl Delivery {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub(crate) fn revision(&self) -> i64 {
        self.body["Revision"].as_i64().expect("Revision")
    }

    pub(crate) fn event_id(&self) -> &str {
        self.header("webhook-id")
    }

    /// Whether the Standard Webhooks signature verifies with `secret`
    /// (`whsec_<base64 key>`), computed independently of the server's code.
    pub(crate) fn signature_verifies(&self, secret: &str) -> bool {
        let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64 key");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{}.", self.header("webhook-id"), self.header("webhook-timestamp")).as_bytes());
        mac.update(&self.raw);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        self.header("webhook-signature").split(' ').any(|candidate| candidate == expected)
    }
}

#[derive(Default)]
struct State {
    deliveries: Mutex<Vec<Delivery>>,
    status: AtomicU16,
    fail_next: AtomicUsize,
    delay_ms: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrived: Notify,
}

/// The receiver; stops when dropped.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// A receiver answering 200.
    pub(crate) async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A receiver on a given address (to come back on the same port).
    pub(crate) async fn start_on(addr: SocketAddr) -> Self {
        let state = Arc::new(State { status: AtomicU16::new(200), ..State::default() });
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::clone(&state);
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&shared);
            async move { receive(&state, &headers, &body).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answer every later delivery with `status`.
    pub(crate) fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Answer the next `n` deliveries with 503, then as set.
    pub(crate) fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Take this long to answer.
    pub(crate) fn delay(&self, delay: Duration) {
        self.state.delay_ms.store(usize::try_from(delay.as_millis()).unwrap(), Ordering::SeqCst);
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// Deliveries answered with a 2xx.
    pub(crate) fn accepted(&self) -> Vec<Delivery> {
        self.deliveries().into_iter().filter(|d| (200..300).contains(&d.answered)).collect()
    }

    /// The most deliveries it ever handled at once.
    pub(crate) fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds for the deliveries so far.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.state.arrived.notified();
            let deliveries = self.deliveries();
            if done(&deliveries) {
                return deliveries;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let deliveries = self.deliveries();
                assert!(
                    done(&deliveries),
                    "timed out waiting for {what}; received {:#?}",
                    summary(&deliveries)
                );
                return deliveries;
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn summary(deliveries: &[Delivery]) -> Vec<(i64, u16)> {
    deliveries.iter().map(|d| (d.body["Revision"].as_i64().unwrap_or(-1), d.answered)).collect()
}

async fn receive(state: &State, headers: &HeaderMap, body: &Bytes) -> StatusCode {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(u64::try_from(delay).unwrap())).await;
    }
    let failing =
        state.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    let answered = if failing { 503 } else { state.status.load(Ordering::SeqCst) };
    let delivery = Delivery {
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect(),
        raw: body.to_vec(),
        body: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        answered,
    };
    state.deliveries.lock().unwrap().push(delivery);
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    state.arrived.notify_waiters();
    StatusCode::from_u16(answered).unwrap()
}
