//! consentd integration tests: a real server on 127.0.0.1:0 over a real SQLite
//! file (PostgreSQL for the replica and outage tests), driven through real
//! gRPC and HTTP clients.

mod auth;
mod bad_requests;
mod batch_check;
mod chart;
mod check;
mod check_cache;
mod cli;
mod concurrency;
mod config;
mod durability;
mod feed_checker;
mod feed_filters;
mod get;
mod health;
mod http_client;
mod idempotency;
mod key_probing;
mod large_records;
mod limits;
mod liveness;
mod outage;
mod parity;
mod process;
mod query;
mod read_standbys;
mod record;
mod refusals;
mod replicas;
mod resets;
mod restart;
mod secureprivacy;
mod shutdown;
mod subscribe;
mod subscriber;
mod support;
mod tail_churn;
mod telemetry;
mod tls;
mod update;
mod vendors;
mod webhook_admin;
mod webhook_receiver;
mod webhooks;
