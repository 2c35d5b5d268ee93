//! The consent decisions a signal implies, named as the tenant names its
//! purposes.
//!
//! # TCF
//!
//! - Each TCF v2.2 purpose, 1 to 11 ([`TCF_PURPOSES`]), becomes one decision
//!   for all targets (empty target): GRANTED if the string has consent for
//!   it, DENIED otherwise. Purposes 12 to 24 are not defined by the policy,
//!   so bits set there imply nothing. Legitimate interest is not consent:
//!   `purposes_li_transparency` grants nothing, and a purpose with only a
//!   legitimate interest is DENIED. Special features imply nothing either.
//! - Vendors are targets, `tcf.vendor.<id>`, for all purposes (empty
//!   purpose): GRANTED for each vendor with consent; DENIED for every other
//!   vendor id from 1 to the consent section's `max_vendor_id`, the range
//!   the string speaks for. Vendors above it are not mentioned: the string
//!   says nothing about them. Vendor legitimate interests imply nothing.
//!   With today's vendor list this is about a thousand decisions; a caller
//!   storing them may want only the vendors it works with.
//!
//! # GPP
//!
//! - The `tcfeuv2` section implies what a TC string does.
//! - In each US section (and `uspv1`), an opt-out that is
//!   [`OptOut::OptedOut`] becomes DENIED, for all targets, for each purpose
//!   the tenant lists for that opt-out ([`OptOutPurposes`]). DidNotOptOut and
//!   NotApplicable imply nothing: not opting out is not consent. GPC implies
//!   nothing here; it is recorded as evidence on its own.
//!
//! # Merging
//!
//! A purpose and target named twice (two TCF purposes the tenant maps to one
//! name, or two US sections) get one decision, the strictest: DENIED over
//! LIMITED over GRANTED. Decisions come out sorted by purpose, then target.
//!
//! A purpose name that is empty is skipped: an empty purpose means "all
//! purposes" to consentd, and a mapping left blank must not deny everything.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use consent_core::model::{Decision, PurposeDecision};
use serde::{Deserialize, Serialize, Serializer};

use crate::gpp::{GppString, OptOut, SectionContent, UsOptOuts};
use crate::tcf::TcString;

/// The purposes TCF v2.2 defines, which are the ones decisions are made for.
pub const TCF_PURPOSES: RangeInclusive<u8> = 1..=11;

/// The prefix of a vendor's target: `tcf.vendor.755`.
pub const TCF_VENDOR_TARGET_PREFIX: &str = "tcf.vendor.";

/// A tenant's names for what signals speak of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalMapping {
    /// TCF purpose id → the tenant's purpose; an unmapped id is named
    /// `tcf.purpose.<id>`.
    pub tcf_purposes: BTreeMap<u8, String>,
    /// The tenant's purposes each US opt-out denies.
    pub opt_out_purposes: OptOutPurposes,
}

impl SignalMapping {
    /// The tenant's name for TCF purpose `id`.
    pub fn tcf_purpose(&self, id: u8) -> String {
        self.tcf_purposes.get(&id).cloned().unwrap_or_else(|| format!("tcf.purpose.{id}"))
    }
}

/// The tenant's purposes each US opt-out denies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptOutPurposes {
    /// Denied by a sale opt-out; `["sale"]` unless configured.
    pub sale: Vec<String>,
    /// Denied by a sharing opt-out; `["sharing"]` unless configured.
    pub sharing: Vec<String>,
    /// Denied by a targeted advertising opt-out; `["targeted_advertising"]`
    /// unless configured.
    pub targeted_advertising: Vec<String>,
}

impl Default for OptOutPurposes {
    fn default() -> Self {
        Self {
            sale: vec!["sale".to_owned()],
            sharing: vec!["sharing".to_owned()],
            targeted_advertising: vec!["targeted_advertising".to_owned()],
        }
    }
}

/// A decision a signal implies. An empty purpose means all purposes, an
/// empty target all targets, as in [`PurposeDecision`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ImpliedDecision {
    /// The tenant's purpose.
    pub purpose: String,
    /// The target.
    pub target: String,
    /// What the signal implies, serialized as `granted`, `denied` or
    /// `limited`.
    #[serde(serialize_with = "decision_name")]
    pub decision: Decision,
}

impl From<ImpliedDecision> for PurposeDecision {
    fn from(implied: ImpliedDecision) -> Self {
        Self { purpose: implied.purpose, target: implied.target, decision: implied.decision }
    }
}

fn decision_name<S: Serializer>(decision: &Decision, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(decision.as_str())
}

/// The decisions a TC string implies (see the [module docs](self)).
pub fn tcf_decisions(tc: &TcString, mapping: &SignalMapping) -> Vec<ImpliedDecision> {
    let mut decisions = Decisions::default();
    decisions.add_tcf(tc, mapping);
    decisions.into_vec()
}

/// The decisions a GPP string implies (see the [module docs](self)).
pub fn gpp_decisions(gpp: &GppString, mapping: &SignalMapping) -> Vec<ImpliedDecision> {
    let mut decisions = Decisions::default();
    for section in &gpp.sections {
        if let SectionContent::TcfEuV2(tc) = &section.content {
            decisions.add_tcf(tc, mapping);
        }
        if let Some(opt_outs) = section.us_opt_outs() {
            decisions.add_opt_outs(&opt_outs, &mapping.opt_out_purposes);
        }
    }
    decisions.into_vec()
}

/// Decisions by purpose and target, the strictest kept.
#[derive(Debug, Default)]
struct Decisions(BTreeMap<(String, String), Decision>);

impl Decisions {
    fn add(&mut self, purpose: String, target: String, decision: Decision) {
        self.0
            .entry((purpose, target))
            .and_modify(|known| {
                if strictness(decision) > strictness(*known) {
                    *known = decision;
                }
            })
            .or_insert(decision);
    }

    fn add_tcf(&mut self, tc: &TcString, mapping: &SignalMapping) {
        for id in TCF_PURPOSES {
            let purpose = mapping.tcf_purpose(id);
            if purpose.is_empty() {
                continue;
            }
            let decision =
                if tc.purposes_consent.contains(&id) { Decision::Granted } else { Decision::Denied };
            self.add(purpose, String::new(), decision);
        }
        let consents = &tc.vendor_consents;
        for vendor in 1..=consents.max_vendor_id {
            let decision = if consents.ids.contains(&vendor) { Decision::Granted } else { Decision::Denied };
            self.add(String::new(), format!("{TCF_VENDOR_TARGET_PREFIX}{vendor}"), decision);
        }
    }

    fn add_opt_outs(&mut self, opt_outs: &UsOptOuts, purposes: &OptOutPurposes) {
        for (opt_out, names) in [
            (opt_outs.sale_opt_out, &purposes.sale),
            (opt_outs.sharing_opt_out, &purposes.sharing),
            (opt_outs.targeted_advertising_opt_out, &purposes.targeted_advertising),
        ] {
            if opt_out != Some(OptOut::OptedOut) {
                continue;
            }
            for name in names.iter().filter(|name| !name.is_empty()) {
                self.add(name.clone(), String::new(), Decision::Denied);
            }
        }
    }

    fn into_vec(self) -> Vec<ImpliedDecision> {
        self.0
            .into_iter()
            .map(|((purpose, target), decision)| ImpliedDecision { purpose, target, decision })
            .collect()
    }
}

/// How much a decision withholds: the stricter wins a merge.
const fn strictness(decision: Decision) -> u8 {
    match decision {
        Decision::Granted => 0,
        Decision::Limited => 1,
        Decision::Denied => 2,
    }
}
