//! The seam between the service and the consent signals a request carries
//! (TCF and GPP strings, GPC): the decoders and the tenants' policies live
//! in the `consent-signals` crate, which implements [`SignalPolicy`]; the
//! service applies it to every record request, whatever its transport.

use std::fmt::Debug;

use crate::command::RecordConsent;
use crate::error::ConsentError;
use crate::model::{Evidence, TenantId};

/// Google Consent Mode v2's consent types, in the order the API lists them.
pub const CONSENT_MODE_TYPES: [&str; 7] = [
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
];

/// A record's signals, decoded for display (JSON objects), each `None` when
/// the evidence has no such string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedSignals {
    /// The decoded TC string.
    pub tcf: Option<serde_json::Value>,
    /// The decoded GPP string.
    pub gpp: Option<serde_json::Value>,
}

/// What the service asks of the consent signals.
pub trait SignalPolicy: Debug + Send + Sync + 'static {
    /// Decodes the signals in `cmd.evidence` and adds the decisions they
    /// imply under the tenant's policy, marked with their signal. A
    /// malformed string is [`ConsentError::InvalidArgument`] naming its
    /// field and offset.
    fn apply(&self, tenant: &TenantId, cmd: &mut RecordConsent) -> Result<(), ConsentError>;

    /// The decoded view of a stored record's signals.
    fn decoded(&self, evidence: &Evidence) -> DecodedSignals;

    /// The tenant's purpose for each of [`CONSENT_MODE_TYPES`], in order;
    /// `None` for a type the tenant maps to nothing.
    fn consent_mode_purposes(&self, tenant: &TenantId) -> [Option<String>; 7];

    /// Whether a publishable key may read the Consent Mode state of a
    /// subject named by an identity in `namespace`.
    fn consent_mode_public(&self, tenant: &TenantId, namespace: &str) -> bool;
}

/// A service without the signal decoders: a request carrying a TC or GPP
/// string is refused rather than stored undecoded, GPC stays evidence only,
/// and Consent Mode maps nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSignals;

impl SignalPolicy for NoSignals {
    fn apply(&self, _: &TenantId, cmd: &mut RecordConsent) -> Result<(), ConsentError> {
        for (field, value) in
            [("tc_string", &cmd.evidence.tc_string), ("gpp_string", &cmd.evidence.gpp_string)]
        {
            if !value.is_empty() {
                return Err(ConsentError::invalid(
                    format!("evidence.{field}"),
                    "this server does not decode consent signals",
                ));
            }
        }
        Ok(())
    }

    fn decoded(&self, _: &Evidence) -> DecodedSignals {
        DecodedSignals::default()
    }

    fn consent_mode_purposes(&self, _: &TenantId) -> [Option<String>; 7] {
        Default::default()
    }

    fn consent_mode_public(&self, _: &TenantId, _: &str) -> bool {
        false
    }
}
