//! The binding index: which leaves a declared probe could match, so a
//! declaration tests a handful of selectors instead of every leaf.
//!
//! Owns candidate lookup only; whether a candidate matches is still
//! [`Selector::matches`]. It must give exactly the leaves a scan of every
//! leaf would give, in model order.

use std::collections::HashMap;

use super::{Node, NodeIx, NodeRole, ProbeFacts};

/// Leaves grouped by the component their selector requires.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct BindIndex {
    /// Leaves whose selector names a component, by that component. Each list
    /// is in model order, as `(position in order, leaf)`.
    by_component: HashMap<String, Vec<(usize, NodeIx)>>,
    /// Leaves whose selector accepts any component, in model order.
    any_component: Vec<(usize, NodeIx)>,
}

impl BindIndex {
    pub(super) fn new(nodes: &[Node], order: &[NodeIx]) -> Self {
        let mut index = Self::default();
        for (pos, &ix) in order.iter().enumerate() {
            let NodeRole::Leaf(selector) = &nodes[ix.0].role else {
                continue;
            };
            match &selector.component {
                Some(c) => index
                    .by_component
                    .entry(c.clone())
                    .or_default()
                    .push((pos, ix)),
                None => index.any_component.push((pos, ix)),
            }
        }
        index
    }

    /// The leaves whose selector matches `probe`, in model order; empty when
    /// none does.
    pub(super) fn bind(&self, nodes: &[Node], probe: &ProbeFacts<'_>) -> Vec<NodeIx> {
        let named = self
            .by_component
            .get(probe.component)
            .map_or(&[][..], Vec::as_slice);
        let any = self.any_component.as_slice();
        let matches = |&(_, ix): &(usize, NodeIx)| match &nodes[ix.0].role {
            NodeRole::Leaf(selector) => selector.matches(probe),
            _ => false,
        };
        // Both lists are in model order: merge them so the result is too.
        let (mut a, mut b) = (named.iter().peekable(), any.iter().peekable());
        let mut leaves = Vec::new();
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 <= y.0 => a.next(),
                (Some(_), Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            if let Some(candidate) = next.filter(|c| matches(c)) {
                leaves.push(candidate.1);
            }
        }
        leaves
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Write;

    use vigil_proto::v1::{Layer, ProbeKind};

    use crate::{Model, NodeIx, NodeRole, ProbeFacts};

    /// A model of many leaves with every kind of selector: by component
    /// alone, component plus kind, network, layer or labels, and selectors
    /// with no component at all.
    fn generated_model() -> Model {
        let mut yaml = String::from("nodes:\n  - id: root\n    children: [");
        let groups = 20;
        let per_group = 60;
        for g in 0..groups {
            if g > 0 {
                yaml.push_str(", ");
            }
            write!(yaml, "g{g}").unwrap();
        }
        yaml.push_str("]\n");
        for g in 0..groups {
            let leaves: Vec<String> = (0..per_group).map(|l| format!("g{g}-l{l}")).collect();
            writeln!(yaml, "  - id: g{g}\n    children: [{}]", leaves.join(", ")).unwrap();
            for (l, id) in leaves.iter().enumerate() {
                let component = format!("c{}", (g * per_group + l) % 37);
                let select = match l % 7 {
                    0 => format!("{{ component: {component} }}"),
                    1 => format!("{{ component: {component}, kind: http }}"),
                    2 => format!("{{ component: {component}, network: spoke-{} }}", l % 3),
                    3 => "{ kind: dns }".to_string(),
                    4 => format!("{{ network: spoke-{} }}", l % 3),
                    5 => format!(
                        "{{ component: {component}, labels: {{ zone: z{} }} }}",
                        l % 2
                    ),
                    _ => "{ layer: platform_hub, kind: tcp }".to_string(),
                };
                writeln!(yaml, "  - id: {id}\n    select: {select}").unwrap();
            }
        }
        Model::from_yaml(&yaml, "generated").expect("generated model is valid")
    }

    fn scan(model: &Model, probe: &ProbeFacts<'_>) -> Vec<NodeIx> {
        let mut leaves: Vec<NodeIx> = model
            .order()
            .iter()
            .copied()
            .filter(|ix| match &model.node(*ix).role {
                NodeRole::Leaf(s) => s.matches(probe),
                _ => false,
            })
            .collect();
        if leaves.is_empty() {
            leaves.push(model.unmodelled());
        }
        leaves
    }

    #[test]
    fn indexed_bind_gives_what_a_scan_of_every_leaf_gives() {
        let model = generated_model();
        let kinds = [ProbeKind::Http, ProbeKind::Tcp, ProbeKind::Dns];
        let layers = [Layer::PlatformHub, Layer::WorkloadApplication];
        let mut nonempty = 0;
        let mut multiple = 0;
        for c in 0..40 {
            let component = format!("c{c}");
            for kind in kinds {
                for layer in layers {
                    for network in ["spoke-0", "spoke-1", "spoke-2", "hub"] {
                        for zone in ["z0", "z1", "z9"] {
                            let probe_labels = BTreeMap::new();
                            let vantage_labels = HashMap::from([("zone".into(), zone.into())]);
                            let probe = ProbeFacts {
                                probe_id: "p",
                                kind,
                                component: &component,
                                layer,
                                network,
                                probe_labels: &probe_labels,
                                vantage_labels: &vantage_labels,
                            };
                            let indexed = model.bind(&probe);
                            assert_eq!(indexed, scan(&model, &probe), "probe {probe:?}");
                            if indexed != [model.unmodelled()] {
                                nonempty += 1;
                            }
                            if indexed.len() > 1 {
                                multiple += 1;
                            }
                        }
                    }
                }
            }
        }
        // The comparison covered probes that bind, and probes that bind to
        // leaves from both the component index and the any-component list.
        assert!(nonempty > 100, "only {nonempty} probes bound");
        assert!(
            multiple > 100,
            "only {multiple} probes bound to several leaves"
        );
    }

    #[test]
    fn a_probe_nothing_selects_feeds_unmodelled() {
        let model = generated_model();
        let none = HashMap::new();
        let no_labels = BTreeMap::new();
        let probe = ProbeFacts {
            probe_id: "p",
            kind: ProbeKind::Http,
            component: "nowhere",
            layer: Layer::WorkloadApplication,
            network: "elsewhere",
            probe_labels: &no_labels,
            vantage_labels: &none,
        };
        assert_eq!(model.bind(&probe), vec![model.unmodelled()]);
    }
}
