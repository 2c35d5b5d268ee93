//! The store conformance suite: every test runs on SQLite and on PostgreSQL
//! (a fresh database per test on the server at CONSENTD_TEST_POSTGRES_URL,
//! default postgres://postgres@127.0.0.1:5432; never skipped).

/// Defines, for each named `async fn(TestStore)` in the calling module, one
/// test per backend: `sqlite::name` and `postgres::name`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::TestStore::open(consent_store::testing::Backend::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::TestStore::open(consent_store::testing::Backend::Postgres).await).await;
                }
            )*
        }
    };
}

mod bindings;
mod changes;
mod check_rule;
mod commit_order;
mod conformance;
mod erasure;
mod evidence_log;
mod group_commit;
mod migrations;
mod plans;
mod standbys;
mod statement_timeout;
mod support;
mod webhooks;
