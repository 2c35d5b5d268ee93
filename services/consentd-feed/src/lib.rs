//! The Subscribe change feed: one producer task per stream re-reads the
//! durable log from its cursor and waits on a "something committed" signal
//! (or a timer) in between; a bounded buffer stands between it and the
//! client, so writers never wait for readers.
//!
//! A stream that cannot keep up (its buffer stays full for the send timeout)
//! is ended as too slow; a server shutdown ends streams too. Either way the
//! end carries the last revision the client was given, which is where it
//! resumes, missing nothing. The feed speaks in domain terms ([`FeedItem`],
//! [`FeedEnded`]); `grpc::subscribe` turns them into messages and statuses.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use consent_core::{
    ConsentError, ConsentRecord, ConsentService, ConsentStore, FeedFilter, Revision, Subscribe, TenantId,
};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_stream::Stream;

use crate::tail::{Follower, Page, Reading, Tails};
use consentd_auth::{Authenticator, Principal};

mod budget;
mod delay;
pub mod tail;

use budget::{Budget, ByteBudget, Charge};

/// What a stream delivers.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// A record entered the log.
    Event {
        /// The record, its revision and kind included (boxed: it is large
        /// beside a heartbeat).
        record: Box<ConsentRecord>,
        /// Where to resume to read what follows it.
        resume_token: String,
    },
    /// Nothing the stream takes up to `revision`: sent after a quiet
    /// heartbeat interval, so a client can move its resume point on.
    Heartbeat {
        /// The log has been read up to here.
        revision: Revision,
        /// Where to resume to read what follows.
        resume_token: String,
    },
}

impl FeedItem {
    /// The revision a client has seen once it has this item.
    pub fn revision(&self) -> Revision {
        match self {
            Self::Event { record, .. } => record.revision,
            Self::Heartbeat { revision, .. } => *revision,
        }
    }

    /// About what the item weighs in a stream's buffer (and, as its text
    /// dominates, on the wire).
    fn approximate_bytes(&self) -> usize {
        match self {
            Self::Event { record, resume_token } => record.approximate_bytes() + resume_token.len(),
            Self::Heartbeat { resume_token, .. } => resume_token.len() + 16,
        }
    }
}

/// How a stream ended, and where its client resumes.
#[derive(Debug)]
pub struct FeedEnded {
    /// Why.
    pub reason: FeedEnd,
    /// The last revision handed to the client (the start cursor before any).
    pub last_revision: Revision,
    /// The resume token of `last_revision`.
    pub resume_token: String,
}

/// Why the feed ended a stream.
#[derive(Debug)]
pub enum FeedEnd {
    /// The client did not keep up: its buffer stayed full for the send
    /// timeout.
    TooSlow,
    /// The server is shutting down.
    ShuttingDown,
    /// The stream's key was revoked.
    Revoked,
    /// Reading the log failed.
    Failed(ConsentError),
}

/// Tuning of the change feed.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// A heartbeat is sent after this long without any message.
    pub heartbeat_interval: Duration,
    /// Messages buffered per stream.
    pub buffer: usize,
    /// Bytes buffered per stream, at most (each item counted at about what
    /// its record holds, which its encoding does not exceed by much).
    pub buffer_bytes: usize,
    /// Bytes buffered by all streams of this server together, at most.
    pub total_buffer_bytes: usize,
    /// The most each tenant's shared tail keeps in memory.
    pub tail_bytes: usize,
    /// How long a full buffer may stay full before the stream is ended.
    pub send_timeout: Duration,
    /// Streams open at once on this server.
    pub max_streams: usize,
    /// Streams open at once for one tenant.
    pub max_streams_per_tenant: usize,
    /// How often the log is re-read without a commit signal (commits made
    /// through other processes sharing the database).
    pub poll_interval: Duration,
    /// Records read from the store at a time.
    pub page_size: u64,
    /// How long a tenant's shared tail keeps reading the log after its last
    /// stream ended (a stream that comes back soon finds it warm).
    pub tail_linger: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            buffer: 1024,
            buffer_bytes: 1024 * 1024,
            total_buffer_bytes: 64 * 1024 * 1024,
            tail_bytes: 32 * 1024 * 1024,
            send_timeout: Duration::from_secs(5),
            max_streams: 1024,
            max_streams_per_tenant: 256,
            poll_interval: Duration::from_secs(1),
            page_size: 256,
            tail_linger: Duration::from_secs(5),
        }
    }
}

/// Opens change-feed streams.
#[derive(Debug, Clone)]
pub struct Feeds<S> {
    service: ConsentService<S>,
    settings: FeedSettings,
    /// Bytes all streams' buffers may still take.
    buffered: ByteBudget,
    streams: Arc<Semaphore>,
    per_tenant: Arc<Mutex<HashMap<TenantId, usize>>>,
    authenticator: Option<Authenticator>,
    shutdown: watch::Receiver<bool>,
    tails: Tails,
}

/// How often an open stream re-checks that its key is still valid: with the
/// key cache's lifetime, revocation ends streams within a second.
const KEY_RECHECK: Duration = Duration::from_millis(250);

/// One tenant's place among its open streams, given back on drop.
#[derive(Debug)]
struct TenantPlace {
    per_tenant: Arc<Mutex<HashMap<TenantId, usize>>>,
    tenant: TenantId,
}

impl Drop for TenantPlace {
    fn drop(&mut self) {
        let mut counts = self.per_tenant.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.tenant);
            }
        }
    }
}

impl<S: ConsentStore + Clone> Feeds<S> {
    /// Feeds over `service`; `shutdown` turning true ends every stream, and
    /// a stream whose key `authenticator` no longer accepts ends too.
    pub fn new(
        service: ConsentService<S>,
        settings: FeedSettings,
        authenticator: Option<Authenticator>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let streams = Arc::new(Semaphore::new(settings.max_streams));
        let open = Arc::clone(&streams);
        let max = settings.max_streams;
        consentd_telemetry::meter()
            .i64_observable_up_down_counter("consentd.subscribe.open_streams")
            .with_unit("{stream}")
            .with_description("Subscribe streams open on this server")
            .with_callback(move |observer| {
                let used = max.saturating_sub(open.available_permits());
                observer.observe(i64::try_from(used).unwrap_or(i64::MAX), &[]);
            })
            .build();
        let buffered = ByteBudget::new(settings.total_buffer_bytes);
        Self {
            service,
            settings,
            buffered,
            streams,
            per_tenant: Arc::default(),
            authenticator,
            shutdown,
            tails: Tails::default(),
        }
    }

    /// Validates the subscription and starts its producer.
    pub async fn open(&self, principal: Principal, cmd: Subscribe) -> Result<FeedStream, ConsentError> {
        let tenant = principal.tenant.clone();
        let permit = Arc::clone(&self.streams).try_acquire_owned().map_err(|_| {
            ConsentError::ResourceExhausted(format!(
                "this server already serves its maximum of {} subscriptions",
                self.settings.max_streams
            ))
        })?;
        let place = self.take_tenant_place(&tenant)?;
        let (filter, cursor) = self.service.open_feed(&tenant, cmd).await?;
        let database_id = self.service.store().database_id().await?;
        let follower = self.follower(&tenant, filter).await?;
        let (items, receiver) = mpsc::channel(self.settings.buffer.max(1));
        let (end_sender, end) = oneshot::channel();
        let producer = Producer {
            settings: self.settings.clone(),
            tenant: tenant.clone(),
            database_id: database_id.clone(),
            cursor,
            items,
            shutdown: self.shutdown.clone(),
            follower,
            key: principal.key_id.is_some().then_some(principal).zip(self.authenticator.clone()),
            live: false,
            budget: Budget {
                own: ByteBudget::new(self.settings.buffer_bytes),
                shared: self.buffered.clone(),
            },
        };
        tokio::spawn(async move {
            if let Some(reason) = producer.run().await {
                let _ = end_sender.send(reason);
            }
        });
        Ok(FeedStream {
            receiver,
            end,
            last_revision: cursor,
            database_id,
            tenant,
            done: false,
            _permit: permit,
            _place: place,
        })
    }

    /// A reader of `tenant`'s changes that `filter` takes, on the tenant's
    /// shared tail (started if none runs): Subscribe streams and webhook
    /// workers alike.
    pub async fn follower(&self, tenant: &TenantId, filter: FeedFilter) -> Result<Follower<S>, ConsentError> {
        let reading = Reading {
            page_size: self.settings.page_size,
            window_bytes: self.settings.tail_bytes,
            poll_interval: self.settings.poll_interval,
            linger: self.settings.tail_linger,
        };
        let tail = self.tails.follow(&self.service, tenant, reading, self.shutdown.clone()).await?;
        Ok(Follower::new(self.service.clone(), tenant.clone(), filter, tail, self.settings.page_size))
    }

    fn take_tenant_place(&self, tenant: &TenantId) -> Result<TenantPlace, ConsentError> {
        let mut counts = self.per_tenant.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(tenant.clone()).or_default();
        if *count >= self.settings.max_streams_per_tenant {
            return Err(ConsentError::ResourceExhausted(format!(
                "this tenant already has its maximum of {} subscriptions",
                self.settings.max_streams_per_tenant
            )));
        }
        *count += 1;
        Ok(TenantPlace { per_tenant: Arc::clone(&self.per_tenant), tenant: tenant.clone() })
    }
}

struct Producer<S> {
    settings: FeedSettings,
    tenant: TenantId,
    database_id: String,
    /// Every revision up to here has been read.
    cursor: Revision,
    items: mpsc::Sender<Buffered>,
    shutdown: watch::Receiver<bool>,
    /// What the stream's buffer may still take, in bytes.
    budget: Budget,
    /// The stream's way through the tenant's changes (its shared tail).
    follower: Follower<S>,
    /// The stream's caller (its key, or its token's expiry) and who checks
    /// it still may; `None` without authentication.
    key: Option<(Principal, Authenticator)>,
    /// The stream has read the log up to the tail once: what it reads from
    /// then on was committed while it followed, and its delay is lag (see
    /// [`delay`]).
    live: bool,
}

impl<S: ConsentStore + Clone> Producer<S> {
    /// Runs until the client goes away (`None`) or the stream must end.
    async fn run(mut self) -> Option<FeedEnd> {
        let mut next_heartbeat = Instant::now() + self.settings.heartbeat_interval;
        let mut recheck = tokio::time::interval(KEY_RECHECK);
        loop {
            if *self.shutdown.borrow() {
                return Some(FeedEnd::ShuttingDown);
            }
            if let Some(end) = self.key_revoked().await {
                return Some(end);
            }
            // Mark the wake-up seen before reading: an advance after the read
            // wakes the wait below.
            self.follower.seen();
            let Page { records, cursor, full } = match self.follower.read(self.cursor).await {
                Ok(page) => page,
                Err(err) => return Some(FeedEnd::Failed(err)),
            };
            for record in records {
                if let Err(end) = self.send(self.event(record)).await {
                    return end;
                }
                next_heartbeat = Instant::now() + self.settings.heartbeat_interval;
            }
            self.cursor = cursor;
            if full {
                continue;
            }
            self.live = true;
            if Instant::now() >= next_heartbeat {
                if let Err(end) = self.send(self.heartbeat()).await {
                    return end;
                }
                next_heartbeat = Instant::now() + self.settings.heartbeat_interval;
            }
            // Wait for a commit, the poll timer or the heartbeat; the key
            // re-checks in between do not re-read the log.
            let poll_at = Instant::now() + self.settings.poll_interval;
            loop {
                let recheck_due = tokio::select! {
                    changed = self.follower.advanced() => {
                        if changed.is_err() {
                            return Some(FeedEnd::ShuttingDown);
                        }
                        false
                    }
                    () = tokio::time::sleep_until(poll_at) => false,
                    () = tokio::time::sleep_until(next_heartbeat) => false,
                    _ = recheck.tick(), if self.key.is_some() => true,
                    _ = self.shutdown.wait_for(|stop| *stop) => return Some(FeedEnd::ShuttingDown),
                    () = self.items.closed() => return None,
                };
                if !recheck_due {
                    break;
                }
                if let Some(end) = self.key_revoked().await {
                    return Some(end);
                }
            }
        }
    }

    /// Whether the stream must end because its key was revoked (or, resumably,
    /// because the store cannot say).
    async fn key_revoked(&self) -> Option<FeedEnd> {
        let (principal, authenticator) = self.key.as_ref()?;
        match authenticator.still_valid(principal).await {
            Ok(true) => None,
            Ok(false) => Some(FeedEnd::Revoked),
            Err(err) => Some(FeedEnd::Failed(ConsentError::Unavailable(err.to_string()))),
        }
    }

    /// Buffers one item, once the stream's and the server's byte budgets
    /// have room for it; `Err` ends the stream (`Err(None)`: the client
    /// left). A buffer that stays full — in items or in bytes — for the
    /// send timeout ends the stream as too slow.
    async fn send(&self, item: FeedItem) -> Result<(), Option<FeedEnd>> {
        let deadline = Instant::now() + self.settings.send_timeout;
        let charge =
            match tokio::time::timeout_at(deadline, self.budget.charge(item.approximate_bytes())).await {
                Ok(Some(charge)) => charge,
                Ok(None) => return Err(None),
                Err(_) => return Err(Some(FeedEnd::TooSlow)),
            };
        let left = deadline.saturating_duration_since(Instant::now());
        let live = self.live;
        match self.items.send_timeout(Buffered { item, live, _charge: charge }, left).await {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => Err(Some(FeedEnd::TooSlow)),
            Err(SendTimeoutError::Closed(_)) => Err(None),
        }
    }

    fn event(&self, record: ConsentRecord) -> FeedItem {
        let resume_token = self.token(record.revision);
        FeedItem::Event { record: Box::new(record), resume_token }
    }

    fn heartbeat(&self) -> FeedItem {
        FeedItem::Heartbeat { revision: self.cursor, resume_token: self.token(self.cursor) }
    }

    fn token(&self, revision: Revision) -> String {
        consent_core::feed::resume_token(&self.database_id, &self.tenant, revision)
    }
}

/// An item in a stream's buffer, holding its bytes of the budgets until
/// the stream's reader takes it.
#[derive(Debug)]
struct Buffered {
    item: FeedItem,
    /// Sent after the stream caught up: its delay is measured when taken.
    live: bool,
    _charge: Charge,
}

/// A stream's items as they are taken from its buffer, then its end as
/// soon as the producer ends it (buffered items are then dropped, so a
/// client that stopped reading learns of the end without draining them).
#[derive(Debug)]
pub struct FeedStream {
    receiver: mpsc::Receiver<Buffered>,
    end: oneshot::Receiver<FeedEnd>,
    /// The last revision handed to the client (the start cursor before any).
    last_revision: Revision,
    database_id: String,
    tenant: TenantId,
    done: bool,
    _permit: OwnedSemaphorePermit,
    _place: TenantPlace,
}

impl FeedStream {
    fn ended(&self, reason: FeedEnd) -> FeedEnded {
        FeedEnded {
            reason,
            last_revision: self.last_revision,
            resume_token: consent_core::feed::resume_token(
                &self.database_id,
                &self.tenant,
                self.last_revision,
            ),
        }
    }
}

impl Stream for FeedStream {
    type Item = Result<FeedItem, FeedEnded>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(end) = Pin::new(&mut self.end).poll(cx) {
            self.done = true;
            return Poll::Ready(end.ok().map(|end| Err(self.ended(end))));
        }
        match self.receiver.poll_recv(cx) {
            // The item leaves the budgets as it is taken.
            Poll::Ready(Some(Buffered { item, live, .. })) => {
                if live && let FeedItem::Event { record, .. } = &item {
                    delay::observe(record);
                }
                self.last_revision = item.revision();
                Poll::Ready(Some(Ok(item)))
            }
            // The producer drops the channel just before it sends its end
            // reason (or drops the end sender when the client left): wait
            // for whichever comes.
            Poll::Ready(None) => match Pin::new(&mut self.end).poll(cx) {
                Poll::Ready(end) => {
                    self.done = true;
                    Poll::Ready(end.ok().map(|end| Err(self.ended(end))))
                }
                Poll::Pending => Poll::Pending,
            },
            Poll::Pending => Poll::Pending,
        }
    }
}
