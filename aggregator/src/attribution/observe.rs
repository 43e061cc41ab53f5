//! Turns the aggregator's state into attribution's inputs and back: series
//! views into observations, the model's `depends_on` edges into component
//! dependencies, and a fault's suspect and impact into model node ids.
//!
//! Reads only what the evaluator already read; must not lock ingest beyond
//! `Store::series_views`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::model::{Model, NodeIx, NodeRole};
use crate::store::SeriesReading;

use super::{Observation, Suspect, Topology, WindowView};

/// The probe label that names the network a target lives in.
pub const TARGET_NETWORK_LABEL: &str = "target_network";

/// One observation per (agent, probe) series.
pub fn observations(
    reading: &SeriesReading,
    now_ms: i64,
    staleness: Duration,
) -> Vec<Observation<'_>> {
    let stale_ms = i64::try_from(staleness.as_millis()).unwrap_or(i64::MAX);
    reading
        .series
        .iter()
        // Every view's agent is in the same tick's table; a view without one
        // would have nobody to speak for it.
        .filter_map(|v| {
            let agent = reading.agent(v)?;
            let probe = &reading.binding(v)?.probe;
            let fresh = v
                .window
                .last_signal_ms
                .is_some_and(|t| now_ms - t <= stale_ms)
                && v.window.signals > 0;
            Some(Observation {
                agent: &agent.id,
                network: &agent.vantage.network,
                // A dropped stream is silence now, whatever the window
                // still holds: the agent can no longer tell us anything.
                agent_live: agent.connected,
                probe_id: &probe.probe_id,
                component: &probe.component,
                layer: probe.layer,
                kind: probe.kind,
                target: &probe.target,
                target_network: probe.labels.get(TARGET_NETWORK_LABEL).map(String::as_str),
                window: WindowView {
                    total: v.window.signals,
                    failures: v.window.failures,
                    dominant_class: v.dominant_error_class,
                    example: v.example_failure.as_deref().unwrap_or_default(),
                    fresh,
                    last_failed: v.last_outcome == vigil_proto::v1::Outcome::Failure,
                    success_streak: v.success_streak,
                    age_ms: v.window.last_signal_ms.map(|t| now_ms - t),
                },
            })
        })
        .collect()
}

/// Components named by the selectors of the leaves under `ix`.
fn components_under(model: &Model, ix: NodeIx, out: &mut BTreeSet<String>) {
    let node = model.node(ix);
    match &node.role {
        NodeRole::Leaf(sel) => {
            if let Some(c) = &sel.component {
                out.insert(c.clone());
            }
        }
        NodeRole::Group(_) => {
            for &c in &node.children {
                components_under(model, c, out);
            }
        }
        NodeRole::Unmodelled => {}
    }
}

/// Component-level dependencies lifted from the model's `depends_on` edges.
pub fn topology(model: &Model, hub_network: &str) -> Topology {
    let mut depends_on: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, node) in model.nodes().iter().enumerate() {
        if node.depends_on.is_empty() {
            continue;
        }
        let mut from = BTreeSet::new();
        components_under(model, NodeIx(i), &mut from);
        let mut to = BTreeSet::new();
        for &d in &node.depends_on {
            components_under(model, d, &mut to);
        }
        for c in from {
            depends_on.entry(c).or_default().extend(to.iter().cloned());
        }
    }
    Topology {
        hub_network: hub_network.to_string(),
        depends_on: depends_on
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
    }
}

/// The model leaves a fault's suspect and impact stand for.
pub fn nodes_for(model: &Model, suspect: &Suspect, impact: &[String]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for node in model.nodes() {
        let NodeRole::Leaf(sel) = &node.role else {
            continue;
        };
        let hit = match suspect {
            Suspect::Hub { component } | Suspect::Workload { component } => {
                sel.component.as_deref() == Some(component.as_str())
            }
            Suspect::Connectivity { network } => {
                sel.network.as_deref() == Some(network.as_str())
                    && node.layer == Some(vigil_proto::v1::Layer::PlatformSpokeConnectivity)
            }
        } || sel.component.as_ref().is_some_and(|c| impact.contains(c));
        if hit {
            out.insert(node.id.clone());
        }
    }
    out.into_iter().collect()
}
