//! Every read the service issues uses an index of its shape: the statements
//! are the ones the store actually ran (seen through its statement log)
//! while the service answered checks, queries, gets and feed reads on a
//! tenant with thousands of subjects, and each one's plan is asked of the
//! database. A read of one subject's records must seek on (tenant, subject);
//! no read may scan a table; a read of the log without a subject walks the
//! revision index within its window.

use consent_core::{
    CheckConsent, ConsentService, ConsentStore, Decision, Evidence, FeedFilter, FeedStart, GetConsent,
    Identity, PurposeDecision, QueryConsents, RecordConsent, RecordFilter, SubjectRef, Subscribe, TenantId,
};
use consent_store::testing::Backend;
use consent_store::{SqlStore, StoreOptions};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::{TestStore, ago};

on_every_backend!(
    every_read_uses_an_index_of_its_shape,
    a_rare_filter_pages_through_the_log_window_by_window,
    the_current_state_pages_in_full_pages_after_any_history,
);

/// Eight records a subject: the log is four times the scan window, so a
/// window is a small part of it, as in any real store.
const SUBJECTS: usize = 5_000;
const PURPOSES: [&str; 4] = ["marketing", "analytics", "ads", "personalisation"];

fn tenant() -> TenantId {
    TenantId::new("plans")
}

fn user(index: usize) -> Identity {
    Identity::new("user_id", format!("user-{index}"))
}

fn record(index: usize, round: usize) -> RecordConsent {
    let decision = if (index + round).is_multiple_of(3) { Decision::Denied } else { Decision::Granted };
    RecordConsent {
        identities: vec![user(index)],
        decisions: PURPOSES
            .iter()
            .map(|purpose| PurposeDecision::stated(*purpose, String::new(), decision))
            .collect(),
        collected_at: Some(ago(1000 - round as i64)),
        expires_at: None,
        source: if index.is_multiple_of(2) { "banner".into() } else { "api".into() },
        evidence: Evidence { country: ["DE", "FR", "US"][index % 3].into(), ..Evidence::default() },
        idempotency_key: String::new(),
    }
}

/// Two rounds of decisions for every subject of the tenant, and a second
/// tenant beside it, so the planner sees a realistic spread.
async fn populate(service: &ConsentService<SqlStore>) {
    for round in 0..2 {
        // Concurrent writes, as clients make them: the committer batches them.
        let mut writes = tokio::task::JoinSet::new();
        for index in 0..SUBJECTS {
            let service = service.clone();
            writes.spawn(async move { service.record(&tenant(), record(index, round)).await });
        }
        while let Some(outcome) = writes.join_next().await {
            outcome.expect("join").expect("record");
        }
    }
    let other = TenantId::new("neighbour");
    for index in 0..200 {
        service.record(&other, record(index, 0)).await.expect("record");
    }
}

/// Drives every kind of read through the service.
async fn read_everything(service: &ConsentService<SqlStore>) {
    let t = tenant();
    let someone = SubjectRef::Identity(user(7));
    for at in [None, Some(ago(500))] {
        let check = CheckConsent {
            subject: someone.clone(),
            purpose: "marketing".into(),
            target: String::new(),
            at,
            min_revision: 0,
        };
        service.check(&t, check).await.expect("check");
    }
    let subject_id = service.store().subject_of(&t, &user(7)).await.expect("subject").expect("linked");
    let filters = [
        RecordFilter { identity: Some(user(7)), ..RecordFilter::default() },
        RecordFilter { identity: Some(user(7)), history: true, ..RecordFilter::default() },
        RecordFilter {
            subject_id: Some(subject_id),
            purpose: "ads".into(),
            history: true,
            ..RecordFilter::default()
        },
        RecordFilter { purpose: "ads".into(), ..RecordFilter::default() },
        RecordFilter {
            country: "FR".into(),
            decisions: vec![Decision::Denied],
            history: true,
            ..RecordFilter::default()
        },
        RecordFilter { collected_after: Some(ago(999)), ..RecordFilter::default() },
    ];
    let mut some_record = None;
    for filter in filters {
        let page = service
            .query(&t, QueryConsents { filter, page_size: 50, page_token: String::new() }, usize::MAX)
            .await
            .expect("query");
        some_record = some_record.or(page.records.first().cloned());
    }
    let record = some_record.expect("a query found records");
    service.get(&t, GetConsent::ById(record.id)).await.expect("get by id");
    let current =
        GetConsent::Current { subject: someone.clone(), purpose: "ads".into(), target: String::new() };
    service.get(&t, current).await.expect("get current");
    service.latest(&t, &someone, "", true).await.expect("latest");
    for filter in [
        FeedFilter { subject: Some(someone.clone()), ..FeedFilter::default() },
        FeedFilter { purposes: vec!["analytics".into()], ..FeedFilter::default() },
    ] {
        let (filter, after) = service
            .open_feed(&t, Subscribe { filter, start: FeedStart::Beginning })
            .await
            .expect("open feed");
        service.read_changes(&t, &filter, after, 100).await.expect("read changes");
    }
}

async fn every_read_uses_an_index_of_its_shape(store: TestStore) {
    populate(&store.service).await;
    let db = Database::connect(store.database.url.as_str()).await.expect("connect");
    if store.database.backend == Backend::Postgres {
        // What autovacuum does on a live server.
        db.execute_unprepared("ANALYZE").await.expect("analyze");
    }
    // With the check cache and without it: both paths read differently.
    let uncached = {
        let mut options = StoreOptions::new(store.database.url.clone());
        options.cache_max_bytes = 0;
        ConsentService::new(SqlStore::connect(&options).await.expect("connect"))
    };
    let mut issued = Vec::new();
    for service in [&store.service, &uncached] {
        service.store().record_statements();
        read_everything(service).await;
        issued.extend(service.store().take_statements().into_iter().map(|(_, statement)| statement));
    }
    let mut reads: Vec<Statement> =
        issued.into_iter().filter(|s| s.sql.trim_start().starts_with("SELECT")).collect();
    reads.sort_by(|a, b| a.sql.cmp(&b.sql));
    reads.dedup_by(|a, b| a.sql == b.sql);
    assert!(reads.len() >= 10, "too few distinct reads seen: {}", reads.len());

    let mut problems = Vec::new();
    for read in &reads {
        let plan = plan_of(&db, store.database.backend, read).await;
        if let Some(problem) = judge(store.database.backend, &read.sql, &plan) {
            problems.push(format!("{problem}\n  SQL: {}\n  plan:\n    {}", read.sql, plan.join("\n    ")));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} reads have a bad plan:\n{}",
        problems.len(),
        reads.len(),
        problems.join("\n\n")
    );
}

/// The plan the database picks for `read`, with its own values bound.
async fn plan_of(db: &sea_orm::DatabaseConnection, backend: Backend, read: &Statement) -> Vec<String> {
    let (prefix, column) = match backend {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        Backend::Postgres => ("EXPLAIN ", "QUERY PLAN"),
    };
    let explain = Statement {
        sql: format!("{prefix}{}", read.sql),
        values: read.values.clone(),
        db_backend: read.db_backend,
    };
    db.query_all_raw(explain)
        .await
        .expect("explain")
        .iter()
        .map(|row| row.try_get::<String>("", column).expect("plan line"))
        .collect()
}

/// What is wrong with `plan` for `sql`, if anything.
fn judge(backend: Backend, sql: &str, plan: &[String]) -> Option<&'static str> {
    let text = plan.join("\n");
    let reads_records = sql.contains("FROM \"consent_records\"");
    let reads_state = sql.contains("FROM \"consent_state\"");
    let by_subject = reads_records
        && (sql.contains("\"consent_records\".\"subject_id\" =")
            || sql.contains("\"consent_records\".\"subject_id\" IN"));
    let state_by_subject = reads_state && sql.contains("\"consent_state\".\"subject_id\" =");
    let by_id = sql.contains("\"consent_records\".\"id\" =") || sql.contains("\"consent_records\".\"id\" IN");
    // The index each kind of read must use, by the name each engine shows.
    let (records_by_id, records_by_subject, state_by_key, records_log, state_log) = match backend {
        Backend::Sqlite => {
            // "SCAN t" is a full scan of a table or of an index.
            if plan.iter().any(|line| {
                line.starts_with("SCAN consent_records")
                    || line.starts_with("SCAN consent_state")
                    || line.starts_with("SCAN identities")
            }) {
                return Some("a table is scanned");
            }
            (
                "sqlite_autoindex_consent_records_1 (id=?)",
                "consent_records_by_subject_revision (tenant=? AND subject_id=?",
                "sqlite_autoindex_consent_state_1 (tenant=? AND subject_id=?",
                "consent_records_by_revision (tenant=? AND revision>? AND revision<?)",
                "consent_state_by_revision (tenant=? AND revision>? AND revision<?)",
            )
        }
        Backend::Postgres => {
            if text.contains("Seq Scan on consent_records")
                || text.contains("Seq Scan on consent_state")
                || text.contains("Seq Scan on identities")
            {
                return Some("a table is scanned");
            }
            (
                "consent_records_pkey",
                "consent_records_by_subject_revision",
                "consent_state_pkey",
                "consent_records_by_revision",
                "consent_state_by_revision",
            )
        }
    };
    if by_id && !text.contains(records_by_id) {
        return Some("a read of records by id does not probe the primary key");
    }
    if by_subject && !text.contains(records_by_subject) {
        return Some("a read of one subject's records does not seek on (tenant, subject)");
    }
    if state_by_subject && !text.contains(state_by_key) {
        return Some("a read of one subject's current state does not seek on its key");
    }
    if reads_records && !by_subject && !by_id && !text.contains(records_log) {
        return Some("a read of the log does not walk the revision index within its bounds");
    }
    if reads_state
        && sql.contains("\"consent_state\".\"revision\" >")
        && !state_by_subject
        && !text.contains(state_log)
    {
        return Some("a walk of the current state does not use its revision index within its bounds");
    }
    None
}

/// A query or feed read whose filter no index narrows examines at most a
/// window of the log per call: it returns short (even empty) pages with a
/// token to go on, and following the tokens finds every match once.
async fn a_rare_filter_pages_through_the_log_window_by_window(store: TestStore) {
    let s = &store.service;
    let t = tenant();
    populate(s).await;
    let rare = RecordConsent { source: "kiosk".into(), ..record(42, 2) };
    let written = s.record(&t, rare).await.expect("record").revision;
    assert!(written > 3 * consent_core::SCAN_WINDOW, "the log must span several windows");

    let filter = RecordFilter { source: "kiosk".into(), history: true, ..RecordFilter::default() };
    let (mut token, mut found, mut calls) = (String::new(), Vec::new(), 0);
    loop {
        let query = QueryConsents { filter: filter.clone(), page_size: 100, page_token: token };
        let page = s.query(&t, query, usize::MAX).await.expect("query");
        calls += 1;
        found.extend(page.records.iter().map(|r| (r.revision, r.purpose.clone())));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(found.len(), PURPOSES.len(), "every match once: {found:?}");
    assert!(found.iter().all(|(revision, _)| *revision > written - PURPOSES.len() as i64));
    let windows = usize::try_from(written / consent_core::SCAN_WINDOW).unwrap() + 1;
    assert_eq!(calls, windows, "one call per window of the log");

    let feed = FeedFilter { sources: vec!["kiosk".into()], ..FeedFilter::default() };
    let (mut cursor, mut fed, mut reads) = (0, 0, 0);
    while cursor < written {
        let page = s.read_changes(&t, &feed, cursor, 100).await.expect("read changes");
        assert!(page.cursor - cursor <= consent_core::SCAN_WINDOW, "a feed read went past its window");
        fed += page.records.len();
        cursor = page.cursor;
        reads += 1;
    }
    assert_eq!(fed, PURPOSES.len());
    assert_eq!(reads, windows);
}

/// The current state is listed from the state: however much history
/// precedes it in the log, every page but the last is full, and every
/// current record comes once.
async fn the_current_state_pages_in_full_pages_after_any_history(store: TestStore) {
    let s = &store.service;
    let t = tenant();
    populate(s).await;
    let (mut token, mut seen, mut pages) = (String::new(), std::collections::HashSet::new(), 0);
    loop {
        let query = QueryConsents { filter: RecordFilter::default(), page_size: 1000, page_token: token };
        let page = s.query(&t, query, usize::MAX).await.expect("query");
        pages += 1;
        for record in &page.records {
            assert!(seen.insert(record.id), "a record came twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        assert_eq!(page.records.len(), 1000, "page {pages} is short although more follow");
        token = page.next_page_token;
    }
    // The second round replaced the first for every key.
    assert_eq!(seen.len(), SUBJECTS * PURPOSES.len());
    assert_eq!(pages, (SUBJECTS * PURPOSES.len()).div_ceil(1000));
}
