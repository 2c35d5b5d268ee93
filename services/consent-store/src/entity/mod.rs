//! sea-orm entities of the tables `consent-migrations` creates.

// The derive macros generate public items that are only reachable inside
// this crate, and types without Debug impls.
#![allow(unreachable_pub, missing_debug_implementations, clippy::wildcard_enum_match_arm)]

pub(crate) mod api_key;
pub(crate) mod binding_origin;
pub(crate) mod consent_record;
pub(crate) mod consent_state;
pub(crate) mod idempotency_key;
pub(crate) mod identity;
pub(crate) mod legal_hold;
pub(crate) mod log_checkpoint;
pub(crate) mod log_head;
pub(crate) mod log_tile;
pub(crate) mod store_meta;
pub(crate) mod subject_key;
pub(crate) mod subject_salt;
pub(crate) mod tenant_binding;
pub(crate) mod tenant_head;
pub(crate) mod webhook_delivery;
pub(crate) mod webhook_subscription;
