//! Turns model YAML into a validated [`Model`].
//!
//! Owns the file format (raw serde structs, parsed at this edge) and every
//! refusal, each naming the node, the field and the fix. It must not be
//! lenient: a model that loads is a model the evaluator can trust.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use vigil_proto::ShortName;
use vigil_proto::v1::{Layer, ProbeKind, Side};

use super::bind::BindIndex;
use super::{
    Model, ModelError, ModelProblem, Node, NodeIx, NodeRole, RollUp, Selector, Thresholds,
    UNMODELLED_ID,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    defaults: RawThresholds,
    nodes: Vec<RawNode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    degraded_failure_ratio: Option<f64>,
    unhealthy_failure_ratio: Option<f64>,
    #[serde(default, deserialize_with = "crate::duration::deserialize_opt")]
    degraded_latency: Option<Duration>,
    #[serde(default, deserialize_with = "crate::duration::deserialize_opt")]
    unhealthy_latency: Option<Duration>,
    min_signals: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    id: String,
    name: Option<String>,
    layer: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    children: Vec<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    select: Option<RawSelector>,
    roll_up: Option<String>,
    quorum: Option<u32>,
    weight: Option<f64>,
    thresholds: Option<RawThresholds>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    kind: Option<String>,
    component: Option<String>,
    network: Option<String>,
    layer: Option<String>,
    probe_id: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Builds errors that all name the same file.
struct Refuse<'a> {
    file: &'a str,
}

impl Refuse<'_> {
    fn err(
        &self,
        kind: ModelProblem,
        at: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ModelError {
        ModelError::Invalid {
            file: self.file.to_string(),
            kind,
            at: at.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

fn at(id: &str, field: &str) -> String {
    format!("node `{id}` field `{field}`")
}

pub(super) fn from_yaml(text: &str, origin: &str) -> Result<Model, ModelError> {
    let raw: RawModel = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        ModelError::Parse {
            file: origin.to_string(),
            line,
            column,
            message: crate::duration::strip_location(&e.without_snippet().to_string()),
        }
    })?;
    build(raw, &Refuse { file: origin })
}

fn build(raw: RawModel, r: &Refuse<'_>) -> Result<Model, ModelError> {
    if raw.nodes.is_empty() {
        return Err(r.err(
            ModelProblem::NoRoot,
            "field `nodes`",
            "is empty",
            "declare at least a root node with children and one leaf with `select`",
        ));
    }
    let defaults = thresholds(&raw.defaults, Thresholds::default(), r, "defaults")?;

    // Ids first, so every later error can name nodes and edges can resolve.
    let mut by_id: HashMap<String, NodeIx> = HashMap::new();
    for (i, n) in raw.nodes.iter().enumerate() {
        check_id(&n.id, i, r)?;
        if by_id.insert(n.id.clone(), NodeIx(i)).is_some() {
            return Err(r.err(
                ModelProblem::DuplicateId,
                format!("nodes[{i}] field `id`"),
                format!("id `{}` is used by more than one node", n.id),
                "give every node a unique id",
            ));
        }
    }
    let resolve = |id: &str, from: &str, field: &str| {
        by_id.get(id).copied().ok_or_else(|| {
            r.err(
                ModelProblem::UnknownId,
                at(from, field),
                format!("names `{id}`, which is not a node"),
                "declare that node or fix the spelling",
            )
        })
    };

    let mut nodes = Vec::with_capacity(raw.nodes.len() + 1);
    for n in &raw.nodes {
        let children = n
            .children
            .iter()
            .map(|c| resolve(c, &n.id, "children"))
            .collect::<Result<Vec<_>, _>>()?;
        let depends_on = n
            .depends_on
            .iter()
            .map(|d| resolve(d, &n.id, "depends_on"))
            .collect::<Result<Vec<_>, _>>()?;
        nodes.push(node(n, children, depends_on, &defaults, r)?);
    }

    assign_parents(&mut nodes, r)?;
    if let Some(cycle) = find_cycle(&nodes, |n| &n.children) {
        return Err(r.err(
            ModelProblem::Cycle,
            at(&nodes[cycle[0].0].id, "children"),
            format!("children form a cycle: {}", render_cycle(&nodes, &cycle)),
            "the model is a tree: remove one of these child links",
        ));
    }
    if let Some(cycle) = find_cycle(&nodes, |n| &n.depends_on) {
        return Err(r.err(
            ModelProblem::Cycle,
            at(&nodes[cycle[0].0].id, "depends_on"),
            format!(
                "dependencies form a cycle: {}",
                render_cycle(&nodes, &cycle)
            ),
            "a node cannot depend on itself through others: remove one of these dependencies",
        ));
    }
    let root = single_root(&nodes, r)?;
    if nodes[root.0].is_leaf() {
        return Err(r.err(
            ModelProblem::LeafShape,
            at(&nodes[root.0].id, "select"),
            "the root is a leaf",
            "make the root a group with `children`, and put the selector on a child",
        ));
    }

    let unmodelled = NodeIx(nodes.len());
    nodes.push(Node {
        id: UNMODELLED_ID.to_string(),
        name: "Signals no selector matched".to_string(),
        layer: None,
        owner: Side::Unspecified,
        parent: Some(root),
        children: Vec::new(),
        depends_on: Vec::new(),
        weight: 1.0,
        thresholds: defaults,
        role: NodeRole::Unmodelled,
    });
    nodes[root.0].children.push(unmodelled);
    by_id.insert(UNMODELLED_ID.to_string(), unmodelled);

    let mut order = Vec::with_capacity(nodes.len());
    let mut stack = vec![root];
    while let Some(ix) = stack.pop() {
        order.push(ix);
        stack.extend(nodes[ix.0].children.iter().rev().copied());
    }
    let binding = BindIndex::new(&nodes, &order);
    Ok(Model {
        nodes,
        root,
        unmodelled,
        order,
        by_id,
        binding,
    })
}

fn check_id(id: &str, i: usize, r: &Refuse<'_>) -> Result<(), ModelError> {
    let where_ = format!("nodes[{i}] field `id`");
    if id.is_empty() {
        return Err(r.err(
            ModelProblem::BadValue,
            where_,
            "is empty",
            "give the node an id such as `hub-dns`",
        ));
    }
    if id == UNMODELLED_ID {
        return Err(r.err(
            ModelProblem::DuplicateId,
            where_,
            format!("`{UNMODELLED_ID}` is reserved for signals no selector matches"),
            "choose another id",
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(r.err(
            ModelProblem::BadValue,
            where_,
            format!("`{id}` contains characters other than letters, digits, `-`, `_`, `.`"),
            "use ids such as `spoke-a-connectivity` (they appear in URLs and CLI arguments)",
        ));
    }
    Ok(())
}

fn node(
    n: &RawNode,
    children: Vec<NodeIx>,
    depends_on: Vec<NodeIx>,
    defaults: &Thresholds,
    r: &Refuse<'_>,
) -> Result<Node, ModelError> {
    let id = n.id.as_str();
    let layer = match &n.layer {
        None => None,
        Some(name) => Some(Layer::from_short_name(name).ok_or_else(|| {
            r.err(
                ModelProblem::BadValue,
                at(id, "layer"),
                format!("`{name}` is not a layer"),
                format!("use one of: {}", layer_names()),
            )
        })?),
    };
    let owner = match &n.owner {
        Some(name) if name == "unspecified" => Side::Unspecified,
        Some(name) => Side::from_short_name(name).ok_or_else(|| {
            r.err(
                ModelProblem::BadValue,
                at(id, "owner"),
                format!("`{name}` is not an owner"),
                "use `platform`, `workload` or `unspecified`",
            )
        })?,
        None => layer.map_or(Side::Unspecified, owner_of),
    };
    let weight = n.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(r.err(
            ModelProblem::BadValue,
            at(id, "weight"),
            format!("{weight} is not a positive number"),
            "use a weight such as `1` or `2.5`",
        ));
    }
    let role = match (&n.select, children.is_empty()) {
        (Some(_), false) => {
            return Err(r.err(
                ModelProblem::LeafShape,
                at(id, "select"),
                "the node has both `select` and `children`",
                "a leaf binds signals and a group combines children: split it into two nodes",
            ));
        }
        (None, true) => {
            return Err(r.err(
                ModelProblem::LeafShape,
                at(id, "children"),
                "the node has neither `select` nor `children`",
                "add `select:` to bind signals, or `children:` to group nodes",
            ));
        }
        (Some(sel), true) => {
            if n.roll_up.is_some() || n.quorum.is_some() {
                return Err(r.err(
                    ModelProblem::BadValue,
                    at(id, "roll_up"),
                    "a leaf has no children to roll up",
                    "remove `roll_up`/`quorum` from the leaf",
                ));
            }
            NodeRole::Leaf(selector(id, sel, r)?)
        }
        (None, false) => {
            if n.thresholds.is_some() {
                return Err(r.err(
                    ModelProblem::BadValue,
                    at(id, "thresholds"),
                    "thresholds apply to leaves only; a group's state comes from its children",
                    "move `thresholds` to the leaves under this node",
                ));
            }
            NodeRole::Group(roll_up(n, children.len(), r)?)
        }
    };
    let thresholds = match &n.thresholds {
        Some(t) => thresholds(t, *defaults, r, &at(id, "thresholds"))?,
        None => *defaults,
    };
    Ok(Node {
        id: id.to_string(),
        name: n.name.clone().unwrap_or_else(|| id.to_string()),
        layer,
        owner,
        parent: None,
        children,
        depends_on,
        weight,
        thresholds,
        role,
    })
}

fn owner_of(layer: Layer) -> Side {
    match layer {
        Layer::PlatformHub | Layer::PlatformSpokeConnectivity => Side::Platform,
        Layer::WorkloadApplication | Layer::WorkloadData | Layer::WorkloadUserFlow => {
            Side::Workload
        }
        Layer::Unspecified => Side::Unspecified,
    }
}

fn layer_names() -> String {
    (1..=5)
        .filter_map(|v| Layer::try_from(v).ok())
        .map(|l| l.short_name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_names() -> String {
    (1..=8)
        .filter_map(|v| ProbeKind::try_from(v).ok())
        .map(|k| k.short_name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn roll_up(n: &RawNode, children: usize, r: &Refuse<'_>) -> Result<RollUp, ModelError> {
    let id = n.id.as_str();
    let rule = match n.roll_up.as_deref() {
        None | Some("worst_of") => RollUp::WorstOf,
        Some("weighted") => RollUp::Weighted,
        Some("quorum") => {
            let k = n.quorum.ok_or_else(|| {
                r.err(
                    ModelProblem::Quorum,
                    at(id, "quorum"),
                    "`roll_up: quorum` needs `quorum: k`",
                    format!("add `quorum: k` with 1 <= k <= {children} (the number of children)"),
                )
            })?;
            if k == 0 || k as usize > children {
                return Err(r.err(
                    ModelProblem::Quorum,
                    at(id, "quorum"),
                    format!("{k} of {children} children can never be a quorum"),
                    format!("use 1 <= quorum <= {children}"),
                ));
            }
            RollUp::Quorum(k)
        }
        Some(other) => {
            return Err(r.err(
                ModelProblem::BadValue,
                at(id, "roll_up"),
                format!("`{other}` is not a roll-up rule"),
                "use `worst_of` (default), `weighted` or `quorum`",
            ));
        }
    };
    if n.quorum.is_some() && !matches!(rule, RollUp::Quorum(_)) {
        return Err(r.err(
            ModelProblem::Quorum,
            at(id, "quorum"),
            "`quorum` is set but `roll_up` is not `quorum`",
            "set `roll_up: quorum` or remove `quorum`",
        ));
    }
    Ok(rule)
}

fn selector(id: &str, s: &RawSelector, r: &Refuse<'_>) -> Result<Selector, ModelError> {
    let never = |field: &str, problem: String, fix: String| {
        r.err(
            ModelProblem::NeverMatches,
            at(id, &format!("select.{field}")),
            problem,
            fix,
        )
    };
    let kind = match &s.kind {
        None => None,
        Some(name) => Some(ProbeKind::from_short_name(name).ok_or_else(|| {
            never(
                "kind",
                format!("`{name}` is not a probe kind, so this selector can never match"),
                format!("use one of: {}", kind_names()),
            )
        })?),
    };
    let layer = match &s.layer {
        None => None,
        Some(name) => Some(Layer::from_short_name(name).ok_or_else(|| {
            never(
                "layer",
                format!("`{name}` is not a layer, so this selector can never match"),
                format!("use one of: {}", layer_names()),
            )
        })?),
    };
    for (field, value) in [
        ("component", &s.component),
        ("network", &s.network),
        ("probe_id", &s.probe_id),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(never(
                field,
                "is empty, so this selector can never match a declared probe".into(),
                format!("give `{field}` a value or remove it"),
            ));
        }
    }
    if s.labels.keys().any(|k| k.trim().is_empty()) {
        return Err(never(
            "labels",
            "has an empty label name".into(),
            "name every label, e.g. `labels: { zone: \"1\" }`".into(),
        ));
    }
    let selector = Selector {
        kind,
        component: s.component.clone(),
        network: s.network.clone(),
        layer,
        probe_id: s.probe_id.clone(),
        labels: s.labels.clone(),
    };
    if selector.is_empty() {
        return Err(r.err(
            ModelProblem::EmptySelector,
            at(id, "select"),
            "is empty and would bind every signal",
            "select by at least one of kind, component, network, layer, probe_id, labels",
        ));
    }
    Ok(selector)
}

fn thresholds(
    t: &RawThresholds,
    base: Thresholds,
    r: &Refuse<'_>,
    where_: &str,
) -> Result<Thresholds, ModelError> {
    let out = Thresholds {
        degraded_failure_ratio: t
            .degraded_failure_ratio
            .unwrap_or(base.degraded_failure_ratio),
        unhealthy_failure_ratio: t
            .unhealthy_failure_ratio
            .unwrap_or(base.unhealthy_failure_ratio),
        degraded_latency: t.degraded_latency.unwrap_or(base.degraded_latency),
        unhealthy_latency: t.unhealthy_latency.unwrap_or(base.unhealthy_latency),
        min_signals: t.min_signals.unwrap_or(base.min_signals),
    };
    let bad = |field: &str, problem: String, fix: &str| {
        r.err(
            ModelProblem::BadValue,
            format!("{where_}.{field}"),
            problem,
            fix,
        )
    };
    for (field, v) in [
        ("degraded_failure_ratio", out.degraded_failure_ratio),
        ("unhealthy_failure_ratio", out.unhealthy_failure_ratio),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad(
                field,
                format!("{v} is not a ratio between 0 and 1"),
                "write a fraction, e.g. 0.05 for 5%",
            ));
        }
    }
    if out.degraded_failure_ratio > out.unhealthy_failure_ratio {
        return Err(bad(
            "degraded_failure_ratio",
            format!(
                "{} is above unhealthy_failure_ratio {}",
                out.degraded_failure_ratio, out.unhealthy_failure_ratio
            ),
            "degraded must be reached before unhealthy: lower it or raise unhealthy_failure_ratio",
        ));
    }
    if out.degraded_latency > out.unhealthy_latency {
        return Err(bad(
            "degraded_latency",
            format!(
                "{} is above unhealthy_latency {}",
                crate::duration::format(out.degraded_latency),
                crate::duration::format(out.unhealthy_latency)
            ),
            "degraded must be reached before unhealthy: lower it or raise unhealthy_latency",
        ));
    }
    if out.min_signals == 0 {
        return Err(bad(
            "min_signals",
            "is 0, so a leaf with no data could look healthy".into(),
            "use 1 or more",
        ));
    }
    Ok(out)
}

fn assign_parents(nodes: &mut [Node], r: &Refuse<'_>) -> Result<(), ModelError> {
    for p in 0..nodes.len() {
        for c in nodes[p].children.clone() {
            if let Some(other) = nodes[c.0].parent {
                let problem = if other.0 == p {
                    format!("`{}` is listed twice", nodes[c.0].id)
                } else {
                    format!(
                        "`{}` is already a child of `{}`",
                        nodes[c.0].id, nodes[other.0].id
                    )
                };
                return Err(r.err(
                    ModelProblem::MultipleParents,
                    at(&nodes[p].id, "children"),
                    problem,
                    "a node has one parent; use `depends_on` for other relations",
                ));
            }
            nodes[c.0].parent = Some(NodeIx(p));
        }
    }
    Ok(())
}

fn single_root(nodes: &[Node], r: &Refuse<'_>) -> Result<NodeIx, ModelError> {
    let roots: Vec<NodeIx> = (0..nodes.len())
        .filter(|&i| nodes[i].parent.is_none())
        .map(NodeIx)
        .collect();
    match roots.as_slice() {
        [root] => Ok(*root),
        [] => Err(r.err(
            ModelProblem::NoRoot,
            "field `nodes`",
            "every node is listed as somebody's child, so there is no root",
            "add one root node that no other node lists in `children`",
        )),
        many => Err(r.err(
            ModelProblem::MultipleRoots,
            "field `nodes`",
            format!(
                "{} nodes have no parent: {}",
                many.len(),
                many.iter()
                    .map(|ix| format!("`{}`", nodes[ix.0].id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "list them under a single root node's `children`",
        )),
    }
}

/// Finds a loop along `edges` and returns its nodes in order.
fn find_cycle(nodes: &[Node], edges: impl Fn(&Node) -> &Vec<NodeIx>) -> Option<Vec<NodeIx>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; nodes.len()];
    for start in 0..nodes.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next edge to follow); `path` mirrors the stack.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (n, ref mut next)) = stack.last_mut() {
            let out = edges(&nodes[n]);
            if *next < out.len() {
                let m = out[*next].0;
                *next += 1;
                match mark[m] {
                    Mark::OnPath => {
                        let from = stack.iter().position(|&(s, _)| s == m).unwrap_or(0);
                        return Some(stack[from..].iter().map(|&(s, _)| NodeIx(s)).collect());
                    }
                    Mark::New => {
                        mark[m] = Mark::OnPath;
                        stack.push((m, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[n] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

fn render_cycle(nodes: &[Node], cycle: &[NodeIx]) -> String {
    let mut ids: Vec<&str> = cycle.iter().map(|ix| nodes[ix.0].id.as_str()).collect();
    ids.push(ids[0]);
    ids.join(" -> ")
}
