//! The physical baselines measured in the same run as consentd:
//!
//! - **bare tonic**: a tonic server with no layers that answers every
//!   `CheckConsent` with a canned response of the same size as consentd's
//!   (captured from consentd in the same run) — the gRPC limit of this
//!   machine;
//! - **bare insert**: the rows one `RecordConsent` writes (a record, an
//!   identity link, a state upsert, and the tenant head once per batch)
//!   inserted through the database driver (sqlx) alone, in transactions of
//!   the same batch size and with the same durability settings — the storage
//!   limit.

use std::pin::Pin;
use std::str::FromStr as _;
use std::time::Duration;

use consent_proto::v1 as pb;
use consent_proto::v1::consent_service_server::{ConsentService, ConsentServiceServer};
use consent_store::testing::{Backend, TestDatabase};
use consent_store::{ServingStore as _, StoreOptions};
use prost::Message as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::sqlx::{self, Postgres, QueryBuilder, Sqlite, postgres::PgPoolOptions};
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::load::{Latency, Measured, Window, histogram};

/// A tonic service that does no work.
#[derive(Debug)]
struct Bare {
    response: pb::CheckConsentResponse,
}

fn only_checks() -> Status {
    Status::unimplemented("the bare baseline answers CheckConsent only")
}

#[tonic::async_trait]
impl ConsentService for Bare {
    type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

    async fn record_consent(
        &self,
        _: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::RecordConsentResponse>, Status> {
        Err(only_checks())
    }

    async fn update_consent(
        &self,
        _: Request<pb::UpdateConsentRequest>,
    ) -> Result<Response<pb::UpdateConsentResponse>, Status> {
        Err(only_checks())
    }

    async fn batch_check_consent(
        &self,
        _: Request<pb::BatchCheckConsentRequest>,
    ) -> Result<Response<pb::BatchCheckConsentResponse>, Status> {
        Err(only_checks())
    }

    async fn get_consent_mode_state(
        &self,
        _: Request<pb::GetConsentModeStateRequest>,
    ) -> Result<Response<pb::GetConsentModeStateResponse>, Status> {
        Err(only_checks())
    }

    async fn check_consent(
        &self,
        _: Request<pb::CheckConsentRequest>,
    ) -> Result<Response<pb::CheckConsentResponse>, Status> {
        Ok(Response::new(self.response.clone()))
    }

    async fn query_consents(
        &self,
        _: Request<pb::QueryConsentsRequest>,
    ) -> Result<Response<pb::QueryConsentsResponse>, Status> {
        Err(only_checks())
    }

    async fn get_consent(
        &self,
        _: Request<pb::GetConsentRequest>,
    ) -> Result<Response<pb::GetConsentResponse>, Status> {
        Err(only_checks())
    }

    async fn subscribe(
        &self,
        _: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        Err(only_checks())
    }

    async fn erase_subject(
        &self,
        _: Request<pb::EraseSubjectRequest>,
    ) -> Result<Response<pb::EraseSubjectResponse>, Status> {
        Err(only_checks())
    }
}

/// The bare server process: binds loopback, prints its address, serves.
pub(crate) async fn serve_bare_grpc() {
    let encoded = std::env::var(crate::process::RESPONSE_ENV).expect("the canned response is given");
    let response = pb::CheckConsentResponse::decode(hex::decode(encoded).expect("hex").as_slice())
        .expect("an encoded CheckConsentResponse");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    println!("bare-grpc serving on {}", listener.local_addr().expect("bound address"));
    tonic::transport::Server::builder()
        .add_service(ConsentServiceServer::new(Bare { response }))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("bare server runs");
}

/// The same values consentd stores for a one-decision RecordConsent of a new
/// subject.
struct Row {
    id: String,
    subject_id: String,
    identities: String,
    value: String,
    revision: i64,
    now: i64,
}

impl Row {
    fn new(revision: i64) -> Self {
        let value = format!("bare-{revision}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            subject_id: uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, value.as_bytes()).to_string(),
            identities: format!(r#"[{{"namespace":"user_id","value":"{value}"}}]"#),
            value,
            revision,
            now,
        }
    }
}

/// One batch in one transaction: head upsert, then a multi-row insert per
/// table. Generated for each driver (sqlx's query builder is typed by it).
macro_rules! insert_batch {
    ($name:ident, $db:ty) => {
        async fn $name(pool: &sqlx::Pool<$db>, rows: &[Row]) -> Result<(), sqlx::Error> {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO tenant_heads (tenant, head) VALUES ($1, $2) \
                 ON CONFLICT (tenant) DO UPDATE SET head = tenant_heads.head + excluded.head",
            )
            .bind("bench")
            .bind(rows.len() as i64)
            .execute(&mut *tx)
            .await?;
            let mut records = QueryBuilder::<$db>::new(
                "INSERT INTO consent_records (id, tenant, revision, subject_id, identities, purpose, target, \
                 decision, collected_at, expires_at, recorded_at, source, kind, user_agent, ip, proxy_ip, uri, \
                 country, region, city, notice_version, policy_version, message, metadata_json, consent_id, \
                 vendor, payload_digest) ",
            );
            records.push_values(rows, |mut values, row| {
                values
                    .push_bind(row.id.as_str())
                    .push_bind("bench")
                    .push_bind(row.revision)
                    .push_bind(row.subject_id.as_str())
                    .push_bind(row.identities.as_str())
                    .push_bind("marketing")
                    .push_bind("")
                    .push_bind("granted")
                    .push_bind(row.now)
                    .push_bind(None::<i64>)
                    .push_bind(row.now)
                    .push_bind("bench")
                    .push_bind("recorded");
                for _ in 0..14 {
                    values.push_bind("");
                }
            });
            records.build().execute(&mut *tx).await?;
            let mut identities = QueryBuilder::<$db>::new(
                "INSERT INTO identities (tenant, namespace, value, subject_id, linked_revision) ",
            );
            identities.push_values(rows, |mut values, row| {
                values
                    .push_bind("bench")
                    .push_bind("user_id")
                    .push_bind(row.value.as_str())
                    .push_bind(row.subject_id.as_str())
                    .push_bind(row.revision);
            });
            identities.build().execute(&mut *tx).await?;
            let mut state = QueryBuilder::<$db>::new(
                "INSERT INTO consent_state (tenant, subject_id, purpose, target, record_id, revision, collected_at) ",
            );
            state.push_values(rows, |mut values, row| {
                values
                    .push_bind("bench")
                    .push_bind(row.subject_id.as_str())
                    .push_bind("marketing")
                    .push_bind("")
                    .push_bind(row.id.as_str())
                    .push_bind(row.revision)
                    .push_bind(row.now);
            });
            state.push(
                " ON CONFLICT (tenant, subject_id, purpose, target) DO UPDATE SET record_id = excluded.record_id, \
                 revision = excluded.revision, collected_at = excluded.collected_at",
            );
            state.build().execute(&mut *tx).await?;
            tx.commit().await
        }
    };
}

insert_batch!(insert_sqlite_batch, Sqlite);
insert_batch!(insert_postgres_batch, Postgres);

/// A connection to a fresh, migrated database.
enum Pool {
    Sqlite(sqlx::Pool<Sqlite>),
    Postgres(sqlx::Pool<Postgres>),
}

impl Pool {
    async fn insert(&self, rows: &[Row]) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(pool) => insert_sqlite_batch(pool, rows).await,
            Self::Postgres(pool) => insert_postgres_batch(pool, rows).await,
        }
    }
}

/// Inserts batches of `batch` writes back to back on one connection (as
/// consentd's single group committer does) for the window. `calls` counts
/// writes; latencies are per batch.
/// On PostgreSQL, what the server did for it too.
pub(crate) async fn bare_insert(
    backend: Backend,
    batch: usize,
    window: Window,
) -> (Measured, Option<crate::pg_activity::Activity>) {
    let database = TestDatabase::new(backend).await;
    let store = consent_store::open(&StoreOptions::new(database.url.clone())).await.expect("store connects");
    store.migrate().await.expect("migrations apply");
    drop(store);
    let pool = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&database.url)
                .expect("sqlite url")
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5));
            Pool::Sqlite(
                SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("connects"),
            )
        }
        Backend::Postgres => Pool::Postgres(
            PgPoolOptions::new().max_connections(1).connect(&database.url).await.expect("connects"),
        ),
    };
    let statistics = crate::pg_activity::before(&database.url).await;
    let started = Instant::now();
    let measure_from = started + window.warmup;
    let stop_at = measure_from + window.measured;
    let mut latencies = histogram();
    let (mut writes, mut errors, mut first_error) = (0u64, 0u64, None);
    let mut revision = 0i64;
    while Instant::now() < stop_at {
        let rows: Vec<Row> = (0..batch).map(|i| Row::new(revision + 1 + i as i64)).collect();
        revision += batch as i64;
        let sent = Instant::now();
        let result = pool.insert(&rows).await;
        if sent < measure_from {
            continue;
        }
        match result {
            Ok(()) => {
                latencies.saturating_record(sent.elapsed().as_micros() as u64);
                writes += batch as u64;
            }
            Err(err) => {
                errors += 1;
                first_error.get_or_insert(err.to_string());
            }
        }
    }
    let measured = Measured {
        calls: writes,
        // Every row written, the warm-up's too.
        sent: u64::try_from(revision).unwrap_or(0),
        errors,
        first_error,
        seconds: (Instant::now() - measure_from).as_secs_f64(),
        latency: Latency::of(&latencies),
        server_cpu: None,
    };
    let activity = match statistics {
        Some(statistics) => Some(statistics.after("record-unique", "bare insert", measured.sent).await),
        None => None,
    };
    (measured, activity)
}
