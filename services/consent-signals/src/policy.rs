//! The tenants' signal settings applied to record requests: the
//! [`consent_core::SignalPolicy`] the service calls for every request,
//! whatever its transport.
//!
//! A request's decisions become, in order (each order is a revision order,
//! so the later of two records of one key is current):
//!
//! 1. the decisions its TC and GPP strings imply ([`crate::mapping`]), and
//!    with the tenant's GPC policy on and the request carrying GPC, a DENIED
//!    for each of the policy's purposes — except where the request states a
//!    decision for the same purpose and target itself: the person's own
//!    statement is the record;
//! 2. its stated decisions.
//!
//! A GPC conflict — the request carries GPC and explicitly grants (or
//! limits) one of the policy's purposes — keeps both: the GPC denial of the
//! purpose and the grant, each marked `gpc_conflict`. With `prefer =
//! "explicit"` the denial is written first, so the grant is current; with
//! `prefer = "gpc"` after, so the denial is.

use std::collections::{BTreeMap, HashSet};

use consent_core::{
    ConsentError, Decision, DecodedSignals, Evidence, PurposeDecision, RecordConsent, Signal, SignalPolicy,
    TenantId,
};

use crate::mapping::{GpcPrecedence, ImpliedDecision, MAX_TCF_VENDORS, SignalMapping, strictness};
use crate::{decode_gpp, decode_tc_string, gpp_decisions, tcf_decisions};

/// Every tenant's signal settings: the default, and tenants' own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalPolicies {
    default: SignalMapping,
    tenants: BTreeMap<String, SignalMapping>,
}

impl SignalPolicies {
    /// Settings for every tenant, `tenants` overriding `default` for theirs.
    /// Refuses settings a request could not be served under, naming them.
    pub fn new(default: SignalMapping, tenants: BTreeMap<String, SignalMapping>) -> Result<Self, String> {
        check(&default, "signals")?;
        for (tenant, mapping) in &tenants {
            check(mapping, &format!("signals.tenants.{tenant}"))?;
        }
        Ok(Self { default, tenants })
    }

    /// The settings of tenants without their own.
    pub const fn default_settings(&self) -> &SignalMapping {
        &self.default
    }

    /// The tenants' own settings.
    pub const fn tenant_settings(&self) -> &BTreeMap<String, SignalMapping> {
        &self.tenants
    }

    /// The settings of `tenant`.
    pub fn of(&self, tenant: &TenantId) -> &SignalMapping {
        self.tenants.get(tenant.as_str()).unwrap_or(&self.default)
    }
}

fn check(mapping: &SignalMapping, table: &str) -> Result<(), String> {
    if mapping.tcf_vendors.len() > MAX_TCF_VENDORS {
        return Err(format!(
            "{table}.tcf_vendors lists {} vendors; at most {MAX_TCF_VENDORS}",
            mapping.tcf_vendors.len()
        ));
    }
    if let Some(id) = mapping.tcf_purposes.keys().find(|id| !crate::TCF_PURPOSES.contains(id)) {
        return Err(format!("{table}.tcf_purposes names purpose {id}; TCF v2.2 defines 1 to 11"));
    }
    if mapping.gpc.enabled && mapping.gpc.purposes.iter().all(String::is_empty) {
        return Err(format!("{table}.gpc.purposes is empty: an enabled policy must name what GPC denies"));
    }
    Ok(())
}

impl SignalPolicy for SignalPolicies {
    fn apply(&self, tenant: &TenantId, cmd: &mut RecordConsent) -> Result<(), ConsentError> {
        let mapping = self.of(tenant);
        let mut implied: Vec<(ImpliedDecision, Signal)> = Vec::new();
        if !cmd.evidence.tc_string.is_empty() {
            let tc = decode_tc_string(&cmd.evidence.tc_string)
                .map_err(|err| ConsentError::invalid("evidence.tc_string", err.to_string()))?;
            implied.extend(tcf_decisions(&tc, mapping).into_iter().map(|d| (d, Signal::Tcf)));
        }
        if !cmd.evidence.gpp_string.is_empty() {
            let gpp = decode_gpp(&cmd.evidence.gpp_string)
                .map_err(|err| ConsentError::invalid("evidence.gpp_string", err.to_string()))?;
            for decision in gpp_decisions(&gpp, mapping) {
                merge(&mut implied, decision, Signal::Gpp);
            }
        }
        let gpc = mapping.gpc.enabled && cmd.evidence.gpc;
        let gpc_purposes: HashSet<&str> = if gpc {
            mapping.gpc.purposes.iter().map(String::as_str).filter(|p| !p.is_empty()).collect()
        } else {
            HashSet::new()
        };
        for purpose in &gpc_purposes {
            let denial = ImpliedDecision {
                purpose: (*purpose).to_owned(),
                target: String::new(),
                decision: Decision::Denied,
            };
            merge(&mut implied, denial, Signal::Gpc);
        }
        let mut stated = std::mem::take(&mut cmd.decisions);
        let conflicted: HashSet<String> = stated
            .iter_mut()
            .filter(|d| d.decision != Decision::Denied && gpc_purposes.contains(d.purpose.as_str()))
            .map(|d| {
                d.gpc_conflict = true;
                d.purpose.clone()
            })
            .collect();
        let stated_keys: HashSet<(String, String)> =
            stated.iter().map(|d| (d.purpose.clone(), d.target.clone())).collect();
        let mut before = Vec::new();
        let mut conflicts = Vec::new();
        for (decision, signal) in implied {
            let conflict = signal == Signal::Gpc && conflicted.contains(&decision.purpose);
            if !conflict && stated_keys.contains(&(decision.purpose.clone(), decision.target.clone())) {
                continue;
            }
            let record = PurposeDecision {
                purpose: decision.purpose,
                target: decision.target,
                decision: decision.decision,
                implied_by: Some(signal),
                gpc_conflict: conflict,
            };
            if conflict { conflicts.push(record) } else { before.push(record) }
        }
        cmd.decisions = before;
        match mapping.gpc.prefer {
            GpcPrecedence::Explicit => {
                cmd.decisions.extend(conflicts);
                cmd.decisions.append(&mut stated);
            }
            GpcPrecedence::Gpc => {
                cmd.decisions.append(&mut stated);
                cmd.decisions.extend(conflicts);
            }
        }
        Ok(())
    }

    fn decoded(&self, evidence: &Evidence) -> DecodedSignals {
        // Stored strings decoded when they were written; one that no longer
        // does (a decoder made stricter since) shows as its error.
        let view = |value: Result<serde_json::Value, String>| match value {
            Ok(view) => view,
            Err(error) => serde_json::json!({ "error": error }),
        };
        DecodedSignals {
            tcf: (!evidence.tc_string.is_empty()).then(|| {
                view(
                    decode_tc_string(&evidence.tc_string)
                        .map_err(|e| e.to_string())
                        .and_then(|tc| serde_json::to_value(tc).map_err(|e| e.to_string())),
                )
            }),
            gpp: (!evidence.gpp_string.is_empty()).then(|| {
                view(
                    decode_gpp(&evidence.gpp_string)
                        .map_err(|e| e.to_string())
                        .and_then(|gpp| serde_json::to_value(gpp).map_err(|e| e.to_string())),
                )
            }),
        }
    }

    fn consent_mode_purposes(&self, tenant: &TenantId) -> [Option<String>; 7] {
        self.of(tenant).consent_mode.purposes()
    }

    fn consent_mode_public(&self, tenant: &TenantId, namespace: &str) -> bool {
        self.of(tenant).consent_mode.public_namespaces.iter().any(|allowed| allowed == namespace)
    }
}

/// Adds `decision`, the stricter kept where its key is already implied
/// (the signal of the one kept).
fn merge(implied: &mut Vec<(ImpliedDecision, Signal)>, decision: ImpliedDecision, signal: Signal) {
    match implied
        .iter_mut()
        .find(|(known, _)| known.purpose == decision.purpose && known.target == decision.target)
    {
        Some((known, known_signal)) => {
            if strictness(decision.decision) > strictness(known.decision) {
                *known = decision;
                *known_signal = signal;
            }
        }
        None => implied.push((decision, signal)),
    }
}
