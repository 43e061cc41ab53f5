//! Selectors: the rule that binds a declared probe to a leaf node.
//!
//! Owns matching only. It is evaluated once per (agent, probe) declaration,
//! never per signal, and must stay free of I/O and of live state.

use std::collections::{BTreeMap, HashMap};

use vigil_proto::v1::{Layer, ProbeKind};

/// Every given field must match; absent fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub kind: Option<ProbeKind>,
    pub component: Option<String>,
    /// The observing agent's network (`hub`, `spoke-a`).
    pub network: Option<String>,
    pub layer: Option<Layer>,
    pub probe_id: Option<String>,
    /// Matched against the probe's labels first, then the agent's vantage labels.
    pub labels: BTreeMap<String, String>,
}

/// What is known about a probe when it is declared.
#[derive(Debug, Clone, Copy)]
pub struct ProbeFacts<'a> {
    pub probe_id: &'a str,
    pub kind: ProbeKind,
    pub component: &'a str,
    pub layer: Layer,
    pub network: &'a str,
    pub probe_labels: &'a BTreeMap<String, String>,
    pub vantage_labels: &'a HashMap<String, String>,
}

impl Selector {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.component.is_none()
            && self.network.is_none()
            && self.layer.is_none()
            && self.probe_id.is_none()
            && self.labels.is_empty()
    }

    pub fn matches(&self, p: &ProbeFacts<'_>) -> bool {
        self.kind.is_none_or(|k| k == p.kind)
            && self.layer.is_none_or(|l| l == p.layer)
            && self.component.as_deref().is_none_or(|c| c == p.component)
            && self.network.as_deref().is_none_or(|n| n == p.network)
            && self.probe_id.as_deref().is_none_or(|id| id == p.probe_id)
            && self.labels.iter().all(|(k, v)| {
                p.probe_labels
                    .get(k)
                    .or_else(|| p.vantage_labels.get(k))
                    .is_some_and(|have| have == v)
            })
    }
}
