//! Turns the aggregator's state into attribution's inputs and back: series
//! views into sightings, the model's `depends_on` edges into component
//! dependencies, and a fault's suspect and impact into model node ids.
//!
//! Reads only what the evaluator already read; must not lock ingest beyond
//! `Store::series_views`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::store::SeriesReading;
use vigil_model::{Model, NodeIx, NodeRole};

use super::{Fault, Sighting, Suspect, Topology, WindowView};

/// The probe label that names the network a target lives in.
pub const TARGET_NETWORK_LABEL: &str = "target_network";

/// One sighting per (agent, probe) series.
pub fn sightings(reading: &SeriesReading, now_ms: i64, staleness: Duration) -> Vec<Sighting<'_>> {
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
            Some(Sighting {
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
                    failure_streak: v.failure_streak,
                    last_failure_ms: v.last_failure_ms,
                    age_ms: v.window.last_signal_ms.map(|t| now_ms - t),
                    last_signal_ms: v.window.last_signal_ms,
                    interval_ms: probe.interval_ms,
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
pub fn topology(model: &Model, hub_network: &str, firewall: Option<String>) -> Topology {
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
            // A group that depends on one of its own members must not make a
            // component the impact of itself.
            let deps: Vec<String> = to.iter().filter(|d| **d != c).cloned().collect();
            depends_on.entry(c).or_default().extend(deps);
        }
    }
    Topology {
        hub_network: hub_network.to_string(),
        firewall,
        depends_on: depends_on
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().collect()))
            .collect(),
    }
}

/// The model's leaves by the component their selector names, and its spoke
/// connectivity leaves by network, so naming a fault's nodes costs a few
/// lookups instead of a pass over every leaf (with a thousand faults open
/// on a 10,000-node model that pass was ten million selector checks).
#[derive(Debug, Default)]
pub struct LeafIndex {
    by_component: HashMap<String, Vec<String>>,
    connectivity_by_network: HashMap<String, Vec<String>>,
}

impl LeafIndex {
    pub fn new(model: &Model) -> Self {
        let mut index = LeafIndex::default();
        for node in model.nodes() {
            let NodeRole::Leaf(sel) = &node.role else {
                continue;
            };
            if let Some(c) = &sel.component {
                index
                    .by_component
                    .entry(c.clone())
                    .or_default()
                    .push(node.id.clone());
            }
            if let Some(n) = &sel.network
                && node.layer == Some(vigil_proto::v1::Layer::PlatformSpokeConnectivity)
            {
                index
                    .connectivity_by_network
                    .entry(n.clone())
                    .or_default()
                    .push(node.id.clone());
            }
        }
        index
    }

    /// The model leaves `suspect` stands for, sorted.
    pub fn suspect_nodes(&self, suspect: &Suspect) -> Vec<String> {
        let own = match suspect {
            Suspect::Hub { component } | Suspect::Workload { component } => {
                self.by_component.get(component)
            }
            Suspect::Connectivity { network } => self.connectivity_by_network.get(network),
        };
        sorted(own.into_iter().flatten())
    }

    /// The model leaves of the `impact` components, sorted.
    pub fn impact_nodes(&self, impact: &[String]) -> Vec<String> {
        sorted(
            impact
                .iter()
                .filter_map(|c| self.by_component.get(c))
                .flatten(),
        )
    }

    /// Names the model nodes of `fault`'s suspect and impact.
    pub fn name_nodes(&self, fault: &mut Fault) {
        fault.suspect_nodes = self.suspect_nodes(&fault.suspect);
        fault.impact_nodes = self.impact_nodes(&fault.impact);
    }
}

/// Node ids sorted, each once.
fn sorted<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<String> {
    let set: BTreeSet<&String> = ids.collect();
    set.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_depending_on_its_own_member_makes_no_component_depend_on_itself() {
        let model = Model::from_yaml(
            "nodes:
  - id: root
    children: [app, dns]
  - id: app
    children: [api, db]
    depends_on: [db, dns]
  - id: api
    select: { component: api }
  - id: db
    select: { component: db }
  - id: dns
    select: { component: hub-dns }
",
            "t.yaml",
        )
        .unwrap();
        let t = topology(&model, "hub", None);
        assert_eq!(t.depends_on["api"], ["db", "hub-dns"]);
        assert_eq!(t.depends_on["db"], ["hub-dns"], "{:?}", t.depends_on);
    }

    #[test]
    fn the_leaf_index_names_the_same_nodes_as_a_scan() {
        let model = Model::from_yaml(
            "nodes:
  - id: root
    children: [dns, dns-b, peering-a, peering-b, app]
  - id: dns
    select: { component: hub-dns }
  - id: dns-b
    select: { component: hub-dns, network: spoke-b }
  - id: peering-a
    layer: platform_spoke_connectivity
    select: { network: spoke-a, kind: tcp }
  - id: peering-b
    layer: platform_spoke_connectivity
    select: { network: spoke-b }
  - id: app
    select: { component: checkout }
",
            "t.yaml",
        )
        .unwrap();
        let index = LeafIndex::new(&model);
        // A pass over every leaf: what the index must agree with.
        let scan = |suspect: &Suspect, impact: &[String]| {
            let (mut own, mut impacted) = (BTreeSet::new(), BTreeSet::new());
            for node in model.nodes() {
                let NodeRole::Leaf(sel) = &node.role else {
                    continue;
                };
                let stands_for_suspect = match suspect {
                    Suspect::Hub { component } | Suspect::Workload { component } => {
                        sel.component.as_deref() == Some(component.as_str())
                    }
                    Suspect::Connectivity { network } => {
                        sel.network.as_deref() == Some(network.as_str())
                            && node.layer == Some(vigil_proto::v1::Layer::PlatformSpokeConnectivity)
                    }
                };
                if stands_for_suspect {
                    own.insert(node.id.clone());
                }
                if sel.component.as_ref().is_some_and(|c| impact.contains(c)) {
                    impacted.insert(node.id.clone());
                }
            }
            let own: Vec<String> = own.into_iter().collect();
            let impacted: Vec<String> = impacted.into_iter().collect();
            (own, impacted)
        };
        let suspects = [
            Suspect::Hub {
                component: "hub-dns".into(),
            },
            Suspect::Workload {
                component: "checkout".into(),
            },
            Suspect::Workload {
                component: "nowhere".into(),
            },
            Suspect::Connectivity {
                network: "spoke-a".into(),
            },
            Suspect::Connectivity {
                network: "spoke-b".into(),
            },
        ];
        for suspect in &suspects {
            for impact in [
                vec![],
                vec!["checkout".to_string()],
                vec!["hub-dns".to_string()],
            ] {
                assert_eq!(
                    (index.suspect_nodes(suspect), index.impact_nodes(&impact)),
                    scan(suspect, &impact),
                    "{suspect:?} with impact {impact:?}"
                );
            }
        }
        assert_eq!(index.suspect_nodes(&suspects[0]), ["dns", "dns-b"]);
        assert_eq!(index.impact_nodes(&["checkout".into()]), ["app"]);
    }
}
