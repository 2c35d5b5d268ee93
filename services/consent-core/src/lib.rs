//! The consent domain of consentd: what a consent record is, how a check is
//! decided, the commands every transport builds, the one error type, and the
//! store trait. No transport or database code lives here.

pub mod bindings;
pub mod check;
pub mod command;
pub mod error;
pub mod feed;
pub mod keys;
pub mod model;
pub mod page;
pub mod service;
pub mod signals;
pub mod store;
pub mod subject;
pub mod time;
pub mod validate;
pub mod webhooks;

pub use bindings::BindingStore;
pub use command::{
    BatchCheckConsent, BatchCheckOutcome, CheckConsent, CheckOutcome, CheckResult, ConsentView, EraseSubject,
    ExpireDue, GetConsent, PurposeTarget, QueryConsents, QueryPage, RecordConsent, RecordFilter, RetainUntil,
    UpdateConsent, UpdateLatest, WriteCommand, WriteOutcome,
};
pub use error::{ConsentError, ErrorCode, FieldViolation};
pub use feed::{ChangeFilter, ChangePage, FeedFilter, FeedStart, Subscribe};
pub use keys::{KeyAccount, KeyStore, StoredKey};
pub use model::{
    ConsentRecord, ConsentStatus, Decision, EventKind, Evidence, Identity, PurposeDecision, Revision, Signal,
    SubjectRef, TenantId,
};
pub use service::{ConsentModeOutcome, ConsentService};
pub use signals::{CONSENT_MODE_TYPES, DecodedSignals, NoSignals, SignalPolicy};
pub use store::{
    ConsentStore, CurrentCheck, CurrentChecks, FirstCollected, Listed, SCAN_WINDOW, TargetCheck,
};
pub use time::Timestamp;
