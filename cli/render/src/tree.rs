//! `vigil tree`: the layered health tree as an indented table with box-drawing
//! connectors, a header of layer scores, and its JSON form.
//!
//! Renders whatever the aggregator sent, even if inconsistent (a child id with
//! no node, a cycle, an orphan): every node is shown once, nothing panics.

use std::collections::{HashMap, HashSet};

use vigil_proto::ShortName;
use vigil_proto::v1::{GetTreeResponse, HealthNode, Layer, LayerScore, Side};

use super::style::{Paint, Style};
use super::table::{Cell, table};
use super::view::{TreeJson, to_json};
use super::{clean, format_time, shown_state, state_name};

/// The tree as pretty JSON (see [`TreeJson`]).
pub fn tree_json(tree: &GetTreeResponse) -> String {
    to_json(&TreeJson::from(tree), true)
}

/// The tree as text: layer scores, then one line per node.
pub fn tree_text(tree: &GetTreeResponse, style: &Style) -> String {
    let mut out = String::new();
    out.push_str(&layer_header(&tree.layers, style));
    out.push_str(&style.paint(
        Paint::Dim,
        &format!(
            "generation {} · evaluated {}",
            tree.generation,
            format_time(tree.evaluated_at_unix_ms)
        ),
    ));
    out.push_str("\n\n");
    if tree.nodes.is_empty() {
        out.push_str("the aggregator has no nodes (is a health model loaded?)\n");
        return out;
    }
    let rows: Vec<Vec<Cell>> = walk(&tree.nodes)
        .into_iter()
        .map(|line| row(&line))
        .collect();
    out.push_str(&table(
        "",
        &["NODE", "STATE", "SCORE", "LAYER", "OWNER", "REASON"],
        &rows,
        style,
    ));
    out
}

/// `overall 45 unhealthy · platform 100 healthy · workload 45 unhealthy`
pub fn layer_header(layers: &[LayerScore], style: &Style) -> String {
    if layers.is_empty() {
        return style.paint(Paint::Dim, "no layer scores yet") + "\n";
    }
    let parts: Vec<String> = layers
        .iter()
        .map(|l| {
            let state = shown_state(l.state());
            format!(
                "{} {} {}",
                style.paint(Paint::Bold, &clean(&l.name)),
                l.score,
                style.paint(Paint::State(state), &state_name(state))
            )
        })
        .collect();
    parts.join(" · ") + "\n"
}

/// One line of the drawn tree.
struct Line<'a> {
    /// Connectors drawn before the id (`│   ├── `).
    prefix: String,
    id: &'a str,
    kind: LineKind<'a>,
}

enum LineKind<'a> {
    Node(&'a HealthNode),
    /// Listed as a child but absent from the response.
    Missing,
    /// Reached a second time (a cycle or a shared child): not descended again.
    Repeat,
}

/// Depth-first walk from the first node, then from any node not reached (an
/// orphan or a cycle), so every node appears.
fn walk(nodes: &[HealthNode]) -> Vec<Line<'_>> {
    let by_id: HashMap<&str, &HealthNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut lines = Vec::new();
    for start in nodes {
        if seen.contains(start.id.as_str()) {
            continue;
        }
        // (id, prefix of the parent's children, last sibling?, is a root?)
        let mut stack: Vec<(&str, String, bool, bool)> =
            vec![(start.id.as_str(), String::new(), true, true)];
        while let Some((id, parent_prefix, last, root)) = stack.pop() {
            let (prefix, child_prefix) = if root {
                (String::new(), String::new())
            } else {
                let connector = if last { "└── " } else { "├── " };
                let continuation = if last { "    " } else { "│   " };
                (
                    format!("{parent_prefix}{connector}"),
                    format!("{parent_prefix}{continuation}"),
                )
            };
            let Some(node) = by_id.get(id) else {
                lines.push(Line {
                    prefix,
                    id,
                    kind: LineKind::Missing,
                });
                continue;
            };
            if !seen.insert(id) {
                lines.push(Line {
                    prefix,
                    id,
                    kind: LineKind::Repeat,
                });
                continue;
            }
            lines.push(Line {
                prefix,
                id,
                kind: LineKind::Node(node),
            });
            let count = node.children.len();
            for (i, child) in node.children.iter().enumerate().rev() {
                stack.push((child.as_str(), child_prefix.clone(), i + 1 == count, false));
            }
        }
    }
    lines
}

fn row(line: &Line<'_>) -> Vec<Cell> {
    let label = format!("{}{}", line.prefix, clean(line.id));
    match line.kind {
        LineKind::Node(n) => {
            let state = shown_state(n.state());
            vec![
                Cell::plain(label),
                Cell::painted(state_name(state), Paint::State(state)),
                Cell::plain(format!("{:>5}", n.score)),
                Cell::plain(layer_text(n.layer())),
                Cell::plain(owner_text(n.owner())),
                Cell::painted(clean(&n.reason), Paint::Dim),
            ]
        }
        LineKind::Missing => vec![
            Cell::plain(label),
            Cell::painted(
                "unknown",
                Paint::State(vigil_proto::v1::HealthState::Unknown),
            ),
            Cell::plain(format!("{:>5}", "-")),
            Cell::plain("-"),
            Cell::plain("-"),
            Cell::painted("listed as a child but missing from the tree", Paint::Dim),
        ],
        LineKind::Repeat => vec![
            Cell::plain(label),
            Cell::plain(""),
            Cell::plain(""),
            Cell::plain(""),
            Cell::plain(""),
            Cell::painted("shown above", Paint::Dim),
        ],
    }
}

fn layer_text(layer: Layer) -> String {
    match layer {
        Layer::Unspecified => "-".to_owned(),
        other => other.short_name(),
    }
}

fn owner_text(side: Side) -> String {
    match side {
        Side::Unspecified => "-".to_owned(),
        other => other.short_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strip_ansi;
    use vigil_proto::v1::{HealthState, RollUp};

    fn node(
        id: &str,
        parent: &str,
        children: &[&str],
        state: HealthState,
        score: u32,
    ) -> HealthNode {
        HealthNode {
            id: id.to_owned(),
            name: format!("{id} name"),
            layer: Layer::Unspecified as i32,
            owner: Side::Unspecified as i32,
            state: state as i32,
            score,
            children: children.iter().map(|c| (*c).to_owned()).collect(),
            parent: parent.to_owned(),
            roll_up: RollUp::WorstOf as i32,
            ..Default::default()
        }
    }

    fn sample() -> GetTreeResponse {
        let mut hub_dns = node("hub-dns", "platform", &[], HealthState::Unhealthy, 0);
        hub_dns.layer = Layer::PlatformHub as i32;
        hub_dns.owner = Side::Platform as i32;
        hub_dns.reason = "3/3 vantages: dns_timeout".to_owned();
        let mut api = node("api", "workload", &[], HealthState::Healthy, 100);
        api.layer = Layer::WorkloadApplication as i32;
        api.owner = Side::Workload as i32;
        GetTreeResponse {
            nodes: vec![
                node(
                    "root",
                    "",
                    &["platform", "workload"],
                    HealthState::Unhealthy,
                    40,
                ),
                node(
                    "platform",
                    "root",
                    &["hub-dns", "hub-fw"],
                    HealthState::Unhealthy,
                    0,
                ),
                hub_dns,
                node("hub-fw", "platform", &[], HealthState::Unspecified, 0),
                node("workload", "root", &["api"], HealthState::Degraded, 80),
                api,
            ],
            layers: vec![
                LayerScore {
                    name: "platform".into(),
                    score: 0,
                    state: HealthState::Unhealthy as i32,
                },
                LayerScore {
                    name: "workload".into(),
                    score: 100,
                    state: HealthState::Healthy as i32,
                },
            ],
            evaluated_at_unix_ms: 1_700_000_000_000,
            generation: 7,
        }
    }

    #[test]
    fn draws_the_tree_with_connectors_and_columns() {
        let text = tree_text(&sample(), &Style::plain());
        let expected = "\
platform 0 unhealthy · workload 100 healthy
generation 7 · evaluated 2023-11-14T22:13:20Z

NODE             STATE      SCORE  LAYER                 OWNER     REASON
root             unhealthy     40  -                     -
├── platform     unhealthy      0  -                     -
│   ├── hub-dns  unhealthy      0  platform_hub          platform  3/3 vantages: dns_timeout
│   └── hub-fw   unknown        0  -                     -
└── workload     degraded      80  -                     -
    └── api      healthy      100  workload_application  workload
";
        assert_eq!(text, expected);
    }

    #[test]
    fn colour_marks_states_and_strips_back_to_plain() {
        let coloured = tree_text(&sample(), &Style::coloured());
        assert!(coloured.contains("\x1b[31munhealthy\x1b[0m"));
        assert!(coloured.contains("\x1b[32mhealthy\x1b[0m"));
        assert!(coloured.contains("\x1b[33mdegraded\x1b[0m"));
        assert!(coloured.contains("\x1b[90munknown\x1b[0m"));
        assert_eq!(strip_ansi(&coloured), tree_text(&sample(), &Style::plain()));
    }

    #[test]
    fn no_color_environment_gives_plain_text() {
        use crate::ColorChoice;
        let style = Style::resolve(ColorChoice::Auto, true, Some("1"));
        assert!(!tree_text(&sample(), &style).contains('\x1b'));
    }

    #[test]
    fn inconsistent_trees_render_every_node_once() {
        let tree = GetTreeResponse {
            nodes: vec![
                node("root", "", &["a", "ghost"], HealthState::Healthy, 100),
                node("a", "root", &["root"], HealthState::Healthy, 100),
                node("orphan", "nowhere", &[], HealthState::Degraded, 50),
            ],
            ..Default::default()
        };
        let text = tree_text(&tree, &Style::plain());
        assert!(text.contains("│   └── root"), "{text}");
        assert!(text.contains("shown above"), "{text}");
        assert!(text.contains("└── ghost"), "{text}");
        assert!(text.contains("missing from the tree"), "{text}");
        assert!(text.contains("\norphan "), "{text}");
    }

    #[test]
    fn empty_tree_says_so() {
        let text = tree_text(&GetTreeResponse::default(), &Style::plain());
        assert!(text.contains("no layer scores yet"));
        assert!(text.contains("no nodes"));
    }

    #[test]
    fn json_has_stable_names_and_short_enums() {
        let json: serde_json::Value = serde_json::from_str(&tree_json(&sample())).unwrap();
        assert_eq!(json["generation"], 7);
        assert_eq!(json["layers"][0]["name"], "platform");
        assert_eq!(json["layers"][0]["state"], "unhealthy");
        let nodes = json["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 6);
        assert_eq!(nodes[0]["id"], "root");
        assert_eq!(nodes[0]["parent"], serde_json::Value::Null);
        assert_eq!(
            nodes[0]["children"],
            serde_json::json!(["platform", "workload"])
        );
        assert_eq!(nodes[2]["layer"], "platform_hub");
        assert_eq!(nodes[2]["owner"], "platform");
        assert_eq!(nodes[2]["roll_up"], "worst_of");
        // An unset state is Unknown, never Healthy.
        assert_eq!(nodes[3]["state"], "unknown");
        let keys: Vec<&str> = nodes[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "id",
            "name",
            "layer",
            "owner",
            "state",
            "score",
            "reason",
            "parent",
            "children",
            "depends_on",
            "roll_up",
            "state_since_unix_ms",
            "window_signals",
            "window_vantages",
        ] {
            assert!(keys.contains(&key), "missing {key}");
        }
    }
}
