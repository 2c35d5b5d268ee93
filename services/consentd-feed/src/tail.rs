//! The shared tail of a tenant's change log: one task reads each commit's
//! records once, for every live Subscribe stream of the tenant on this server,
//! and keeps the most recent ones in memory. A stream whose cursor lies
//! inside that window takes its events from memory; one further behind (a
//! replay, a slow reader) reads the log itself until it catches up.
//!
//! Without it, every stream re-read the database after every commit: with a
//! thousand subscribers, a thousand reads per commit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use consent_core::{
    ChangeFilter, ConsentError, ConsentRecord, ConsentService, ConsentStore, FeedFilter, Revision,
    SubjectRef, TenantId,
};
use tokio::sync::watch;
use uuid::Uuid;

/// Records kept in memory per tenant, at most (and at most
/// [`Reading::window_bytes`] of them).
const WINDOW: usize = 4096;

/// About the most one read of the log should bring into memory: page sizes
/// adapt to the records' size to stay near it.
const PAGE_BYTES: usize = 1024 * 1024;

/// Records in a reader's first page, before it knows how large they are.
const FIRST_PAGE: u64 = 16;

/// How many records to read at a time so that a page stays near
/// [`PAGE_BYTES`]: small records come a full page at a time, large ones
/// (up to the size validation allows) a few at a time.
#[derive(Debug, Clone, Copy)]
struct PageSizer {
    limit: u64,
    max: u64,
}

impl PageSizer {
    fn new(max: u64) -> Self {
        Self { limit: FIRST_PAGE.min(max).max(1), max: max.max(1) }
    }

    fn limit(self) -> u64 {
        self.limit
    }

    /// Adapts to the records one read returned.
    fn observe(&mut self, records: &[ConsentRecord]) {
        if let Some(largest) = records.iter().map(ConsentRecord::approximate_bytes).max() {
            let fits = (PAGE_BYTES / largest.max(1)) as u64;
            self.limit = fits.clamp(1, self.max);
        }
    }
}

/// Records in `(start, cursor]`, all of them, in revision order.
#[derive(Debug, Default)]
struct Window {
    start: Revision,
    cursor: Revision,
    records: VecDeque<Arc<ConsentRecord>>,
    /// What `records` weigh (by [`ConsentRecord::approximate_bytes`]).
    bytes: usize,
    /// Why the last read of the log failed, until one succeeds: the streams
    /// end (resumably) rather than wait silently on a stalled tail.
    failure: Option<ConsentError>,
}

/// What a reader takes from the tail: the records after its cursor, and
/// the tail's cursor (every revision up to it is among them or earlier).
#[derive(Debug)]
struct Since {
    records: Vec<Arc<ConsentRecord>>,
    cursor: Revision,
    /// The window holds more after `cursor`.
    more: bool,
}

/// One tenant's tail.
#[derive(Debug)]
pub struct Tail {
    window: RwLock<Window>,
    /// Wakes the streams when the window advances (or the tail fails); the
    /// window itself says what changed.
    wake: watch::Sender<()>,
}

impl Tail {
    /// The records after `after` up to the tail's cursor — about
    /// [`PAGE_BYTES`] of them at most, as a reader copies what it takes — and
    /// the cursor they reach; `None` when `after` lies before the window
    /// (read the log instead); the error when the tail cannot read the log.
    fn since(&self, after: Revision) -> Result<Option<Since>, ConsentError> {
        let window = self.window.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(failure) = &window.failure {
            return Err(failure.clone());
        }
        if after < window.start {
            return Ok(None);
        }
        let first = window.records.partition_point(|record| record.revision <= after);
        let mut bytes = 0;
        let mut records = Vec::new();
        for record in window.records.range(first..) {
            bytes += record.approximate_bytes();
            if bytes > PAGE_BYTES && !records.is_empty() {
                // The rest at the reader's next turn, which comes at once.
                let cursor = records.last().map_or(after, |last: &Arc<ConsentRecord>| last.revision);
                return Ok(Some(Since { records, cursor, more: true }));
            }
            records.push(Arc::clone(record));
        }
        Ok(Some(Since { records, cursor: window.cursor.max(after), more: false }))
    }

    /// Changes whenever the window advances or the tail fails.
    fn advanced(&self) -> watch::Receiver<()> {
        self.wake.subscribe()
    }

    fn append(&self, records: Vec<ConsentRecord>, cursor: Revision, max_bytes: usize) {
        let mut window = self.window.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        window.failure = None;
        window.bytes += records.iter().map(ConsentRecord::approximate_bytes).sum::<usize>();
        window.records.extend(records.into_iter().map(Arc::new));
        let advanced = cursor > window.cursor;
        window.cursor = window.cursor.max(cursor);
        // Readers behind the window read the log instead.
        while window.records.len() > WINDOW || window.bytes > max_bytes {
            let Some(dropped) = window.records.pop_front() else { break };
            window.start = dropped.revision;
            window.bytes = window.bytes.saturating_sub(dropped.approximate_bytes());
        }
        drop(window);
        if advanced {
            self.wake.send_replace(());
        }
    }

    fn failed(&self, err: ConsentError) {
        self.window.write().unwrap_or_else(std::sync::PoisonError::into_inner).failure = Some(err);
        // Wake the streams so they see it.
        self.wake.send_replace(());
    }
}

/// The tails of this server, one per tenant with live streams.
#[derive(Debug, Clone, Default)]
pub struct Tails {
    tails: Arc<Mutex<HashMap<TenantId, Weak<Tail>>>>,
}

impl Tails {
    /// The tenant's tail, started if none runs. The stream holds the `Arc`;
    /// the tail stops a while after the last one let go.
    pub async fn follow<S: ConsentStore + Clone>(
        &self,
        service: &ConsentService<S>,
        tenant: &TenantId,
        reading: Reading,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Tail>, ConsentError> {
        if let Some(tail) = self.lock().get(tenant).and_then(Weak::upgrade) {
            return Ok(tail);
        }
        // It starts at the head: streams behind it read the log themselves.
        let head = service.store().head_revision(tenant, 0).await?;
        let mut tails = self.lock();
        if let Some(tail) = tails.get(tenant).and_then(Weak::upgrade) {
            return Ok(tail);
        }
        let tail = Arc::new(Tail {
            window: RwLock::new(Window {
                start: head,
                cursor: head,
                records: VecDeque::new(),
                bytes: 0,
                failure: None,
            }),
            wake: watch::Sender::new(()),
        });
        tails.insert(tenant.clone(), Arc::downgrade(&tail));
        tokio::spawn(read_tail(
            service.clone(),
            self.clone(),
            tenant.clone(),
            Arc::clone(&tail),
            reading,
            shutdown,
        ));
        Ok(tail)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Weak<Tail>>> {
        self.tails.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops `tail` if no stream follows it: true when it was removed. The
    /// decision and the removal happen under the map's lock, which every
    /// stream takes to get its reference ([`Tails::follow`]): no stream can
    /// attach between them to a tail that nobody reads any more.
    fn retire(&self, tenant: &TenantId, tail: &Arc<Tail>) -> bool {
        let mut tails = self.lock();
        // The reader's own reference is the one left when nobody follows.
        if Arc::strong_count(tail) > 1 {
            return false;
        }
        fail::fail_point!("feed::tail_retire", |_| false);
        if tails.get(tenant).is_some_and(|entry| entry.ptr_eq(&Arc::downgrade(tail))) {
            tails.remove(tenant);
        }
        true
    }

    /// Forgets `tail` whoever follows it (the server stops): later streams
    /// start a new one.
    fn forget(&self, tenant: &TenantId, tail: &Arc<Tail>) {
        let mut tails = self.lock();
        if tails.get(tenant).is_some_and(|entry| entry.ptr_eq(&Arc::downgrade(tail))) {
            tails.remove(tenant);
        }
    }
}

/// One reader's way through a tenant's changes — a Subscribe stream's, a
/// webhook worker's: the records after its cursor that its filter takes,
/// from the shared tail's memory when the cursor lies inside its window,
/// from the log (a page at a time) when it lies before it.
#[derive(Debug)]
pub struct Follower<S> {
    service: ConsentService<S>,
    tenant: TenantId,
    filter: FeedFilter,
    tail: Arc<Tail>,
    advanced: watch::Receiver<()>,
    /// The filter's subject, once resolved (a link never moves).
    subject: Option<Uuid>,
    pages: PageSizer,
}

/// What one read gave: the matching records after the cursor, the new
/// cursor (every revision up to it was read), and whether more may follow
/// at once (a full page from the log).
#[derive(Debug)]
pub struct Page {
    pub records: Vec<ConsentRecord>,
    pub cursor: Revision,
    pub full: bool,
}

impl<S: ConsentStore + Clone> Follower<S> {
    pub fn new(
        service: ConsentService<S>,
        tenant: TenantId,
        filter: FeedFilter,
        tail: Arc<Tail>,
        page_size: u64,
    ) -> Self {
        let advanced = tail.advanced();
        Self { service, tenant, filter, tail, advanced, subject: None, pages: PageSizer::new(page_size) }
    }

    /// Marks the tail's advances so far as seen: call before reading, so an
    /// advance after the read wakes [`Follower::advanced`].
    pub fn seen(&mut self) {
        self.advanced.borrow_and_update();
    }

    /// Resolves when the tail advances (or fails); an error once it is gone.
    pub async fn advanced(&mut self) -> Result<(), watch::error::RecvError> {
        self.advanced.changed().await
    }

    /// Where the tenant's head is, as the shared tail reads it.
    pub fn head(&self) -> TailHead {
        TailHead(Arc::downgrade(&self.tail))
    }

    /// The matching records after `cursor`; the error when the tail or the
    /// log cannot be read.
    pub async fn read(&mut self, cursor: Revision) -> Result<Page, ConsentError> {
        match self.tail.since(cursor)? {
            Some(Since { records, cursor, more }) => {
                Ok(Page { records: self.matching(records).await?, cursor, full: more })
            }
            None => {
                let limit = self.pages.limit();
                let page = self.service.read_changes(&self.tenant, &self.filter, cursor, limit).await?;
                let full = page.records.len() as u64 >= limit;
                self.pages.observe(&page.records);
                Ok(Page { records: page.records, cursor: page.cursor, full })
            }
        }
    }

    /// The records of the shared tail this filter takes. A subject named by
    /// an identity is looked up until it is linked (as a log read would),
    /// then kept.
    async fn matching(
        &mut self,
        records: Vec<Arc<ConsentRecord>>,
    ) -> Result<Vec<ConsentRecord>, ConsentError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let subject_id = match &self.filter.subject {
            None => None,
            Some(SubjectRef::Id(id)) => Some(*id),
            Some(SubjectRef::Identity(identity)) => match self.subject {
                Some(id) => Some(id),
                None => match self.service.store().subject_of(&self.tenant, identity).await? {
                    Some(id) => Some(*self.subject.insert(id)),
                    // Linked to no subject yet: nothing matches so far.
                    None => return Ok(Vec::new()),
                },
            },
        };
        let filter = ChangeFilter {
            subject_id,
            purposes: self.filter.purposes.clone(),
            targets: self.filter.targets.clone(),
            sources: self.filter.sources.clone(),
        };
        Ok(records
            .iter()
            .filter(|record| filter.matches(record))
            .map(|record| ConsentRecord::clone(record))
            .collect())
    }
}

/// A tenant's head as its shared tail last read it — every revision up to
/// it is committed — for a gauge to read at any time. It does not keep the
/// tail running: only followers do.
#[derive(Debug, Clone)]
pub struct TailHead(Weak<Tail>);

impl TailHead {
    /// The head; `None` once the tail stopped.
    pub fn revision(&self) -> Option<Revision> {
        let tail = self.0.upgrade()?;
        let cursor = tail.window.read().unwrap_or_else(std::sync::PoisonError::into_inner).cursor;
        Some(cursor)
    }
}

/// How a tail reads the log.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Records read at a time, at most.
    pub page_size: u64,
    /// The most the window of records in memory may weigh.
    pub window_bytes: usize,
    /// How often the log is re-read without a commit signal.
    pub poll_interval: Duration,
    /// How long a tail with no stream left keeps running before it stops.
    pub linger: Duration,
}

/// Reads the tenant's log after every commit (or poll interval) into the
/// tail, until no stream has followed it for the linger time or the server
/// stops.
async fn read_tail<S: ConsentStore + Clone>(
    service: ConsentService<S>,
    tails: Tails,
    tenant: TenantId,
    tail: Arc<Tail>,
    reading: Reading,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut commits = service.store().commits();
    let everything = FeedFilter::default();
    let mut unfollowed_since = None;
    let mut pages = PageSizer::new(reading.page_size);
    loop {
        if Arc::strong_count(&tail) == 1 {
            let since = *unfollowed_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= reading.linger && tails.retire(&tenant, &tail) {
                return;
            }
        } else {
            unfollowed_since = None;
        }
        commits.borrow_and_update();
        let cursor = tail.window.read().unwrap_or_else(std::sync::PoisonError::into_inner).cursor;
        let limit = pages.limit();
        let full = match service.read_changes(&tenant, &everything, cursor, limit).await {
            Ok(page) => {
                let full = page.records.len() as u64 >= limit;
                pages.observe(&page.records);
                tail.append(page.records, page.cursor, reading.window_bytes);
                full
            }
            Err(err) => {
                // The streams end resumably; the next commit or poll retries.
                tracing::debug!(tenant = tenant.as_str(), error = %err, "cannot read the change log for the tail");
                tail.failed(err);
                false
            }
        };
        if full {
            continue;
        }
        // Unfollowed, it wakes in time to stop when its linger time is up.
        let wait = match unfollowed_since {
            Some(_) => reading.poll_interval.min(reading.linger).max(Duration::from_millis(10)),
            None => reading.poll_interval,
        };
        let stopped = tokio::select! {
            changed = commits.changed() => changed.is_err(),
            () = tokio::time::sleep(wait) => false,
            _ = shutdown.wait_for(|stop| *stop) => true,
        };
        if stopped {
            tails.forget(&tenant, &tail);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use consent_core::{Decision, EventKind, Evidence, Timestamp};

    use super::*;

    fn record_of(metadata_bytes: usize, revision: Revision) -> ConsentRecord {
        ConsentRecord {
            id: Uuid::now_v7(),
            tenant: TenantId::default_tenant(),
            subject_id: Uuid::nil(),
            identities: vec![],
            purpose: "marketing".into(),
            target: String::new(),
            decision: Decision::Granted,
            collected_at: Timestamp::from_micros(1),
            expires_at: None,
            recorded_at: Timestamp::from_micros(1),
            source: String::new(),
            evidence: Evidence { metadata_json: "x".repeat(metadata_bytes), ..Evidence::default() },
            revision,
            kind: EventKind::Recorded,
            implied_by: None,
            gpc_conflict: false,
        }
    }

    #[test]
    fn pages_start_small_and_adapt_to_the_records_size() {
        let mut pages = PageSizer::new(256);
        assert_eq!(pages.limit(), FIRST_PAGE);
        pages.observe(&[record_of(100, 1)]);
        assert_eq!(pages.limit(), 256, "small records: a full page");
        pages.observe(&[record_of(100, 2), record_of(64 * 1024, 3)]);
        let limit = pages.limit();
        assert!((1..=16).contains(&limit), "large records: about 1 MiB a page, got {limit}");
        pages.observe(&[record_of(4 * PAGE_BYTES, 4)]);
        assert_eq!(pages.limit(), 1, "never less than one record");
    }

    #[test]
    fn the_window_keeps_to_its_bytes_and_hands_out_about_a_page_at_a_time() {
        let tail = Tail { window: RwLock::default(), wake: watch::Sender::new(()) };
        let records: Vec<ConsentRecord> = (1..=100).map(|revision| record_of(64 * 1024, revision)).collect();
        tail.append(records, 100, 4 * 1024 * 1024);
        let window = tail.window.read().unwrap();
        assert!(window.bytes <= 4 * 1024 * 1024, "{} bytes kept", window.bytes);
        assert_eq!(window.cursor, 100);
        let start = window.start;
        drop(window);
        assert!(tail.since(start - 1).unwrap().is_none(), "before the window: read the log");
        let first = tail.since(start).unwrap().expect("inside the window");
        assert!(first.more && first.records.len() < 20, "{} records in one piece", first.records.len());
        assert_eq!(first.cursor, first.records.last().unwrap().revision);
        // Piece by piece, every record once, up to the cursor.
        let mut seen: Vec<Revision> = first.records.iter().map(|r| r.revision).collect();
        let mut cursor = first.cursor;
        loop {
            let next = tail.since(cursor).unwrap().unwrap();
            seen.extend(next.records.iter().map(|r| r.revision));
            cursor = next.cursor;
            if !next.more {
                break;
            }
        }
        assert_eq!(seen, ((start + 1)..=100).collect::<Vec<_>>());
        assert_eq!(cursor, 100);
    }
}
