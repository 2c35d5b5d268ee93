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
//! - The vendors the tenant lists ([`SignalMapping::tcf_vendors`]) are
//!   targets, `tcf.vendor.<id>`, of the purpose [`TCF_VENDOR_PURPOSE`]:
//!   GRANTED for a listed vendor with consent, DENIED for one without (a
//!   vendor past the consent section's `max_vendor_id` has none: the CMP
//!   states its whole answer). Only listed vendors: today's vendor list
//!   would make about a thousand decisions of every string. The purpose is
//!   a name of its own rather than "all purposes" because TCF allows a
//!   vendor a purpose only when both have consent, which "latest decision
//!   wins" cannot say: a caller asks both (one `BatchCheckConsent`).
//!   Vendor legitimate interests imply nothing.
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

use consent_core::model::Decision;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gpp::{GppString, OptOut, SectionContent, UsOptOuts};
use crate::tcf::TcString;

/// The purposes TCF v2.2 defines, which are the ones decisions are made for.
pub const TCF_PURPOSES: RangeInclusive<u8> = 1..=11;

/// The prefix of a vendor's target: `tcf.vendor.755`.
pub const TCF_VENDOR_TARGET_PREFIX: &str = "tcf.vendor.";

/// The purpose of the decisions about TCF vendors.
pub const TCF_VENDOR_PURPOSE: &str = "tcf.vendor_consent";

/// The most vendors a tenant may list: each is a record of every request
/// carrying a TC string.
pub const MAX_TCF_VENDORS: usize = 100;

/// A tenant's names for what signals speak of, and its policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignalMapping {
    /// TCF purpose id → the tenant's purpose; an unmapped id is named
    /// `tcf.purpose.<id>`. Keys are written as text (`"1" = "storage"`), as
    /// TOML and JSON write every key.
    #[serde(serialize_with = "ids_as_text", deserialize_with = "ids_from_text")]
    pub tcf_purposes: BTreeMap<u8, String>,
    /// The TCF vendor ids recorded as targets; none unless listed.
    pub tcf_vendors: Vec<u16>,
    /// The tenant's purposes each US opt-out denies.
    pub opt_out_purposes: OptOutPurposes,
    /// What the Global Privacy Control signal does.
    pub gpc: GpcPolicy,
    /// The tenant's purpose for each Google Consent Mode v2 type.
    pub consent_mode: ConsentModeMapping,
}

fn ids_as_text<S: Serializer>(ids: &BTreeMap<u8, String>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(ids.iter().map(|(id, name)| (id.to_string(), name)))
}

fn ids_from_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<u8, String>, D::Error> {
    BTreeMap::<String, String>::deserialize(deserializer)?
        .into_iter()
        .map(|(id, name)| {
            let id = id
                .parse()
                .map_err(|_| D::Error::custom(format!("purpose id {id:?} is not a number from 0 to 255")))?;
            Ok((id, name))
        })
        .collect()
}

/// What the Global Privacy Control signal does (docs/signals.md#gpc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpcPolicy {
    /// Off by default: GPC is then recorded as evidence and decides nothing.
    pub enabled: bool,
    /// The purposes GPC denies; `["sale", "sharing"]` unless configured.
    pub purposes: Vec<String>,
    /// Which decision is current when a request carries GPC and explicitly
    /// grants one of `purposes`.
    pub prefer: GpcPrecedence,
}

impl Default for GpcPolicy {
    fn default() -> Self {
        Self {
            enabled: false,
            purposes: vec!["sale".to_owned(), "sharing".to_owned()],
            prefer: GpcPrecedence::Explicit,
        }
    }
}

/// Which of a GPC denial and an explicit grant in one request is current;
/// both are recorded either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpcPrecedence {
    /// The person's explicit choice.
    #[default]
    Explicit,
    /// The GPC signal.
    Gpc,
}

/// The tenant's purpose for each Google Consent Mode v2 type; a type left
/// out is always `denied`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentModeMapping {
    /// The purpose deciding `ad_storage`.
    pub ad_storage: Option<String>,
    /// The purpose deciding `ad_user_data`.
    pub ad_user_data: Option<String>,
    /// The purpose deciding `ad_personalization`.
    pub ad_personalization: Option<String>,
    /// The purpose deciding `analytics_storage`.
    pub analytics_storage: Option<String>,
    /// The purpose deciding `functionality_storage`.
    pub functionality_storage: Option<String>,
    /// The purpose deciding `personalization_storage`.
    pub personalization_storage: Option<String>,
    /// The purpose deciding `security_storage`.
    pub security_storage: Option<String>,
    /// Identity namespaces a publishable key may read the state by (a
    /// browser's own pseudonymous id, such as `device_id`); none unless
    /// listed, since such a key is public.
    pub public_namespaces: Vec<String>,
}

impl ConsentModeMapping {
    /// The purposes in Consent Mode's order of the types.
    pub fn purposes(&self) -> [Option<String>; 7] {
        [
            self.ad_storage.clone(),
            self.ad_user_data.clone(),
            self.ad_personalization.clone(),
            self.analytics_storage.clone(),
            self.functionality_storage.clone(),
            self.personalization_storage.clone(),
            self.security_storage.clone(),
        ]
        .map(|purpose| purpose.filter(|p| !p.is_empty()))
    }
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
/// empty target all targets, as in [`consent_core::PurposeDecision`].
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
        for vendor in &mapping.tcf_vendors {
            let decision =
                if tc.vendor_consents.ids.contains(vendor) { Decision::Granted } else { Decision::Denied };
            self.add(TCF_VENDOR_PURPOSE.to_owned(), format!("{TCF_VENDOR_TARGET_PREFIX}{vendor}"), decision);
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
pub(crate) const fn strictness(decision: Decision) -> u8 {
    match decision {
        Decision::Granted => 0,
        Decision::Limited => 1,
        Decision::Denied => 2,
    }
}
