//! consentd's gRPC handlers (`GrpcConsentService`) on protobuf messages
//! decoded from the input, against a real SQLite store shared by the whole
//! process. Input: one selector byte (which RPC) and the message bytes;
//! bytes prost rejects are skipped.
//!
//! Oracle: no panic, every call ends within a deadline, and an error's code
//! is never INTERNAL or UNKNOWN: the store is healthy, so any failure is the
//! client's (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...).
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use consent_core::ConsentService;
use consent_proto::v1 as pb;
use consent_signals::{ConsentModeMapping, GpcPolicy, SignalMapping, SignalPolicies};
use consent_proto::v1::consent_service_server::ConsentService as _;
use consent_store::{SqlStore, StoreOptions};
use consentd_auth::Principal;
use consentd_feed::{FeedSettings, Feeds};
use consentd_grpc::GrpcConsentService;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tokio::runtime::Runtime;
use tonic::{Code, Request, Status};

/// A handler slower than this is a finding (a hang).
const DEADLINE: Duration = Duration::from_secs(30);

struct Harness {
    runtime: Runtime,
    service: GrpcConsentService<SqlStore>,
    // Kept alive for the process: the database's directory, and the feed's
    // shutdown signal (dropping the sender would end every stream).
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::watch::Sender<bool>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = consentd_fuzz::state_dir("grpc_requests");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("consentd.db").display());
        let (service, shutdown) = runtime.block_on(async {
            let store = SqlStore::connect(&StoreOptions::new(url)).await.expect("store connects");
            store.migrate().await.expect("migrations run");
            // Signals on, so every record request goes through the decoders
            // and a tenant policy that uses each of its settings.
            let mapping = SignalMapping {
                tcf_vendors: vec![1, 2, 755],
                gpc: GpcPolicy { enabled: true, ..GpcPolicy::default() },
                consent_mode: ConsentModeMapping {
                    ad_storage: Some("marketing".to_owned()),
                    ..ConsentModeMapping::default()
                },
                ..SignalMapping::default()
            };
            let policies = SignalPolicies::new(mapping, std::collections::BTreeMap::new()).expect("valid settings");
            let service = ConsentService::new(store).with_signals(std::sync::Arc::new(policies));
            let (shutdown, stopped) = tokio::sync::watch::channel(false);
            let settings = FeedSettings {
                heartbeat_interval: Duration::from_millis(200),
                poll_interval: Duration::from_millis(200),
                tail_linger: Duration::from_millis(100),
                ..FeedSettings::default()
            };
            let feeds = Feeds::new(service.clone(), settings, None, stopped);
            (GrpcConsentService::new(service, feeds), shutdown)
        });
        Harness { runtime, service, _dir: dir, _shutdown: shutdown }
    })
}

fn request<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Principal::anonymous());
    request
}

/// The oracle on one call's outcome.
fn check<T>(rpc: &str, result: Result<T, Status>) {
    if let Err(status) = result {
        assert!(
            !matches!(status.code(), Code::Internal | Code::Unknown),
            "{rpc} answered {:?}: {}",
            status.code(),
            status.message()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let harness = harness();
    let service = &harness.service;
    harness.runtime.block_on(async {
        let call = async {
            match selector % 9 {
                0 => {
                    let Ok(message) = pb::RecordConsentRequest::decode(bytes) else { return };
                    check("RecordConsent", service.record_consent(request(message)).await);
                }
                1 => {
                    let Ok(message) = pb::UpdateConsentRequest::decode(bytes) else { return };
                    check("UpdateConsent", service.update_consent(request(message)).await);
                }
                2 => {
                    let Ok(message) = pb::CheckConsentRequest::decode(bytes) else { return };
                    check("CheckConsent", service.check_consent(request(message)).await);
                }
                3 => {
                    let Ok(message) = pb::QueryConsentsRequest::decode(bytes) else { return };
                    check("QueryConsents", service.query_consents(request(message)).await);
                }
                4 => {
                    let Ok(message) = pb::GetConsentRequest::decode(bytes) else { return };
                    check("GetConsent", service.get_consent(request(message)).await);
                }
                5 => {
                    let Ok(message) = pb::BatchCheckConsentRequest::decode(bytes) else { return };
                    check("BatchCheckConsent", service.batch_check_consent(request(message)).await);
                }
                6 => {
                    let Ok(message) = pb::GetConsentModeStateRequest::decode(bytes) else { return };
                    check("GetConsentModeState", service.get_consent_mode_state(request(message)).await);
                }
                7 => {
                    let Ok(message) = pb::EraseSubjectRequest::decode(bytes) else { return };
                    // An administrator's call: the anonymous caller may not erase.
                    let mut request = request(message);
                    let admin = Principal { scopes: vec![consentd_auth::Scope::Admin], ..Principal::anonymous() };
                    request.extensions_mut().insert(admin);
                    check("EraseSubject", service.erase_subject(request).await);
                }
                _ => {
                    let Ok(message) = pb::SubscribeRequest::decode(bytes) else { return };
                    // Opened, then dropped at once: the stream ends.
                    check("Subscribe", service.subscribe(request(message)).await.map(drop));
                }
            }
        };
        if tokio::time::timeout(DEADLINE, call).await.is_err() {
            panic!("selector {selector}: the call took longer than {DEADLINE:?}");
        }
    });
});
