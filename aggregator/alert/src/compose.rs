//! Composes alerts: what an alert says, its labels and annotations, built
//! from an open fault or a node's state.
//!
//! Owns the label vocabulary (`side`, `component`, `node`, `network`,
//! `layer`, `severity`, `kind`, `fault_id`) and the wording. It must not
//! decide when to notify (that is the engine's job).

use std::collections::BTreeMap;

use vigil_proto::Label;
use vigil_proto::ShortName;
use vigil_proto::v1::{HealthState, Layer, Side};

use vigil_health::attribution::{Certainty, Fault, FaultKind, Suspect};
use vigil_health::snapshot::NodeHealth;
use vigil_model::{Model, NodeIx, NodeRole};

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn name(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert as every receiver sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Stable identity: `fault/F-000042` or `node/hub-dns`.
    pub key: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// Set on resolve.
    pub ends_at_ms: Option<i64>,
    /// Link to the fault or node in Vigil's API, when `alerts.link` is set.
    pub link: Option<String>,
}

impl Alert {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    /// The alert, resolved at `at_ms`.
    pub fn resolved(&self, at_ms: i64) -> Alert {
        let mut a = self.clone();
        a.status = AlertStatus::Resolved;
        a.ends_at_ms = Some(at_ms);
        a
    }

    /// What makes a change worth an update notification: the labels (side,
    /// severity, …), which the engine holds as they first fired while the
    /// alert is active. Impact, scores, confidence, evidence and the kind
    /// move while a fault lasts and would page the same fault again for
    /// nothing new to act on.
    pub fn material(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

fn put(labels: &mut BTreeMap<String, String>, k: &str, v: impl Into<String>) {
    let v = v.into();
    if !v.trim().is_empty() {
        labels.insert(k.to_string(), v);
    }
}

/// Outages and security drift page; intermittent faults and findings that
/// are not firmly attributed warn.
fn fault_severity(f: &Fault) -> &'static str {
    if f.certainty != Certainty::Attributed {
        return "warning";
    }
    match f.kind {
        FaultKind::Outage | FaultKind::SecurityDrift => "critical",
        FaultKind::Intermittent => "warning",
    }
}

/// The alert for an open fault.
pub fn fault_alert(model: &Model, f: &Fault, link: Option<&str>) -> Alert {
    let mut labels = BTreeMap::new();
    let side = f.side().label();
    put(&mut labels, "alertname", "VigilFault");
    put(&mut labels, "side", side);
    put(&mut labels, "fault_id", f.id.to_string());
    put(&mut labels, "kind", f.kind.name());
    put(&mut labels, "severity", fault_severity(f));
    // The suspect's first model node, or its path when the model has none.
    let node = f
        .suspect_nodes
        .first()
        .cloned()
        .unwrap_or_else(|| f.suspect.path());
    let (component, network, layer) = match &f.suspect {
        Suspect::Hub { component } => (
            component.clone(),
            "hub".to_string(),
            Layer::PlatformHub.short_name(),
        ),
        Suspect::Connectivity { network } => (
            "connectivity".to_string(),
            network.clone(),
            Layer::PlatformSpokeConnectivity.short_name(),
        ),
        Suspect::Workload { component } => {
            let layer = model
                .find(&node)
                .and_then(|ix| model.node(ix).layer)
                .unwrap_or(Layer::WorkloadApplication);
            (component.clone(), f.networks.join(","), layer.short_name())
        }
    };
    put(&mut labels, "component", component);
    put(&mut labels, "node", node);
    put(&mut labels, "network", network);
    put(&mut labels, "layer", layer);

    let mut ann = BTreeMap::new();
    put(&mut ann, "summary", f.summary());
    let evidence: Vec<String> = f
        .evidence
        .iter()
        .take(10)
        .map(|e| {
            format!(
                "{} ({}) → {} [{}]: {}/{} failed, {}",
                e.agent,
                e.network,
                e.target,
                e.probe_id,
                e.failures,
                e.total,
                vigil_proto::error_class_name(e.class)
            )
        })
        .collect();
    put(&mut ann, "evidence", evidence.join("\n"));
    let owner = match f.side() {
        Side::Platform => format!(
            "Owned by the platform team (fault {}). Not a workload fault{}.",
            f.id,
            if f.impact.is_empty() {
                String::new()
            } else {
                format!("; workload impact: {}", f.impact.join(", "))
            }
        ),
        Side::Workload => format!(
            "Owned by the workload team (fault {}); platform probes are healthy.",
            f.id
        ),
        Side::Unspecified => format!("Owner undecided (fault {}).", f.id),
    };
    put(&mut ann, "owner", owner);
    put(&mut ann, "confidence", format!("{:.2}", f.confidence));
    firing(
        format!("fault/{}", f.id),
        &format!("faults/{}", f.id),
        labels,
        ann,
        f.opened_at_ms,
        link,
    )
}

/// The alert for a node at or above the configured state.
pub fn node_alert(model: &Model, ix: NodeIx, health: &NodeHealth, link: Option<&str>) -> Alert {
    let node = model.node(ix);
    let mut labels = BTreeMap::new();
    put(&mut labels, "alertname", "VigilNodeState");
    put(&mut labels, "side", node.owner.label());
    put(&mut labels, "component", node.id.clone());
    put(&mut labels, "node", node.id.clone());
    put(&mut labels, "kind", "node_state");
    if let Some(layer) = node.layer {
        put(&mut labels, "layer", layer.short_name());
    }
    if let NodeRole::Leaf(sel) = &node.role
        && let Some(n) = &sel.network
    {
        put(&mut labels, "network", n.clone());
    }
    let severity = match health.state {
        HealthState::Unhealthy => "critical",
        HealthState::Degraded => "warning",
        _ => "info",
    };
    put(&mut labels, "severity", severity);
    let state = health.state.label();
    let mut ann = BTreeMap::new();
    put(
        &mut ann,
        "summary",
        format!(
            "{} is {state} (score {}): {}",
            node.name, health.score, health.reason
        ),
    );
    put(&mut ann, "state", state);
    firing(
        format!("node/{}", node.id),
        &format!("nodes/{}", node.id),
        labels,
        ann,
        health.state_since_ms,
        link,
    )
}

/// A firing alert with identity `key`, linked to `api_path` under Vigil's
/// API (`{link}/api/v1/{api_path}`, also the `vigil_url` annotation) when
/// `alerts.link` is set.
fn firing(
    key: String,
    api_path: &str,
    labels: BTreeMap<String, String>,
    mut annotations: BTreeMap<String, String>,
    starts_at_ms: i64,
    link: Option<&str>,
) -> Alert {
    let link = link.map(|base| format!("{}/api/v1/{api_path}", base.trim_end_matches('/')));
    if let Some(l) = &link {
        put(&mut annotations, "vigil_url", l.clone());
    }
    Alert {
        key,
        status: AlertStatus::Firing,
        labels,
        annotations,
        starts_at_ms,
        ends_at_ms: None,
        link,
    }
}
