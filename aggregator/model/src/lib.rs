//! vigil-model: the layered health model — its file format, loading and
//! validation, selectors, and binding a probe to the leaves it feeds — plus
//! the small pieces every config section shares (durations, field errors).
//!
//! Owns the validated, immutable model and the queries over it (order, path,
//! binding). It must not hold live health state: scores and states live in
//! the snapshots `vigil-health` builds, and nothing here opens a socket.
#![forbid(unsafe_code)]

mod bind;
pub mod duration;
mod field;
mod load;
mod select;

pub use field::FieldError;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use vigil_proto::v1::{Layer, Side};

use bind::BindIndex;
pub use select::{ProbeFacts, Selector};

/// Reserved id of the leaf that collects signals no selector matched.
pub const UNMODELLED_ID: &str = "unmodelled";

/// Position of a node in [`Model::nodes`]; only valid for the model that
/// produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeIx(pub usize);

impl NodeIx {
    /// The position as an array index.
    pub fn get(self) -> usize {
        self.0
    }
}

/// Why a model file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "model {file}, line {line}, column {column}: {message}; fix the YAML there (reference: docs/model.md, example: deploy/examples/model-hub-two-spokes.yaml)"
    )]
    Parse {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("model {file}: {at}: {problem}; fix: {fix}")]
    Invalid {
        file: String,
        kind: ModelProblem,
        /// Where: a node and field such as ``node `hub-dns` field `select.kind` ``.
        at: String,
        problem: String,
        fix: String,
    },
}

impl ModelError {
    /// The class of a validation error, `None` for read and parse errors.
    pub fn problem(&self) -> Option<ModelProblem> {
        match self {
            ModelError::Invalid { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Classes of model validation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelProblem {
    /// `children` or `depends_on` edges form a loop.
    Cycle,
    /// An edge names a node that does not exist.
    UnknownId,
    /// Two nodes share an id, or a node uses the reserved id.
    DuplicateId,
    /// No node is free of a parent.
    NoRoot,
    /// More than one node has no parent.
    MultipleRoots,
    /// A node is listed as a child by two parents.
    MultipleParents,
    /// A node has both `select` and `children`, or neither.
    LeafShape,
    /// `select: {}`.
    EmptySelector,
    /// A selector value no signal can carry (unknown kind or layer name, empty string).
    NeverMatches,
    /// Quorum missing, zero, or larger than the number of children.
    Quorum,
    /// A value out of range or in the wrong place (thresholds, weights, names).
    BadValue,
}

/// Limits that turn a leaf's window into a state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Failure ratio (0..=1) at or above which a leaf is Degraded.
    pub degraded_failure_ratio: f64,
    /// Failure ratio at or above which a leaf is Unhealthy.
    pub unhealthy_failure_ratio: f64,
    /// p95 latency above which a leaf is Degraded.
    pub degraded_latency: Duration,
    /// p95 latency above which a leaf is Unhealthy.
    pub unhealthy_latency: Duration,
    /// Fewer signals than this in the window means Unknown.
    pub min_signals: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            degraded_failure_ratio: 0.05,
            unhealthy_failure_ratio: 0.25,
            degraded_latency: Duration::from_millis(500),
            unhealthy_latency: Duration::from_secs(2),
            min_signals: 1,
        }
    }
}

/// How a parent combines its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollUp {
    /// The worst child decides (Unhealthy > Degraded > Unknown > Healthy).
    WorstOf,
    /// Weighted mean of the children's scores, by each child's `weight`.
    Weighted,
    /// Healthy while at least `k` children are Healthy.
    Quorum(u32),
}

/// What a node is, which decides where its state comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeRole {
    /// Bound to signals by its selector.
    Leaf(Selector),
    /// Combines its children.
    Group(RollUp),
    /// The automatic leaf for signals that matched no selector. It is shown
    /// in the tree but never rolled up: an unmodelled probe says nothing
    /// about the modelled system.
    Unmodelled,
}

/// One validated node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub layer: Option<Layer>,
    pub owner: Side,
    pub parent: Option<NodeIx>,
    pub children: Vec<NodeIx>,
    pub depends_on: Vec<NodeIx>,
    /// Weight in the parent's weighted roll-up.
    pub weight: f64,
    pub thresholds: Thresholds,
    pub role: NodeRole,
}

impl Node {
    /// True for nodes whose state comes from signals.
    pub fn is_leaf(&self) -> bool {
        !matches!(self.role, NodeRole::Group(_))
    }
}

/// A validated health model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    nodes: Vec<Node>,
    root: NodeIx,
    unmodelled: NodeIx,
    order: Vec<NodeIx>,
    by_id: HashMap<String, NodeIx>,
    binding: BindIndex,
}

impl Model {
    /// Reads and validates the model file at `path`.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and validates model text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ModelError> {
        load::from_yaml(text, origin)
    }

    /// Every node; [`NodeIx`] indexes this slice.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, ix: NodeIx) -> &Node {
        &self.nodes[ix.0]
    }

    pub fn root(&self) -> NodeIx {
        self.root
    }

    /// The automatic `unmodelled` leaf (last child of the root).
    pub fn unmodelled(&self) -> NodeIx {
        self.unmodelled
    }

    /// Depth-first order, parents before children, root first.
    pub fn order(&self) -> &[NodeIx] {
        &self.order
    }

    pub fn find(&self, id: &str) -> Option<NodeIx> {
        self.by_id.get(id).copied()
    }

    /// Ids from the root down to `ix`, inclusive.
    pub fn path(&self, ix: NodeIx) -> Vec<String> {
        let mut path = Vec::new();
        let mut at = Some(ix);
        while let Some(i) = at {
            path.push(self.nodes[i.0].id.clone());
            at = self.nodes[i.0].parent;
        }
        path.reverse();
        path
    }

    /// The leaves a probe's signals feed. Never empty: a probe no selector
    /// matches feeds the `unmodelled` leaf, so nothing is dropped silently.
    pub fn bind(&self, probe: &ProbeFacts<'_>) -> Vec<NodeIx> {
        let mut leaves = self.binding.bind(&self.nodes, probe);
        if leaves.is_empty() {
            leaves.push(self.unmodelled);
        }
        leaves
    }
}
