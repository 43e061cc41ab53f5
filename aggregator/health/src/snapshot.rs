//! The immutable result of one evaluation: every node's state and score, the
//! per-layer scores, what changed since the previous evaluation, and the
//! agents it read.
//!
//! Owns only data. Snapshots are published as `Arc<Snapshot>` and shared by
//! every reader; nothing here may reach back into ingest state.

use std::sync::Arc;
use std::time::Duration;

use vigil_proto::v1::{HealthState, Vantage};

use crate::attribution::FaultBoard;
use crate::store::AgentView;
use vigil_model::{Model, NodeIx};

/// One agent's view of one leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct VantageHealth {
    pub agent_id: Arc<str>,
    pub vantage: Arc<Vantage>,
    pub state: HealthState,
    pub signals: u32,
    pub failures: u32,
    pub latency_p50_us: Option<u32>,
    pub latency_p95_us: Option<u32>,
    pub last_signal_ms: Option<i64>,
    pub agent_connected: bool,
}

/// A node's published health.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHealth {
    pub state: HealthState,
    /// 0..=100; Unknown scores 0.
    pub score: u8,
    /// One line on why the node is in its state.
    pub reason: String,
    pub state_since_ms: i64,
    /// Leaves only: signals and vantages in the window.
    pub window_signals: u32,
    pub window_vantages: u32,
    /// Leaves only: one entry per agent feeding the leaf. Shared, so an
    /// early evaluation carries a leaf it did not judge over for the price
    /// of a reference count.
    pub vantages: Arc<[VantageHealth]>,
}

impl NodeHealth {
    pub fn unknown(reason: &str, since_ms: i64) -> Self {
        Self {
            state: HealthState::Unknown,
            score: 0,
            reason: reason.to_string(),
            state_since_ms: since_ms,
            window_signals: 0,
            window_vantages: 0,
            vantages: Arc::default(),
        }
    }
}

/// A named aggregate score: "platform", "workload" or "overall".
#[derive(Debug, Clone, PartialEq)]
pub struct LayerHealth {
    pub name: &'static str,
    pub state: HealthState,
    pub score: u8,
}

/// A node whose state or score differs from the previous generation.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeChange {
    pub node: NodeIx,
    pub previous: HealthState,
    pub state: HealthState,
    pub score: u8,
    pub reason: String,
}

/// Everything one evaluation produced.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub generation: u64,
    pub evaluated_at_ms: i64,
    /// Wall time of the evaluation that produced this snapshot, the store's
    /// read included.
    pub evaluation_took: Duration,
    pub model: Arc<Model>,
    /// Indexed by [`NodeIx::get`].
    pub nodes: Vec<NodeHealth>,
    pub layers: Vec<LayerHealth>,
    /// Changes since generation `generation - 1`.
    pub changes: Vec<NodeChange>,
    /// Attributed faults and observability gaps as of this evaluation.
    pub faults: Arc<FaultBoard>,
    /// Every agent as this evaluation read it, by the index the tick's
    /// readings refer to: its vantage, whether it is connected, and the
    /// drops it reports. The list the tick read, shared, not a copy of it.
    pub agents: Arc<Vec<AgentView>>,
}

impl Snapshot {
    /// Generation 0: every node Unknown until the first evaluation.
    pub fn initial(model: Arc<Model>, now_ms: i64) -> Self {
        let nodes = vec![NodeHealth::unknown("not evaluated yet", now_ms); model.nodes().len()];
        let layers = ["platform", "workload", "overall"]
            .into_iter()
            .map(|name| LayerHealth {
                name,
                state: HealthState::Unknown,
                score: 0,
            })
            .collect();
        Self {
            generation: 0,
            evaluated_at_ms: now_ms,
            evaluation_took: Duration::ZERO,
            model,
            nodes,
            layers,
            changes: Vec::new(),
            faults: Arc::default(),
            agents: Arc::default(),
        }
    }

    pub fn node(&self, ix: NodeIx) -> &NodeHealth {
        &self.nodes[ix.get()]
    }

    /// The agents known at this evaluation, in index order; an index lost
    /// to a registration race (a placeholder without an id) is left out.
    pub fn known_agents(&self) -> impl Iterator<Item = &AgentView> {
        self.agents.iter().filter(|a| !a.id.is_empty())
    }

    /// The health of the node with `id`.
    pub fn find(&self, id: &str) -> Option<(NodeIx, &NodeHealth)> {
        let ix = self.model.find(id)?;
        Some((ix, self.node(ix)))
    }
}
